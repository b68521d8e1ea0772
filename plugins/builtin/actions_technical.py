"""The technical department's actions: typed arguments and what each one changes in the backend."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.backend import operations as ops
from orchestrator.backend.models import Card, Customer
from plugins.contracts import ActionSpec, DepartmentContext

NAME = "technical"
RESET_MINUTES = 30


class NoArgs(BaseModel):
    pass


def _customer(ctx: DepartmentContext) -> Customer:
    if ctx.customer is None:
        raise ops.BackendError("no signed-in customer; ask for the customer id first")
    customer = ctx.db.get(Customer, ctx.customer.id)
    if customer is None:
        raise ops.BackendError(f"customer {ctx.customer.id} does not exist")
    return customer


def _masked_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _reset(kind: str) -> Any:
    def run(ctx: DepartmentContext, _args: NoArgs) -> dict[str, Any]:
        from datetime import timedelta

        customer = _customer(ctx)
        token, _raw = ops.issue_reset_token(ctx.db, customer.id, kind, ttl=timedelta(minutes=RESET_MINUTES))
        # the raw token goes only into the email to the customer, never into replies, results or traces
        return {
            "token_id": token.id,
            "kind": kind,
            "expires_at": token.expires_at.isoformat(timespec="seconds"),
            "sent_to": _masked_email(customer.email),
        }

    return run


class CardArgs(BaseModel):
    card_id: str = Field(min_length=3)


def _own_card(ctx: DepartmentContext, card_id: str) -> Card:
    card = ctx.db.get(Card, card_id)
    if card is None or ctx.customer is None or card.customer_id != ctx.customer.id:
        raise ops.BackendError(f"card {card_id} is not this customer's")
    return card


def _card_result(card: Card, **extra: Any) -> dict[str, Any]:
    return {"card_id": card.id, "last4": card.last4, "status": card.status, "kind": card.kind, **extra}


def run_activate_card(ctx: DepartmentContext, args: CardArgs) -> dict[str, Any]:
    card = _own_card(ctx, args.card_id)
    if card.status != "inactive":
        raise ops.BackendError(f"card ****{card.last4} is {card.status}, not waiting for activation")
    return _card_result(ops.set_card_status(ctx.db, card, "active"))


def run_unblock_pin(ctx: DepartmentContext, args: CardArgs) -> dict[str, Any]:
    card = _own_card(ctx, args.card_id)
    was = card.pin_blocked
    card.pin_blocked = False
    ctx.db.add(card)
    ctx.db.flush()
    return _card_result(card, was_blocked=was)


def run_unfreeze_card(ctx: DepartmentContext, args: CardArgs) -> dict[str, Any]:
    card = _own_card(ctx, args.card_id)
    if card.status != "frozen":
        raise ops.BackendError(f"card ****{card.last4} is {card.status}, not frozen")
    if compliance_stopped(ctx, card):
        raise ops.BackendError(
            f"card ****{card.last4} was frozen by compliance; only compliance can release it"
        )
    return _card_result(ops.set_card_status(ctx.db, card, "active"))


class OrderArgs(BaseModel):
    kind: Literal["physical", "virtual"] = "physical"
    replaces: str | None = Field(default=None, description="card id this one replaces; it gets blocked")
    reason: str = Field(default="new card", max_length=200)


def run_order_card(ctx: DepartmentContext, args: OrderArgs) -> dict[str, Any]:
    customer = _customer(ctx)
    old = _own_card(ctx, args.replaces) if args.replaces else None
    card = ops.order_card(ctx.db, customer.id, kind=args.kind, replaces=old)
    return _card_result(card, replaces=old.id if old else None, reason=args.reason)


class TicketArgs(BaseModel):
    kind: Literal["app_bug", "card_not_delivered", "retained_card"]
    summary: str = Field(min_length=3, max_length=500)


def run_open_ticket(ctx: DepartmentContext, args: TicketArgs) -> dict[str, Any]:
    ticket, created = ops.open_ticket(
        ctx.db,
        customer_id=ctx.customer.id if ctx.customer else None,
        conversation_id=ctx.conversation_id,
        department=NAME,
        kind=args.kind,
        data={"summary": args.summary},
        reuse_open=False,
    )
    return {"ticket_id": ticket.id, "kind": ticket.kind, "created": created}


ACTIONS = (
    ActionSpec(
        name="issue_password_reset",
        description="Email a one-time password reset link; using it also unlocks a locked login",
        args=NoArgs,
        run=_reset("password"),
    ),
    ActionSpec(
        name="reset_two_factor",
        description="Email a one-time link to register two-factor authentication again",
        args=NoArgs,
        run=_reset("2fa"),
    ),
    ActionSpec(
        name="activate_card", description="Activate a delivered card", args=CardArgs, run=run_activate_card
    ),
    ActionSpec(name="unblock_pin", description="Unblock a card's PIN", args=CardArgs, run=run_unblock_pin),
    ActionSpec(
        name="unfreeze_card",
        description="Unfreeze a card the customer froze (never one frozen by compliance)",
        args=CardArgs,
        run=run_unfreeze_card,
    ),
    ActionSpec(
        name="order_card", description="Order a new or replacement card", args=OrderArgs, run=run_order_card
    ),
    ActionSpec(
        name="open_ticket",
        description="Open a technical support ticket",
        args=TicketArgs,
        run=run_open_ticket,
    ),
)


def compliance_stopped(ctx: DepartmentContext, card: Card) -> bool:
    """Whether compliance stopped this card for a reason the customer can't undo (a fraud claim,
    a lost or stolen report); a freeze after a lost phone is the customer's to lift.
    """
    return any(
        n.department == "compliance" and n.data.get("reason") != "lost_phone"
        for n in ctx.notes.for_subject(card.id, kind="card_blocked")
    )
