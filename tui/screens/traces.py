"""Traced turns and the waterfall of the one under the cursor; opened from a conversation it shows
only that conversation's turns and `esc` goes back to it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui import data
from tui.data import TraceTurn, Waterfall
from tui.screens.base import ConsoleScreen, Loaded
from tui.widgets.badges import fmt_clock, fmt_ms, turn_status
from tui.widgets.keybar import KeyBar
from tui.widgets.navbar import NavBar
from tui.widgets.waterfall import WaterfallTable, detail_text

EMPTY = (
    "No traced turns yet. Turns are traced into this database while the [telemetry] exporters "
    'include "local" (the default); `crossdesk traces list` reads the same spans.'
)


class TracesScreen(ConsoleScreen):
    MODE = "traces"
    REFRESH_EVERY = 3.0
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("o", "open_conversation", "Conversation"),
        Binding("w", "focus_waterfall", "Waterfall"),
    ]

    def __init__(self, *, conversation_id: str | None = None) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.turns: list[TraceTurn] = []
        self.trace_id: str | None = None
        self._loaded = False

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield Static(id="traces-title")
        table: DataTable[Text] = DataTable(id="trace-list", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static(id="waterfall-title")
        yield WaterfallTable(id="waterfall")
        yield Static(id="span-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#trace-list", DataTable)
        for label, key, width in (
            ("time", "time", 8),
            ("conversation", "conversation", 18),
            ("status", "status", 12),
            ("duration", "duration", 9),
            ("xfer", "xfer", 4),
            ("trace", "trace", 8),
        ):
            table.add_column(label, key=key, width=width)
        where = (
            f"conversation {self.conversation_id}"
            if self.conversation_id
            else "all conversations, newest first"
        )
        self.query_one("#traces-title", Static).update(Text.assemble(("Traced turns", "bold"), f" · {where}"))
        table.focus()

    def reload(self) -> None:
        reader, cid = self.desk.reader, self.conversation_id
        self.load("traces", lambda: data.list_traces(reader, conversation_id=cid))

    def on_loaded(self, message: Loaded) -> None:
        if message.what == "traces":
            self._show_turns(message.data)
        elif message.what == "waterfall":
            self._show_waterfall(message.data)

    def _show_turns(self, turns: list[TraceTurn]) -> None:
        table = self.query_one("#trace-list", DataTable)
        if self._loaded and [t.trace_id for t in turns] == [t.trace_id for t in self.turns]:
            return
        self._loaded = True
        keep = self.trace_id
        self.turns = turns
        table.clear()
        for t in turns:
            table.add_row(
                fmt_clock(t.start),
                Text(t.conversation_id or "–", style="#8a8a8a"),
                turn_status(t.status or "unknown") if not t.error else Text("error", style="bold #ff5f5f"),
                Text(fmt_ms(t.duration_ms), justify="right"),
                Text(str(t.transfers), justify="right"),
                Text(t.trace_id[:8], style="#6c6c6c"),
                key=t.trace_id,
            )
        if not turns:
            self.query_one("#waterfall-title", Static).update(Text(EMPTY, style="#8a8a8a"))
            return
        ids = [t.trace_id for t in turns]
        table.move_cursor(row=ids.index(keep) if keep in ids else 0, animate=False)
        if self.trace_id is None:
            self._select(turns[0].trace_id)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "trace-list" and event.row_key.value is not None:
            self._select(event.row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "trace-list":
            self.action_focus_waterfall()

    def _select(self, trace_id: str) -> None:
        if trace_id == self.trace_id:
            return
        self.trace_id = trace_id
        reader = self.desk.reader
        self.load("waterfall", lambda: data.trace_waterfall(reader, trace_id))

    def _show_waterfall(self, wf: Waterfall | None) -> None:
        title = self.query_one("#waterfall-title", Static)
        if wf is None:
            title.update(Text("That trace has no spans any more.", style="#ff5f5f"))
            self.query_one(WaterfallTable).show(None)
            return
        title.update(
            Text.assemble(
                ("Trace ", "bold"),
                (wf.trace_id[:16], "#6c6c6c"),
                f" · {fmt_ms(wf.total_ms)} · {len(wf.bars)} spans · ",
                (wf.conversation_id or "", "#8a8a8a"),
            )
        )
        self.query_one(WaterfallTable).show(wf)

    def on_waterfall_table_span_highlighted(self, message: WaterfallTable.SpanHighlighted) -> None:
        bar = message.bar
        text = Text("")
        if bar is not None:
            text = Text.assemble(
                (bar.name, "bold"), f"  {fmt_ms(bar.duration_ms)} at +{fmt_ms(bar.offset_ms)}  "
            )
            text.append(detail_text(bar), style="#d0d0d0")
        self.query_one("#span-detail", Static).update(text)

    def action_focus_waterfall(self) -> None:
        self.query_one(WaterfallTable).focus()

    def action_back(self) -> None:
        if self.query_one(WaterfallTable).has_focus:
            self.query_one("#trace-list", DataTable).focus()
        elif self.conversation_id is not None:
            self.app.pop_screen()

    def action_open_conversation(self) -> None:
        turn = next((t for t in self.turns if t.trace_id == self.trace_id), None)
        if turn is None or not turn.conversation_id:
            self.notify("No traced turn is selected.", severity="warning")
            return
        if self.conversation_id == turn.conversation_id:
            self.app.pop_screen()  # it came from that conversation: go back to it
            return
        from tui.screens.conversation import ConversationScreen

        self.app.push_screen(ConversationScreen(turn.conversation_id))
