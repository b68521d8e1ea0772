"""Human takeover through the CLI: flag, queue with SLA, claim, reply, release and resume."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from policy_scenarios import add_duplicate_charge
from sqlmodel import Session, col, select

from orchestrator import takeover
from orchestrator.cli import main
from orchestrator.config import load_settings
from orchestrator.graph import SUMMARY_MAX_CHARS, handoff_summary
from orchestrator.records import CLAIMED, NEEDS_HUMAN, Conversation, Message
from orchestrator.runtime import Orchestrator
from policies import audit

CONV = "conv-takeover-1"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    data = json.loads(out) if "--json" in args and code == 0 else out
    return code, data, err


def transcript(orch: Orchestrator, conversation_id: str) -> list[tuple[str, str]]:
    with Session(orch.engine) as s:
        rows = s.exec(
            select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.id))
        )
        return [(m.role, m.author) for m in rows]


def conversation_status(orch: Orchestrator, conversation_id: str) -> str:
    with Session(orch.engine) as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        return conv.status


def test_takeover_round_trip_through_the_cli(
    seeded_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator import pgsql

    monkeypatch.setattr(pgsql, "PRUNE_EVERY", 1)  # PostgreSQL: prune at every save, as SQLite does
    code, asked, _ = cli(
        capsys,
        "ask",
        "--customer",
        "C1001",
        "--conversation",
        CONV,
        "--json",
        "I want to talk to a person please",
    )
    assert code == 0 and asked["status"] == "needs_human"
    assert len(asked["handoff"]["summary"]) <= SUMMARY_MAX_CHARS
    assert "member of our team" in asked["reply"]

    code, queued, _ = cli(capsys, "queue", "--json")
    (item,) = queued
    assert (item["conversation_id"], item["status"], item["customer_id"]) == (CONV, "queued", "C1001")
    assert item["sla_seconds"] == 30
    deadline = datetime.fromisoformat(item["sla_deadline"]) - datetime.fromisoformat(item["flagged_at"])
    assert deadline == timedelta(seconds=30)
    assert "the customer asked for a person" in item["reasons"]
    code, table, _ = cli(capsys, "queue")
    assert CONV in table and "left" in table

    # nobody has it yet: an operator cannot answer or release it
    code, _, err = cli(capsys, "reply", CONV, "hello")
    assert code == 4 and "takeover" in err
    code, _, err = cli(capsys, "release", CONV)
    assert code == 4 and "nobody has taken it over" in err

    code, claimed, _ = cli(capsys, "takeover", CONV, "--operator", "alice", "--json")
    assert code == 0 and claimed["claimed_by"] == "alice" and claimed["status"] == "claimed"
    assert claimed["takeover_latency_ms"] > 0 and claimed["sla_breached"] is False
    assert [m["role"] for m in claimed["transcript"]] == [
        "customer",
        "assistant",
    ]  # the operator reads, not asks
    code, _, err = cli(capsys, "takeover", CONV, "--operator", "bob")
    assert code == 4 and "already taken over by alice" in err

    # the customer writes while alice has it: it goes to her, not to automation
    code, held, _ = cli(capsys, "ask", "--conversation", CONV, "--json", "Are you still there?")
    assert code == 0 and held["status"] == "with_operator" and held["reply"] == ""
    code, _, err = cli(capsys, "reply", CONV, "Hi", "--operator", "bob")
    assert code == 4 and "taken over by alice" in err
    code, sent, _ = cli(capsys, "reply", CONV, "Hi Lena, Alice here. How can I help?", "--json")
    assert code == 0 and sent["operator"] == "alice"

    code, released, _ = cli(capsys, "release", CONV, "--json")
    assert code == 0 and released["resumed"] is True and released["status"] == "released"
    assert (released["operator_replies"], released["customer_messages"]) == (1, 1)
    code, queued, _ = cli(capsys, "queue", "--json")
    assert queued == []
    orch = Orchestrator(load_settings())
    try:
        # the resumed run recorded how the person ended it in the conversation's checkpoint
        resumed = orch.graph.get_state({"configurable": {"thread_id": CONV}})
        assert resumed.values["handoff"]["resolution"] == {
            "action": "released",
            "operator": "alice",
            "operator_replies": 1,
            "customer_messages": 1,
        }
    finally:
        orch.close()

    code, again, _ = cli(capsys, "ask", "--conversation", CONV, "--json", "How do I reset my password?")
    assert code == 0 and again["status"] == "resolved" and again["handoff"] is None
    assert "password" in again["reply"].lower()

    orch = Orchestrator(load_settings())
    try:
        config: RunnableConfig = {"configurable": {"thread_id": CONV}}
        state = orch.graph.get_state(config)
        assert not state.interrupts
        # the next turn continued the checkpointed conversation: turn 2 after the released turn 1
        assert [h["seq"] for h in state.values["history"]] == [1, 2]
        # only the latest checkpoint is kept: the superseded ones are dropped when it is saved
        assert [s.values["history"][-1]["seq"] for s in orch.graph.get_state_history(config)] == [2]
        assert transcript(orch, CONV) == [
            ("customer", ""),
            ("assistant", ""),
            ("customer", ""),
            ("operator", "alice"),
            ("customer", ""),
            ("assistant", ""),
        ]
        assert conversation_status(orch, CONV) == "resolved"
        with Session(orch.engine) as s:
            entry = s.exec(
                select(takeover.TakeoverEntry).where(takeover.TakeoverEntry.conversation_id == CONV)
            ).one()
        assert entry.takeover_latency_ms == claimed["takeover_latency_ms"]
        assert entry.released_by == "alice" and entry.released_at is not None
        kinds = [(r["kind"], (r["payload"] or {}).get("event")) for r in audit.export(orch.engine, CONV)]
        assert ("takeover", "flagged") in kinds and ("takeover", "claimed") in kinds
        assert ("operator_reply", None) in kinds and ("release", None) in kinds
        assert audit.verify(orch.engine).ok
    finally:
        orch.close()


def test_a_late_claim_is_marked_as_an_sla_breach(orch: Orchestrator) -> None:
    out = orch.ask("I want to talk to a person", customer_id="C1002")
    (waiting,) = takeover.queue(orch)
    flagged = datetime.fromisoformat(waiting["flagged_at"])
    assert waiting["overdue"] is False and 0 < waiting["seconds_left"] <= 30

    (late,) = takeover.queue(orch, now=flagged + timedelta(seconds=31))
    assert late["overdue"] is True and late["sla_breached"] is True

    claimed = takeover.claim(orch, out.conversation_id, "carol", now=flagged + timedelta(seconds=45))
    assert claimed["sla_breached"] is True
    assert claimed["takeover_latency_ms"] == pytest.approx(45_000, abs=1)
    assert conversation_status(orch, out.conversation_id) == CLAIMED
    (row,) = takeover.queue(orch)
    assert row["overdue"] is False and row["sla_breached"] is True  # stored, not recomputed


def test_a_sub_issue_needing_a_person_does_not_hold_back_the_others(orch: Orchestrator) -> None:
    add_duplicate_charge(orch, "C1001", "900.00", "Luxe Electronics", "TX-BIG")
    out = orch.ask(
        "I was charged twice: TX-BIG-2 is a duplicate of TX-BIG-1. Also, how do I reset my password?",
        customer_id="C1001",
    )
    statuses = {t["department"]: t["status"] for t in out.record["tasks"]}
    assert statuses == {"billing": "needs_human", "technical": "resolved"}
    assert "password" in out.reply.lower()  # answered now
    assert "member of our team" in out.reply  # and told who picks up the rest
    handoff = out.record["handoff"]
    assert len(handoff["summary"]) <= SUMMARY_MAX_CHARS
    assert "double charge" in handoff["summary"] and "technical resolved" in handoff["summary"]
    shown = takeover.show(orch, out.conversation_id)
    by_task = {f["department"]: f for f in shown["findings"]}
    assert by_task["billing"]["actions"][0]["blocked_by"] == "global.refund.approval_cap"
    assert by_task["technical"]["status"] == "resolved" and by_task["technical"]["reply"]
    assert conversation_status(orch, out.conversation_id) == NEEDS_HUMAN


def test_a_new_message_before_anyone_claims_is_answered_and_keeps_its_place_in_the_queue(
    orch: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = orch.ask("I want to talk to a person", customer_id="C1001")
    config: RunnableConfig = {"configurable": {"thread_id": first.conversation_id}}
    assert orch.graph.get_state(config).interrupts
    (before,) = takeover.queue(orch)

    runs: list[dict[str, Any]] = []
    invoke = orch.graph.invoke

    def recording(*args: Any, **kwargs: Any) -> Any:
        out = invoke(*args, **kwargs)
        runs.append(out)
        return out

    monkeypatch.setattr(orch.graph, "invoke", recording)
    second = orch.ask("How do I reset my password?", conversation_id=first.conversation_id)

    assert second.record["status"] == "resolved" and "password" in second.reply.lower()
    assert not orch.graph.get_state(config).interrupts  # the earlier pause was resumed, not dropped
    # first the paused run was ended as superseded, then the new turn ran
    assert [((r.get("handoff") or {}).get("resolution") or {}).get("action") for r in runs] == [
        "superseded",
        None,
    ]
    (after,) = takeover.queue(orch)
    assert (after["flagged_at"], after["sla_deadline"]) == (before["flagged_at"], before["sla_deadline"])
    assert after["status"] == "queued"
    assert conversation_status(orch, first.conversation_id) == NEEDS_HUMAN  # still waiting for a person

    third = orch.ask("I'm going to report you to the regulator", conversation_id=first.conversation_id)
    assert third.record["handoff"] is not None
    assert orch.graph.get_state(config).interrupts  # paused again
    (merged,) = takeover.queue(orch)
    assert merged["flagged_at"] == before["flagged_at"]
    assert "the customer asked for a person" in merged["reasons"]
    assert "threat to go to a regulator or court" in merged["reasons"]
    assert len(merged["turn_ids"]) == 2


def test_the_handoff_summary_never_exceeds_300_characters() -> None:
    state: dict[str, Any] = {
        "customer": {"id": "C1001"},
        "jurisdiction": "EU",
        "message": "x",
        "results": [
            {"task_id": f"t{i}", "department": f"department-{i}", "status": "resolved"} for i in range(40)
        ],
    }
    human = [{"id": "h1", "intent": "double_charge"}]
    summary = handoff_summary(state, human, ["a very long reason " * 30])  # type: ignore[arg-type]
    assert len(summary) == SUMMARY_MAX_CHARS and summary.endswith("…")
    assert summary.startswith("C1001 (EU): needs human for double charge.")


def test_operator_commands_explain_bad_ids_and_names(
    seeded_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "takeover", "conv-nope", "--operator", "alice")
    assert code == 3 and "not in the operator queue" in err and "crossdesk queue" in err
    code, _, err = cli(capsys, "takeover", "conv-nope", "--operator", "   ")
    assert code == 2 and "operator name" in err
    code, table, _ = cli(capsys, "queue")
    assert code == 0 and "no conversation is waiting" in table
    code, _, err = cli(capsys, "release", "conv-nope")
    assert code == 3 and "not in the operator queue" in err
    code, _, err = cli(capsys, "reply", "conv-nope", " ")
    assert code == 2 and "the reply is empty" in err
