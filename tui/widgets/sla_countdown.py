"""The SLA countdown: seconds left for an operator to claim a conversation, red once breached."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from tui.data import QueueRow
from tui.widgets.badges import fmt_seconds


def sla_text(row: QueueRow, now: datetime) -> Text:
    """While waiting: the seconds left (amber under 10 s, red and counting up once breached).
    After a claim: how long the takeover took, red when it missed the SLA."""
    left = row.seconds_left(now)
    if left is not None:
        if left < 0:
            return Text(f"⚠ +{-left:.0f}s", style="bold #ffffff on #d70000")
        return Text(f"{left:.0f}s", style="bold #ffaf00" if left < 10 else "#5fd75f")
    if row.takeover_latency_ms is not None and row.claimed_by:
        style = "#ff5f5f" if row.sla_breached else "#8a8a8a"
        return Text(f"in {fmt_seconds(row.takeover_latency_ms / 1000)}", style=style)
    return Text("")


class SlaCountdown(Static):
    """Shows `sla_text` for `row`, redrawn every second from `clock`."""

    row: reactive[QueueRow | None] = reactive(None, layout=True)

    def __init__(self, clock: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    def render(self) -> Text:
        row = self.row
        if row is None:
            return Text("")
        text = sla_text(row, self.clock())
        if not text:
            return text
        label = "SLA " if row.seconds_left(self.clock()) is not None else "taken over "
        return Text.assemble(label, text)
