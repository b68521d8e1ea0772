"""Tables of the demo cross-border fintech the departments act on.

Amounts are signed decimals in the account's currency: debits are negative,
credits positive. Tables are prefixed ``bk_`` so they never clash with the
orchestrator's own stores in the shared database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

JURISDICTIONS = ("EU", "UK", "US-CA", "US", "CN", "SG")
RISK_PROFILES = ("low", "medium", "high")
PLANS = ("standard", "plus", "premium")
KYC_STATUSES = ("verified", "pending", "hold")
ACCOUNT_STATUSES = ("active", "frozen", "kyc_hold", "closed")
# "inactive": ordered or delivered but not yet activated by the customer
CARD_STATUSES = ("active", "inactive", "blocked", "expired", "frozen")
CARD_KINDS = ("physical", "virtual")
TX_KINDS = ("card_payment", "transfer", "fee", "fx", "subscription", "top_up", "refund", "atm")
TX_STATUSES = ("posted", "pending", "failed", "reversed")
TICKET_STATUSES = ("open", "closed", "frozen")
RESET_KINDS = ("password", "2fa")


def utcnow() -> datetime:
    # sqlmodel stores aware datetimes and returns them in UTC; naive ones are refused
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"


def money(value: Any) -> Decimal:
    """Round to cents; floats go through str so 0.1 stays 0.10."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


def split_vulnerabilities(text: str) -> tuple[str, ...]:
    """The kinds in a stored comma list ("bereavement,low_digital_literacy")."""
    return tuple(v.strip() for v in text.split(",") if v.strip())


class Customer(SQLModel, table=True):
    __tablename__ = "bk_customer"

    id: str = Field(primary_key=True)  # "C1001"
    name: str
    email: str
    phone: str
    jurisdiction: str = Field(index=True)
    country: str  # ISO 3166 alpha-2
    age_band: str = "unknown"
    risk_profile: str = "medium"
    vulnerability: str = ""  # comma list, e.g. "bereavement,low_digital_literacy"
    servicemember: bool = False
    language: str = "en"
    kyc_status: str = "verified"
    plan: str = "standard"  # standard | plus | premium: sets fees, FX markup and ATM allowance
    login_locked: bool = False  # too many wrong passwords; a password reset unlocks it
    two_factor: str = "app"  # app | sms
    created_at: datetime = Field(default_factory=utcnow)

    def vulnerabilities(self) -> tuple[str, ...]:
        return split_vulnerabilities(self.vulnerability)


class Account(SQLModel, table=True):
    __tablename__ = "bk_account"

    id: str = Field(primary_key=True)  # "AC-1001-EUR"
    customer_id: str = Field(foreign_key="bk_customer.id", index=True)
    number: str  # masked, e.g. "IBAN ****1234"
    currency: str
    balance: Decimal = Field(default=Decimal("0"), max_digits=14, decimal_places=2)
    status: str = "active"
    created_at: datetime = Field(default_factory=utcnow)


class Card(SQLModel, table=True):
    __tablename__ = "bk_card"

    id: str = Field(primary_key=True)  # "CD-1001-1"
    customer_id: str = Field(foreign_key="bk_customer.id", index=True)
    account_id: str = Field(foreign_key="bk_account.id")
    last4: str
    status: str = "active"
    kind: str = "physical"
    network: str = "visa"  # visa | mastercard
    expires: str = ""  # "MM/YY"
    pin_blocked: bool = False
    contactless: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Transaction(SQLModel, table=True):
    __tablename__ = "bk_transaction"

    id: str = Field(primary_key=True)  # "TX-..."
    customer_id: str = Field(foreign_key="bk_customer.id", index=True)
    account_id: str = Field(foreign_key="bk_account.id")
    card_id: str | None = Field(default=None, foreign_key="bk_card.id")
    amount: Decimal = Field(max_digits=14, decimal_places=2)  # negative = money out
    currency: str
    merchant: str = ""
    kind: str
    status: str = "posted"
    created_at: datetime = Field(default_factory=utcnow, index=True)
    reference: str = ""
    # what the customer paid in the merchant's currency, for fx and foreign card payments
    original_amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    original_currency: str | None = None
    fx_rate: float | None = None
    fee: Decimal = Field(default=Decimal("0"), max_digits=14, decimal_places=2)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class Invoice(SQLModel, table=True):
    __tablename__ = "bk_invoice"

    id: str = Field(primary_key=True)  # "INV-2025-0001"
    customer_id: str = Field(foreign_key="bk_customer.id", index=True)
    period: str  # "2025-04"
    amount: Decimal = Field(max_digits=14, decimal_places=2)
    currency: str
    status: str = "issued"  # issued | paid | overdue | void
    issued_at: datetime = Field(default_factory=utcnow)
    due_date: date | None = None
    items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    last_sent_at: datetime | None = None


class Subscription(SQLModel, table=True):
    __tablename__ = "bk_subscription"

    id: str = Field(primary_key=True)  # "SUB-..."
    customer_id: str = Field(foreign_key="bk_customer.id", index=True)
    card_id: str | None = Field(default=None, foreign_key="bk_card.id")
    merchant: str
    plan: str = ""
    amount: Decimal = Field(max_digits=14, decimal_places=2)
    currency: str
    interval: str = "monthly"  # monthly | yearly
    status: str = "active"  # active | cancelled
    started_at: datetime = Field(default_factory=utcnow)
    cancelled_at: datetime | None = None
    next_charge: date | None = None


class Ticket(SQLModel, table=True):
    __tablename__ = "bk_ticket"

    id: str = Field(default_factory=lambda: new_id("TK"), primary_key=True)
    customer_id: str | None = Field(default=None, foreign_key="bk_customer.id", index=True)
    conversation_id: str | None = Field(default=None, index=True)
    department: str
    kind: str
    status: str = "open"
    deadline: date | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class Refund(SQLModel, table=True):
    """One refund per charge: the unique transaction_id makes a second refund impossible."""

    __tablename__ = "bk_refund"

    id: str = Field(default_factory=lambda: new_id("RF"), primary_key=True)
    transaction_id: str = Field(foreign_key="bk_transaction.id", unique=True)
    amount: Decimal = Field(max_digits=14, decimal_places=2)  # positive: money back to the customer
    currency: str
    reason: str = ""
    credit_transaction_id: str | None = None  # the refund credit posted to the account
    conversation_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ResetToken(SQLModel, table=True):
    __tablename__ = "bk_reset_token"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="bk_customer.id", index=True)
    kind: str  # password | 2fa
    token_hash: str  # sha256 of the token; the token itself only goes to the customer
    expires_at: datetime
    used: bool = False
    created_at: datetime = Field(default_factory=utcnow)


# delete order for a full reset: children before parents
ALL_TABLES: tuple[type[SQLModel], ...] = (
    ResetToken,
    Refund,
    Ticket,
    Subscription,
    Invoice,
    Transaction,
    Card,
    Account,
    Customer,
)
