"""Charts for the metrics screen: a labelled sparkline over time and horizontal bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from tui.data import Series


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as printed next to the bar


class BarChart(Widget):
    """Horizontal bars scaled to the largest value, one per line."""

    DEFAULT_CSS = """
    BarChart { height: auto; }
    """

    def __init__(self, *, empty: str = "no data", color: str = "#5fafff", id: str | None = None) -> None:
        super().__init__(id=id)
        self.bars: tuple[Bar, ...] = ()
        self.empty = empty
        self.color = color

    def show(self, bars: Sequence[Bar]) -> None:
        self.bars = tuple(bars)
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return max(1, len(self.bars))

    def render(self) -> Text:
        if not self.bars:
            return Text(self.empty, style="#8a8a8a")
        label_w = min(16, max(len(b.label) for b in self.bars))
        shown_w = max(len(b.shown) for b in self.bars)
        room = max(4, self.size.width - label_w - shown_w - 3)
        top = max((b.value for b in self.bars), default=0.0) or 1.0
        lines = Text()
        for i, b in enumerate(self.bars):
            filled = b.value / top * room
            full = int(filled)
            part = " ▏▎▍▌▋▊▉"[int((filled - full) * 8)] if full < room else ""
            if i:
                lines.append("\n")
            lines.append(f"{b.label[:label_w]:<{label_w}} ", style="#d0d0d0")
            lines.append("█" * full + part.strip(), style=self.color)
            lines.append(" " * max(0, room - full - len(part.strip())) + f" {b.shown:>{shown_w}}")
        return lines


class Trend(Vertical):
    """A series over time: its title with the latest value, and a sparkline."""

    DEFAULT_CSS = """
    Trend { height: 3; }
    Trend > .trend-title { height: 1; }
    Trend > Sparkline { height: 2; }
    """

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="trend-title")
        yield Sparkline([], summary_function=max)

    def show(self, series: Series, value: str) -> None:
        self.query_one(".trend-title", Static).update(
            Text.assemble((self.label, "bold"), "  ", (value, "#5fafff"))
        )
        self.query_one(Sparkline).data = series.filled()
