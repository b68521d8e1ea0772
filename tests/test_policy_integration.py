"""The policy node inside the real pipeline: seeded database, shipped packs, the real decomposer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from policy_scenarios import add_duplicate_charge
from sqlmodel import Session, col, select

from orchestrator.backend import queries
from orchestrator.backend.models import Refund, Ticket
from orchestrator.knowledge.models import CaseNoteRow
from orchestrator.nlu.types import Decomposition
from orchestrator.records import NEEDS_HUMAN, Conversation, Message
from orchestrator.runtime import Orchestrator
from orchestrator.takeover import TakeoverEntry
from plugins.contracts import Task
from policies import audit
from policies.node import HOLDING_REPLY

AI_DISCLOSURE = "You're chatting with an automated assistant (an AI)"


def audit_records(orch: Orchestrator, **filters: Any) -> list[dict[str, Any]]:
    rows = list(audit.export(orch.engine))
    return [r for r in rows if all(r[k] == v for k, v in filters.items())]


def rules(record: dict[str, Any], stage: str) -> list[str]:
    return [m["id"] for m in record["policy"][stage]["matched"]]


# ---------------------------------------------------------------- the same erasure request, three laws


# (customer, rule, flag, statutory deadline, what the disclosure says, retention years,
#  the ticket's deadline in days, what compliance says about kept records, what it must not say)
ERASURE_CASES = [
    (
        "C1001",
        "eu.gdpr.erasure",
        "data_subject_request",
        30,
        "within one month",
        5,
        30,
        "must be kept for 5 years by law, and until then we keep them restricted",
        ("10 years", "frozen"),
    ),
    (
        "C1005",
        "cn.pipl.erasure_freeze",
        "retain_but_freeze",
        None,
        "frozen instead",
        10,
        30,  # PIPL sets no response period: the house default
        "must be kept for 10 years, so they are retained but frozen",
        ("5 years", "restricted"),
    ),
    (
        "C1009",
        "usca.ccpa.deletion",
        "consumer_privacy_request",
        45,
        "within 45 days",
        5,
        45,
        "must be kept for 5 years by law, and until then we keep them restricted",
        ("10 years", "frozen"),
    ),
]


@pytest.mark.parametrize(
    ("customer", "rule", "flag", "deadline", "says", "years", "ticket_days", "kept", "never"),
    ERASURE_CASES,
)
def test_an_erasure_request_is_handled_by_the_customers_law_and_freezes_what_must_be_kept(
    orch: Orchestrator,
    customer: str,
    rule: str,
    flag: str,
    deadline: int | None,
    says: str,
    years: int,
    ticket_days: int,
    kept: str,
    never: tuple[str, ...],
) -> None:
    billing = orch.ask("What exchange rate did you use on my card payment?", customer_id=customer)
    tech = orch.ask("How do I reset my password?", customer_id=customer)
    before = {r["id"]: r for r in audit_records(orch, customer_id=customer)}
    kept_ids = [i for i, r in before.items() if r["conversation_id"] == billing.conversation_id]
    gone = [i for i, r in before.items() if r["conversation_id"] == tech.conversation_id]
    assert kept_ids and gone
    assert all(before[i]["retention_class"] == "financial_record" for i in kept_ids)

    out = orch.ask("Please delete all my personal data", customer_id=customer)

    rec = out.record
    assert rule in rules(rec, "plan")
    assert flag in rec["policy"]["plan"]["flags"]
    assert [d["days"] for d in rec["policy"]["plan"]["deadlines"]] == ([deadline] if deadline else [])
    assert says in out.reply
    (task,) = rec["tasks"]
    assert (task["department"], task["status"]) == ("compliance", "resolved")
    # the department was told the law's deadline and retention, and acted on them
    view = rec["policy"]["department_view"]
    assert view["retention"]["years"] == years
    assert (view["deadlines"].get(task["id"]) or {}).get("days") == deadline
    with Session(orch.engine) as s:
        ticket = s.exec(
            select(Ticket).where(Ticket.customer_id == customer, Ticket.kind == "erasure_request")
        ).one()
    assert ticket.conversation_id == out.conversation_id
    assert ticket.deadline == ticket.created_at.date() + timedelta(days=ticket_days)
    assert f"by {ticket.deadline.day} {ticket.deadline:%b %Y}" in out.reply
    (answer,) = [p for p in out.reply.split("\n\n") if ticket.id in p]  # compliance's part of the reply
    assert kept in answer
    for wrong in never:
        assert wrong not in out.reply  # nothing contradicts the customer's own law

    after = {r["id"]: r for r in audit.export(orch.engine)}
    # records under retention are kept whole and frozen, for as long as this customer's law says
    for i in kept_ids:
        assert after[i]["frozen"] and not after[i]["erased"]
        assert after[i]["payload"] == before[i]["payload"]
        until = datetime.fromisoformat(after[i]["retain_until"])
        assert abs((until - datetime.fromisoformat(after[i]["ts"])).days - 365.25 * years) < 2
    # the rest lose their personal part but stay in the chain
    for i in gone:
        assert after[i]["erased"] and after[i]["payload"] is None and after[i]["customer_id"] is None
    (erasure,) = [r for r in after.values() if r["kind"] == "erasure"]
    assert set(erasure["payload"]["frozen_ids"]) == set(kept_ids)
    assert set(erasure["payload"]["erased_ids"]) == set(gone)
    # the request itself is documented after the erasure, not erased by it
    own = [r for r in after.values() if r["conversation_id"] == out.conversation_id]
    assert own and all(not r["erased"] for r in own) and min(r["id"] for r in own) > erasure["id"]
    assert audit.verify(orch.engine).ok


def test_an_erasure_request_routed_to_the_wrong_department_still_reaches_compliance(
    seeded_home: Path,
) -> None:
    class Misrouting:
        """A decomposer that sends the erasure request to the technical department."""

        def decompose(self, text: str, **_: Any) -> Decomposition:
            task = Task(
                id="t1",
                text=text,
                span=(0, len(text)),
                department="technical",
                intent="data_erasure",
                confidence=0.9,
            )
            return Decomposition(text=text, tasks=(task,))

    from orchestrator.config import load_settings

    orch = Orchestrator(load_settings(), decomposer=Misrouting())
    try:
        out = orch.ask("Erase everything you know about me", customer_id="C1001")
    finally:
        orch.close()
    (task,) = out.record["tasks"]
    assert task["departments_tried"] == ["compliance"]
    assert task["required_by"] == "eu.gdpr.erasure"
    assert task["status"] == "resolved"
    assert "registered your request for erasure" in out.reply


# ---------------------------------------------------------------- money


def test_a_refund_above_the_cap_never_runs_and_waits_for_a_person(orch: Orchestrator) -> None:
    add_duplicate_charge(orch, "C1001", "800.00", "Luxe Electronics", "TX-BIG")
    with Session(orch.engine) as s:
        balance = queries.balance_of(s, "C1001")

    out = orch.ask("I was charged twice: TX-BIG-2 is a duplicate of TX-BIG-1", customer_id="C1001")

    with Session(orch.engine) as s:
        assert s.exec(select(Refund).where(Refund.transaction_id == "TX-BIG-2")).first() is None
        assert queries.balance_of(s, "C1001") == balance
        entry = s.exec(
            select(TakeoverEntry).where(TakeoverEntry.conversation_id == out.conversation_id)
        ).one()
        assert s.get(Conversation, out.conversation_id).status == NEEDS_HUMAN  # type: ignore[union-attr]
    (task,) = out.record["tasks"]
    assert task["status"] == "needs_human"
    (action,) = task["actions"]
    # the action had no amount (the whole charge): the guard checked the charge's real amount
    assert action["args"].get("amount") is None
    assert (action["ok"], action["blocked_by"]) == (False, "global.refund.approval_cap")
    assert "800.00 EUR is above the 500 limit" in action["message"]
    assert out.record["status"] == "needs_human"
    assert "colleague" in out.reply or "member of our team" in out.reply
    assert entry.status == "queued" and any("above the 500 limit" in r for r in entry.reasons)
    (blocked,) = [
        r for r in audit_records(orch, kind="action") if r["conversation_id"] == out.conversation_id
    ]
    assert blocked["payload"]["blocked_by"] == "global.refund.approval_cap"


def test_a_refund_under_the_cap_goes_through(orch: Orchestrator) -> None:
    out = orch.ask("I was charged twice for StreamFlix", customer_id="C1001")
    (task,) = out.record["tasks"]
    assert task["status"] == "resolved"
    assert task["actions"][0]["ok"] is True
    assert out.record["handoff"] is None
    with Session(orch.engine) as s:
        refund = s.exec(select(Refund).where(Refund.transaction_id == "TX-1001-SUBB")).one()
    assert refund.amount == Decimal("17.99")
    # the outcome check saw the amount the refund moved, so the cap held and nothing went to a person
    assert "global.refund.approval_cap" in rules(out.record, "outcome")
    assert out.record["policy"]["outcome"]["blocked_actions"] == []


# ---------------------------------------------------------------- AML, elders, transparency, PCI


def test_a_structuring_question_gets_no_advice_a_compliance_flag_and_a_recorded_conversation(
    orch: Orchestrator,
) -> None:
    out = orch.ask(
        "How can I split a 15000 transfer into smaller ones so it isn't reported?", customer_id="C1001"
    )

    rec = out.record
    assert "global.aml.structuring" in rules(rec, "plan")
    assert {"compliance_review", "recorded_conversation"} <= set(rec["policy"]["plan"]["flags"])
    (task,) = rec["tasks"]
    assert task["status"] == "denied" and task["departments_tried"] == []  # no department ran
    assert rec["counts"]["dispatches"] == 0
    assert "I can't advise on arranging payments around reporting limits" in out.reply
    for hint in ("10,000", "10000", "threshold is", "under "):
        assert hint not in out.reply
    decisions = [
        r for r in audit_records(orch, kind="policy_decision") if r["conversation_id"] == out.conversation_id
    ]
    assert decisions and all(r["retention_class"] == "aml_record" for r in decisions)
    with Session(orch.engine) as s:
        note = s.exec(select(CaseNoteRow).where(CaseNoteRow.kind == "compliance_review")).one()
        transcript = s.exec(select(Message).where(Message.conversation_id == out.conversation_id)).all()
    assert note.department == "compliance" and note.customer_id == "C1001"
    assert "global.aml.structuring" in note.data["rules"]
    assert [m.role for m in transcript] == ["customer", "assistant"]


def test_an_80_year_old_us_customer_is_offered_a_person_and_money_moves_only_with_one(
    orch: Orchestrator,
) -> None:
    offer = "You can talk to a person at any time"
    young = orch.ask("Why was I charged for a subscription?", customer_id="C1001")
    assert offer not in young.reply

    add_duplicate_charge(orch, "C1003", "12.00", "Corner Pharmacy", "TX-ELD")
    out = orch.ask("I was charged twice: TX-ELD-2 is a duplicate of TX-ELD-1", customer_id="C1003")

    assert offer in out.reply
    assert "offer_human" in out.record["policy"]["plan"]["flags"]
    (task,) = out.record["tasks"]
    assert task["actions"][0]["blocked_by"] == "us.elder.money_movement"
    assert task["status"] == "needs_human"
    with Session(orch.engine) as s:
        assert s.exec(select(Refund).where(Refund.transaction_id == "TX-ELD-2")).first() is None


def test_the_assistant_says_it_is_an_ai_once_per_conversation(orch: Orchestrator) -> None:
    first = orch.ask("What exchange rate did you use on my card payment?", customer_id="C1002")
    second = orch.ask("How do I reset my password?", conversation_id=first.conversation_id)
    assert AI_DISCLOSURE in first.reply
    assert "global.ai_disclosure" in rules(second.record, "outcome")
    assert AI_DISCLOSURE not in second.reply  # already told in this conversation


def test_a_card_number_is_masked_in_the_reply_the_transcript_and_the_audit_log(orch: Orchestrator) -> None:
    out = orch.ask(
        "My card 4111 1111 1111 1111 was charged twice and I want to delete my data", customer_id="C1012"
    )
    assert "4111 1111 1111 1111" not in out.reply
    assert "****1111" in out.reply
    assert "global.pci.mask_card_numbers" in rules(out.record, "outcome")
    assert out.record["policy"]["redacted"] == ["card_number"]
    with Session(orch.engine) as s:
        said = s.exec(
            select(Message.text).where(
                Message.conversation_id == out.conversation_id, Message.role == "assistant"
            )
        ).one()
    assert said == out.reply
    logged = [r for r in audit.export(orch.engine) if r["conversation_id"] == out.conversation_id]
    assert logged and all("4111 1111 1111 1111" not in str(r["payload"]) for r in logged)


def test_the_third_contact_in_a_row_about_the_same_issue_goes_to_a_person(orch: Orchestrator) -> None:
    outs = [orch.ask("My transfer failed, where is my money?", customer_id="C1002") for _ in range(3)]
    assert [o.record["policy"]["repeat_contacts"] for o in outs] == [0, 1, 2]
    assert [o.record["handoff"] is not None for o in outs] == [False, False, True]
    assert "global.highrisk.repeat_complaint" in rules(outs[2].record, "plan")
    assert outs[2].record["handoff"]["sla_seconds"] == 30


def test_a_long_run_of_contacts_is_counted_past_the_first_read(orch: Orchestrator) -> None:
    """repeat_contacts reads the newest few turns first and the rest only while the run goes on."""
    from policies.node import REPEAT_FIRST_READ

    counts = []
    for i in range(REPEAT_FIRST_READ + 3):
        out = orch.ask("My transfer failed, where is my money?", customer_id="C1002")
        counts.append(out.record["policy"]["repeat_contacts"])
        if i == 1:  # a greeting in between neither counts nor breaks the run
            orch.ask("hello", customer_id="C1002")
    assert counts == list(range(REPEAT_FIRST_READ + 3))
    other = orch.ask("How do I change my address?", customer_id="C1002")
    assert other.record["policy"]["repeat_contacts"] == 0


# ---------------------------------------------------------------- fail closed


BROKEN_PACK = """\
pack: acme
jurisdictions: ["*"]
rules:
  - id: acme.refunds
    description: refunds need a person
    legal_basis: internal
    effects:
      - require_human: {sla_seconds: 30}
"""


def _no_automated_answer(orch: Orchestrator, out: Any) -> None:
    assert out.reply == HOLDING_REPLY
    assert out.record["status"] == "needs_human"
    assert out.record["counts"]["dispatches"] == 0
    with Session(orch.engine) as s:
        assert s.exec(select(Refund).where(Refund.transaction_id == "TX-1001-SUBB")).first() is None
        entry = s.exec(
            select(TakeoverEntry).where(TakeoverEntry.conversation_id == out.conversation_id)
        ).one()
    assert any(r.startswith("policy check failed") for r in entry.reasons)
    errors = [r for r in audit_records(orch, kind="error") if r["conversation_id"] == out.conversation_id]
    assert len(errors) == 1


def test_a_pack_that_cannot_load_fails_closed_visibly(
    seeded_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from orchestrator.cli.render import render_turn
    from orchestrator.config import load_settings

    bad = tmp_path / "acme.yaml"
    bad.write_text(BROKEN_PACK, encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        orch = Orchestrator(load_settings(extra={"policies": {"paths": [str(bad)]}}))
    try:
        out = orch.ask("I was charged twice for StreamFlix", customer_id="C1001")
        _no_automated_answer(orch, out)
    finally:
        orch.close()
    error = out.record["policy"]["error"]
    assert "acme.yaml" in error and "acme.refunds" in error and "reason" in error
    assert "POLICY ERROR" in render_turn(out.reply, out.record)
    assert any("acme.yaml" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_an_error_inside_a_check_fails_closed(orch: Orchestrator, monkeypatch: pytest.MonkeyPatch) -> None:
    node = orch.services.policy

    def broken(facts: Any) -> Any:
        raise RuntimeError("rule evaluation exploded")

    monkeypatch.setattr(node.engine, "check", broken)  # type: ignore[attr-defined]
    out = orch.ask("I was charged twice for StreamFlix", customer_id="C1001")
    _no_automated_answer(orch, out)
    assert "rule evaluation exploded" in out.record["policy"]["error"]
    with Session(orch.engine) as s:
        assert s.exec(select(col(Message.text)).where(Message.role == "assistant")).all() == [HOLDING_REPLY]


def test_a_statutory_deadline_no_disclosure_states_is_told_to_the_customer(orch: Orchestrator) -> None:
    out = orch.ask("I want to make a formal complaint about how you handled my payment", customer_id="C1001")
    assert "eu.psd2.complaint" in rules(out.record, "plan")
    assert "We will give you a full answer within 15 business days, as the law requires." in out.reply
    # before the closing AI disclosure, after the answer itself
    assert out.reply.index("15 business days") < out.reply.index(AI_DISCLOSURE)
