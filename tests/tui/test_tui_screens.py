"""Traces, knowledge, departments, metrics and help, driven with the keyboard."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input, Markdown, OptionList, Static
from tui_helpers import make_app, plain, run, until

from tui.screens.conversation import ArticlePicker, ConversationScreen
from tui.screens.help import HelpScreen
from tui.screens.knowledge import ArticleScreen, KnowledgeScreen
from tui.screens.traces import TracesScreen
from tui.widgets.waterfall import WaterfallTable


def rows(table: DataTable[Any]) -> list[str]:
    return [str(r.key.value) for r in table.ordered_rows]


async def open_conversation(pilot: Any, app: Any, conversation_id: str) -> ConversationScreen:
    await until(pilot, lambda: conversation_id in rows(app.screen.query_one(DataTable)), "the queue to load")
    table = app.screen.query_one(DataTable)
    table.move_cursor(row=rows(table).index(conversation_id))
    await pilot.press("enter")
    return await until(
        pilot,
        lambda: isinstance(app.screen, ConversationScreen) and app.screen.detail is not None and app.screen,
        f"conversation {conversation_id}",
    )


def test_conversation_shows_decomposition_results_policy_and_notes(traced: dict[str, Any], desk: Any) -> None:
    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await open_conversation(pilot, app, "conv-resolved")
            turns = plain(screen.query_one("#conv-turns", Static))
            # each sub-issue with its department, intent, router confidence and outcome
            for task in traced["conv-resolved"].record["tasks"]:
                assert task["text"] in turns
                assert f"{task['department']}  {task['intent']} {task['confidence']:.2f}  resolved" in turns
            assert "issue_password_reset ✓" in turns and "knowledge: KB-TEC-001, KB-TEC-016" in turns
            assert "global.ai_disclosure" in turns  # a policy rule that matched, with why
            assert "Automation is handling this conversation" in plain(screen.query_one("#handover", Static))
            notes = plain(screen.query_one("#conv-notes", Static))
            assert "No case notes" in notes or "C1001" in str(screen.query_one("#conv-notes").border_title)

            # the knowledge it cited opens in the reader
            await pilot.press("a")
            picker = await until(
                pilot, lambda: isinstance(app.screen, ArticlePicker) and app.screen, "the picker"
            )
            options = picker.query_one(OptionList)
            assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
                "KB-TEC-011",
                "KB-TEC-015",
                "KB-TEC-001",
                "KB-TEC-016",
            ]
            await pilot.press("down", "down", "enter")
            article = await until(
                pilot, lambda: isinstance(app.screen, ArticleScreen) and app.screen, "the article"
            )
            assert article.article_id == "KB-TEC-001"
            await until(
                pilot, lambda: "KB-TEC-001" in plain(article.query_one("#article-meta", Static)), "its text"
            )
            await pilot.press("escape")
            assert app.screen is screen

    run(scenario)


def test_jump_from_a_conversation_to_its_trace_and_back(traced: dict[str, Any], desk: Any) -> None:
    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await open_conversation(pilot, app, "conv-resolved")
            await pilot.press("t")
            traces = await until(
                pilot, lambda: isinstance(app.screen, TracesScreen) and app.screen, "the traces"
            )
            assert traces.conversation_id == "conv-resolved"
            await until(pilot, lambda: traces.turns, "the traced turns")
            assert {t.conversation_id for t in traces.turns} == {"conv-resolved"}
            waterfall = traces.query_one(WaterfallTable)
            await until(
                pilot, lambda: waterfall.waterfall is not None and waterfall.row_count, "the waterfall"
            )
            bars = waterfall.waterfall.bars
            assert bars[0].kind == "turn" and bars[0].depth == 0
            handoffs = [(b.source, b.target) for b in bars if b.kind == "handoff"]
            assert ("supervisor", "technical") in handoffs
            agents = [b for b in bars if b.kind == "agent"]
            assert agents and all(0 <= b.offset_ms <= waterfall.waterfall.total_ms for b in agents)
            assert "supervisor → technical" in str(
                waterfall.get_row_at(bars.index(next(b for b in bars if b.kind == "handoff")))[0]
            )

            # move through the spans: the line under the waterfall explains the one selected
            await pilot.press("w", "down")
            detail = plain(traces.query_one("#span-detail", Static))
            assert bars[1].name in detail

            await pilot.press("escape", "escape")  # out of the waterfall, then back to the conversation
            assert app.screen is screen

            # the traces screen (2) lists every conversation's turns
            await pilot.press("2")
            everything = await until(
                pilot,
                lambda: isinstance(app.screen, TracesScreen) and len(app.screen.turns) >= 4 and app.screen,
                "all turns",
            )
            assert {t.conversation_id for t in everything.turns} >= set(traced)
            await pilot.press("1")
            assert app.screen is screen  # the queue's stack kept the conversation open

    run(scenario)


def test_knowledge_search_and_read(conversations: dict[str, Any], desk: Any) -> None:
    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("4")
            screen = await until(
                pilot, lambda: isinstance(app.screen, KnowledgeScreen) and app.screen, "knowledge"
            )
            hits = screen.query_one("#kb-hits", DataTable)
            await until(pilot, lambda: hits.row_count > 50, "the article list")  # empty query: all of them
            assert hits.has_focus  # number keys still switch screens

            await pilot.press("slash")
            assert screen.query_one("#kb-search", Input).has_focus
            await pilot.press(*"charged twice")
            await until(pilot, lambda: screen.hits and screen.hits[0].id == "KB-BIL-008", "the search result")
            await until(
                pilot, lambda: "KB-BIL-008" in plain(screen.query_one("#kb-meta", Static)), "the article"
            )
            assert screen.query_one("#kb-article", Markdown).source  # its body is shown beside the results

            await pilot.press("escape", "enter")  # to the results, then read it on its own screen
            article = await until(
                pilot, lambda: isinstance(app.screen, ArticleScreen) and app.screen, "the reader"
            )
            assert article.article_id == "KB-BIL-008"
            await pilot.press("escape")
            assert app.screen is screen

            # dept: narrows the search to one department
            await pilot.press("slash", "ctrl+u", *"card dept:technical")
            await until(
                pilot,
                lambda: screen.hits and {h.department for h in screen.hits} == {"technical"},
                "dept filter",
            )

    run(scenario)


def test_departments_list_intents_and_origin(conversations: dict[str, Any], desk: Any) -> None:
    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("5")
            table = await until(
                pilot,
                lambda: (
                    rows(app.screen.query_one("#dept-list", DataTable)) and app.screen.query_one("#dept-list")
                ),
                "departments",
            )
            assert rows(table) == ["billing", "claims", "compliance", "technical"]
            detail = plain(app.screen.query_one("#dept-detail", Static))
            assert "crossdesk 0.1.0 (built in)" in detail and "double_charge" in detail
            await pilot.press("down")  # claims comes from the example plugin package
            await until(
                pilot,
                lambda: "crossdesk-claims" in plain(app.screen.query_one("#dept-detail", Static)),
                "claims",
            )
            detail = plain(app.screen.query_one("#dept-detail", Static))
            assert (
                "third-party plugin" in detail
                and "crossdesk.departments: claims = crossdesk_claims" in detail
            )
            assert "file_claim" in detail

    run(scenario)


def test_metrics_and_help(traced: dict[str, Any], desk: Any) -> None:
    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("3")
            await until(
                pilot,
                lambda: "4 turns" in plain(app.screen.query_one("#metrics-head", Static)),
                "the metrics",
            )
            head = plain(app.screen.query_one("#metrics-head", Static))
            assert "Last 15 min" in head and "(4 traced)" in head
            assert (
                plain(app.screen.query_one("#kpi-waiting", Static)).split()[1] == "2"
            )  # two wait for a person
            assert "50%" in plain(app.screen.query_one("#kpi-escalation", Static))  # 2 of 4 turns escalated
            bars = app.screen.query_one("#departments")
            assert {b.label for b in bars.bars} >= {"technical", "compliance", "claims"}
            assert sum(b.value for b in app.screen.query_one("#transfers").bars) > 0
            await pilot.press("w")
            await until(
                pilot,
                lambda: "Last 1 h" in plain(app.screen.query_one("#metrics-head", Static)),
                "the window",
            )

            await pilot.press("question_mark")
            help_screen = await until(
                pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen, "help"
            )
            text = plain(help_screen.query_one("#help-text", Static))
            for words in ("Claim", "Release", "Filter", "Traces", "Window", "status:needs"):
                assert words in text
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)

    run(scenario)
