"""The compliance department's actions: typed arguments and what each one changes in the backend."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.backend import operations as ops
from orchestrator.backend.models import Card, Ticket
from plugins.builtin._lookup import own_transaction
from plugins.contracts import ActionSpec, DepartmentContext

NAME = "compliance"
# statutory response time for data-subject requests; the policy layer adjusts it per jurisdiction
DATA_REQUEST_DAYS = 30
DATA_REQUESTS = {
    # action name -> (ticket kind, case note kind, what the customer gets)
    "open_data_access_request": ("data_access", "data_access_request", "a copy of the personal data we hold"),
    "open_erasure_request": ("erasure_request", "erasure_request", "erasure of your personal data"),
    "open_portability_request": ("data_portability", "portability_request", "your data in a portable format"),
    "open_opt_out_request": (
        "privacy_opt_out",
        "privacy_opt_out",
        "us to stop selling, sharing or using your personal data for marketing",
    ),
}


class DataRequestArgs(BaseModel):
    deadline_days: int = Field(default=DATA_REQUEST_DAYS, ge=1, le=90)


def _data_request(action: str) -> Any:
    kind, _note, _what = DATA_REQUESTS[action]

    def run(ctx: DepartmentContext, args: DataRequestArgs) -> dict[str, Any]:
        if ctx.customer is None:
            raise ops.BackendError("a data request needs a verified customer; ask them to sign in")
        ticket, created = ops.open_ticket(
            ctx.db,
            customer_id=ctx.customer.id,
            conversation_id=ctx.conversation_id,
            department=NAME,
            kind=kind,
            deadline_days=args.deadline_days,
            data={"jurisdiction": ctx.jurisdiction},
        )
        return _ticket_result(ticket, created)

    return run


def _ticket_result(ticket: Ticket, created: bool) -> dict[str, Any]:
    return {
        "ticket_id": ticket.id,
        "kind": ticket.kind,
        "created": created,
        "deadline": ticket.deadline.isoformat() if ticket.deadline else None,
        "opened_at": ticket.created_at.isoformat(timespec="seconds"),
    }


class CaseArgs(BaseModel):
    kind: Literal["complaint", "account_closure", "details_change", "source_of_funds", "beneficiary_review"]
    summary: str = Field(min_length=3, max_length=500)
    deadline_days: int | None = Field(default=None, ge=1, le=120)
    data: dict[str, Any] = Field(default_factory=dict)


def run_open_case(ctx: DepartmentContext, args: CaseArgs) -> dict[str, Any]:
    if ctx.customer is None:
        raise ops.BackendError("a compliance case needs a verified customer; ask them to sign in")
    ticket, created = ops.open_ticket(
        ctx.db,
        customer_id=ctx.customer.id,
        conversation_id=ctx.conversation_id,
        department=NAME,
        kind=args.kind,
        deadline_days=args.deadline_days,
        data={"summary": args.summary, "jurisdiction": ctx.jurisdiction, **args.data},
    )
    if not created:  # the customer wrote again about an open case: keep what they said with it
        ticket.data = {**ticket.data, "updates": [*ticket.data.get("updates", []), args.summary]}
        ctx.db.add(ticket)
    return _ticket_result(ticket, created)


class FraudArgs(BaseModel):
    transaction_id: str = Field(min_length=3)
    summary: str = Field(min_length=3, max_length=500)
    deadline_days: int = Field(default=10, ge=1, le=60)


def run_open_fraud_case(ctx: DepartmentContext, args: FraudArgs) -> dict[str, Any]:
    tx = own_transaction(ctx, args.transaction_id)
    ticket, created = ops.open_ticket(
        ctx.db,
        customer_id=tx.customer_id,
        conversation_id=ctx.conversation_id,
        department=NAME,
        kind="fraud_claim",
        deadline_days=args.deadline_days,
        data={
            "transaction_id": tx.id,
            "amount": str(tx.amount),
            "currency": tx.currency,
            "summary": args.summary,
        },
        reuse_open=False,
    )
    return _ticket_result(ticket, created)


class CardArgs(BaseModel):
    card_id: str = Field(min_length=3)
    reason: Literal["lost", "stolen", "compromised", "fraud_claim", "lost_phone"]
    replace: bool = Field(default=False, description="order a replacement with a new number")


def run_block_card(ctx: DepartmentContext, args: CardArgs) -> dict[str, Any]:
    card = ctx.db.get(Card, args.card_id)
    if card is None or ctx.customer is None or card.customer_id != ctx.customer.id:
        raise ops.BackendError(f"card {args.card_id} is not this customer's")
    # a lost, leaked or defrauded card never comes back; a lost phone only pauses the cards
    status = "frozen" if args.reason == "lost_phone" else "blocked"
    before = card.status
    if before not in ("blocked", "expired"):
        ops.set_card_status(ctx.db, card, status)
    result: dict[str, Any] = {
        "card_id": card.id,
        "last4": card.last4,
        "before": before,
        "status": card.status,
    }
    if args.replace and status == "blocked":
        new = ops.order_card(ctx.db, card.customer_id, kind=card.kind, replaces=card)
        result["replacement"] = {"card_id": new.id, "last4": new.last4, "status": new.status}
    return result


ACTIONS = (
    ActionSpec(
        name="open_data_access_request",
        description="Open a data subject access request",
        args=DataRequestArgs,
        run=_data_request("open_data_access_request"),
    ),
    ActionSpec(
        name="open_erasure_request",
        description="Open a request to erase the customer's personal data",
        args=DataRequestArgs,
        run=_data_request("open_erasure_request"),
    ),
    ActionSpec(
        name="open_portability_request",
        description="Open a data portability request",
        args=DataRequestArgs,
        run=_data_request("open_portability_request"),
    ),
    ActionSpec(
        name="open_opt_out_request",
        description="Record an opt-out of the sale, sharing or marketing use of personal data (withdrawn consent)",
        args=DataRequestArgs,
        run=_data_request("open_opt_out_request"),
    ),
    ActionSpec(
        name="open_case",
        description="Open a compliance case: complaint, closure, details change, source of funds",
        args=CaseArgs,
        run=run_open_case,
    ),
    ActionSpec(
        name="open_fraud_case",
        description="Open a fraud claim for an unrecognised transaction",
        args=FraudArgs,
        run=run_open_fraud_case,
    ),
    ActionSpec(
        name="block_card",
        description="Block a lost, stolen or compromised card, or freeze one during a fraud claim",
        args=CardArgs,
        run=run_block_card,
    ),
)
