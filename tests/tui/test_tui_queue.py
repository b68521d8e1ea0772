"""The queue screen: what it lists, filtering, sorting, live updates and the SLA countdown."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from textual.widgets import DataTable, Input, Static
from tui_helpers import FROZEN_NOW, make_app, plain, run, until

from tui.screens.conversation import ConversationScreen


def keys(app: Any) -> list[str]:
    return [str(r.key.value) for r in app.screen.query_one(DataTable).ordered_rows]


def cell(app: Any, conversation_id: str, column: str) -> Any:
    return app.screen.query_one(DataTable).get_cell(conversation_id, column)


def test_filter_narrows_the_queue_and_escape_clears_it(conversations: dict[str, Any], desk: Any) -> None:
    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(keys(app)) == 4, "the queue to load")
            await pilot.press("slash")
            box = app.screen.query_one("#queue-filter", Input)
            assert box.display and box.has_focus
            await pilot.press(*"status:needs")
            await until(
                pilot, lambda: sorted(keys(app)) == ["conv-person", "conv-split"], "the status filter"
            )
            summary = plain(app.screen.query_one("#queue-summary", Static))
            assert "2/4 shown" in summary and "filter: status:needs" in summary

            # several words must all match; free text searches ids, customers, departments ...
            await pilot.press("space", *"j:uk")
            await until(pilot, lambda: keys(app) == ["conv-person"], "the jurisdiction filter")
            await pilot.press("enter")  # keep the filter, back to the table
            assert app.screen.query_one(DataTable).has_focus and keys(app) == ["conv-person"]

            await pilot.press("escape")
            await until(pilot, lambda: len(keys(app)) == 4, "the filter to clear")
            assert not app.screen.query_one("#queue-filter", Input).display

            await pilot.press("slash", *"d:claims")
            await until(pilot, lambda: keys(app) == ["conv-claims"], "the department filter")
            await pilot.press("escape", "slash", *"nothing-like-this")
            await until(pilot, lambda: keys(app) == [], "an empty result")
            await pilot.press("enter", "enter")  # opening nothing does nothing
            assert not isinstance(app.screen, ConversationScreen)

    run(scenario)


def test_sort_cycles_and_new_conversations_appear_without_a_restart(
    orch: Any, conversations: dict[str, Any], desk: Any
) -> None:
    async def scenario() -> None:
        app = make_app(desk, refresh_s=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(keys(app)) == 4, "the queue to load")
            assert set(keys(app)[:2]) == {"conv-person", "conv-split"}  # waiting for a person first

            await pilot.press("s")  # attention -> updated: newest first
            assert keys(app)[0] == "conv-claims"
            await pilot.press("s")  # -> customer
            assert keys(app) == ["conv-resolved", "conv-person", "conv-split", "conv-claims"]
            assert "sort: customer" in plain(app.screen.query_one("#queue-summary", Static))
            await pilot.press("s", "s")  # transfers, then back to attention

            # another process (here: another thread) writes; the queue picks it up by itself
            out = await asyncio.to_thread(orch.ask, "I want to speak to a real person", customer_id="C1003")
            await until(pilot, lambda: out.conversation_id in keys(app), "the new conversation")
            # waiting like the other two, with the most time left of them
            assert keys(app).index(out.conversation_id) == 2
            assert str(cell(app, out.conversation_id, "status")).endswith("needs human")

    run(scenario)


def test_sla_countdown_runs_and_turns_red_when_breached(conversations: dict[str, Any], desk: Any) -> None:
    clock = {"now": FROZEN_NOW}

    async def scenario() -> None:
        app = make_app(desk, clock=lambda: clock["now"], refresh_s=None)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(keys(app)) == 4, "the queue to load")
            screen = app.screen
            row = next(r for r in screen.rows if r.conversation_id == "conv-person")
            clock["now"] = row.sla_deadline - timedelta(seconds=21)
            await until(pilot, lambda: str(cell(app, "conv-person", "sla")) == "21s", "the countdown")
            assert "red" not in str(cell(app, "conv-person", "sla").style)
            clock["now"] = row.sla_deadline + timedelta(seconds=5)
            await until(pilot, lambda: "+5s" in str(cell(app, "conv-person", "sla")), "the breach")
            assert str(cell(app, "conv-person", "sla").style) == "bold #ffffff on #d70000"
            assert "past SLA" in plain(screen.query_one("#queue-summary", Static))
            assert cell(app, "conv-resolved", "sla").plain == ""  # nothing to wait for

    run(scenario)


def test_usable_at_80_by_24(conversations: dict[str, Any], desk: Any) -> None:
    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: len(keys(app)) == 4, "the queue to load")
            table = app.screen.query_one(DataTable)
            # the columns an operator decides by fit without scrolling sideways
            visible = sum(col.get_render_width(table) for col in list(table.columns.values())[:5])
            assert visible <= 80
            table.move_cursor(row=keys(app).index("conv-person"))
            await pilot.press("enter")
            await until(
                pilot,
                lambda: isinstance(app.screen, ConversationScreen) and app.screen.detail is not None,
                "the conversation",
            )
            assert app.screen.query_one("#handover").region.height >= 3
            await pilot.press("escape")
            assert not isinstance(app.screen, ConversationScreen)

    run(scenario)


def test_the_cursor_stays_on_top_or_follows_its_conversation(
    orch: Any, conversations: dict[str, Any], desk: Any
) -> None:
    async def scenario() -> None:
        app = make_app(desk, refresh_s=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(keys(app)) == 4, "the queue to load")
            await pilot.press("s")  # newest first: what arrives goes to the top
            table = app.screen.query_one(DataTable)
            assert table.cursor_row == 0

            # on the top row the cursor stays on top, on whatever is newest
            first = await asyncio.to_thread(orch.ask, "How do I reset my password?", customer_id="C1003")
            await until(pilot, lambda: keys(app)[0] == first.conversation_id, "the new conversation on top")
            assert (
                table.cursor_row == 0 and app.screen.selected_row().conversation_id == first.conversation_id
            )

            # further down it follows the conversation the operator is looking at
            await pilot.press("down")
            watched = app.screen.selected_row().conversation_id
            second = await asyncio.to_thread(orch.ask, "My card hasn't arrived", customer_id="C1004")
            await until(pilot, lambda: keys(app)[0] == second.conversation_id, "the second one on top")
            assert app.screen.selected_row().conversation_id == watched and table.cursor_row == 2

    run(scenario)
