"""What the claims department does, through crossdesk's real dispatcher and a seeded database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from plugins.conformance import Harness
from sqlmodel import Session

import crossdesk_claims
from crossdesk_claims import ledger
from crossdesk_claims.cues import incident_of, is_claims_text, product_of


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with Harness.for_plugin(crossdesk_claims, tmp_path) as h:
        yield h


def approve(h: Harness, customer_id: str, claim_id: str, amount: float, currency: str) -> None:
    """What an assessor's decision looks like in the shared store."""
    from orchestrator.knowledge.notes import Notes

    with Session(h.engine) as session:
        notes = Notes(session, conversation_id="assessor", department="claims", customer_id=customer_id)
        ledger.record(
            notes,
            claim_id,
            "Approved by the assessor",
            status="approved",
            product="travel",
            incident="baggage_lost",
            amount=amount,
            currency=currency,
            documents=[],
        )
        session.commit()


def test_filing_a_claim_records_it_for_every_department(harness: Harness) -> None:
    result = harness.run(
        "claims",
        "my suitcase was lost on my flight and I want to claim on my travel insurance",
        intent="file_claim",
        customer_id="C1001",
    )
    assert result.status == "resolved" and result.error is None
    (action,) = result.actions
    assert action.name == "file_claim" and action.ok
    assert action.args["product"] == "travel" and action.args["incident"] == "baggage_lost"
    claim_id = action.result["claim_id"]
    assert claim_id in result.reply and "property irregularity report" in result.reply
    assert result.knowledge == ("KB-CLM-002",) and "[KB-CLM-002]" in result.reply
    (note,) = harness.notes("C1001", kind="claim")  # committed, readable by any department
    assert note.subject == claim_id and note.department == "claims"
    assert note.data["status"] == "awaiting_documents"

    later = harness.run(
        "claims",
        "any news on my claim?",
        intent="claim_status",
        customer_id="C1001",
        conversation_id="another-day",
    )
    assert later.status == "resolved"
    assert f"Your claim {claim_id} for the lost or delayed baggage (travel insurance)" in later.reply
    assert "boarding pass" in later.reply


def test_an_anonymous_customer_is_asked_to_sign_in_and_nothing_is_filed(harness: Harness) -> None:
    result = harness.run("claims", "I want to file a claim for my stolen camera", intent="file_claim")
    assert result.status == "needs_info" and "sign in" in (result.question or "")
    assert result.actions == ()


def test_a_claim_reference_that_is_not_theirs_is_not_shown(harness: Harness) -> None:
    filed = harness.run(
        "claims",
        "please register a claim for my stolen watch, it's under purchase protection",
        intent="file_claim",
        customer_id="C1001",
    )
    claim_id = filed.actions[0].result["claim_id"]
    other = harness.run(
        "claims", f"what is the status of claim {claim_id}", intent="claim_status", customer_id="C1002"
    )
    assert other.status == "needs_info" and claim_id in (other.question or "")
    assert claim_id not in other.reply


def test_an_approved_claim_pays_out_within_the_claims_authority(harness: Harness) -> None:
    approve(harness, "C1001", "CLM-AAAAAA", 420.0, "EUR")
    result = harness.run(
        "claims", "when will I get paid for my claim", intent="claim_payout", customer_id="C1001"
    )
    assert result.status == "resolved", result
    (action,) = result.actions
    assert action.name == "schedule_payout" and action.ok
    assert "EUR 420.00" in result.reply
    assert harness.notes("C1001", kind="claim")[0].data["status"] == "payout_scheduled"


def test_a_payout_above_the_claims_authority_goes_to_a_person(harness: Harness) -> None:
    approve(harness, "C1002", "CLM-BBBBBB", 2400.0, "GBP")
    result = harness.run(
        "claims",
        "my claim was approved, when does the money arrive",
        intent="claim_payout",
        customer_id="C1002",
    )
    assert result.status == "needs_human"
    (action,) = result.actions
    assert not action.ok and action.blocked_by == "claims.payout.authority_cap"  # the plugin's own rule
    assert "claims handler" in result.reply
    assert harness.notes("C1002", kind="claim")[0].data["status"] == "approved"  # nothing paid


def test_compliance_hold_stops_a_payout(harness: Harness) -> None:
    # C1007's account is on a KYC hold that compliance recorded as a case note
    approve(harness, "C1007", "CLM-CCCCCC", 300.0, "EUR")
    result = harness.run(
        "claims",
        "claim approved last Tuesday, still no payout, please check",
        intent="claim_payout",
        customer_id="C1007",
    )
    assert result.status == "resolved" and result.actions == ()
    assert "verification hold" in result.reply


def test_cover_questions_are_answered_from_the_claims_articles(harness: Harness) -> None:
    result = harness.run("claims", "is skiing covered by the travel insurance", intent="coverage_question")
    assert result.status == "resolved" and result.knowledge == ("KB-CLM-003",)


def test_messages_for_other_departments_are_handed_back(harness: Harness) -> None:
    for text in (
        "I forgot my password",
        "I was charged twice for my coffee",
        "please delete all my data",
        "I need to claim back a payment I made by mistake to a shop",
    ):
        result = harness.run("claims", text, intent="file_claim", customer_id="C1001")
        assert result.status == "not_mine", text
    assert harness.notes("C1001", kind="claim") == []


@pytest.mark.parametrize(
    ("text", "product", "incident"),
    [
        ("my bag never showed up at the carousel", "travel", "baggage_lost"),
        ("my suitcase arrived with a broken wheel", "travel", "baggage_damaged"),
        ("the laptop I bought last month was stolen", "purchase_protection", "theft"),
        ("the TV I bought arrived smashed", "purchase_protection", "damage"),
        ("my trip was cancelled because I got sick, can I claim?", "travel", "trip_cancelled"),
    ],
)
def test_reading_the_incident(text: str, product: str, incident: str) -> None:
    assert is_claims_text(text)
    assert (product_of(text), incident_of(text)) == (product, incident)
