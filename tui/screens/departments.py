"""The departments crossdesk routes to: their intents, actions and the package each came from."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from tui import data
from tui.data import DepartmentsView, DepartmentView
from tui.screens.base import ConsoleScreen, Loaded
from tui.widgets.keybar import KeyBar
from tui.widgets.navbar import NavBar


def department_detail(d: DepartmentView) -> Group:
    origin = "built in" if d.builtin else "third-party plugin"
    head = Text.assemble((d.name, "bold #5fafff"), f"  {d.description}")
    where = Text.assemble(
        ("from ", "#8a8a8a"),
        (f"{d.package} {d.version}", "bold"),
        (f" ({origin})", "#8a8a8a"),
        ("\nentry point ", "#8a8a8a"),
        f"crossdesk.departments: {d.plugin} = {d.module}",
    )
    intents = Table.grid(padding=(0, 1), expand=True)
    intents.add_column(style="#ffaf00", no_wrap=True)
    intents.add_column(ratio=1)
    intents.add_column(justify="right", style="#8a8a8a", no_wrap=True)
    for i in d.intents:
        intents.add_row(i.name, i.description, f"{i.examples} ex.")
    actions = Text.assemble(("actions: ", "#8a8a8a"), ", ".join(d.actions) or "none")
    return Group(
        head,
        where,
        Text(""),
        Text(f"{len(d.intents)} intents", style="bold"),
        intents,
        Text(""),
        actions,
    )


class DepartmentsScreen(ConsoleScreen):
    MODE = "departments"
    REFRESH_EVERY = 0  # plugins are loaded once per process

    def __init__(self) -> None:
        super().__init__()
        self.view: DepartmentsView | None = None

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        with Horizontal(id="dept-body"):
            table: DataTable[Text] = DataTable(id="dept-list", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="dept-pane"):
                yield Static(id="dept-detail")
        yield Static(id="dept-problems")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#dept-list", DataTable)
        table.add_column("department", key="name", width=12)
        table.add_column("package", key="package", width=17)
        table.add_column("intents", key="intents", width=7)
        table.focus()

    def reload(self) -> None:
        if self.view is None:
            desk = self.desk
            self.load("departments", lambda: data.departments(desk.plugins()))

    def on_loaded(self, message: Loaded) -> None:
        if message.what != "departments":
            return
        view: DepartmentsView = message.data
        self.view = view
        table = self.query_one("#dept-list", DataTable)
        table.clear()
        for d in view.departments:
            table.add_row(
                Text(d.name, style="bold"),
                Text(d.package, style="#8a8a8a" if d.builtin else "#ffaf00"),
                Text(str(len(d.intents)), justify="right"),
                key=d.name,
            )
        problems = self.query_one("#dept-problems", Static)
        problems.display = bool(view.problems)
        problems.update(
            Text(
                "\n".join(f"not loaded: {p.name} ({p.package}): {p.reason}" for p in view.problems),
                style="#ff5f5f",
            )
        )
        if view.departments:
            self._show(view.departments[0].name)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._show(event.row_key.value)

    def _show(self, name: str) -> None:
        if self.view is None:
            return
        dep = next((d for d in self.view.departments if d.name == name), None)
        if dep is not None:
            self.query_one("#dept-detail", Static).update(department_detail(dep))
