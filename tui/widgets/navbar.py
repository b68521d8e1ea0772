"""The top line of every screen: the screens by number (click or press 1-5) and who is at the desk."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.markup import escape
from textual.widgets import Static

# (mode, number key, label)
SCREENS = (
    ("queue", "1", "Queue"),
    ("traces", "2", "Traces"),
    ("metrics", "3", "Metrics"),
    ("knowledge", "4", "Knowledge"),
    ("departments", "5", "Departments"),
)


class NavBar(Horizontal):
    """Screens on the left; the operator and the simulator's pace on the right."""

    DEFAULT_CSS = """
    NavBar { height: 1; dock: top; background: $panel; }
    NavBar > #nav-tabs { width: 1fr; }
    NavBar > #nav-who { width: auto; padding: 0 1; }
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def compose(self) -> ComposeResult:
        yield Static(self.tabs(), id="nav-tabs")
        yield Static(id="nav-who")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._tick()

    def _tick(self) -> None:
        self.query_one("#nav-who", Static).update(self.who())

    def tabs(self) -> str:
        out = []
        for mode, key, label in SCREENS:
            if mode == self.mode:
                out.append(f"[reverse bold] {key} {label} [/]")
            else:
                out.append(f"[@click=app.switch_mode('{mode}')] [dim]{key}[/] {label} [/]")
        return "".join(out)

    def who(self) -> str:
        app: Any = self.app
        text = f"[b]{escape(app.desk.operator)}[/]"
        sim = getattr(app, "simulator", None)
        if sim is not None:
            stats = sim.stats()
            text += f"  [#ffaf00]sim {stats.rate:.1f}/s[/] [dim]{stats.sent} sent[/]"
            if stats.failed:
                text += f" [#ff5f5f]{stats.failed} failed[/]"
        elif getattr(app, "simulator_pending", False):
            text += "  [dim]sim starting…[/]"
        return text
