"""The queue: every live conversation, the ones waiting for a person first, with their SLA countdown."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from tui import data
from tui.data import QueueRow
from tui.screens.base import ConsoleScreen, Loaded
from tui.widgets.badges import fmt_age, status_text
from tui.widgets.keybar import KeyBar
from tui.widgets.navbar import NavBar
from tui.widgets.sla_countdown import sla_text

COLUMNS = (
    ("SLA", "sla", 8),
    ("status", "status", 16),
    ("customer", "customer", 8),
    ("jur", "jur", 5),
    ("departments", "departments", 19),
    ("xfer", "xfer", 4),
    ("age", "age", 4),
    ("conversation", "conversation", 18),
)


class QueueScreen(ConsoleScreen):
    MODE = "queue"
    BINDINGS = [
        Binding("o", "open", "Open"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("c", "claim", "Claim"),
        Binding("r", "reply", "Reply"),
        Binding("l", "release", "Release"),
        Binding("R", "release", "Release", show=False),
        Binding("t", "traces", "Traces"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[QueueRow] = []  # as loaded
        self.shown: list[QueueRow] = []  # filtered and sorted, as in the table
        self.sort = data.SORTS[0]
        self.query_text = ""
        self._cells: dict[str, tuple[object, ...]] = {}

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield Static(id="queue-summary")
        table: DataTable[Text] = DataTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Input(
            placeholder="filter: words, or status:needs j:EU d:billing c:C1001 op:alice (enter keeps, esc clears)",
            id="queue-filter",
        )
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self.query_one("#queue-filter", Input).display = False
        self.query_one("#queue-filter", Input).cursor_blink = self.console.cursor_blink
        self._summarise()
        self.set_interval(1.0, self._tick)
        table.focus()

    # -- data ---------------------------------------------------------------------------------

    def reload(self) -> None:
        reader = self.desk.reader
        self.load("queue", lambda: data.list_conversations(reader))

    def on_loaded(self, message: Loaded) -> None:
        if message.what == "queue":
            self.rows = message.data
            self._apply()

    def selected_row(self) -> QueueRow | None:
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def selected_conversation(self) -> str | None:
        row = self.selected_row()
        if row is None:
            self.notify("The queue is empty: no conversation is selected.", severity="warning")
            return None
        return row.conversation_id

    # -- the table ----------------------------------------------------------------------------

    def _cells_of(self, row: QueueRow) -> tuple[object, ...]:
        now = self.now()
        return (
            sla_text(row, now),
            status_text(row, self.desk.operator),
            row.customer_id or "–",
            row.jurisdiction,
            Text(", ".join(row.departments) or "–", overflow="ellipsis", no_wrap=True),
            Text(str(row.transfers), justify="right", style="#ff5f5f" if row.transfers else ""),
            Text(fmt_age(row.updated_at, now), justify="right"),
            Text(row.conversation_id, style="#8a8a8a"),
        )

    def _apply(self) -> None:
        """Bring the table to the filtered, sorted rows with as little work as possible: with
        simulated customers it changes every second, and rebuilding hundreds of rows each time
        would make every key press wait."""
        table = self.query_one(DataTable)
        selected = self.selected_row()
        on_top = table.cursor_row <= 0
        shown = data.sort_rows(data.filter_rows(self.rows, self.query_text), self.sort, self.desk.operator)
        wanted = {r.conversation_id: r for r in shown}
        before = {r.conversation_id: r for r in self.shown}
        gone = before.keys() - wanted.keys()
        if len(gone) > 3:
            # DataTable.remove_row re-indexes every row: past a few removals a rebuild is cheaper
            table.clear()
            self._cells = {key: self._cells_of(r) for key, r in wanted.items()}
            for key in wanted:
                table.add_row(*self._cells[key], key=key)
        else:
            for key in gone:
                table.remove_row(key)
                self._cells.pop(key, None)
            for key, r in wanted.items():
                if key not in before:
                    self._cells[key] = cells = self._cells_of(r)
                    table.add_row(*cells, key=key)
                elif before[key] != r:
                    self._update_row(r)
        order = list(wanted)
        if [str(row.key.value) for row in table.ordered_rows] != order:
            rank = {key: i for i, key in enumerate(order)}
            table.sort("conversation", key=lambda cell: rank[cell.plain])
        # on the top row the cursor stays on top (the most urgent); anywhere else it follows its
        # conversation, so enter opens the one the operator was looking at
        if selected is not None and selected.conversation_id in wanted and not on_top:
            index = order.index(selected.conversation_id)
            if index != table.cursor_row:
                table.move_cursor(row=index, animate=False)
        elif on_top and table.row_count:
            table.move_cursor(row=0, animate=False)
        self.shown = shown
        self._summarise()

    def _update_row(self, r: QueueRow) -> None:
        table = self.query_one(DataTable)
        cells = self._cells_of(r)
        old = self._cells.get(r.conversation_id) or (None,) * len(COLUMNS)
        for (_, key, _), new, was in zip(COLUMNS, cells, old, strict=True):
            if new != was:
                table.update_cell(r.conversation_id, key, new)
        self._cells[r.conversation_id] = cells

    def _tick(self) -> None:
        # the countdowns and ages move with the clock, not with the data: redraw the rows in view
        table = self.query_one(DataTable)
        first = max(0, int(table.scroll_y))
        for r in self.shown[first : first + table.size.height + 1]:
            self._update_row(r)
        self._summarise()

    def _summarise(self) -> None:
        now = self.now()
        me = self.desk.operator
        waiting = [r for r in self.rows if r.waiting]
        overdue = sum(1 for r in waiting if r.overdue(now))
        mine = sum(1 for r in self.rows if r.status == "claimed" and r.claimed_by == me)
        text = Text()
        text.append(f" {len(waiting)} waiting", style="bold #ff5f5f" if waiting else "bold")
        if overdue:
            text.append(f" ({overdue} past SLA)", style="bold #ff5f5f")
        text.append(f" · {mine} with you · {len(self.shown)}/{len(self.rows)} shown", style="")
        text.append(f"   sort: {self.sort}", style="#8a8a8a")
        if self.query_text:
            text.append("   filter: ", style="#8a8a8a")
            text.append(self.query_text, style="bold #ffaf00")
        self.query_one("#queue-summary", Static).update(text)

    # -- keys ---------------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        cid = self.selected_conversation()
        if cid is not None:
            from tui.screens.conversation import ConversationScreen

            self.app.push_screen(ConversationScreen(cid))

    def action_reply(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        if not (row.status == "claimed" and row.claimed_by == self.desk.operator):
            self.notify(f"Take {row.conversation_id} over first (c), then reply.", severity="warning")
            return
        from tui.screens.conversation import ConversationScreen

        self.app.push_screen(ConversationScreen(row.conversation_id, reply=True))

    def action_traces(self) -> None:
        cid = self.selected_conversation()
        if cid is not None:
            from tui.screens.traces import TracesScreen

            self.app.push_screen(TracesScreen(conversation_id=cid))

    def action_sort(self) -> None:
        self.sort = data.SORTS[(data.SORTS.index(self.sort) + 1) % len(data.SORTS)]
        self._apply()

    def action_filter(self) -> None:
        box = self.query_one("#queue-filter", Input)
        box.display = True
        box.value = self.query_text
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#queue-filter", Input)
        box.value = ""
        box.display = False
        self.query_text = ""
        self._apply()
        self.query_one(DataTable).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "queue-filter":
            self.query_text = event.value.strip()
            self._apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "queue-filter":
            event.input.display = bool(self.query_text)
            self.query_one(DataTable).focus()
