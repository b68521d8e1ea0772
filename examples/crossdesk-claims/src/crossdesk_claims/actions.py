"""Typed actions of the claims department. crossdesk validates arguments and asks the policy engine first."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from plugins.contracts import ActionSpec, DepartmentContext
from pydantic import BaseModel, ConfigDict, Field

from crossdesk_claims import ledger
from crossdesk_claims.cues import DOCUMENTS

CLAIM_ID_PATTERN = r"^CLM-[A-Z0-9]{6}$"


class FileClaimArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: Literal["travel", "purchase_protection"]
    incident: str = Field(pattern=r"^[a-z_]+$", description="lost baggage, theft, ... (see cues.INCIDENTS)")
    summary: str = Field(min_length=1, max_length=1000, description="what happened, in the customer's words")
    amount: float | None = Field(default=None, gt=0, description="what the customer claims, if stated")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    incident_date: date | None = None


class SchedulePayoutArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_id: str = Field(pattern=CLAIM_ID_PATTERN)
    amount: float = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


def file_claim(ctx: DepartmentContext, args: FileClaimArgs) -> dict[str, Any]:
    claim_id = f"CLM-{uuid.uuid4().hex[:6].upper()}"
    documents = list(DOCUMENTS.get(args.incident, DOCUMENTS["other"]))
    ledger.record(
        ctx.notes,
        claim_id,
        f"Claim filed: {args.summary}",
        status="awaiting_documents",
        product=args.product,
        incident=args.incident,
        amount=args.amount,
        currency=args.currency,
        incident_date=args.incident_date.isoformat() if args.incident_date else None,
        documents=documents,
    )
    return {"claim_id": claim_id, "status": "awaiting_documents", "documents": documents}


def schedule_payout(ctx: DepartmentContext, args: SchedulePayoutArgs) -> dict[str, Any]:
    if ctx.customer is None:
        raise ValueError("a payout needs a signed-in customer")
    claim = next((c for c in ledger.claims_of(ctx.notes, ctx.customer.id) if c.id == args.claim_id), None)
    if claim is None:
        raise ValueError(f"claim {args.claim_id} does not belong to this customer")
    if claim.status != "approved":
        raise ValueError(f"claim {args.claim_id} is {claim.status}, not approved")
    ledger.record(
        ctx.notes,
        claim.id,
        f"Payout of {args.currency} {args.amount:,.2f} scheduled",
        status="payout_scheduled",
        product=claim.product,
        incident=claim.incident,
        amount=args.amount,
        currency=args.currency,
        documents=[],
    )
    return {
        "claim_id": claim.id,
        "status": "payout_scheduled",
        "amount": args.amount,
        "currency": args.currency,
    }


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="file_claim",
        description="Open a travel insurance or purchase protection claim for the signed-in customer",
        args=FileClaimArgs,
        run=file_claim,
    ),
    ActionSpec(
        name="schedule_payout",
        description="Pay out an approved claim to the customer's account",
        args=SchedulePayoutArgs,
        run=schedule_payout,
        money_movement=True,
    ),
)
