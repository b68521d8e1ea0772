"""Write operations on the demo backend. Each either completes or changes nothing.

They run inside the caller's session (a department run commits or rolls back as
a whole); writes that may collide with a parallel run use a savepoint so a
collision is reported, not half-applied.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from orchestrator.backend.models import (
    Account,
    Card,
    Customer,
    Invoice,
    Refund,
    ResetToken,
    Subscription,
    Ticket,
    Transaction,
    money,
    new_id,
    utcnow,
)
from orchestrator.backend.queries import open_tickets, refund_for


class BackendError(ValueError):
    """An operation is not possible in the backend's current state; the message says why.

    A ValueError so the dispatcher records a failed action instead of failing the run.
    """


def post_refund(
    session: Session,
    tx: Transaction,
    *,
    reason: str,
    amount: Decimal | None = None,
    conversation_id: str | None = None,
) -> tuple[Refund, bool]:
    """Refund a posted charge once. Returns (refund, created); created is False when the
    charge had already been refunded, by this or by a concurrent run.
    """
    existing = refund_for(session, tx.id)
    if existing is not None:
        return existing, False
    if tx.amount >= 0:
        raise BackendError(f"{tx.id} is a credit of {tx.amount} {tx.currency}; only charges can be refunded")
    if tx.status != "posted":
        raise BackendError(
            f"{tx.id} is {tx.status}; only posted charges can be refunded "
            "(a pending charge is released by the merchant or expires)"
        )
    value = money(amount) if amount is not None else -tx.amount
    if value <= 0 or value > -tx.amount:
        raise BackendError(f"refund amount {value} must be between 0.01 and {-tx.amount} {tx.currency}")
    account = session.get(Account, tx.account_id)
    if account is None:
        raise BackendError(f"account {tx.account_id} of {tx.id} does not exist")
    try:
        with session.begin_nested():
            credit = Transaction(
                id=new_id("TX"),
                customer_id=tx.customer_id,
                account_id=tx.account_id,
                card_id=tx.card_id,
                amount=value,
                currency=tx.currency,
                merchant=tx.merchant,
                kind="refund",
                status="posted",
                reference=f"Refund of {tx.id}",
                data={"refund_of": tx.id, "reason": reason},
            )
            refund = Refund(
                transaction_id=tx.id,
                amount=value,
                currency=tx.currency,
                reason=reason,
                credit_transaction_id=credit.id,
                conversation_id=conversation_id,
            )
            account.balance = money(account.balance + value)
            session.add(credit)
            session.add(account)
            session.add(refund)
    except IntegrityError:
        # another run refunded the same charge between our check and our insert
        winner = refund_for(session, tx.id)
        if winner is None:
            raise
        return winner, False
    return refund, True


def open_ticket(
    session: Session,
    *,
    customer_id: str | None,
    department: str,
    kind: str,
    conversation_id: str | None = None,
    deadline_days: int | None = None,
    data: dict[str, Any] | None = None,
    today: date | None = None,
    reuse_open: bool = True,
) -> tuple[Ticket, bool]:
    """Open a ticket; with reuse_open an open ticket of the same kind is returned instead."""
    if reuse_open and customer_id is not None:
        current = open_tickets(session, customer_id, kind=kind)
        if current:
            return current[0], False
    if deadline_days is not None and deadline_days < 0:
        raise BackendError(f"deadline_days must be 0 or more, got {deadline_days}")
    start = today or utcnow().date()
    ticket = Ticket(
        customer_id=customer_id,
        conversation_id=conversation_id,
        department=department,
        kind=kind,
        deadline=start + timedelta(days=deadline_days) if deadline_days is not None else None,
        data=dict(data or {}),
    )
    session.add(ticket)
    session.flush()
    return ticket, True


def cancel_subscription(session: Session, sub: Subscription, *, when: datetime | None = None) -> bool:
    """Cancel; returns False when it was already cancelled."""
    if sub.status == "cancelled":
        return False
    sub.status = "cancelled"
    sub.cancelled_at = when or utcnow()
    sub.next_charge = None
    session.add(sub)
    session.flush()
    return True


def cancel_pending_transfer(session: Session, tx: Transaction) -> Transaction:
    """Stop a pending outgoing transfer and give the held money back."""
    if tx.kind != "transfer" or tx.amount >= 0:
        raise BackendError(f"{tx.id} is not an outgoing transfer")
    if tx.status != "pending":
        raise BackendError(f"{tx.id} is {tx.status}; only pending transfers can be cancelled")
    account = session.get(Account, tx.account_id)
    if account is None:
        raise BackendError(f"account {tx.account_id} of {tx.id} does not exist")
    tx.status = "reversed"
    tx.data = {**tx.data, "cancelled_at": utcnow().isoformat(timespec="seconds")}
    account.balance = money(account.balance - tx.amount)
    session.add(tx)
    session.add(account)
    session.flush()
    return tx


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_reset_token(
    session: Session, customer_id: str, kind: str, *, ttl: timedelta = timedelta(minutes=30)
) -> tuple[ResetToken, str]:
    """Create a one-time reset token; earlier unused tokens of the same kind stop working."""
    if kind not in ("password", "2fa"):
        raise BackendError(f"reset kind must be 'password' or '2fa', got {kind!r}")
    if session.get(Customer, customer_id) is None:
        raise BackendError(f"customer {customer_id} does not exist")
    for old in session.exec(
        select(ResetToken).where(
            ResetToken.customer_id == customer_id,
            ResetToken.kind == kind,
            ResetToken.used == False,  # noqa: E712
        )
    ):
        old.used = True
        session.add(old)
    raw = secrets.token_urlsafe(24)
    token = ResetToken(
        customer_id=customer_id, kind=kind, token_hash=hash_token(raw), expires_at=utcnow() + ttl
    )
    session.add(token)
    session.flush()
    return token, raw


def redeem_reset_token(session: Session, raw: str, *, kind: str = "password") -> Customer:
    """Use a reset token: it works once, before it expires, and unlocks the login."""
    token = session.exec(
        select(ResetToken).where(ResetToken.token_hash == hash_token(raw), ResetToken.kind == kind)
    ).first()
    if token is None or token.used:
        raise BackendError("this reset link is invalid or was already used; ask for a new one")
    if token.expires_at < utcnow():
        raise BackendError("this reset link has expired; ask for a new one")
    customer = session.get(Customer, token.customer_id)
    if customer is None:
        raise BackendError(f"customer {token.customer_id} does not exist")
    token.used = True
    customer.login_locked = False
    session.add(token)
    session.add(customer)
    session.flush()
    return customer


def set_card_status(session: Session, card: Card, status: str) -> Card:
    if card.status == "expired" and status == "active":
        raise BackendError(f"card ****{card.last4} has expired; order a replacement instead")
    card.status = status
    session.add(card)
    session.flush()
    return card


def order_card(
    session: Session, customer_id: str, *, kind: str = "physical", replaces: Card | None = None
) -> Card:
    """Issue a new card on the customer's main account. Physical cards start inactive."""
    account = session.exec(
        select(Account).where(Account.customer_id == customer_id, Account.status != "closed")
    ).first()
    if account is None:
        raise BackendError(f"customer {customer_id} has no open account to attach a card to")
    n = len(list(session.exec(select(Card).where(Card.customer_id == customer_id)))) + 1
    last4 = f"{(int(hashlib.sha256(f'{customer_id}-{n}'.encode()).hexdigest(), 16) % 10000):04d}"
    today = utcnow().date()
    card = Card(
        id=f"CD-{customer_id[1:]}-{n}",
        customer_id=customer_id,
        account_id=account.id,
        last4=last4,
        status="inactive" if kind == "physical" else "active",
        kind=kind,
        network=replaces.network if replaces is not None else "visa",
        expires=f"{today.month:02d}/{(today.year + 4) % 100:02d}",
    )
    if replaces is not None and replaces.status in ("active", "inactive", "frozen"):
        replaces.status = "blocked"
        session.add(replaces)
    session.add(card)
    session.flush()
    return card


def resend_invoice(session: Session, invoice: Invoice) -> Invoice:
    invoice.last_sent_at = utcnow()
    session.add(invoice)
    session.flush()
    return invoice
