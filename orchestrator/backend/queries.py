"""Read helpers over the demo backend, shared by the departments and the orchestrator."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, bindparam, literal_column, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from orchestrator.backend.models import (
    Account,
    Card,
    Customer,
    Invoice,
    Refund,
    Subscription,
    Ticket,
    Transaction,
    split_vulnerabilities,
    utcnow,
)
from plugins.contracts import CustomerView

# money leaving the account that a merchant took: what can be charged twice
CHARGE_KINDS = ("card_payment", "subscription")
DUPLICATE_WINDOW = timedelta(hours=24)


def get_customer(session: Session, customer_id: str) -> Customer | None:
    return session.get(Customer, customer_id)


# what departments may see about a customer (no contact details), besides the vulnerabilities
_VIEW_COLUMNS = ("id", "name", "jurisdiction", "age_band", "risk_profile", "servicemember", "language")


def customer_view(customer: Customer) -> CustomerView:
    """What departments may see about a customer (no contact details)."""
    return CustomerView(
        **{name: getattr(customer, name) for name in _VIEW_COLUMNS}, vulnerability=customer.vulnerabilities()
    )


_CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
# built once: every turn of a signed-in customer runs it
_VIEW_ROW = sa_select(*(_CUSTOMERS.c[name] for name in _VIEW_COLUMNS), _CUSTOMERS.c.vulnerability).where(
    _CUSTOMERS.c.id == bindparam("customer_id")
)


def find_customer_view(session: Session, customer_id: str) -> CustomerView | None:
    """`customer_view` of the customer `customer_id`, or None; reads only the columns the view
    shows, without loading the whole model."""
    row = session.execute(_VIEW_ROW, {"customer_id": customer_id}).first()
    if row is None:
        return None
    values = dict(zip(_VIEW_COLUMNS, row, strict=False))
    return CustomerView(**values, vulnerability=split_vulnerabilities(row.vulnerability))


# Statements that departments run on most turns are built once, with parameters: building a
# statement and its cache key costs more than SQLite takes to run it.
_CID: BindParameter[str] = bindparam("cid")
_ACCOUNTS = select(Account).where(Account.customer_id == _CID).order_by(col(Account.id))
_CARDS = select(Card).where(Card.customer_id == _CID).order_by(col(Card.created_at), col(Card.id))
_SUBSCRIPTIONS = select(Subscription).where(Subscription.customer_id == _CID).order_by(col(Subscription.id))
_INVOICES = select(Invoice).where(Invoice.customer_id == _CID).order_by(col(Invoice.issued_at).desc())
_REFUND_FOR = select(Refund).where(Refund.transaction_id == bindparam("tx"))
_REFUNDED = select(Refund.transaction_id).where(
    col(Refund.transaction_id).in_(bindparam("txs", expanding=True))
)
_OPEN_TICKETS = select(Ticket).where(Ticket.customer_id == _CID, Ticket.status == "open")


def accounts(session: Session, customer_id: str) -> list[Account]:
    return list(session.exec(_ACCOUNTS, params={"cid": customer_id}))


def cards(session: Session, customer_id: str) -> list[Card]:
    return list(session.exec(_CARDS, params={"cid": customer_id}))


@functools.cache
def _transactions_stmt(kinds: bool, statuses: bool, since: bool, limit: bool) -> Any:
    """The transactions query for one combination of filters, built once."""
    stmt = select(Transaction).where(Transaction.customer_id == _CID)
    if kinds:
        stmt = stmt.where(col(Transaction.kind).in_(bindparam("kinds", expanding=True)))
    if statuses:
        stmt = stmt.where(col(Transaction.status).in_(bindparam("statuses", expanding=True)))
    if since:
        stmt = stmt.where(col(Transaction.created_at) >= bindparam("since"))
    stmt = stmt.order_by(col(Transaction.created_at).desc(), col(Transaction.id).desc())
    if limit:
        stmt = stmt.limit(bindparam("limit"))
    return stmt


def transactions(
    session: Session,
    customer_id: str,
    *,
    kinds: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[Transaction]:
    """The customer's transactions, newest first."""
    stmt = _transactions_stmt(kinds is not None, statuses is not None, since is not None, limit is not None)
    params: dict[str, Any] = {"cid": customer_id}
    if kinds is not None:
        params["kinds"] = list(kinds)
    if statuses is not None:
        params["statuses"] = list(statuses)
    if since is not None:
        params["since"] = since
    if limit is not None:
        params["limit"] = limit
    return list(session.exec(stmt, params=params))


def subscriptions(session: Session, customer_id: str) -> list[Subscription]:
    return list(session.exec(_SUBSCRIPTIONS, params={"cid": customer_id}))


PAYEE_DAYS = 90
# the customer's active subscriptions, and whom they sent money to lately (transfers out, not
# received ones), in one statement: it runs before every signed-in turn
_NAMES = union_all(
    sa_select(Subscription.merchant, literal_column("'subscription'").label("kind")).where(  # type: ignore[call-overload]
        Subscription.customer_id == _CID, Subscription.status == "active"
    ),
    sa_select(Transaction.merchant, literal_column("'transfer'").label("kind"))  # type: ignore[call-overload]
    .where(
        Transaction.customer_id == _CID,
        Transaction.kind == "transfer",
        Transaction.amount < 0,
        col(Transaction.created_at) >= bindparam("since"),
        Transaction.merchant != "",
    )
    .distinct(),
)


def customer_terms(session: Session, customer_id: str, *, now: datetime | None = None) -> dict[str, str]:
    """The customer's own names for their things, each with the word that says what it is.

    {"MusicHub": "subscription", "FitTrack": "subscription", "Harbour Lettings BV": "transfer",
    "Harbour Lettings": "transfer", ...}: the decomposer then reads "cancel MusicHub" as a
    subscription, not as a transfer to stop, and "the one to Harbour Lettings" as a transfer.
    A subscription's name wins over a payee's."""
    since = (now or utcnow()) - timedelta(days=PAYEE_DAYS)
    rows = session.execute(_NAMES, {"cid": customer_id, "since": since}).all()
    terms: dict[str, str] = {}
    for name, kind in sorted(rows, key=lambda row: row[1] != "subscription"):  # subscriptions first
        _add_name(terms, name, kind)
    return terms


def _add_name(terms: dict[str, str], name: str, kind: str) -> None:
    """`name`, and the shorter ways a customer says it ("Harbour Lettings" for "Harbour Lettings BV",
    "MusicHub" for "MusicHub Family"), unless an earlier name already took them."""
    words = name.split()
    terms.setdefault(name, kind)
    if len(words) > 2 and words[1].isalnum():
        terms.setdefault(" ".join(words[:2]), kind)
    if len(words) > 1 and len(words[0]) >= 4 and words[0].isalnum():
        terms.setdefault(words[0], kind)


def invoices(session: Session, customer_id: str) -> list[Invoice]:
    return list(session.exec(_INVOICES, params={"cid": customer_id}))


def refund_for(session: Session, transaction_id: str) -> Refund | None:
    return session.exec(_REFUND_FOR, params={"tx": transaction_id}).first()


def refunded_ids(session: Session, transaction_ids: Sequence[str]) -> set[str]:
    """Which of these transactions have a refund (one query for a statement's worth of them)."""
    if not transaction_ids:
        return set()
    return set(session.exec(_REFUNDED, params={"txs": list(transaction_ids)}))


def open_tickets(session: Session, customer_id: str, *, kind: str | None = None) -> list[Ticket]:
    stmt = _OPEN_TICKETS
    if kind is not None:
        stmt = stmt.where(Ticket.kind == kind)
    return list(session.exec(stmt.order_by(col(Ticket.created_at)), params={"cid": customer_id}))


def find_duplicate_charges(
    session: Session, customer_id: str, *, window: timedelta = DUPLICATE_WINDOW
) -> list[tuple[Transaction, Transaction]]:
    """Pairs (first, duplicate) of charges with the same merchant, amount and currency
    within `window` of each other, newest duplicate first. Failed or reversed ones do not count.
    """
    charges = transactions(session, customer_id, kinds=CHARGE_KINDS, statuses=("posted", "pending"))
    charges.sort(key=lambda t: (t.created_at, t.id))
    pairs: list[tuple[Transaction, Transaction]] = []
    used: set[str] = set()
    for i, later in enumerate(charges):
        for earlier in reversed(charges[:i]):
            if later.created_at - earlier.created_at > window:
                break
            if earlier.id in used:
                continue
            if (earlier.merchant, earlier.amount, earlier.currency) == (
                later.merchant,
                later.amount,
                later.currency,
            ):
                pairs.append((earlier, later))
                used.update((earlier.id, later.id))
                break
    pairs.sort(key=lambda p: p[1].created_at, reverse=True)
    return pairs


def balance_of(session: Session, customer_id: str, currency: str | None = None) -> Decimal:
    return sum(
        (a.balance for a in accounts(session, customer_id) if currency is None or a.currency == currency),
        Decimal("0"),
    )
