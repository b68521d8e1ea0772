"""A deterministic demo data set: ~40 customers in six jurisdictions plus named scenarios.

The content is fixed by a random seed; dates are laid out backwards from `today`
so the demo always looks recent. docs/demo-data.md lists the scenario customers.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, delete, select

from orchestrator.backend.models import (
    ALL_TABLES,
    Account,
    Card,
    Customer,
    Invoice,
    Refund,
    Subscription,
    Transaction,
    money,
    utcnow,
)

log = logging.getLogger(__name__)

SEED = 20250601
SEED_SOURCE = "seed"  # marks case notes written by the seed, so force can replace them

CURRENCY = {"EU": "EUR", "UK": "GBP", "US-CA": "USD", "US": "USD", "CN": "CNY", "SG": "SGD"}
COUNTRIES = {
    "EU": ("DE", "FR", "NL", "ES", "IT", "IE"),
    "UK": ("GB",),
    "US-CA": ("US",),
    "US": ("US",),
    "CN": ("CN",),
    "SG": ("SG",),
}
LANGUAGE = {"DE": "de", "FR": "fr", "NL": "nl", "ES": "es", "IT": "it", "CN": "zh"}
PHONE_PREFIX = {"EU": "+49", "UK": "+44", "US-CA": "+1", "US": "+1", "CN": "+86", "SG": "+65"}
FIRST = {
    "EU": ("Anna", "Jonas", "Camille", "Luca", "Sofia", "Pieter", "Aoife", "Marta"),
    "UK": ("George", "Amelia", "Harry", "Isla", "Noah", "Freya"),
    "US-CA": ("Maya", "Ethan", "Sofia", "Diego", "Grace"),
    "US": ("Michael", "Ashley", "Tyler", "Brianna", "Robert"),
    "CN": ("Li", "Mei", "Hao", "Xin", "Jun"),
    "SG": ("Wei Ling", "Rahul", "Siti", "Kai", "Nurul"),
}
LAST = {
    "EU": ("Schmidt", "Moreau", "Rossi", "de Vries", "Fernández", "Byrne", "Novak", "Weber"),
    "UK": ("Taylor", "Patel", "Hughes", "Walsh", "Khan", "Robinson"),
    "US-CA": ("Nguyen", "Ramirez", "Kim", "Lopez", "Park"),
    "US": ("Johnson", "Miller", "Davis", "Brown", "Wilson"),
    "CN": ("Wang", "Liu", "Chen", "Zhao", "Huang"),
    "SG": ("Tan", "Sharma", "Rahman", "Lim", "Ong"),
}
MERCHANTS = {
    "EU": ("Lidl", "Carrefour", "Deutsche Bahn", "Zara", "IKEA", "Shell", "Bolt", "Fnac"),
    "UK": ("Tesco", "Sainsbury's", "TfL Travel", "Boots", "Pret A Manger", "Argos"),
    "US-CA": ("Trader Joe's", "Chevron", "Target", "Safeway", "Caltrain", "Blue Bottle Coffee"),
    "US": ("Walmart", "Kroger", "CVS Pharmacy", "Exxon", "Home Depot", "Starbucks"),
    "CN": ("Hema Fresh", "JD Mall", "Luckin Coffee", "Didi", "Uniqlo Shanghai", "Sinopec"),
    "SG": ("FairPrice", "Grab", "Cold Storage", "Kopitiam", "Shopee", "SMRT"),
}
ONLINE = ("Amazon", "Booking.com", "Uber", "Airbnb", "Apple.com", "Steam")
SUBSCRIPTIONS = (
    ("StreamFlix", "Premium", "17.99"),
    ("CloudBox", "200 GB", "2.99"),
    ("FitTrack Pro", "Monthly", "14.99"),
    ("NewsDaily", "Digital", "9.00"),
    ("MusicHub", "Family", "16.99"),
)
PLANS = (("standard", "0"), ("plus", "4.99"), ("premium", "9.99"))
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65-79")


@dataclass(frozen=True)
class SeedReport:
    created: bool
    counts: dict[str, int] = field(default_factory=dict)
    case_notes: int = 0
    message: str = ""

    def summary(self) -> str:
        if not self.created:
            return self.message
        rows = ", ".join(f"{n} {t.removeprefix('bk_')}" for t, n in self.counts.items())
        return f"{self.message}: {rows}, {self.case_notes} case notes"


@dataclass
class _Builder:
    """Collects rows and keeps per-customer counters so ids are stable."""

    today: date
    rng: random.Random
    rows: list[SQLModel] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    _seq: dict[str, int] = field(default_factory=dict)

    def at(self, days_ago: int, hour: int = 12, minute: int = 0) -> datetime:
        return datetime.combine(self.today - timedelta(days=days_ago), time(hour, minute, tzinfo=UTC))

    def tx_id(self, cid: str) -> str:
        n = self._seq.get(cid, 0) + 1
        self._seq[cid] = n
        return f"TX-{cid[1:]}-{n:04d}"

    def add(self, row: SQLModel) -> SQLModel:
        self.rows.append(row)
        return row


def seed_demo(engine: Engine, *, force: bool = False, today: date | None = None) -> SeedReport:
    """Create the demo data once. A second call does nothing unless `force`, which
    replaces all backend rows (and the seed's case notes) in one transaction.
    """
    SQLModel.metadata.create_all(engine, tables=[t.__table__ for t in ALL_TABLES])  # type: ignore[attr-defined]
    note_model = _case_note_model(engine)
    with Session(engine) as session:
        existing = session.exec(select(Customer.id).limit(1)).first()
        if existing is not None and not force:
            return SeedReport(created=False, message="demo data already present; use force to replace it")
        if existing is not None:
            _wipe(session, note_model)
        builder = _Builder(today=today or utcnow().date(), rng=random.Random(SEED))
        _scenarios(builder)
        _generic_customers(builder)
        _stories_of_generic_customers(builder)
        for row in builder.rows:
            session.add(row)
            # flush parents before children: SQLite checks foreign keys per statement
            session.flush()
        written = 0
        if note_model is not None:
            for note in builder.notes:
                session.add(note_model(**note))
                written += 1
        session.commit()
    counts: dict[str, int] = {}
    for row in builder.rows:
        name = str(type(row).__tablename__)
        counts[name] = counts.get(name, 0) + 1
    log.info("demo data seeded: %s rows, %s case notes", sum(counts.values()), written)
    return SeedReport(created=True, counts=counts, case_notes=written, message="demo data created")


def _case_note_model(engine: Engine) -> Any | None:
    """The knowledge store's case-note table, when that module and its table exist."""
    try:
        from orchestrator.knowledge import models as kmodels
    except ImportError:
        return None
    for name in ("CaseNoteRow", "CaseNoteRecord", "CaseNote"):
        model = getattr(kmodels, name, None)
        table = getattr(model, "__table__", None)
        if table is not None and inspect(engine).has_table(table.name):
            return model
    return None


def _wipe(session: Session, note_model: Any | None) -> None:
    if note_model is not None:
        seeded = [n for n in session.exec(select(note_model)) if (n.data or {}).get("source") == SEED_SOURCE]
        for note in seeded:
            session.delete(note)
        session.flush()
    for table in ALL_TABLES:
        session.exec(delete(table))
    session.flush()


# --- building blocks -------------------------------------------------------------------------


def _customer(b: _Builder, cid: str, name: str, jurisdiction: str, country: str, **extra: Any) -> Customer:
    local = name.lower().replace(" ", ".").replace("'", "")
    digits = f"{int(cid[1:]) * 7919 % 10_000_000:07d}"
    values: dict[str, Any] = {
        "id": cid,
        "name": name,
        "email": f"{local}@example.com",
        "phone": f"{PHONE_PREFIX[jurisdiction]} 555 {digits}",
        "jurisdiction": jurisdiction,
        "country": country,
        "language": LANGUAGE.get(country, "en"),
        "created_at": b.at(400 + int(cid[1:]) % 300, 9),
    }
    values.update(extra)
    customer = Customer(**values)
    b.add(customer)
    return customer


def _account(
    b: _Builder,
    customer: Customer,
    currency: str | None = None,
    *,
    balance: str = "0",
    status: str = "active",
) -> Account:
    cur = currency or CURRENCY[customer.jurisdiction]
    tail = f"{int(customer.id[1:]) * 37 % 10_000:04d}"
    kind = "IBAN" if customer.jurisdiction in ("EU", "UK") and cur in ("EUR", "GBP") else "ACCT"
    account = Account(
        id=f"AC-{customer.id[1:]}-{cur}",
        customer_id=customer.id,
        number=f"{kind} ****{tail}",
        currency=cur,
        balance=money(balance),
        status=status,
        created_at=customer.created_at,
    )
    b.add(account)
    return account


def _card(
    b: _Builder, account: Account, n: int, *, kind: str = "physical", status: str = "active", **extra: Any
) -> Card:
    cid = account.customer_id
    values: dict[str, Any] = {
        "id": f"CD-{cid[1:]}-{n}",
        "customer_id": cid,
        "account_id": account.id,
        "last4": f"{(int(cid[1:]) * 13 + n * 101) % 10_000:04d}",
        "status": status,
        "kind": kind,
        "network": "mastercard" if int(cid[1:]) % 3 == 0 else "visa",
        "expires": f"{(int(cid[1:]) % 12) + 1:02d}/{(b.today.year + 3) % 100:02d}",
        "created_at": account.created_at,
    }
    values.update(extra)
    card = Card(**values)
    b.add(card)
    return card


def _tx(
    b: _Builder,
    account: Account,
    amount: str | Decimal,
    kind: str,
    when: datetime,
    *,
    merchant: str = "",
    card: Card | None = None,
    status: str = "posted",
    reference: str = "",
    tx_id: str | None = None,
    **extra: Any,
) -> Transaction:
    tx = Transaction(
        id=tx_id or b.tx_id(account.customer_id),
        customer_id=account.customer_id,
        account_id=account.id,
        card_id=card.id if card is not None else None,
        amount=money(amount),
        currency=account.currency,
        merchant=merchant,
        kind=kind,
        status=status,
        created_at=when,
        reference=reference,
        **extra,
    )
    # pending debits are held, so they already reduce the balance; failed ones never left
    if status in ("posted", "pending"):
        account.balance = money(account.balance + tx.amount)
    b.add(tx)
    return tx


def _history(
    b: _Builder, customer: Customer, account: Account, card: Card, *, days: int = 90, salary: str = "2800"
) -> None:
    """A few months of ordinary life: salary, shopping, a transfer or two, an ATM visit."""
    rng = b.rng
    merchants = MERCHANTS[customer.jurisdiction]
    for month_start in range(days, 0, -30):
        _tx(
            b,
            account,
            salary,
            "transfer",
            b.at(month_start, 7),
            merchant="Employer payroll",
            reference="SALARY",
        )
    seen: set[tuple[int, str, str]] = set()
    for _ in range(rng.randint(18, 30)):
        day = rng.randint(2, days)
        merchant = rng.choice(merchants + ONLINE)
        amount = f"-{rng.randint(3, 140)}.{rng.randint(0, 99):02d}"
        if (day, merchant, amount) in seen:  # never seed an accidental double charge
            continue
        seen.add((day, merchant, amount))
        _tx(
            b,
            account,
            amount,
            "card_payment",
            b.at(day, rng.randint(8, 21), rng.randint(0, 59)),
            merchant=merchant,
            card=card,
        )
    if rng.random() < 0.6:
        _tx(
            b,
            account,
            f"-{rng.randint(40, 400)}.00",
            "transfer",
            b.at(rng.randint(5, days), 10),
            merchant="Landlord / friend",
            reference="Rent share",
        )
    if rng.random() < 0.5:
        atm_day = rng.randint(3, days)
        _tx(
            b,
            account,
            f"-{rng.choice((40, 60, 100, 200))}.00",
            "atm",
            b.at(atm_day, 18),
            merchant="ATM withdrawal",
            card=card,
        )


def _subscription(
    b: _Builder,
    account: Account,
    card: Card,
    which: int,
    *,
    charges: tuple[int, ...] | None = None,
    **extra: Any,
) -> Subscription:
    """A subscription and its monthly charges, `charges` given in days ago (default: 3 months)."""
    merchant, plan, amount = SUBSCRIPTIONS[which]
    cid = account.customer_id
    last = 5 + (int(cid[1:]) * 7 + which) % 25
    days = charges if charges is not None else (last, last + 30, last + 60)
    sub = Subscription(
        id=f"SUB-{cid[1:]}-{which + 1}",
        customer_id=cid,
        card_id=card.id,
        merchant=merchant,
        plan=plan,
        amount=money(amount),
        currency=account.currency,
        started_at=b.at(max(days, default=last) + 1, 6),
        next_charge=b.today + timedelta(days=30 - min(days, default=last)),
        **extra,
    )
    b.add(sub)
    for d in sorted(days, reverse=True):
        _tx(
            b,
            account,
            f"-{amount}",
            "subscription",
            b.at(d, 6, 5),
            merchant=merchant,
            card=card,
            reference=f"{merchant} {plan}",
        )
    return sub


def _invoices(b: _Builder, customer: Customer, account: Account, plan: int) -> None:
    name, price = PLANS[plan]
    customer.plan = name
    if price == "0":
        return
    for m in (3, 2, 1):
        first = b.today.replace(day=1)
        for _ in range(m - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        issued = datetime.combine(first, time(5, 0, tzinfo=UTC))
        inv = Invoice(
            id=f"INV-{customer.id[1:]}-{issued:%Y%m}",
            customer_id=customer.id,
            period=f"{issued:%Y-%m}",
            amount=money(price),
            currency=account.currency,
            status="paid" if m > 1 else "issued",
            issued_at=issued,
            due_date=(issued + timedelta(days=14)).date(),
            items=[{"description": f"{name.title()} plan, monthly", "amount": price}],
        )
        b.add(inv)
        if m > 1:
            _tx(
                b,
                account,
                f"-{price}",
                "fee",
                issued + timedelta(days=1),
                merchant="Northwind Pay",
                reference=f"Plan fee {inv.id}",
                data={"fee_type": "plan", "invoice": inv.id},
            )


def _note(
    b: _Builder,
    customer_id: str,
    department: str,
    kind: str,
    subject: str,
    text: str,
    created_at: datetime,
    **data: Any,
) -> None:
    b.notes.append(
        {
            "customer_id": customer_id,
            "conversation_id": None,
            "department": department,
            "kind": kind,
            "subject": subject,
            "text": text,
            "data": {"source": SEED_SOURCE, **data},
            "created_at": created_at,
        }
    )


# --- named scenarios (docs/demo-data.md) -----------------------------------------------------


def _scenarios(b: _Builder) -> None:
    for build in _SCENARIOS:
        build(b)


def _c1001_double_subscription(b: _Builder) -> None:
    c = _customer(b, "C1001", "Lena Hoffmann", "EU", "DE", age_band="25-34", risk_profile="low")
    acc = _account(b, c, balance="1200")
    card = _card(b, acc, 1)
    _history(b, c, acc, card)
    sub = _subscription(b, acc, card, 0, charges=(62, 32))
    sub.next_charge = b.today + timedelta(days=28)
    # the merchant's retry charged this month's renewal twice, a minute apart
    for suffix, minute in (("A", 14), ("B", 15)):
        _tx(
            b,
            acc,
            "-17.99",
            "subscription",
            b.at(2, 8, minute),
            merchant="StreamFlix",
            card=card,
            reference="StreamFlix Premium",
            tx_id=f"TX-1001-SUB{suffix}",
        )
    _invoices(b, c, acc, 1)


def _c1002_transfers(b: _Builder) -> None:
    c = _customer(b, "C1002", "Oliver Bennett", "UK", "GB", age_band="35-44")
    acc = _account(b, c, balance="3400")
    card = _card(b, acc, 1)
    _history(b, c, acc, card, salary="3100")
    _tx(
        b,
        acc,
        "-1250.00",
        "transfer",
        b.at(3, 11, 20),
        merchant="J. Smith",
        status="failed",
        reference="Car deposit",
        tx_id="TX-1002-FAIL",
        data={"rail": "FPS", "failure_reason": "beneficiary_details_mismatch"},
    )
    _tx(
        b,
        acc,
        "-480.00",
        "transfer",
        b.at(1, 16, 2),
        merchant="Harbour Lettings BV",
        status="pending",
        reference="Deposit flat 4B",
        tx_id="TX-1002-PEND",
        data={"rail": "SWIFT", "expected_by": (b.today + timedelta(days=2)).isoformat()},
    )
    _invoices(b, c, acc, 2)


def _c1003_elderly(b: _Builder) -> None:
    c = _customer(
        b, "C1003", "Margaret Ellis", "US", "US", age_band="80+", vulnerability="age,low_digital_literacy"
    )
    acc = _account(b, c, balance="8200")
    card = _card(b, acc, 1)
    _history(b, c, acc, card, salary="1900")
    _subscription(b, acc, card, 3)


def _c1004_servicemember(b: _Builder) -> None:
    c = _customer(b, "C1004", "James Carter", "US", "US", age_band="25-34", servicemember=True)
    acc = _account(b, c, balance="950")
    card = _card(b, acc, 1)
    _history(b, c, acc, card, salary="2600")
    _tx(
        b,
        acc,
        "-25.00",
        "fee",
        b.at(6, 3),
        merchant="Northwind Pay",
        reference="Overdraft fee",
        tx_id="TX-1004-ODFEE",
        data={"fee_type": "overdraft"},
    )


def _c1005_china(b: _Builder) -> None:
    c = _customer(b, "C1005", "Zhang Wei", "CN", "CN", age_band="35-44", language="zh")
    acc = _account(b, c, balance="21000")
    card = _card(b, acc, 1, network="mastercard")
    _history(b, c, acc, card, salary="16000")
    _tx(
        b,
        acc,
        "-3000.00",
        "transfer",
        b.at(4, 10),
        merchant="Zhang Min (HK)",
        status="pending",
        reference="Family support",
        tx_id="TX-1005-XB",
        data={"rail": "SWIFT", "expected_by": (b.today + timedelta(days=1)).isoformat()},
    )


def _c1006_singapore_high_risk(b: _Builder) -> None:
    c = _customer(b, "C1006", "Daniel Koh", "SG", "SG", age_band="45-54", risk_profile="high")
    acc = _account(b, c, balance="15000")
    usd = _account(b, c, "USD", balance="42000")
    card = _card(b, acc, 1)
    _history(b, c, acc, card, salary="9000")
    for i, days in enumerate((20, 12, 5)):
        _tx(
            b,
            usd,
            "9500.00",
            "transfer",
            b.at(days, 9),
            merchant="Offshore Holdings Ltd",
            reference="Investment return",
            tx_id=f"TX-1006-IN{i + 1}",
        )


def _c1007_kyc_hold(b: _Builder) -> None:
    c = _customer(b, "C1007", "Sophie Laurent", "EU", "FR", age_band="25-34", kyc_status="hold")
    acc = _account(b, c, balance="640", status="kyc_hold")
    card = _card(b, acc, 1, status="frozen")
    _history(b, c, acc, card, days=60, salary="2300")
    _note(
        b,
        "C1007",
        "compliance",
        "kyc_hold",
        acc.id,
        "Account placed on KYC hold: the proof of address on file has expired and a large incoming "
        "transfer needs a source-of-funds check. Sign-in, card payments and transfers stay blocked "
        "until the customer uploads a proof of address dated within 3 months and a recent payslip.",
        b.at(5, 14),
        documents=["proof_of_address", "payslip"],
        blocks=["sign_in", "card_payments", "transfers"],
    )


def _c1008_locked_login(b: _Builder) -> None:
    c = _customer(
        b, "C1008", "Daniel Murphy", "UK", "GB", age_band="45-54", login_locked=True, two_factor="sms"
    )
    acc = _account(b, c, balance="2100")
    card = _card(b, acc, 1)
    _history(b, c, acc, card)


def _c1009_fx_fee(b: _Builder) -> None:
    c = _customer(b, "C1009", "Emily Chen", "US-CA", "US", age_band="35-44")
    acc = _account(b, c, balance="6400")
    card = _card(b, acc, 1)
    _history(b, c, acc, card, salary="5200")
    day = b.today - timedelta(days=8)
    while day.weekday() >= 5:  # the disputed payment happened on a weekday (standard markup)
        day -= timedelta(days=1)
    when = datetime.combine(day, time(20, 30, tzinfo=UTC))
    pay = _tx(
        b,
        acc,
        "-935.00",
        "card_payment",
        when,
        merchant="Hotel Lumiere Paris",
        card=card,
        reference="Hotel 3 nights",
        tx_id="TX-1009-HOTEL",
        original_amount=money("850.00"),
        original_currency="EUR",
        fx_rate=1.1,
    )
    _tx(
        b,
        acc,
        "-23.38",
        "fee",
        when + timedelta(minutes=1),
        merchant="Northwind Pay",
        reference=f"FX fee {pay.id}",
        tx_id="TX-1009-FXFEE",
        fee=money("23.38"),
        data={"fee_type": "fx", "fee_rate": 0.025, "fx_of": pay.id},
    )


def _c1010_already_refunded(b: _Builder) -> None:
    c = _customer(b, "C1010", "Lucas Visser", "EU", "NL", age_band="18-24")
    acc = _account(b, c, balance="900")
    card = _card(b, acc, 1)
    _history(b, c, acc, card, salary="1700")
    _tx(
        b,
        acc,
        "-64.20",
        "card_payment",
        b.at(12, 19, 2),
        merchant="Albert Heijn",
        card=card,
        tx_id="TX-1010-ORIG",
    )
    dup = _tx(
        b,
        acc,
        "-64.20",
        "card_payment",
        b.at(12, 19, 3),
        merchant="Albert Heijn",
        card=card,
        tx_id="TX-1010-DUP",
    )
    credit = _tx(
        b,
        acc,
        "64.20",
        "refund",
        b.at(10, 9),
        merchant="Albert Heijn",
        card=card,
        tx_id="TX-1010-RFND",
        reference=f"Refund of {dup.id}",
        data={"refund_of": dup.id},
    )
    b.add(
        Refund(
            id="RF-1010-1",
            transaction_id=dup.id,
            amount=money("64.20"),
            currency="EUR",
            reason="duplicate card payment",
            credit_transaction_id=credit.id,
            created_at=b.at(10, 9),
        )
    )
    _note(
        b,
        "C1010",
        "billing",
        "refund",
        dup.id,
        f"Refunded duplicate card payment {dup.id} (EUR 64.20 at Albert Heijn).",
        b.at(10, 9),
        refund_id="RF-1010-1",
        amount="64.20",
        currency="EUR",
    )


def _c1011_charged_after_cancel(b: _Builder) -> None:
    c = _customer(b, "C1011", "Hannah Clarke", "UK", "GB", age_band="25-34")
    acc = _account(b, c, balance="1500")
    card = _card(b, acc, 1)
    _history(b, c, acc, card)
    sub = _subscription(b, acc, card, 2, charges=(95, 65), status="cancelled", cancelled_at=b.at(40, 21))
    sub.next_charge = None
    _tx(
        b,
        acc,
        "-14.99",
        "subscription",
        b.at(5, 6, 5),
        merchant="FitTrack Pro",
        card=card,
        reference="FitTrack Pro Monthly",
        tx_id="TX-1011-AFTER",
    )


def _c1012_unrecognised(b: _Builder) -> None:
    c = _customer(b, "C1012", "Mateo García", "EU", "ES", age_band="35-44")
    acc = _account(b, c, balance="2750")
    card = _card(b, acc, 1)
    _card(b, acc, 2, kind="virtual")
    _history(b, c, acc, card)
    _tx(
        b,
        acc,
        "-289.90",
        "card_payment",
        b.at(1, 3, 41),
        merchant="QuickShop Online",
        card=card,
        tx_id="TX-1012-UNREC",
        data={"channel": "online", "country": "LT"},
    )


def _c1013_card_issues(b: _Builder) -> None:
    c = _customer(b, "C1013", "Priya Nair", "SG", "SG", age_band="25-34")
    acc = _account(b, c, balance="4100")
    old = _card(b, acc, 1, pin_blocked=True)
    _history(b, c, acc, old)
    _card(b, acc, 2, status="inactive", created_at=b.at(6, 10))


_SCENARIOS = (
    _c1001_double_subscription,
    _c1002_transfers,
    _c1003_elderly,
    _c1004_servicemember,
    _c1005_china,
    _c1006_singapore_high_risk,
    _c1007_kyc_hold,
    _c1008_locked_login,
    _c1009_fx_fee,
    _c1010_already_refunded,
    _c1011_charged_after_cancel,
    _c1012_unrecognised,
    _c1013_card_issues,
)

SCENARIO_IDS = tuple(f"C{1001 + i}" for i in range(len(_SCENARIOS)))


def _generic_ids() -> Iterator[tuple[str, str]]:
    order = ("EU", "UK", "US-CA", "US", "CN", "SG")
    for i in range(27):
        yield f"C{1014 + i}", order[i % len(order)]


def _generic_customers(b: _Builder) -> None:
    rng = b.rng
    for cid, jur in _generic_ids():
        country = rng.choice(COUNTRIES[jur])
        name = f"{rng.choice(FIRST[jur])} {rng.choice(LAST[jur])}"
        c = _customer(
            b,
            cid,
            name,
            jur,
            country,
            age_band=rng.choice(AGE_BANDS),
            risk_profile=rng.choices(("low", "medium", "high"), (5, 4, 1))[0],
        )
        acc = _account(b, c, balance=str(rng.randint(200, 9000)))
        card = _card(b, acc, 1)
        if rng.random() < 0.3:
            _card(b, acc, 2, kind="virtual")
        if rng.random() < 0.25:
            _account(b, c, "USD" if acc.currency != "USD" else "EUR", balance=str(rng.randint(0, 3000)))
        _history(b, c, acc, card, salary=str(rng.randint(18, 60) * 100))
        for which in rng.sample(range(len(SUBSCRIPTIONS)), rng.randint(0, 2)):
            _subscription(b, acc, card, which)
        _invoices(b, c, acc, rng.randint(0, 2))


def _stories_of_generic_customers(b: _Builder) -> None:
    """What happened to some generic customers lately, added after all of them so that the random
    draws, and with them every other row, stay as they were."""
    accounts: dict[str, Account] = {}
    cards: dict[str, Card] = {}
    for row in b.rows:  # each customer's first account and card: the main ones
        if isinstance(row, Account):
            accounts.setdefault(row.customer_id, row)
        elif isinstance(row, Card):
            cards.setdefault(row.customer_id, row)
    # C1027 (UK): the ATM at the station paid out nothing, debited 100.00 and kept the card
    _tx(
        b,
        accounts["C1027"],
        "-100.00",
        "atm",
        b.at(1, 8, 40),
        merchant="ATM Euston station",
        card=cards["C1027"],
        status="pending",
        tx_id="TX-1027-ATM1",
    )


def scenario_customers(session: Session) -> list[Customer]:
    """The named scenario customers, in id order (for the CLI and docs)."""
    return list(
        session.exec(select(Customer).where(col(Customer.id).in_(SCENARIO_IDS)).order_by(Customer.id))
    )
