"""The built-in departments on the seeded demo, through the real dispatcher and knowledge store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from department_ctx import Desk
from pydantic import BaseModel
from sqlmodel import select

from orchestrator.backend.models import (
    Account,
    Card,
    Customer,
    Refund,
    ResetToken,
    Subscription,
    Ticket,
    Transaction,
    utcnow,
)
from orchestrator.knowledge.models import Article, CaseNoteRow
from plugins.builtin import billing, compliance, technical
from plugins.builtin.ownership import judge
from plugins.contracts import ActionSpec, ArticleHit, DepartmentResult, Entities
from plugins.manager import load_plugins

BUILTINS = ("billing", "compliance", "technical")


@pytest.fixture
def desk(seeded_home: Path) -> Iterator[Desk]:
    d = Desk(seeded_home / "crossdesk.db")
    yield d
    d.close()


def refunds_of(desk: Desk, tx_id: str) -> list[Refund]:
    with desk.session() as s:
        return list(s.exec(select(Refund).where(Refund.transaction_id == tx_id)))


def balance(desk: Desk, account_id: str) -> Decimal:
    with desk.session() as s:
        account = s.get(Account, account_id)
        assert account is not None
        return account.balance


def tickets(desk: Desk, customer_id: str, kind: str) -> list[Ticket]:
    with desk.session() as s:
        return list(s.exec(select(Ticket).where(Ticket.customer_id == customer_id, Ticket.kind == kind)))


def assert_cites_real_articles(desk: Desk, result: DepartmentResult) -> None:
    assert result.knowledge, f"no article cited in: {result.reply}"
    with desk.session() as s:
        for article_id in result.knowledge:
            assert f"[{article_id}]" in result.reply
            assert s.get(Article, article_id) is not None


# --- the plugins themselves ------------------------------------------------------------------


def test_builtins_load_with_rich_intents_and_typed_actions() -> None:
    loaded = load_plugins()
    assert set(BUILTINS) <= set(loaded.departments)
    for name in BUILTINS:
        dep = loaded.departments[name]
        # rich enough to be a desk of its own, small enough to staff (billing has 15 since hardship)
        assert 8 <= len(dep.intents) <= 16, name
        for intent in dep.intents:
            distinct = {e.strip().lower() for e in intent.examples}
            assert len(distinct) >= 15, f"{name}.{intent.name}"
        for action in dep.actions:
            assert isinstance(action, ActionSpec) and issubclass(action.args, BaseModel)
    modules = (billing, compliance, technical)
    paths = [p for m in modules for p in m.crossdesk_knowledge_paths()]
    assert sorted(p.name for p in paths) == sorted([*BUILTINS, "general"]) and all(p.is_dir() for p in paths)
    assert all(m.crossdesk_policy_paths() == [] for m in modules)
    names = [i.name for _, i in loaded.intents()]
    assert len(names) == len(set(names)), "intent names must be unique across departments"


def test_no_example_looks_foreign_to_its_own_department(desk: Desk) -> None:
    """A department must never bounce a message that reads like its own training examples."""
    loaded = load_plugins()
    bounced = [
        (name, intent.name, example)
        for name in BUILTINS
        for intent in loaded.departments[name].intents
        for example in intent.examples
        if not judge(name, example, desk.env.knowledge).ours
    ]
    assert bounced == []


@pytest.mark.parametrize(
    "text",
    [
        "which gym near the central station has the best yoga classes on Sundays",
        "my tomato plants have yellow leaves and brown spots, what is wrong with them",
        "how tall is the tower in Paris and when was it finished",
    ],
)
def test_texts_about_something_else_are_nobodys(desk: Desk, text: str) -> None:
    for name in BUILTINS:
        assert not judge(name, text, desk.env.knowledge).ours, name


class _ThirdPartyArticlesFirst:
    """A knowledge store where a third-party department's article always matches best."""

    def search(self, text: str, k: int = 5, department: str | None = None) -> list[ArticleHit]:
        hit = ArticleHit(
            id="KB-CLM-1", department="claims", title="Purchase protection", snippet="", score=9.0
        )
        return [hit][:k]


def test_a_text_clearly_closest_to_our_examples_stays_ours_whatever_a_third_party_article_matches() -> None:
    # closest to compliance's examples by far ("QuickShop Online" is in them), not close to any
    mine = "a QuickShop Online charge of 19.99 that I did not make"
    assert judge("compliance", mine, _ThirdPartyArticlesFirst()).ours  # type: ignore[arg-type]
    # like no built-in department in particular: the third party's articles decide
    theirs = judge(
        "technical", "Is my broken phone covered by purchase protection?", _ThirdPartyArticlesFirst()
    )  # type: ignore[arg-type]
    assert not theirs.ours and theirs.owner == "claims"


def test_a_customer_struggling_to_pay_is_told_the_help_available_and_every_department_knows(
    desk: Desk,
) -> None:
    result = desk.ask("billing", "payment_difficulty", "I lost my job and I can't pay my bills", "C1001")
    assert result.status == "resolved" and not result.actions  # nothing charged, nothing sold
    assert "Standard plan" in result.reply and "debt advice" in result.reply and "'agent'" in result.reply
    assert result.knowledge == ("KB-BIL-028",)
    assert [n.department for n in desk.notes(customer_id="C1001", kind="financial_difficulty")] == ["billing"]
    # said without the usual words
    food = desk.ask(
        "billing", "payment_difficulty", "rent is due tomorrow and I have no money for food", "C1002"
    )
    assert "Standard plan" in food.reply and food.status == "resolved"


def test_nothing_is_blocked_for_a_text_that_does_not_say_what_was_lost(desk: Desk) -> None:
    # "I lost my job" reads like a lost card to the router; a block cannot be undone
    job = desk.ask("compliance", "lost_or_compromised", "I lost my job last week", "C1001")
    assert job.status == "not_mine" and not job.actions
    vague = desk.ask("compliance", "lost_or_compromised", "I lost it yesterday", "C1001")
    assert (
        vague.status == "needs_info" and not vague.actions and "cards or your phone" in (vague.question or "")
    )
    card = desk.ask("compliance", "lost_or_compromised", "I lost my card on the bus", "C1001")
    assert card.status == "resolved" and [a.name for a in card.actions] == ["block_card"]


def test_a_blocked_card_is_no_recipient_to_review(desk: Desk) -> None:
    # "unblock it" reads like "unblock the account I'm paying": no case about a recipient nobody named
    card = desk.ask(
        "compliance", "beneficiary_not_allowed", "my card is blocked, can you unblock it?", "C1003"
    )
    assert card.status == "not_mine" and card.suggest == "technical" and not card.actions
    payee = desk.ask(
        "compliance",
        "beneficiary_not_allowed",
        "can you unblock the account I'm trying to send money to",
        "C1003",
    )
    assert payee.status == "resolved" and [a.name for a in payee.actions] == ["open_case"]


def test_a_payment_question_filed_as_difficulty_gets_no_hardship_script(desk: Desk) -> None:
    # the router puts a few payment questions here; without a sign of hardship they get an answer
    result = desk.ask("billing", "payment_difficulty", "Can I use my salary for this?", "C1001")
    assert "debt advice" not in result.reply and "sorry things are hard" not in result.reply
    assert desk.notes(customer_id="C1001", kind="financial_difficulty") == []


# --- ownership and missing information -------------------------------------------------------


def test_a_task_for_another_department_is_handed_back_with_the_owner(desk: Desk) -> None:
    by_intent = desk.ask("billing", "password_reset", "I forgot my password", "C1001")
    assert by_intent.status == "not_mine" and by_intent.suggest == "technical"
    by_text = desk.ask("billing", "double_charge", "the app says my 2FA code is wrong", "C1001")
    assert by_text.status == "not_mine" and by_text.suggest == "technical"
    unknown = desk.ask(
        "technical",
        "frobnicate",
        "please delete all my personal data",
        "C1001",
        alternatives=(("technical", "app_error", 0.3), ("compliance", "data_erasure", 0.2)),
    )
    assert unknown.status == "not_mine" and unknown.suggest == "compliance"
    # never hand a task back to a department that already declined it
    bounced = desk.ask(
        "billing",
        "double_charge",
        "I forgot my password",
        "C1001",
        attempt=1,
        previous_departments=("technical",),
    )
    assert bounced.status == "not_mine" and bounced.suggest is None


@pytest.mark.parametrize(
    ("department", "intent", "text"),
    [
        ("billing", "double_charge", "I was charged twice"),
        ("compliance", "data_erasure", "delete my data"),
        ("technical", "password_reset", "I forgot my password"),
    ],
)
def test_account_questions_without_a_customer_ask_them_to_sign_in(
    desk: Desk, department: str, intent: str, text: str
) -> None:
    result = desk.ask(department, intent, text)
    assert result.status == "needs_info"
    assert result.question is not None and "customer id" in result.question
    assert result.actions == ()


def test_general_questions_need_no_customer(desk: Desk) -> None:
    result = desk.ask("compliance", "eligibility", "can I open an account if I live in Brazil? I'm 17")
    assert result.status == "resolved"
    assert "Brazil: not at the moment" in result.reply and "at least 18" in result.reply
    assert_cites_real_articles(desk, result)


# --- billing ---------------------------------------------------------------------------------


def test_double_charge_is_refunded_once_and_noted(desk: Desk) -> None:
    start = balance(desk, "AC-1001-EUR")
    first = desk.ask("billing", "double_charge", "StreamFlix charged me twice this week!", "C1001")
    assert first.status == "resolved", first
    assert [(a.name, a.ok, a.args["transaction_id"]) for a in first.actions] == [
        ("refund", True, "TX-1001-SUBB")
    ]
    assert "refunded" in first.reply and "17.99" in first.reply
    assert_cites_real_articles(desk, first)
    assert len(refunds_of(desk, "TX-1001-SUBB")) == 1
    assert balance(desk, "AC-1001-EUR") == start + Decimal("17.99")
    notes = desk.notes(customer_id="C1001", kind="refund")
    assert [(n.subject, n.department) for n in notes] == [("TX-1001-SUBB", "billing")]

    again = desk.ask("billing", "double_charge", "StreamFlix took 17.99 twice, refund it", "C1001")
    assert again.status == "resolved" and "already refunded on" in again.reply
    assert again.actions == ()
    assert len(refunds_of(desk, "TX-1001-SUBB")) == 1
    assert balance(desk, "AC-1001-EUR") == start + Decimal("17.99")


def test_a_refund_asked_for_the_double_charge_finds_the_duplicate_itself(desk: Desk) -> None:
    asked = desk.ask("billing", "refund_request", "Give me my money back for the double charge", "C1001")
    assert asked.status == "resolved", asked
    assert [(a.name, a.args["transaction_id"]) for a in asked.actions] == [("refund", "TX-1001-SUBB")]
    # already refunded: said so, with the date, and nothing asked or refunded again
    again = desk.ask(
        "billing", "refund_request", "I want my money back for the double charge, you promised!", "C1010"
    )
    assert again.status == "resolved" and "already refunded on" in again.reply and again.actions == ()


def test_a_refund_noted_by_another_department_is_not_repeated(desk: Desk) -> None:
    """The shared case notes alone are enough to stop a second refund."""
    with desk.session() as s:
        s.add(
            CaseNoteRow(
                customer_id="C1001",
                department="compliance",
                kind="refund",
                subject="TX-1001-SUBB",
                text="Refunded by phone after a complaint.",
            )
        )
        s.commit()
    result = desk.ask("billing", "double_charge", "charged twice by streamflix", "C1001")
    assert result.status == "resolved" and "already refunded on" in result.reply
    assert refunds_of(desk, "TX-1001-SUBB") == [] and result.actions == ()


def test_a_charge_refunded_before_says_when(desk: Desk) -> None:
    result = desk.ask("billing", "double_charge", "Albert Heijn charged me twice", "C1010")
    assert result.status == "resolved"
    refunded = (utcnow() - timedelta(days=10)).date()
    assert f"already refunded on {refunded.day} {refunded:%b %Y}" in result.reply
    assert result.actions == () and len(refunds_of(desk, "TX-1010-DUP")) == 1


def test_no_duplicate_asks_which_payment(desk: Desk) -> None:
    result = desk.ask("billing", "double_charge", "I think I paid twice somewhere", "C1003")
    assert result.status == "needs_info" and result.question and "merchant" in result.question
    assert result.actions == ()


def test_a_policy_block_hands_the_refund_to_a_person(seeded_home: Path) -> None:
    def no_money_movement(_ctx: object, spec: ActionSpec, _args: BaseModel) -> tuple[bool, str | None, str]:
        if spec.money_movement:
            return False, "TEST-HOLD", "refunds need a second pair of eyes"
        return True, None, ""

    desk = Desk(seeded_home / "crossdesk.db", action_guard=no_money_movement)
    try:
        result = desk.ask("billing", "double_charge", "StreamFlix charged me twice", "C1001")
    finally:
        desk.close()
    assert result.status == "needs_human" and result.reason and "TEST-HOLD" in result.reason
    assert [(a.name, a.ok, a.blocked_by) for a in result.actions] == [("refund", False, "TEST-HOLD")]
    with desk.session() as s:
        assert s.exec(select(Refund).where(Refund.transaction_id == "TX-1001-SUBB")).first() is None


def test_fx_fee_above_the_published_markup_refunds_the_difference(desk: Desk) -> None:
    result = desk.ask("billing", "fx_fee_dispute", "why did I pay a 2.5% fx fee on my Paris hotel?", "C1009")
    assert result.status == "resolved", result
    [refund] = refunds_of(desk, "TX-1009-FXFEE")
    # 0.5% of the USD 935.00 payment is 4.68; the customer paid 23.38
    assert refund.amount == Decimal("18.70") and "18.70" in result.reply
    again = desk.ask("billing", "fx_fee_dispute", "the exchange fee on my hotel is wrong", "C1009")
    assert "already refunded" in again.reply and len(refunds_of(desk, "TX-1009-FXFEE")) == 1


def test_charge_after_cancelling_a_subscription_is_refunded(desk: Desk) -> None:
    result = desk.ask(
        "billing", "subscription", "I cancelled FitTrack ages ago and you still charged me", "C1011"
    )
    assert result.status == "resolved" and "refunded" in result.reply
    assert [r.amount for r in refunds_of(desk, "TX-1011-AFTER")] == [Decimal("14.99")]


def test_cancelling_a_subscription_changes_the_backend(desk: Desk) -> None:
    result = desk.ask("billing", "subscription", "please cancel StreamFlix", "C1001")
    assert result.status == "resolved" and "cancelled StreamFlix" in result.reply
    with desk.session() as s:
        sub = s.get(Subscription, "SUB-1001-1")
        assert sub is not None and sub.status == "cancelled" and sub.cancelled_at is not None


def test_cancel_naming_one_of_the_customers_subscriptions_cancels_it_not_a_transfer(desk: Desk) -> None:
    # filed as a transfer to stop (the router has never seen the merchant's name): billing's own
    # records say MusicHub is C1023's subscription
    result = desk.ask("billing", "cancel_transfer", "and cancel MusicHub before you do", "C1023")
    assert result.status == "resolved" and "cancelled MusicHub" in result.reply
    assert [a.name for a in result.actions] == ["cancel_subscription"]
    # a name that is none of the customer's subscriptions is still a transfer question
    other = desk.ask("billing", "cancel_transfer", "cancel MusicHub", "C1001")
    assert other.status == "needs_info" and "Which transfer" in (other.question or "") and not other.actions


def test_a_subscription_of_the_customers_own_stays_with_billing_however_it_is_worded(desk: Desk) -> None:
    # "direct debit" reads like compliance's unrecognised payments; the customer's records say otherwise
    stop = desk.ask("billing", "subscription", "Can you stop the direct debit to StreamFlix?", "C1001")
    assert stop.status == "resolved", stop
    assert [(a.name, a.args["subscription_id"]) for a in stop.actions] == [
        ("cancel_subscription", "SUB-1001-1")
    ]
    # a customer who disowns it is reporting it: that goes on to compliance
    disowned = desk.ask(
        "billing", "subscription", "I never signed up for StreamFlix, stop this direct debit", "C1001"
    )
    assert disowned.status == "not_mine" and disowned.suggest == "compliance" and not disowned.actions


def test_transfers_failed_pending_and_cancelled(desk: Desk) -> None:
    failed = desk.ask("billing", "failed_transfer", "my transfer of 1250 to J. Smith failed, why?", "C1002")
    assert failed.status == "resolved" and "didn't match" in failed.reply and failed.actions == ()

    pending = desk.ask(
        "billing", "pending_transfer", "the 480 I sent to Harbour Lettings is still pending", "C1002"
    )
    assert pending.status == "resolved" and "should arrive by" in pending.reply

    start = balance(desk, "AC-1002-GBP")
    cancelled = desk.ask("billing", "cancel_transfer", "cancel the transfer to Harbour Lettings", "C1002")
    assert cancelled.status == "resolved" and [a.name for a in cancelled.actions] == ["cancel_transfer"]
    assert balance(desk, "AC-1002-GBP") == start + Decimal("480.00")
    with desk.session() as s:
        assert s.get(Transaction, "TX-1002-PEND").status == "reversed"  # type: ignore[union-attr]


def test_cash_an_atm_did_not_pay_out_is_disputed_and_never_denied(desk: Desk) -> None:
    kept = desk.ask(
        "billing", "cash_withdrawal", "The ATM didn't give me any cash but I was debited 100 pounds", "C1027"
    )
    assert kept.status == "resolved", kept
    assert [(a.name, a.args["kind"], a.args["transaction_id"]) for a in kept.actions] == [
        ("open_case", "cash_dispute", "TX-1027-ATM1")
    ]
    assert "dispute with the ATM operator" in kept.reply and "100.00" in kept.reply
    assert [t.data["transaction_id"] for t in tickets(desk, "C1027", "cash_dispute")] == ["TX-1027-ATM1"]

    # no withdrawal on record: asked when and where, not told there was none
    with desk.session() as s:
        since = utcnow() - timedelta(days=30)
        recent = s.exec(select(Transaction).where(Transaction.kind == "atm"))
        atm = {t.customer_id for t in recent if t.created_at.replace(tzinfo=since.tzinfo) >= since}
        customer = next(c.id for c in s.exec(select(Customer).order_by(Customer.id)) if c.id not in atm)
    missing = desk.ask(
        "billing", "cash_withdrawal", "the cash machine didn't give me the money but took it", customer
    )
    assert missing.status == "needs_info" and missing.actions == ()
    assert "When and where" in (missing.question or "")
    assert "can't see a cash withdrawal" in missing.reply and "haven't withdrawn" not in missing.reply
    assert tickets(desk, customer, "cash_dispute") == []


# --- compliance ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "text", "ticket_kind", "note_kind"),
    [
        ("data_erasure", "delete my data, all of it", "erasure_request", "erasure_request"),
        ("data_access", "I want a copy of all the data you hold on me", "data_access", "data_access_request"),
        ("data_portability", "send my data to my new bank", "data_portability", "portability_request"),
        ("data_opt_out", "do not sell or share my personal data", "privacy_opt_out", "privacy_opt_out"),
    ],
)
def test_data_rights_requests_open_one_ticket_with_the_statutory_deadline(
    desk: Desk, intent: str, text: str, ticket_kind: str, note_kind: str
) -> None:
    result = desk.ask("compliance", intent, text, "C1001")
    assert result.status == "resolved", result
    [ticket] = tickets(desk, "C1001", ticket_kind)
    assert ticket.department == "compliance" and ticket.status == "open"
    assert ticket.deadline == utcnow().date() + timedelta(days=30)
    assert ticket.id in result.reply and f"{ticket.deadline.day} {ticket.deadline:%b %Y}" in result.reply
    assert [n.subject for n in desk.notes(customer_id="C1001", kind=note_kind)] == [ticket.id]
    assert_cites_real_articles(desk, result)

    again = desk.ask("compliance", intent, text, "C1001")
    assert "already have an open request" in again.reply and ticket.id in again.reply
    assert len(tickets(desk, "C1001", ticket_kind)) == 1
    assert len(desk.notes(customer_id="C1001", kind=note_kind)) == 1


def test_withdrawn_consent_with_a_deletion_request_opens_both_requests(desk: Desk) -> None:
    result = desk.ask("compliance", "data_opt_out", "I withdraw my consent, please delete my data", "C1001")
    assert result.status == "resolved", result
    [opt_out] = tickets(desk, "C1001", "privacy_opt_out")
    [erasure] = tickets(desk, "C1001", "erasure_request")
    assert opt_out.id in result.reply and erasure.id in result.reply
    assert [a.name for a in result.actions] == ["open_opt_out_request", "open_erasure_request"]
    # an opt-out alone deletes nothing
    alone = desk.ask("compliance", "data_opt_out", "stop sharing my data with advertisers", "C1002")
    assert [a.name for a in alone.actions] == ["open_opt_out_request"]
    assert tickets(desk, "C1002", "erasure_request") == []


def test_kyc_hold_is_explained_and_its_note_kept(desk: Desk) -> None:
    result = desk.ask("compliance", "identity_verification", "why is my account on hold??", "C1007")
    assert result.status == "resolved" and "on hold" in result.reply and "proof of address" in result.reply
    assert "source-of-funds" not in result.reply  # the internal reason is never shared
    assert len(desk.notes(customer_id="C1007", kind="kyc_hold")) == 1

    verified = desk.ask("compliance", "identity_verification", "do I need to verify my identity?", "C1001")
    assert "already verified" in verified.reply


def test_a_hold_without_a_note_gets_one(desk: Desk) -> None:
    with desk.session() as s:
        customer = s.get(Customer, "C1014")
        assert customer is not None
        customer.kyc_status = "hold"
        s.add(customer)
        s.commit()
    result = desk.ask(
        "compliance", "identity_verification", "why was my account frozen for a review", "C1014"
    )
    assert "on hold" in result.reply
    [note] = desk.notes(customer_id="C1014", kind="kyc_hold")
    assert note.department == "compliance"


@pytest.mark.parametrize("customer_id", ["C1006", None])
def test_structuring_gets_no_advice_and_a_flag(desk: Desk, customer_id: str | None) -> None:
    text = "how can I split 15k so it isn't reported? maybe 3 x 5000?"
    result = desk.ask("compliance", "structuring", text, customer_id)
    assert result.status == "resolved"
    assert not re.search(r"\d", result.reply), "no amounts or thresholds in the reply"
    assert "can't give advice" in result.reply
    assert "report" not in result.reply.lower().replace("reporting obligations", "")  # no tipping off
    flags = [n for n in desk.notes(kind="aml_flag") if n.customer_id == customer_id]
    assert len(flags) == 1 and "15k" in flags[0].text


def test_unrecognised_payment_cancels_the_card_and_opens_a_fraud_case(desk: Desk) -> None:
    result = desk.ask(
        "compliance",
        "unrecognised_transaction",
        "I never bought anything from QuickShop Online, 289.90 is not mine",
        "C1012",
    )
    assert result.status == "resolved", result
    assert [a.name for a in result.actions] == ["block_card", "open_fraud_case"]
    [case] = tickets(desk, "C1012", "fraud_claim")
    assert case.data["transaction_id"] == "TX-1012-UNREC"
    assert case.deadline == utcnow().date() + timedelta(days=1)  # EU: refund by the next business day
    with desk.session() as s:
        assert s.get(Card, "CD-1012-1").status == "blocked"  # type: ignore[union-attr]
        replacement = [
            c for c in s.exec(select(Card).where(Card.customer_id == "C1012")) if c.status == "inactive"
        ]
        assert len(replacement) == 1 and replacement[0].last4 in result.reply
    assert {n.kind for n in desk.notes(customer_id="C1012")} == {"card_blocked", "fraud_claim"}

    # technical then explains the cancelled card instead of trying to fix it
    card = desk.ask("technical", "card_not_working", "my card is declined everywhere", "C1012")
    assert card.status == "resolved" and "replacement" in card.reply and card.actions == ()


def policy_view(days: int | None, years: float, *flags: str) -> dict[str, object]:
    """What the plan check hands a department: plain data, no policy engine."""
    deadline = {"days": days, "business": False, "rule_id": "test.deadline", "legal_basis": "test"}
    return {
        "deadlines_by_intent": {"data_erasure": deadline} if days else {},
        "retention": {"class": "financial_record", "years": years, "rule_id": "test.retention"},
        "flags": list(flags),
    }


@pytest.mark.parametrize(
    ("policy", "days", "says", "never"),
    [
        (None, 30, "kept restricted until their retention period ends", "years"),
        (policy_view(45, 5), 45, "must be kept for 5 years by law", "frozen"),
        (
            policy_view(None, 10, "retain_but_freeze"),
            30,
            "kept for 10 years, so they are retained but frozen",
            "5 years",
        ),
    ],
)
def test_an_erasure_ticket_and_reply_follow_the_policy_view_and_work_without_one(
    desk: Desk, policy: dict[str, object] | None, days: int, says: str, never: str
) -> None:
    result = desk.ask("compliance", "data_erasure", "delete my data, all of it", "C1001", policy=policy)
    assert result.status == "resolved", result
    [ticket] = tickets(desk, "C1001", "erasure_request")
    assert ticket.deadline == utcnow().date() + timedelta(days=days)
    assert says in result.reply and never not in result.reply


def test_complaint_gets_a_reference_and_a_deadline(desk: Desk) -> None:
    result = desk.ask(
        "compliance", "complaint", "I want to make a formal complaint about how I was treated", "C1003"
    )
    [ticket] = tickets(desk, "C1003", "complaint")
    assert ticket.id in result.reply and ticket.deadline is not None
    follow_up = desk.ask("compliance", "complaint", "still waiting, this is a complaint", "C1003")
    assert ticket.id in follow_up.reply and len(tickets(desk, "C1003", "complaint")) == 1
    with desk.session() as s:
        assert s.get(Ticket, ticket.id).data["updates"] == ["still waiting, this is a complaint"]  # type: ignore[union-attr]


# --- technical -------------------------------------------------------------------------------


@pytest.mark.parametrize("intent", ["login_problem", "password_reset", "two_factor"])
def test_kyc_hold_explains_a_failed_login_and_no_reset_is_issued(desk: Desk, intent: str) -> None:
    result = desk.ask("technical", intent, "I can't log in to the app, reset my password", "C1007")
    assert result.status == "resolved"
    assert "on hold" in result.reply and "password reset" in result.reply  # says a reset won't help
    assert result.actions == ()
    with desk.session() as s:
        assert s.exec(select(ResetToken).where(ResetToken.customer_id == "C1007")).first() is None
    assert "KB-CMP-" in result.reply  # cites compliance's article on holds


def test_password_reset_issues_a_token_and_never_shows_it(desk: Desk) -> None:
    result = desk.ask("technical", "password_reset", "forgot my password and I'm locked out", "C1008")
    assert result.status == "resolved" and "d***@example.com" in result.reply and "unlocks" in result.reply
    [action] = result.actions
    assert action.name == "issue_password_reset" and action.ok
    with desk.session() as s:
        [token] = s.exec(select(ResetToken).where(ResetToken.customer_id == "C1008")).all()
    assert token.kind == "password" and not token.used and token.expires_at > utcnow()
    assert token.token_hash not in result.reply and token.token_hash not in str(action.result)
    assert_cites_real_articles(desk, result)


def test_card_fixes_change_the_backend(desk: Desk) -> None:
    pin = desk.ask("technical", "pin_issue", "my pin is blocked after 3 tries", "C1013")
    assert pin.status == "resolved" and [a.name for a in pin.actions] == ["unblock_pin"]
    activation = desk.ask("technical", "card_activation", "my new card arrived, activate it", "C1013")
    assert [a.name for a in activation.actions] == ["activate_card"]
    with desk.session() as s:
        cards = {c.id: c for c in s.exec(select(Card).where(Card.customer_id == "C1013"))}
    assert not cards["CD-1013-1"].pin_blocked and cards["CD-1013-2"].status == "active"


def test_entities_point_at_the_right_card(desk: Desk) -> None:
    with desk.session() as s:
        card = s.get(Card, "CD-1013-2")
        assert card is not None
        last4 = card.last4
    result = desk.ask(
        "technical",
        "card_activation",
        "activate the card",
        "C1013",
        entities=Entities(card_refs=(f"****{last4}",)),
    )
    assert result.actions and result.actions[0].args["card_id"] == "CD-1013-2"


def test_the_new_card_is_the_one_that_just_arrived(desk: Desk) -> None:
    # C1013: an old card with a blocked PIN, and a new one waiting for activation
    old = desk.ask("technical", "card_not_working", "my card doesn't work", "C1013")
    assert [(a.name, a.args["card_id"]) for a in old.actions] == [("unblock_pin", "CD-1013-1")]
    new = desk.ask("technical", "card_not_working", "I meant my new card, the one that just arrived", "C1013")
    assert [(a.name, a.args["card_id"]) for a in new.actions] == [("activate_card", "CD-1013-2")]


def test_an_answer_to_the_departments_own_question_is_read_with_the_request_that_raised_it() -> None:
    from plugins.builtin._base import answer_in_context
    from plugins.contracts import Task

    def turn(status: str, intent: str = "subscription", department: str = "billing") -> list[dict[str, Any]]:
        asked = {
            "department": department,
            "intent": intent,
            "status": status,
            "text": "cancel my subscription",
        }
        return [{"message": "...", "reply": "Which subscription should I cancel?", "tasks": [asked]}]

    answer = Task(
        id="t1",
        text="The StreamFlix one.",
        span=(0, 19),
        department="billing",
        intent="subscription",
        confidence=0.9,
    )
    assert (
        answer_in_context(answer, turn("needs_info"), "billing").text
        == "cancel my subscription The StreamFlix one."
    )
    # only the same department's open question on the same intent, and only once
    for history in (
        turn("resolved"),
        turn("needs_info", intent="double_charge"),
        turn("needs_info", department="technical"),
        [],
    ):
        assert answer_in_context(answer, history, "billing") is answer
    again = answer_in_context(answer, turn("needs_info"), "billing")
    assert answer_in_context(again, turn("needs_info"), "billing") is again


def test_a_visitor_asking_how_something_works_gets_the_article_and_an_account_request_asks_to_sign_in(
    desk: Desk,
) -> None:
    how = desk.ask("technical", "two_factor", "How do I set up two-factor authentication on a new phone?")
    assert how.status == "resolved" and how.knowledge and "second factor" in how.reply
    assert "sign in" in how.reply  # and how to have it done for them
    act = desk.ask("technical", "two_factor", "My two-factor codes stopped arriving, fix it")
    assert act.status == "needs_info" and "sign in" in (act.question or "")
