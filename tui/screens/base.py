"""What every console screen shares: the app's desk and clock, background loads and operator actions.

Database work never runs on the UI thread: `load` runs `fetch` in a thread
worker and posts the result back as a `Loaded` message; `act` does the same for
claim / reply / release and posts `ActionDone`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import get_current_worker

if TYPE_CHECKING:
    from tui.app import CrossdeskApp
    from tui.desk import Desk


def describe_error(exc: BaseException) -> str:
    from orchestrator.errors import CrossdeskError

    if isinstance(exc, CrossdeskError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Loaded(Message):
    """Data a background load fetched for the screen; `what` names the load."""

    bubble = False  # for the screen that asked, no one else

    def __init__(self, what: str, data: Any) -> None:
        super().__init__()
        self.what = what
        self.data = data


class LoadFailed(Message):
    bubble = False  # for the screen that asked, no one else

    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class ActionDone(Message):
    """An operator action finished: `result` on success, `error` (a sentence) otherwise."""

    bubble = False  # for the screen that asked, no one else

    def __init__(
        self, verb: str, conversation_id: str, result: dict[str, Any] | None, error: str | None
    ) -> None:
        super().__init__()
        self.verb = verb
        self.conversation_id = conversation_id
        self.result = result
        self.error = error


class ConsoleScreen(Screen[None]):
    """A screen of the console. Subclasses set `MODE` (the navbar tab they belong to)."""

    MODE = "queue"
    REFRESH_EVERY = 1.0  # multiple of the app's refresh period; 0: no periodic reload

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None

    @property
    def console(self) -> CrossdeskApp:
        return self.app  # type: ignore[return-value]

    @property
    def desk(self) -> Desk:
        return self.console.desk

    def now(self) -> datetime:
        return self.console.clock()

    # -- periodic reload while the screen is shown ------------------------------------------

    def on_screen_resume(self) -> None:
        period = self.console.refresh_s
        if period and self.REFRESH_EVERY and self._timer is None:
            self._timer = self.set_interval(period * self.REFRESH_EVERY, self.reload)
        elif self._timer is not None:
            self._timer.resume()
        # draw what is there first: the reload's worker thread would compete with the redraw
        self.call_after_refresh(self.reload)

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def reload(self) -> None:
        """Fetch what the screen shows again (override)."""

    # -- background work ----------------------------------------------------------------------

    def load(self, what: str, fetch: Callable[[], Any], *, exclusive: bool = True) -> None:
        """Run `fetch` in a thread worker and post `Loaded(what, result)`; a newer load of the same
        kind supersedes an older one still running."""

        def job() -> None:
            try:
                data = fetch()
            except Exception as exc:
                if not get_current_worker().is_cancelled:
                    self.post_message(LoadFailed(what, describe_error(exc)))
                return
            if not get_current_worker().is_cancelled:
                self.post_message(Loaded(what, data))

        self.run_worker(
            job, name=what, group=f"load-{what}", thread=True, exclusive=exclusive, exit_on_error=False
        )

    def on_load_failed(self, message: LoadFailed) -> None:
        self.notify(message.error, title=f"could not load {message.what}", severity="error", timeout=8)

    def act(self, verb: str, conversation_id: str, do: Callable[[], dict[str, Any]]) -> None:
        """Run an operator action off the UI thread; `ActionDone` reports how it went."""

        def job() -> None:
            try:
                result = do()
            except Exception as exc:
                self.post_message(ActionDone(verb, conversation_id, None, describe_error(exc)))
                return
            self.post_message(ActionDone(verb, conversation_id, result, None))

        self.run_worker(job, name=verb, group="actions", thread=True, exit_on_error=False)

    def on_action_done(self, message: ActionDone) -> None:
        if message.error is not None:
            self.notify(message.error, title=f"{message.verb} failed", severity="error", timeout=10)
        else:
            self.notify(action_summary(message), title=message.verb)
        self.reload()

    # -- the three takeover actions, on the conversation the screen points at ---------------------

    def selected_conversation(self) -> str | None:
        return None

    def action_claim(self) -> None:
        cid = self.selected_conversation()
        if cid is not None:
            self.act("claim", cid, lambda: self.desk.claim(cid))

    def action_release(self) -> None:
        cid = self.selected_conversation()
        if cid is not None:
            self.act("release", cid, lambda: self.desk.release(cid))


def action_summary(message: ActionDone) -> str:
    r = message.result or {}
    cid = message.conversation_id
    if message.verb == "claim":
        latency = r.get("takeover_latency_ms")
        taken = f" after {latency / 1000:.1f}s" if latency is not None else ""
        sla = "SLA breached" if r.get("sla_breached") else "within SLA"
        return f"You took over {cid}{taken} ({sla})."
    if message.verb == "reply":
        return f"Sent to the customer of {cid}."
    if message.verb == "release":
        how = "resumed its paused turn" if r.get("resumed") else "no paused turn to resume"
        return f"Released {cid} to automation ({how})."
    return f"{message.verb}: done"
