"""Help: every key of every screen, read from the screens' own bindings so it never goes stale."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.widgets.keybar import KEY_NAMES

FILTER_HELP = (
    "Queue filter (/): words must all match; status:needs, j:EU, d:billing, c:C1001 and op:alice match one field.\n"
    "Knowledge search: words are searched in titles and bodies; dept:billing and j:EU narrow the results."
)


def _keys(bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows: dict[str, list[str]] = {}
    for b in bindings:
        if not isinstance(b, Binding):
            continue
        key = ", ".join(KEY_NAMES.get(k, k) for k in b.key.split(","))
        rows.setdefault(b.description or b.action, []).append(key)
    return [(" / ".join(keys), what) for what, keys in rows.items()]


def help_text() -> RenderableType:
    from tui.app import CrossdeskApp
    from tui.screens.conversation import ConversationScreen
    from tui.screens.knowledge import KnowledgeScreen
    from tui.screens.metrics import MetricsScreen
    from tui.screens.queue import QueueScreen
    from tui.screens.traces import TracesScreen

    sections = [
        ("Everywhere", CrossdeskApp.BINDINGS),
        ("Queue", QueueScreen.BINDINGS),
        ("Conversation", ConversationScreen.BINDINGS),
        ("Traces", TracesScreen.BINDINGS),
        ("Metrics", MetricsScreen.BINDINGS),
        ("Knowledge", KnowledgeScreen.BINDINGS),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold #ffaf00", no_wrap=True, min_width=14)
    grid.add_column()
    for title, bindings in sections:
        grid.add_row(Text(title, style="bold #5fafff"), "")
        for keys, what in _keys(list(bindings)):
            grid.add_row(keys, what)
        grid.add_row("", "")
    grid.add_row(Text("Tables", style="bold #5fafff"), "")
    grid.add_row("↑ ↓ pgup pgdn", "move; enter opens the row; tab moves between panes")
    return Group(grid, Text(FILTER_HELP, style="#8a8a8a"))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-pane") as pane:
            pane.border_title = "crossdesk console: keys (esc closes)"
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
