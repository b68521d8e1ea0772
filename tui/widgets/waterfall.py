"""A turn's trace as a waterfall: one row per span in tree order, a bar placed on the turn's timeline,
the duration, and handoffs drawn as arrows (supervisor → billing)."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from tui.data import SpanBar, Waterfall
from tui.widgets.badges import fmt_ms

KIND_GLYPH = {
    "turn": "◉",
    "plan": "≡",
    "handoff": "→",
    "agent": "◆",
    "policy": "§",
    "retrieve": "⌕",
    "takeover": "▲",
    "compose": "✎",
}
KIND_STYLE = {
    "turn": "#d0d0d0",
    "plan": "#af87ff",
    "handoff": "#ffaf00",
    "agent": "#5fafff",
    "policy": "#87d7af",
    "retrieve": "#5fd7d7",
    "takeover": "#ff5f5f",
    "compose": "#d7af87",
}
NAME_WIDTH = 30
DURATION_WIDTH = 9


def bar_text(offset_ms: float, duration_ms: float, total_ms: float, width: int, style: str) -> Text:
    """A bar `width` cells wide with the span's extent filled in (at least one cell)."""
    if width <= 0:
        return Text("")
    total = total_ms if total_ms > 0 else 1.0
    start = min(width - 1, max(0, int(offset_ms / total * width)))
    length = max(1, round(duration_ms / total * width))
    length = min(length, width - start)
    return Text.assemble(
        ("·" * start, "#444444"), ("█" * length, style), ("·" * (width - start - length), "#444444")
    )


def span_label(bar: SpanBar) -> Text:
    """The span's name, indented by depth; handoffs read as `source → target`."""
    glyph = KIND_GLYPH.get(bar.kind, "•")
    if bar.kind == "handoff":
        name = f"{bar.source or '?'} → {bar.target or '?'}"
    elif bar.kind == "agent":
        name = bar.name.removeprefix("invoke_agent ")
    elif bar.kind == "policy":
        name = "policy " + bar.name.removeprefix("check_policy ")
    else:
        name = bar.name
    style = "bold #ff5f5f" if bar.status == "ERROR" else KIND_STYLE.get(bar.kind, "")
    text = Text.assemble("  " * bar.depth, (f"{glyph} ", style), (name, style))
    text.truncate(NAME_WIDTH, overflow="ellipsis")
    return text


def detail_text(bar: SpanBar) -> str:
    return bar.detail.replace(" -> ", " → ")


class WaterfallTable(DataTable[Text]):
    """The waterfall of one trace. Posts `SpanHighlighted` as the cursor moves."""

    class SpanHighlighted(Message):
        def __init__(self, bar: SpanBar | None) -> None:
            super().__init__()
            self.bar = bar

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.waterfall: Waterfall | None = None
        self._width = 0

    def on_mount(self) -> None:
        self.add_column("span", width=NAME_WIDTH, key="span")
        self.add_column("timeline", key="timeline")
        self.add_column("duration", width=DURATION_WIDTH, key="duration")
        self.add_column("what happened", key="detail")

    def show(self, waterfall: Waterfall | None) -> None:
        self.waterfall = waterfall
        self._rebuild()

    def _bar_width(self) -> int:
        # a third of the space, between 12 and 48 cells; the rest is the description
        usable = self.size.width - NAME_WIDTH - DURATION_WIDTH - 8
        return max(12, min(48, usable // 2))

    def _rebuild(self) -> None:
        row = self.cursor_row
        self.clear()
        wf = self.waterfall
        if wf is None:
            return
        width = self._width = self._bar_width()
        # the description takes the rest of the line, so nothing scrolls sideways
        room = max(10, self.size.width - NAME_WIDTH - width - DURATION_WIDTH - 9)
        for i, bar in enumerate(wf.bars):
            style = "#ff5f5f" if bar.status == "ERROR" else KIND_STYLE.get(bar.kind, "#d0d0d0")
            self.add_row(
                span_label(bar),
                bar_text(bar.offset_ms, bar.duration_ms, wf.total_ms, width, style),
                Text(fmt_ms(bar.duration_ms), justify="right"),
                Text(detail_text(bar)[:room], no_wrap=True),
                key=str(i),
            )
        if wf.bars:
            self.move_cursor(row=min(row, len(wf.bars) - 1))

    def on_resize(self) -> None:
        if self.waterfall is not None and self._bar_width() != self._width:
            self._rebuild()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        bar = None
        if self.waterfall is not None and event.row_key.value is not None:
            bar = self.waterfall.bars[int(event.row_key.value)]
        self.post_message(self.SpanHighlighted(bar))
