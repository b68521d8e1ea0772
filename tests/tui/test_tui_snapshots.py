"""Screenshots of the main screens at 100x30 (and the queue at 80x24), compared with the accepted
ones in __snapshots__/. Data comes from real turns with every shown time frozen.

After an intended change of the look: `pytest tests/tui/test_tui_snapshots.py --snapshot-update`,
then check the new SVGs (pytest writes snapshot_report.html on failure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.widgets import DataTable, Markdown, Static
from tui_helpers import FROZEN_NOW, make_app, plain, until

from tui.screens.conversation import ConversationScreen
from tui.screens.help import HelpScreen
from tui.screens.traces import TracesScreen
from tui.widgets.waterfall import WaterfallTable


async def queue_loaded(pilot: Any) -> None:
    await until(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count == 4, "the queue")


async def open_conversation(pilot: Any, conversation_id: str) -> None:
    await queue_loaded(pilot)
    table = pilot.app.screen.query_one(DataTable)
    table.move_cursor(row=[str(r.key.value) for r in table.ordered_rows].index(conversation_id))
    await pilot.press("enter")
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, ConversationScreen) and pilot.app.screen.detail is not None,
        "the conversation",
    )


async def conversation(pilot: Any) -> None:
    await open_conversation(pilot, "conv-split")


async def traces(pilot: Any) -> None:
    await open_conversation(pilot, "conv-resolved")
    await pilot.press("t")
    await until(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, TracesScreen)
            and pilot.app.screen.query_one(WaterfallTable).row_count
        ),
        "the waterfall",
    )
    await pilot.press("w", "down", "down", "down")  # onto the first department run


async def metrics(pilot: Any) -> None:
    await pilot.press("3")
    await until(
        pilot, lambda: "turns" in plain(pilot.app.screen.query_one("#metrics-head", Static)), "the metrics"
    )


async def knowledge(pilot: Any) -> None:
    await pilot.press("4", "slash", *"card declined", "enter")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.hits and screen.hits[0].department == "technical", "the results")
    await until(pilot, lambda: screen.query_one("#kb-article", Markdown).children, "the article")


async def departments(pilot: Any) -> None:
    await pilot.press("5")
    await until(
        pilot, lambda: pilot.app.screen.query_one("#dept-list", DataTable).row_count == 4, "departments"
    )


async def help_screen(pilot: Any) -> None:
    await queue_loaded(pilot)
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "help")


SCREENS: dict[str, Callable[[Any], Awaitable[None]]] = {
    "queue": queue_loaded,
    "conversation": conversation,
    "traces": traces,
    "metrics": metrics,
    "knowledge": knowledge,
    "departments": departments,
    "help": help_screen,
}


@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_at_100x30(screen: str, frozen: dict[str, Any], desk: Any, snap_compare: Any) -> None:
    app = make_app(desk, refresh_s=None, clock=lambda: FROZEN_NOW)
    assert snap_compare(app, terminal_size=(100, 30), run_before=SCREENS[screen])


@pytest.mark.parametrize("screen", ["queue", "conversation"])
def test_screen_at_80x24(screen: str, frozen: dict[str, Any], desk: Any, snap_compare: Any) -> None:
    app = make_app(desk, refresh_s=None, clock=lambda: FROZEN_NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=SCREENS[screen])
