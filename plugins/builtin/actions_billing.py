"""The billing department's actions: typed arguments and what each one changes in the backend."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.backend import operations as ops
from orchestrator.backend.models import Invoice, Subscription
from plugins.builtin._lookup import own_transaction
from plugins.contracts import ActionSpec, DepartmentContext

NAME = "billing"


class RefundArgs(BaseModel):
    transaction_id: str = Field(min_length=3)
    reason: str = Field(min_length=3, max_length=300)
    amount: Decimal | None = Field(default=None, gt=0, description="partial refund; default the full charge")


def run_refund(ctx: DepartmentContext, args: RefundArgs) -> dict[str, Any]:
    tx = own_transaction(ctx, args.transaction_id)
    refund, created = ops.post_refund(
        ctx.db, tx, reason=args.reason, amount=args.amount, conversation_id=ctx.conversation_id
    )
    return {
        "refund_id": refund.id,
        "transaction_id": tx.id,
        "amount": str(refund.amount),
        "currency": refund.currency,
        "created": created,
        "refunded_at": refund.created_at.isoformat(timespec="seconds"),
    }


class SubscriptionArgs(BaseModel):
    subscription_id: str = Field(min_length=3)


def run_cancel_subscription(ctx: DepartmentContext, args: SubscriptionArgs) -> dict[str, Any]:
    sub = ctx.db.get(Subscription, args.subscription_id)
    if sub is None or ctx.customer is None or sub.customer_id != ctx.customer.id:
        raise ops.BackendError(f"subscription {args.subscription_id} is not this customer's")
    changed = ops.cancel_subscription(ctx.db, sub)
    return {"subscription_id": sub.id, "merchant": sub.merchant, "cancelled": changed}


class TransferArgs(BaseModel):
    transaction_id: str = Field(min_length=3)


def run_cancel_transfer(ctx: DepartmentContext, args: TransferArgs) -> dict[str, Any]:
    tx = ops.cancel_pending_transfer(ctx.db, own_transaction(ctx, args.transaction_id))
    return {"transaction_id": tx.id, "status": tx.status, "amount": str(-tx.amount), "currency": tx.currency}


CaseKind = Literal[
    "transfer_trace", "transfer_recall", "chargeback", "fee_review", "top_up_trace", "cash_dispute"
]


class CaseArgs(BaseModel):
    kind: CaseKind
    summary: str = Field(min_length=3, max_length=500)
    transaction_id: str | None = None
    deadline_days: int | None = Field(default=None, ge=0, le=120)


def run_open_case(ctx: DepartmentContext, args: CaseArgs) -> dict[str, Any]:
    if args.transaction_id is not None:
        own_transaction(ctx, args.transaction_id)
    ticket, created = ops.open_ticket(
        ctx.db,
        customer_id=ctx.customer.id if ctx.customer else None,
        conversation_id=ctx.conversation_id,
        department=NAME,
        kind=args.kind,
        deadline_days=args.deadline_days,
        data={"summary": args.summary, "transaction_id": args.transaction_id},
        reuse_open=False,
    )
    return {
        "ticket_id": ticket.id,
        "kind": ticket.kind,
        "created": created,
        "deadline": ticket.deadline.isoformat() if ticket.deadline else None,
    }


class InvoiceArgs(BaseModel):
    invoice_id: str = Field(min_length=3)


def run_resend_invoice(ctx: DepartmentContext, args: InvoiceArgs) -> dict[str, Any]:
    inv = ctx.db.get(Invoice, args.invoice_id)
    if inv is None or ctx.customer is None or inv.customer_id != ctx.customer.id:
        raise ops.BackendError(f"invoice {args.invoice_id} is not this customer's")
    ops.resend_invoice(ctx.db, inv)
    return {
        "invoice_id": inv.id,
        "period": inv.period,
        "sent_at": inv.last_sent_at.isoformat() if inv.last_sent_at else None,
    }


ACTIONS = (
    ActionSpec(
        name="refund",
        description="Refund a posted charge (once per charge)",
        args=RefundArgs,
        run=run_refund,
        money_movement=True,
    ),
    ActionSpec(
        name="cancel_subscription",
        description="Cancel a card subscription",
        args=SubscriptionArgs,
        run=run_cancel_subscription,
    ),
    ActionSpec(
        name="cancel_transfer",
        description="Cancel a pending outgoing transfer and release the money",
        args=TransferArgs,
        run=run_cancel_transfer,
        money_movement=True,
    ),
    ActionSpec(
        name="open_case", description="Open a billing investigation ticket", args=CaseArgs, run=run_open_case
    ),
    ActionSpec(
        name="resend_invoice", description="Email an invoice again", args=InvoiceArgs, run=run_resend_invoice
    ),
)
