"""The demo backend on a real SQLite file: seeding, refunds, transfers and reset tokens."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, func, select

from orchestrator.backend import operations as ops
from orchestrator.backend import queries, seed
from orchestrator.backend.models import (
    JURISDICTIONS,
    Account,
    Customer,
    Refund,
    ResetToken,
    Ticket,
    Transaction,
    utcnow,
)
from orchestrator.backend.seed import SCENARIO_IDS, seed_demo
from orchestrator.db import create_schema, make_engine
from orchestrator.knowledge.models import CaseNoteRow


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'bk.db'}")
    create_schema(eng)
    yield eng
    eng.dispose()


def count(engine: Engine, model: type, *where: object) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def snapshot(engine: Engine) -> list[tuple[object, ...]]:
    with Session(engine) as s:
        rows = s.exec(select(Transaction).order_by(Transaction.id))
        return [(t.id, t.customer_id, t.amount, t.merchant, t.kind, t.status, t.created_at) for t in rows]


def test_seed_covers_every_jurisdiction_and_the_named_scenarios(engine: Engine) -> None:
    report = seed_demo(engine)
    assert report.created and report.case_notes == 2
    assert 38 <= report.counts["bk_customer"] <= 45
    with Session(engine) as s:
        customers = {c.id: c for c in s.exec(select(Customer))}
        assert {c.jurisdiction for c in customers.values()} == set(JURISDICTIONS)
        assert set(SCENARIO_IDS) <= set(customers)
        assert customers["C1003"].age_band == "80+" and "age" in customers["C1003"].vulnerabilities()
        assert customers["C1004"].servicemember and customers["C1004"].jurisdiction == "US"
        assert customers["C1005"].jurisdiction == "CN" and customers["C1005"].language == "zh"
        assert customers["C1006"].jurisdiction == "SG" and customers["C1006"].risk_profile == "high"
        assert customers["C1007"].kyc_status == "hold"
        assert [a.status for a in queries.accounts(s, "C1007")] == ["kyc_hold"]
        assert customers["C1008"].login_locked
        # the scenario facts the departments rely on
        dup = queries.find_duplicate_charges(s, "C1001")
        assert [(a.id, b.id) for a, b in dup] == [("TX-1001-SUBA", "TX-1001-SUBB")]
        assert s.get(Transaction, "TX-1002-FAIL").status == "failed"  # type: ignore[union-attr]
        assert s.get(Transaction, "TX-1002-PEND").status == "pending"  # type: ignore[union-attr]
        assert queries.refund_for(s, "TX-1010-DUP") is not None
        # ordinary customers are never accidentally double charged
        generic = [c for c in customers if c not in SCENARIO_IDS]
        assert all(not queries.find_duplicate_charges(s, c) for c in generic)
        hold = s.exec(select(CaseNoteRow).where(CaseNoteRow.kind == "kyc_hold")).all()
        assert [(n.customer_id, n.department, n.subject) for n in hold] == [
            ("C1007", "compliance", "AC-1007-EUR")
        ]


def test_seed_is_deterministic_and_idempotent(engine: Engine, tmp_path: Path) -> None:
    first = seed_demo(engine)
    before = snapshot(engine)
    again = seed_demo(engine)
    assert not again.created and "force" in again.message
    assert snapshot(engine) == before
    assert count(engine, CaseNoteRow) == first.case_notes

    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    create_schema(other)
    seed_demo(other, today=utcnow().date())
    assert snapshot(other) == before  # same seed, same day: the same demo
    other.dispose()


def test_force_replaces_everything_in_one_go(engine: Engine) -> None:
    seed_demo(engine)
    with Session(engine) as s:
        s.add(Ticket(customer_id="C1001", department="billing", kind="chargeback"))
        account = s.get(Account, "AC-1001-EUR")
        assert account is not None
        original = account.balance
        account.balance = Decimal("0")
        s.add(account)
        s.commit()
    report = seed_demo(engine, force=True)
    assert report.created
    with Session(engine) as s:
        assert s.get(Account, "AC-1001-EUR").balance == original  # type: ignore[union-attr]
    assert count(engine, Ticket) == 0
    assert count(engine, CaseNoteRow, CaseNoteRow.kind == "kyc_hold") == 1  # replaced, not duplicated


def test_failed_force_leaves_the_old_data(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_demo(engine)
    with Session(engine) as s:
        s.add(Ticket(customer_id="C1001", department="billing", kind="marker"))
        s.commit()
    before = snapshot(engine)

    def broken(_b: object) -> None:
        raise RuntimeError("generator failed half-way")

    monkeypatch.setattr(seed, "_generic_customers", broken)
    with pytest.raises(RuntimeError, match="half-way"):
        seed_demo(engine, force=True)
    assert snapshot(engine) == before
    assert count(engine, Ticket, Ticket.kind == "marker") == 1


def _refund_once(engine: Engine, tx_id: str) -> tuple[Refund, bool]:
    with Session(engine, expire_on_commit=False) as s:
        tx = s.get(Transaction, tx_id)
        assert tx is not None
        refund, created = ops.post_refund(s, tx, reason="duplicate")
        s.commit()
        return refund, created


def test_a_charge_is_refunded_once(engine: Engine) -> None:
    seed_demo(engine)
    with Session(engine) as s:
        start = s.get(Account, "AC-1001-EUR").balance  # type: ignore[union-attr]
    first, created = _refund_once(engine, "TX-1001-SUBB")
    second, created_again = _refund_once(engine, "TX-1001-SUBB")
    assert created and not created_again and first.id == second.id
    assert count(engine, Refund, Refund.transaction_id == "TX-1001-SUBB") == 1
    with Session(engine) as s:
        assert s.get(Account, "AC-1001-EUR").balance == start + Decimal("17.99")  # type: ignore[union-attr]
        credits = queries.transactions(s, "C1001", kinds=("refund",))
        assert [(c.amount, c.data["refund_of"]) for c in credits] == [(Decimal("17.99"), "TX-1001-SUBB")]

    # the database itself refuses a second refund row, whoever writes it
    with Session(engine) as s, pytest.raises(IntegrityError):
        s.add(Refund(transaction_id="TX-1001-SUBB", amount=Decimal("1.00"), currency="EUR"))
        s.commit()


def test_parallel_refunds_of_the_same_charge_pay_out_once(engine: Engine) -> None:
    seed_demo(engine)
    with Session(engine) as s:
        start = s.get(Account, "AC-1001-EUR").balance  # type: ignore[union-attr]
    outcomes: list[object] = []

    def worker() -> None:
        try:
            outcomes.append(_refund_once(engine, "TX-1001-SUBB")[1])
        except (IntegrityError, OperationalError) as exc:  # a loser may see the lock or the constraint
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert outcomes.count(True) == 1, outcomes
    assert count(engine, Refund, Refund.transaction_id == "TX-1001-SUBB") == 1
    with Session(engine) as s:
        assert s.get(Account, "AC-1001-EUR").balance == start + Decimal("17.99")  # type: ignore[union-attr]


def test_a_refund_racing_past_the_check_hits_the_constraint_and_changes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that checked before another run's refund committed still cannot refund again."""
    seed_demo(engine)
    winner, _ = _refund_once(engine, "TX-1001-SUBB")
    with Session(engine) as s:
        after_first = s.get(Account, "AC-1001-EUR").balance  # type: ignore[union-attr]
    real = queries.refund_for
    calls = {"n": 0}

    def stale_then_real(session: Session, tx_id: str) -> Refund | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real(session, tx_id)

    monkeypatch.setattr(ops, "refund_for", stale_then_real)
    loser, created = _refund_once(engine, "TX-1001-SUBB")
    assert not created and loser.id == winner.id and calls["n"] == 2
    assert count(engine, Refund, Refund.transaction_id == "TX-1001-SUBB") == 1
    with Session(engine) as s:
        assert s.get(Account, "AC-1001-EUR").balance == after_first  # type: ignore[union-attr]
        assert len(queries.transactions(s, "C1001", kinds=("refund",))) == 1


@pytest.mark.parametrize(
    ("tx_id", "message"),
    [
        ("TX-1002-PEND", "only posted charges"),  # a pending transfer is not a posted charge
        ("TX-1010-RFND", "only charges can be refunded"),  # a credit
    ],
)
def test_refund_refuses_what_is_not_a_posted_charge(engine: Engine, tx_id: str, message: str) -> None:
    seed_demo(engine)
    with Session(engine) as s:
        tx = s.get(Transaction, tx_id)
        assert tx is not None
        with pytest.raises(ops.BackendError, match=message):
            ops.post_refund(s, tx, reason="test")
    assert count(engine, Refund) == 1  # only the seeded one


def test_partial_refund_is_bounded_by_the_charge(engine: Engine) -> None:
    seed_demo(engine)
    with Session(engine) as s:
        fee = s.get(Transaction, "TX-1009-FXFEE")
        assert fee is not None
        with pytest.raises(ops.BackendError, match="between 0.01 and 23.38"):
            ops.post_refund(s, fee, reason="too much", amount=Decimal("50"))
        refund, created = ops.post_refund(s, fee, reason="excess", amount=Decimal("18.70"))
        s.commit()
        assert created and refund.amount == Decimal("18.70")


def test_cancelling_a_pending_transfer_returns_the_money_once(engine: Engine) -> None:
    seed_demo(engine)
    with Session(engine) as s:
        account = s.get(Account, "AC-1002-GBP")
        tx = s.get(Transaction, "TX-1002-PEND")
        assert account is not None and tx is not None
        start = account.balance
        ops.cancel_pending_transfer(s, tx)
        s.commit()
        assert tx.status == "reversed" and account.balance == start + Decimal("480.00")
        with pytest.raises(ops.BackendError, match="only pending transfers"):
            ops.cancel_pending_transfer(s, tx)


def test_reset_tokens_are_hashed_single_use_and_unlock_the_login(engine: Engine) -> None:
    seed_demo(engine)
    with Session(engine) as s:
        old, old_raw = ops.issue_reset_token(s, "C1008", "password")
        token, raw = ops.issue_reset_token(s, "C1008", "password")
        s.commit()
        assert raw not in token.token_hash and token.token_hash == ops.hash_token(raw)
        assert old.used  # a new link replaces the old one
        with pytest.raises(ops.BackendError, match="invalid or was already used"):
            ops.redeem_reset_token(s, old_raw)
        customer = ops.redeem_reset_token(s, raw)
        assert not customer.login_locked
        with pytest.raises(ops.BackendError, match="invalid or was already used"):
            ops.redeem_reset_token(s, raw)
        _late, late_raw = ops.issue_reset_token(s, "C1008", "password", ttl=timedelta(seconds=-1))
        with pytest.raises(ops.BackendError, match="expired"):
            ops.redeem_reset_token(s, late_raw)
        s.commit()
        with pytest.raises(ops.BackendError, match="does not exist"):
            ops.issue_reset_token(s, "C9999", "password")
    assert count(engine, ResetToken, ResetToken.customer_id == "C1008") == 3
