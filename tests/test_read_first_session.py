"""A department run's session reads without SQLite's write lock until it writes (orchestrator.db)."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.backend.models import Account
from orchestrator.backend.seed import seed_demo
from orchestrator.db import ReadFirstSession, create_schema, make_engine
from orchestrator.knowledge.models import CaseNoteRow
from orchestrator.records import utcnow

ACCOUNT = "AC-1001-EUR"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    create_schema(engine)
    seed_demo(engine)
    return engine


def deposit(engine: Engine, amount: str) -> None:
    with Session(engine) as s:
        account = s.get(Account, ACCOUNT)
        assert account is not None
        account.balance += Decimal(amount)
        s.commit()


def balance(engine: Engine) -> Decimal:
    with Session(engine) as s:
        account = s.get(Account, ACCOUNT)
        assert account is not None
        return account.balance


def test_a_reading_run_does_not_hold_up_writers(engine: Engine) -> None:
    with ReadFirstSession(engine) as run:
        assert run.exec(select(Account).where(Account.id == ACCOUNT)).one().balance is not None
        assert not run.writing
        # another writer gets in while the run's read transaction is open (a plain Session here
        # would hold the write lock since its first read, and this thread would wait on itself)
        writer = threading.Thread(target=deposit, args=(engine, "1.00"))
        writer.start()
        writer.join(timeout=10)
        assert not writer.is_alive()
        run.commit()


def test_begin_writing_reloads_what_was_read_so_no_update_is_lost(engine: Engine) -> None:
    start = balance(engine)
    with ReadFirstSession(engine) as run:
        stale = run.get(Account, ACCOUNT)
        assert stale is not None and stale.balance == start
        deposit(engine, "10.00")  # committed after the run read the account
        run.begin_writing()
        assert run.writing
        current = run.get(Account, ACCOUNT)
        assert current is not None and current.balance == start + Decimal("10.00")
        with run.begin_nested():
            current.balance += Decimal("1.00")
        run.commit()
    assert balance(engine) == start + Decimal("11.00")


def test_after_its_first_write_the_run_reads_its_own_writes(engine: Engine) -> None:
    with ReadFirstSession(engine) as run:
        before = len(run.exec(select(CaseNoteRow).where(CaseNoteRow.customer_id == "C1001")).all())
        run.add(
            CaseNoteRow(
                customer_id="C1001",
                department="billing",
                kind="refund",
                text="refunded the double charge",
                data={},
                created_at=utcnow(),
            )
        )
        # the query flushes the note first: that write moves the run to its write transaction
        after = run.exec(select(CaseNoteRow).where(CaseNoteRow.customer_id == "C1001")).all()
        assert run.writing and len(after) == before + 1
        run.rollback()
    with Session(engine) as s:
        assert len(s.exec(select(CaseNoteRow).where(CaseNoteRow.customer_id == "C1001")).all()) == before


def test_a_failed_savepoint_keeps_the_runs_earlier_writes(engine: Engine) -> None:
    start = balance(engine)
    with ReadFirstSession(engine) as run:
        run.begin_writing()
        account = run.get(Account, ACCOUNT)
        assert account is not None
        account.balance += Decimal("5.00")
        run.flush()
        with pytest.raises(ValueError), run.begin_nested():
            account.balance += Decimal("100.00")
            run.flush()
            raise ValueError("the action failed")
        run.commit()
    assert balance(engine) == start + Decimal("5.00")
