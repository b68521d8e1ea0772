"""Claims kept as case notes in crossdesk's shared store.

A claim is a series of notes of kind ``claim`` about one subject (its claim id);
the newest note holds the claim's current state. The plugin needs no tables of
its own, and every other department (and the operator console) can read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugins.contracts import CaseNote, NotesAPI

from crossdesk_claims.cues import INCIDENT_TEXT

NOTE_KIND = "claim"
OPEN = ("submitted", "awaiting_documents", "in_review")
STATUS_TEXT = {
    "submitted": "submitted and waiting for its documents",
    "awaiting_documents": "waiting for documents from you",
    "in_review": "with an assessor",
    "approved": "approved",
    "payout_scheduled": "approved, with the payout on its way",
    "rejected": "declined",
}


@dataclass(frozen=True)
class Claim:
    id: str
    status: str
    product: str
    incident: str
    amount: float | None
    currency: str | None
    documents: tuple[str, ...]
    filed_at: datetime | None

    @classmethod
    def from_note(cls, note: CaseNote, first: CaseNote) -> Claim:
        data: dict[str, Any] = note.data
        amount = data.get("amount")
        return cls(
            id=note.subject,
            status=str(data.get("status", "submitted")),
            product=str(data.get("product", "travel")),
            incident=str(data.get("incident", "other")),
            amount=float(amount) if amount is not None else None,
            currency=data.get("currency"),
            documents=tuple(data.get("documents", ())),
            filed_at=first.created_at,
        )

    @property
    def what(self) -> str:
        product = "travel insurance" if self.product == "travel" else "purchase protection"
        return f"{INCIDENT_TEXT.get(self.incident, self.incident)} ({product})"


def claims_of(notes: NotesAPI, customer_id: str) -> list[Claim]:
    """The customer's claims, most recently updated first."""
    by_subject: dict[str, list[CaseNote]] = {}
    for note in notes.for_customer(customer_id, kind=NOTE_KIND):  # newest first
        if note.subject:
            by_subject.setdefault(note.subject, []).append(note)
    return [Claim.from_note(history[0], history[-1]) for history in by_subject.values()]


def record(notes: NotesAPI, claim_id: str, text: str, **state: Any) -> CaseNote:
    return notes.add(NOTE_KIND, text, subject=claim_id, data=state)
