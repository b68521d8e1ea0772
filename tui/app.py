"""CrossdeskApp: the operator console over crossdesk's database.

Each top-level screen is a Textual mode (number keys 1-5 switch), so a
conversation opened from the queue stays open while you look at metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from tui.data import utcnow
from tui.desk import Desk
from tui.screens.base import describe_error
from tui.screens.departments import DepartmentsScreen
from tui.screens.help import HelpScreen
from tui.screens.knowledge import KnowledgeScreen
from tui.screens.metrics import MetricsScreen
from tui.screens.queue import QueueScreen
from tui.screens.traces import TracesScreen
from tui.simulator import SimulatorProcess

STYLES = Path(__file__).parent / "styles"


class CrossdeskApp(App[None]):
    TITLE = "crossdesk"
    CSS_PATH = [STYLES / name for name in ("app.tcss", "queue.tcss", "conversation.tcss", "panels.tcss")]
    ENABLE_COMMAND_PALETTE = False
    MODES = {
        "queue": QueueScreen,
        "traces": TracesScreen,
        "metrics": MetricsScreen,
        "knowledge": KnowledgeScreen,
        "departments": DepartmentsScreen,
    }
    DEFAULT_MODE = "queue"
    # below 100 columns the side-by-side panes stack
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("1", "switch_mode('queue')", "Queue", show=False),
        Binding("2", "switch_mode('traces')", "Traces", show=False),
        Binding("3", "switch_mode('metrics')", "Metrics", show=False),
        Binding("4", "switch_mode('knowledge')", "Knowledge", show=False),
        Binding("5", "switch_mode('departments')", "Departments", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        desk: Desk,
        *,
        simulate_rate: float | None = None,
        clock: Callable[[], datetime] | None = None,
        refresh_s: float | None = 1.0,
        cursor_blink: bool = True,
    ) -> None:
        """`refresh_s` is how often the shown screen re-reads the database (None: only on entry);
        `clock` and `cursor_blink=False` make screenshots reproducible."""
        super().__init__()
        self.desk = desk
        self.clock = clock or utcnow
        self.refresh_s = refresh_s
        self.cursor_blink = cursor_blink
        self.simulate_rate = simulate_rate
        self.simulator: SimulatorProcess | None = None
        self.simulator_pending = simulate_rate is not None

    def on_mount(self) -> None:
        if self.simulate_rate is not None:
            rate = self.simulate_rate
            self.run_worker(
                lambda: self.desk.start_simulator(rate),
                name="simulator",
                group="simulator",
                thread=True,
                exit_on_error=False,
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "simulator":
            return
        if event.state == WorkerState.SUCCESS:
            self.simulator = event.worker.result
            self.simulator_pending = False
            self.notify(f"Simulated customers are writing in at {self.simulate_rate:g} messages per second.")
        elif event.state == WorkerState.ERROR and event.worker.error is not None:
            self.simulator_pending = False
            self.notify(
                describe_error(event.worker.error),
                title="simulator not started",
                severity="error",
                timeout=15,
            )

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
