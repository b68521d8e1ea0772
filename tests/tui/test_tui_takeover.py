"""Taking a conversation over from the console: claim, reply, release, and the refusals."""

from __future__ import annotations

from typing import Any

from textual.message import Message as TextualMessage
from textual.widgets import DataTable, Input, Static
from tui_helpers import make_app, plain, run, until

from orchestrator import takeover
from policies import audit
from tui.screens.base import ActionDone
from tui.screens.conversation import ConversationScreen
from tui.screens.queue import QueueScreen


def actions(posted: list[TextualMessage]) -> list[ActionDone]:
    """The operator actions the screens reported, once each (the hook can see a message twice)."""
    return list({id(m): m for m in posted if isinstance(m, ActionDone)}.values())


def queue_keys(app: Any) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [str(r.key.value) for r in table.ordered_rows]


def test_claim_reply_release_round_trip(orch: Any, conversations: dict[str, Any], desk: Any) -> None:
    posted: list[TextualMessage] = []

    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(100, 30), message_hook=posted.append) as pilot:
            # the two conversations waiting for a person come first, the most urgent on top
            await until(pilot, lambda: len(queue_keys(app)) == 4, "the queue to load")
            assert set(queue_keys(app)[:2]) == {"conv-person", "conv-split"}
            table = app.screen.query_one(DataTable)
            table.move_cursor(row=queue_keys(app).index("conv-person"))

            await pilot.press("enter")
            screen = await until(
                pilot, lambda: isinstance(app.screen, ConversationScreen) and app.screen, "the conversation"
            )
            await until(pilot, lambda: screen.detail is not None, "the conversation to load")
            handover = plain(screen.query_one("#handover", Static))
            assert "the customer asked for a person" in handover
            assert "waiting for an operator" in handover

            await pilot.press("c")
            await until(
                pilot,
                lambda: "taken over by alice" in plain(screen.query_one("#handover", Static)),
                "the claim",
            )
            shown = takeover.show(orch, "conv-person")
            assert shown["status"] == "claimed" and shown["claimed_by"] == "alice"
            assert shown["takeover_latency_ms"] > 0
            assert f"after {shown['takeover_latency_ms'] / 1000:.1f}s" in plain(
                screen.query_one("#handover", Static)
            )

            await pilot.press("r")
            box = screen.query_one("#reply-box", Input)
            assert box.display and box.has_focus
            await pilot.press(*"Your new card is on its way [today].")
            await pilot.press("enter")
            await until(
                pilot,
                lambda: (
                    "Your new card is on its way [today]."
                    in plain(screen.query_one("#conv-transcript", Static))
                ),
                "the reply in the transcript",
            )
            assert not box.display

            await pilot.press("l")
            await until(
                pilot,
                lambda: screen.detail is not None and screen.detail.row.status == "automated",
                "the release",
            )

    run(scenario)

    sent = actions(posted)
    assert [(m.verb, m.error) for m in sent] == [("claim", None), ("reply", None), ("release", None)]
    assert sent[2].result is not None and sent[2].result["resumed"] is True  # the paused turn went on
    # the reply reached the customer's transcript and the audit log, as alice
    transcript = takeover.show(orch, "conv-person")["transcript"]
    assert [(m["role"], m["author"], m["text"]) for m in transcript if m["role"] == "operator"] == [
        ("operator", "alice", "Your new card is on its way [today].")
    ]
    kinds = [(r["kind"], r["actor"]) for r in audit.export(orch.engine, "conv-person")]
    assert ("operator_reply", "operator:alice") in kinds and ("release", "operator:alice") in kinds
    assert takeover.queue(orch) and all(e["conversation_id"] != "conv-person" for e in takeover.queue(orch))


def test_reply_needs_a_claim_and_someone_elses_claim_is_refused(
    orch: Any, conversations: dict[str, Any], desk: Any
) -> None:
    takeover.claim(orch, "conv-split", "bob")
    posted: list[TextualMessage] = []

    async def scenario() -> None:
        app = make_app(desk)
        async with app.run_test(size=(100, 30), message_hook=posted.append) as pilot:
            await until(pilot, lambda: len(queue_keys(app)) == 4, "the queue to load")
            # alice's attention first: unclaimed waits, then others' claims
            assert queue_keys(app)[:2] == ["conv-person", "conv-split"]
            table = app.screen.query_one(DataTable)
            table.move_cursor(row=1)
            await pilot.press("r")  # not hers: no reply box, a warning instead
            assert isinstance(app.screen, QueueScreen)
            await pilot.press("c")
            await until(pilot, lambda: any(isinstance(m, ActionDone) for m in posted), "the refused claim")

    run(scenario)
    (done,) = actions(posted)
    assert done.verb == "claim" and done.error is not None and "already taken over by bob" in done.error
    assert takeover.show(orch, "conv-split")["claimed_by"] == "bob"  # nothing changed
