"""An erasure request reaches the transcripts and turn records, not only the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from orchestrator import takeover
from orchestrator.records import Conversation, ErasureMark, Message, TurnRecord
from orchestrator.runtime import DbRecorder, Orchestrator
from policies import audit
from policies.transcript_erasure import ERASED_TEXT, erase_transcripts
from policies.turn_audit import audit_turn

ERASE = "Please delete all my personal data"


def snapshot(orch: Orchestrator, conversation_id: str) -> dict[str, Any]:
    with Session(orch.engine) as s:
        turns = s.exec(select(TurnRecord).where(TurnRecord.conversation_id == conversation_id)).all()
        messages = s.exec(
            select(Message).where(Message.conversation_id == conversation_id).order_by(col(Message.id))
        ).all()
        marks = s.exec(select(ErasureMark).where(ErasureMark.conversation_id == conversation_id)).all()
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        return {
            "records": {t.id: t.record for t in turns},
            "created": {t.id: t.created_at for t in turns},
            "messages": [(m.id, m.role, m.text) for m in messages],
            "marks": {(m.kind, m.row_id): (m.status, m.retain_until) for m in marks},
            "customer_id": conv.customer_id,
        }


def earlier_conversations(orch: Orchestrator) -> dict[str, str]:
    """A money question (kept 5 years under AML rules), a password question (no retention) and a
    conversation an operator took over, all of customer C1001 (EU)."""
    money = orch.ask("What exchange rate did you use on my card payment?", customer_id="C1001")
    password = orch.ask("How do I reset my password?", customer_id="C1001")
    person = orch.ask("I want to talk to a real person please", customer_id="C1001")
    assert person.record["handoff"] is not None
    takeover.claim(orch, person.conversation_id, "alice")
    takeover.reply(orch, person.conversation_id, "Alice here, I can see your account.", operator="alice")
    orch.ask("Thanks Alice, my flat number is 12B", conversation_id=person.conversation_id)
    return {
        "money": money.conversation_id,
        "password": password.conversation_id,
        "person": person.conversation_id,
    }


def test_erasure_freezes_transcripts_under_retention_and_erases_the_rest(orch: Orchestrator) -> None:
    convs = earlier_conversations(orch)
    before = {k: snapshot(orch, c) for k, c in convs.items()}

    out = orch.ask(ERASE, customer_id="C1001")
    assert out.record["tasks"][0]["status"] == "resolved"
    after = {k: snapshot(orch, c) for k, c in convs.items()}

    # under retention: the turn record and its messages are kept whole and marked frozen until the end
    money_before, money = before["money"], after["money"]
    assert money["records"] == money_before["records"]
    assert money["messages"] == money_before["messages"]
    (turn_id,) = money["records"]
    status, until = money["marks"][("turn", turn_id)]
    assert status == "frozen" and until is not None
    years = (until.replace(tzinfo=UTC) - money["created"][turn_id].replace(tzinfo=UTC)).days / 365.25
    assert round(years) == 5
    assert {money["marks"][("message", str(m[0]))][0] for m in money["messages"]} == {"frozen"}
    assert money["customer_id"] == "C1001"

    # not under retention: the text is gone, the routing statistics stay, the customer link goes
    password = after["password"]
    assert [m[2] for m in password["messages"]] == [ERASED_TEXT, ERASED_TEXT]
    (record,) = password["records"].values()
    assert record["erased"] is True and "reset my password" not in json.dumps(record).lower()
    assert [(t["department"], t["intent"]) for t in record["tasks"]] == [
        (t["department"], t["intent"]) for t in next(iter(before["password"]["records"].values()))["tasks"]
    ]
    assert {v[0] for v in password["marks"].values()} == {"erased"}
    assert password["customer_id"] is None

    # what the operator and the customer said during the takeover goes too
    person = after["person"]
    assert [m[1] for m in person["messages"]] == ["customer", "assistant", "operator", "customer"]
    assert all(m[2] == ERASED_TEXT for m in person["messages"])

    # the request itself documents what was done, in the hash chain
    own = snapshot(orch, out.conversation_id)
    assert [m[2] for m in own["messages"]][0] == ERASE and not own["marks"]
    (logged,) = [r for r in audit.export(orch.engine) if r["kind"] == "transcript_erasure"]
    assert logged["payload"]["frozen_turns"] == [turn_id]
    assert set(logged["payload"]["erased_turns"]) == set(password["records"]) | set(person["records"])
    assert audit.verify(orch.engine).ok


def test_erasure_commits_with_the_turn_record_or_not_at_all(orch: Orchestrator) -> None:
    convs = earlier_conversations(orch)
    before = {k: snapshot(orch, c) for k, c in convs.items()}

    def fails(session: Session, state: Any, record: Any) -> None:
        raise RuntimeError("disk full")

    orch.services.recorder = DbRecorder(orch.engine, [audit_turn, takeover.enqueue, fails])
    with pytest.raises(RuntimeError, match="disk full"):
        orch.ask(ERASE, customer_id="C1001")

    assert {k: snapshot(orch, c) for k, c in convs.items()} == before
    with Session(orch.engine) as s:
        assert s.exec(select(ErasureMark)).all() == []
    assert not [r for r in audit.export(orch.engine) if r["kind"] in ("erasure", "transcript_erasure")]


def test_a_later_request_erases_what_has_come_out_of_retention(orch: Orchestrator) -> None:
    convs = earlier_conversations(orch)
    orch.ask(ERASE, customer_id="C1001")
    frozen = snapshot(orch, convs["money"])
    assert {v[0] for v in frozen["marks"].values()} == {"frozen"}

    later = datetime.now(UTC) + timedelta(days=365 * 6)
    with Session(orch.engine) as s:
        result = erase_transcripts(
            s,
            customer_id="C1001",
            request_turn_id="turn-later",
            request_conversation_id="conv-later",
            now=later,
        )
        s.commit()

    money = snapshot(orch, convs["money"])
    assert set(result.erased_turns) >= set(money["records"]) and not result.frozen_turns
    assert all(m[2] == ERASED_TEXT for m in money["messages"])
    assert {v[0] for v in money["marks"].values()} == {"erased"}
    assert money["customer_id"] is None
