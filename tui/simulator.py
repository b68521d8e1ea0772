"""Simulated customers for demos: realistic messages from many demo customers, at N per second,
through the real Orchestrator into the same database the console reads.

Messages are built from templates per department and jurisdiction, often with
two or three problems in one message; a share of them are high-risk (a request
for a person, a threat to go to the regulator, a stolen card, structuring) so
the operator queue fills up, and some are follow-ups in an open conversation.
The console runs it in a child process (`python -m tui.simulator`): turns are
CPU work under the GIL, and sharing a process with the UI would slow every key
press. No Textual here.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import CrossdeskError

if TYPE_CHECKING:
    from orchestrator.runtime import Orchestrator

log = logging.getLogger(__name__)

MAX_RATE = 200.0

CURRENCY = {"EU": "EUR", "UK": "GBP", "US": "USD", "US-CA": "USD", "CN": "CNY", "SG": "SGD"}
MERCHANTS = ("GreenGrocer", "CityRail", "Nordlicht Books", "Harbour Coffee", "PixelPlay", "Skyline Hotels")

# one sub-issue each; {cur}, {amount} and {merchant} are filled in per customer
DEPARTMENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "billing": (
        "I think {merchant} took the same payment from me twice",
        "there's a {cur} {fee} fee on my statement that nobody warned me about",
        "my refund from {merchant} still hasn't reached my account",
        "my transfer of {cur} {amount} has been pending since yesterday",
        "I'd like to cancel my {merchant} subscription",
        "could you send me last month's invoice",
        "the exchange rate on my card payment abroad looked far worse than advertised",
        "my top up didn't go through but the money left my bank",
    ),
    "technical": (
        "the app won't let me log in",
        "I forgot my password and the reset email never arrives",
        "I'm not getting the verification code by text",
        "the app crashes every time I open the cards tab",
        "my card keeps getting declined at the shop even though I have money",
        "my new card still hasn't arrived after two weeks",
        "my PIN got blocked after I typed it wrong",
        "how do I add my card to Google Pay",
    ),
    "compliance": (
        "why do you need to verify my identity again",
        "I need to change my home address",
        "there is a payment to {merchant} I don't recognise",
        "I want to make a formal complaint about how my case was handled",
        "I'd like to close my account",
    ),
    "claims": (
        "my suitcase never showed up after my flight and I want to claim on my travel insurance",
        "what's the status of my insurance claim",
        "am I covered if my new phone gets stolen on holiday",
    ),
}

# what customers in one jurisdiction tend to write about
JURISDICTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "EU": ("I'd like a copy of all the personal data you hold about me",),
    "UK": ("I was charged a {cur} {fee} fee for taking cash out at an ATM",),
    "US-CA": ("please delete the personal information you keep on me",),
    "US": ("the ATM gave me less cash than it charged me",),
    "CN": ("my transfer of {cur} {amount} to my family has been pending for three days",),
    "SG": ("why are you asking where the money for my top up comes from",),
}

HIGH_RISK = (
    "I want to talk to a person, not a bot",
    "I'm going to report you to the regulator if this isn't sorted today",
    "someone stole my phone and I think they've been using my card",
    "how can I split {cur} 15000 into smaller payments so it doesn't get reported",
    "this is my third time writing about this and I want a real person now",
)

FOLLOW_UPS = (
    "Any update on this?",
    "Thanks, that sorted it.",
    "It's still not working, what now?",
    "Can you check again please? Nothing has changed.",
)

OPENERS = ("", "Hi, ", "Hello, ", "Good morning, ", "Hey, ")
JOINERS = (". Also, ", ". And ", ", and on top of that ", ". Another thing: ")


class SimulatorError(CrossdeskError):
    """The simulator cannot run on this database; the message says what to do."""


@dataclass(frozen=True)
class SimCustomer:
    id: str
    jurisdiction: str


@dataclass(frozen=True)
class Planned:
    """One simulated message: a new conversation when `conversation_id` is None."""

    customer_id: str
    text: str
    conversation_id: str | None = None
    high_risk: bool = False


@dataclass(frozen=True)
class SimStats:
    sent: int
    failed: int
    skipped: int  # not sent because the orchestrator had not caught up
    needs_human: int
    elapsed_s: float
    last_error: str | None

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


def demo_customers(engine: Any) -> list[SimCustomer]:
    from sqlalchemy import select

    from orchestrator.backend.models import Customer
    from orchestrator.knowledge.reads import read_rows

    table = Customer.__table__  # type: ignore[attr-defined]
    rows = read_rows(engine, select(table.c.id, table.c.jurisdiction).order_by(table.c.id))
    return [SimCustomer(r["id"], r["jurisdiction"]) for r in rows]


class MessageFactory:
    """Builds simulated messages; the same seed gives the same sequence."""

    def __init__(
        self,
        customers: list[SimCustomer],
        *,
        seed: int | None = None,
        high_risk: float = 0.12,
        follow_up: float = 0.2,
    ) -> None:
        if not customers:
            raise SimulatorError("no customers to simulate; run `crossdesk demo seed` on this database first")
        self.customers = customers
        self.random = random.Random(seed)
        self.high_risk = high_risk
        self.follow_up = follow_up
        self.open: deque[tuple[str, str]] = deque(maxlen=64)  # (conversation id, customer id)

    def _fill(self, template: str, customer: SimCustomer) -> str:
        r = self.random
        return template.format(
            cur=CURRENCY.get(customer.jurisdiction, "EUR"),
            amount=f"{r.choice((40, 75, 120, 250, 480, 1200))}.00",
            fee=f"{r.choice((2, 3, 5, 9))}.{r.choice(('00', '50', '99'))}",
            merchant=r.choice(MERCHANTS),
        )

    def next(self) -> Planned:
        r = self.random
        if self.open and r.random() < self.follow_up:
            conversation_id, customer_id = r.choice(list(self.open))
            return Planned(customer_id, r.choice(FOLLOW_UPS), conversation_id)
        customer = r.choice(self.customers)
        parts: list[str] = []
        risky = r.random() < self.high_risk
        if risky:
            parts.append(self._fill(r.choice(HIGH_RISK), customer))
        local = JURISDICTION_TEMPLATES.get(customer.jurisdiction, ())
        for _ in range(r.choice((1, 1, 2, 2, 3)) - (1 if risky else 0)):
            if local and r.random() < 0.25:
                template = r.choice(local)
            else:
                template = r.choice(DEPARTMENT_TEMPLATES[r.choice(sorted(DEPARTMENT_TEMPLATES))])
            text = self._fill(template, customer)
            if text not in parts:
                parts.append(text)
        text = parts[0]
        for part in parts[1:]:
            text += r.choice(JOINERS) + part
        opener = r.choice(OPENERS)
        body = opener + (text if opener else text[0].upper() + text[1:])
        return Planned(customer.id, body.rstrip(".") + ".", None, risky)

    def remember(self, conversation_id: str, customer_id: str) -> None:
        self.open.append((conversation_id, customer_id))


class Simulator:
    """Sends `rate` messages per second through `orch` until stopped.

    A pacing thread hands messages to a small pool (turns on different
    conversations run in parallel); when the pool falls behind, messages are
    skipped and counted rather than queued without bound.
    """

    def __init__(
        self,
        orch: Orchestrator,
        *,
        rate: float = 2.0,
        seed: int | None = None,
        workers: int = 4,
        high_risk: float = 0.12,
        follow_up: float = 0.2,
    ) -> None:
        if not 0 < rate <= MAX_RATE:
            raise SimulatorError(
                f"the simulator rate must be above 0 and at most {MAX_RATE:g} messages per second"
            )
        self.orch = orch
        self.rate = rate
        self.factory = MessageFactory(
            demo_customers(orch.engine), seed=seed, high_risk=high_risk, follow_up=follow_up
        )
        self.workers = workers
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._inflight = 0
        self._sent = self._failed = self._skipped = self._needs_human = 0
        self._last_error: str | None = None
        self._started = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> SimStats:
        with self._lock:
            elapsed = time.monotonic() - self._started if self._started else 0.0
            return SimStats(
                self._sent, self._failed, self._skipped, self._needs_human, elapsed, self._last_error
            )

    def send(self, planned: Planned) -> None:
        """Run one message through the orchestrator (in the calling thread) and count the outcome."""
        try:
            out = self.orch.ask(
                planned.text, conversation_id=planned.conversation_id, customer_id=planned.customer_id
            )
        except Exception as exc:
            log.warning("simulated message failed: %r", exc)
            with self._lock:
                self._failed += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
            return
        with self._lock:
            self._sent += 1
            self._needs_human += out.record.get("status") == "needs_human"
            self.factory.remember(out.conversation_id, planned.customer_id)

    def _done(self, _future: Future[None]) -> None:
        with self._lock:
            self._inflight -= 1

    def _loop(self) -> None:
        assert self._pool is not None
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                behind = self._inflight >= self.workers * 2
                if behind:
                    self._skipped += 1
                else:
                    self._inflight += 1
                    planned = self.factory.next()
            if not behind:
                self._pool.submit(self.send, planned).add_done_callback(self._done)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < -1.0:
                next_at = time.monotonic()  # a long stall (e.g. laptop sleep): do not burst to catch up
            elif delay > 0:
                self._stop.wait(delay)

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._started = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="crossdesk-sim")
        self._thread = threading.Thread(target=self._loop, name="crossdesk-sim-pace", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop pacing and wait (up to `timeout`) for the turns already running."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# ---------------------------------------------------------------- in a child process


class _Child:
    """One simulator process and the reports it prints."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.stats = SimStats(0, 0, 0, 0, 0.0, None)
        self.ready = threading.Event()
        self.errors: deque[str] = deque(maxlen=20)
        threading.Thread(target=self._read, name="crossdesk-sim-reports", daemon=True).start()
        threading.Thread(target=self._read_errors, name="crossdesk-sim-errors", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.stats = SimStats(**json.loads(line))
            except (ValueError, TypeError):
                continue
            self.ready.set()

    def _read_errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line.rstrip())

    def why(self) -> str:
        return next((line for line in reversed(self.errors) if line.strip()), "it exited")


class SimulatorProcess:
    """Simulated customers in child processes on the database at `url`; `stats()` adds up their
    latest reports. A turn costs tens of milliseconds of CPU under the GIL, so above
    PROCESS_RATE messages a second the work is split over several processes."""

    PROCESS_RATE = 8.0

    def __init__(
        self, url: str, rate: float, *, seed: int | None = None, startup_timeout: float = 180.0
    ) -> None:
        if not 0 < rate <= MAX_RATE:
            raise SimulatorError(
                f"the simulator rate must be above 0 and at most {MAX_RATE:g} messages per second"
            )
        count = max(1, math.ceil(rate / self.PROCESS_RATE))
        # the URL goes by environment, not argv: a password in it would show in the process list
        env = {**os.environ, "CROSSDESK_DB_URL": url}
        self._children: list[_Child] = []
        for n in range(count):
            command = [sys.executable, "-m", "tui.simulator", "--rate", f"{rate / count:g}"]
            child_seed = (seed if seed is not None else random.randrange(1 << 30)) + n
            self._children.append(_Child([*command, "--seed", str(child_seed)], env))
        # each child loads the router and the plugins first; wait until all say they run (or one fails)
        deadline = time.monotonic() + startup_timeout
        for child in self._children:
            while not child.ready.wait(0.1):
                if child.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    time.sleep(0.1)  # let the error reader catch the last lines
                    raise SimulatorError(
                        f"the simulator did not start: {child.why().removeprefix('error: ')}"
                    )

    @property
    def processes(self) -> int:
        return len(self._children)

    @property
    def running(self) -> bool:
        return any(c.proc.poll() is None for c in self._children)

    def stats(self) -> SimStats:
        parts = [c.stats for c in self._children]
        return SimStats(
            sent=sum(p.sent for p in parts),
            failed=sum(p.failed for p in parts),
            skipped=sum(p.skipped for p in parts),
            needs_human=sum(p.needs_human for p in parts),
            elapsed_s=max((p.elapsed_s for p in parts), default=0.0),
            last_error=next((p.last_error for p in parts if p.last_error), None),
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the children to finish the turns they have started, then end them."""
        for child in self._children:
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self._children:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()


def main(argv: list[str] | None = None) -> int:
    """`python -m tui.simulator --db URL --rate N`: simulate until SIGTERM or SIGINT, reporting
    the counts as one JSON line a second on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m tui.simulator", description="simulated customers for demos"
    )
    parser.add_argument("--db", metavar="URL", help="database URL (default: the crossdesk home's)")
    parser.add_argument("--rate", type=float, default=2.0, help="messages per second")
    parser.add_argument("--seed", type=int, help="the same seed sends the same messages")
    args = parser.parse_args(argv)
    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        orch = Orchestrator(load_settings(**({"db_url": args.db} if args.db else {})))
    except CrossdeskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sim = Simulator(orch, rate=args.rate, seed=args.seed)
        sim.start()
        while not stop.wait(1.0 if sim.stats().sent else 0.2):
            print(json.dumps(asdict(sim.stats())), flush=True)
        sim.stop()
        print(json.dumps(asdict(sim.stats())), flush=True)
    except CrossdeskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        orch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
