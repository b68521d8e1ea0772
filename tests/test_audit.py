"""The hash-chained audit log on a real SQLite database: appends, tampering, erasure, export."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.db import create_schema, make_engine
from policies import audit


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    create_schema(eng)
    return eng


def fill(engine: Engine, n: int = 6, *, start: datetime | None = None) -> None:
    """n records alternating between two conversations; even ids are financial (5 years)."""
    t0 = start or datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    with Session(engine) as s:
        for i in range(1, n + 1):
            audit.append(
                s,
                "action" if i % 2 else "policy_decision",
                actor="billing" if i % 2 else "policy",
                payload={"step": i, "amount": 10.5 * i, "note": f"record {i}"},
                conversation_id="conv-a" if i <= n // 2 else "conv-b",
                customer_id="C1001",
                retention_class="financial_record" if i % 2 == 0 else "standard",
                retention_years=5 if i % 2 == 0 else 0,
                now=t0 + timedelta(minutes=i),
            )
        s.commit()


def sql(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_appended_records_form_a_verifiable_chain(engine: Engine) -> None:
    fill(engine)
    rows = list(audit.export(engine))
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(rows, rows[1:], strict=False))
    report = audit.verify(engine)
    assert report.ok and report.checked == 6 and report.head_id == 6
    assert audit.head(engine) == (6, rows[-1]["hash"])


def test_append_belongs_to_the_callers_transaction(engine: Engine) -> None:
    fill(engine, 2)
    with Session(engine) as s:
        audit.append(s, "action", actor="billing", payload={"refund": 1})
        s.rollback()
    assert audit.head(engine)[0] == 2
    assert audit.verify(engine).ok
    with Session(engine) as s:
        rec = audit.append(s, "action", actor="billing", payload={"refund": 2})
        s.commit()
    assert rec.id == 3 and audit.verify(engine).ok


def test_a_turns_records_appended_together_chain_like_one_by_one(engine: Engine) -> None:
    fill(engine, 2)
    entries = [
        audit.Entry("policy_decision", "policy", {"stage": "plan"}, "conv-c", "C1002", "financial_record", 5),
        audit.Entry("action", "billing", {"refund": 12.5}, "conv-c", "C1002"),
        audit.Entry("policy_decision", "policy", {"stage": "outcome"}, "conv-c", "C1002"),
    ]
    with Session(engine) as s:
        records = audit.append_many(s, entries)
        s.commit()
    assert [r.id for r in records] == [3, 4, 5]
    rows = list(audit.export(engine))
    assert [r["prev_hash"] for r in rows[2:]] == [rows[1]["hash"], rows[2]["hash"], rows[3]["hash"]]
    assert rows[2]["retain_until"] is not None and rows[3]["retain_until"] is None
    assert audit.verify(engine).ok and audit.head(engine) == (5, rows[-1]["hash"])
    # one bad entry and none of them is written
    with Session(engine) as s, pytest.raises(audit.AuditError, match="needs a kind and an actor"):
        audit.append_many(
            s, [audit.Entry("action", "billing", {"n": 1}), audit.Entry("action", "", {"n": 2})]
        )
    assert audit.head(engine)[0] == 5
    with Session(engine) as s:
        assert audit.append_many(s, []) == []


def test_a_policy_decision_is_recorded_with_its_retention(engine: Engine) -> None:
    from policies.engine import PolicyEngine
    from policies.facts import facts_from_dict

    decision = PolicyEngine.load().check(
        facts_from_dict(
            {"jurisdiction": "CN", "tasks": [{"department": "billing", "intent": "double_charge"}]}
        )
    )
    with Session(engine) as s:
        audit.append_decision(s, decision, conversation_id="conv-9", customer_id="C1005", turn_id="t-1")
        s.commit()
    (row,) = audit.export(engine, conversation_id="conv-9")
    assert row["kind"] == "policy_decision" and row["retention_class"] == "financial_record"
    kept = datetime.fromisoformat(row["retain_until"]) - datetime.fromisoformat(row["ts"])
    assert kept == timedelta(days=3652.5)
    assert row["payload"]["turn_id"] == "t-1" and row["payload"]["effect"] == decision.effect
    assert "cn.retention.financial" in [m["id"] for m in row["payload"]["matched"]]
    assert audit.verify(engine).ok


def test_bad_appends_are_refused(engine: Engine) -> None:
    with Session(engine) as s:
        with pytest.raises(audit.AuditError, match="kind and an actor"):
            audit.append(s, "", actor="x")
        with pytest.raises(audit.AuditError, match="retention_years"):
            audit.append(s, "action", actor="x", retention_years=-1)


def test_an_edited_payload_is_detected(engine: Engine) -> None:
    fill(engine)
    sql(
        engine,
        """UPDATE audit_record SET payload = '{"step": 3, "amount": 9999, "note": "record 3"}' WHERE id = 3""",
    )
    report = audit.verify(engine)
    assert not report.ok and report.first_broken_id == 3
    assert "payload was changed" in report.reason


def test_an_edited_field_is_detected(engine: Engine) -> None:
    fill(engine)
    sql(engine, "UPDATE audit_record SET actor = 'operator' WHERE id = 4")
    report = audit.verify(engine)
    assert (report.ok, report.first_broken_id) == (False, 4)
    assert "do not match its hash" in report.reason


def test_a_deleted_record_is_detected(engine: Engine) -> None:
    fill(engine)
    sql(engine, "DELETE FROM audit_record WHERE id = 3")
    report = audit.verify(engine)
    assert (report.ok, report.first_broken_id) == (False, 4)
    assert "record(s) 3 before it are missing" in report.reason


def test_records_cut_off_the_end_are_detected(engine: Engine) -> None:
    fill(engine)
    sql(engine, "DELETE FROM audit_record WHERE id >= 5")
    report = audit.verify(engine)
    assert (report.ok, report.first_broken_id) == (False, 5)
    assert "missing from the end" in report.reason


def test_a_record_inserted_in_the_middle_is_detected(engine: Engine) -> None:
    fill(engine)
    rows = list(audit.export(engine))
    # make room after record 3, as a forger must (ids are gap-free), then add a record with a valid own hash
    for rid in (6, 5, 4):
        sql(engine, f"UPDATE audit_record SET id = {rid + 1} WHERE id = {rid}")
    ts = datetime(2025, 1, 1, 9, 3, 30, tzinfo=UTC)
    forged_hash = audit.record_hash(
        id=4,
        ts=ts,
        conversation_id="conv-a",
        kind="action",
        actor="billing",
        content_hash=audit.content_hash("C1001", {"refund": 5000}),
        retention_class="standard",
        retain_until=None,
        prev_hash=rows[2]["hash"],
    )
    with Session(engine) as s:
        s.add(
            audit.AuditRecord(
                id=4,
                ts=ts,
                conversation_id="conv-a",
                customer_id="C1001",
                kind="action",
                actor="billing",
                payload={"refund": 5000},
                content_hash=audit.content_hash("C1001", {"refund": 5000}),
                retention_class="standard",
                prev_hash=rows[2]["hash"],
                hash=forged_hash,
            )
        )
        s.commit()
    report = audit.verify(engine)
    assert not report.ok and report.first_broken_id == 5
    assert "prev_hash does not match the hash of record 4" in report.reason


def test_a_record_appended_behind_the_logs_back_is_detected(engine: Engine) -> None:
    fill(engine, 3)
    last = list(audit.export(engine))[-1]
    ts = datetime(2025, 2, 1, tzinfo=UTC)
    c_hash = audit.content_hash(None, {"note": "backdated approval"})
    h = audit.record_hash(
        id=4,
        ts=ts,
        conversation_id=None,
        kind="operator_reply",
        actor="mallory",
        content_hash=c_hash,
        retention_class="standard",
        retain_until=None,
        prev_hash=last["hash"],
    )
    with Session(engine) as s:
        s.add(
            audit.AuditRecord(
                id=4,
                ts=ts,
                kind="operator_reply",
                actor="mallory",
                payload={"note": "backdated approval"},
                content_hash=c_hash,
                prev_hash=last["hash"],
                hash=h,
            )
        )
        s.commit()
    report = audit.verify(engine)
    assert (report.ok, report.first_broken_id) == (False, 4)
    assert "added after the last appended record 3" in report.reason


def test_erasure_keeps_retained_records_frozen_and_erases_the_rest(engine: Engine) -> None:
    fill(engine)
    with Session(engine) as s:
        audit.append(s, "action", actor="technical", payload={"reset": True}, customer_id="C2002")
        s.commit()
    now = datetime(2026, 1, 1, tzinfo=UTC)  # the 5-year financial records are still under retention
    with Session(engine) as s:
        report = audit.apply_erasure(s, customer_id="C1001", now=now)
        s.commit()
    assert report.frozen_ids == (2, 4, 6)
    assert report.erased_ids == (1, 3, 5)
    rows = {r["id"]: r for r in audit.export(engine)}
    for rid in (2, 4, 6):  # kept, intact, frozen
        assert rows[rid]["frozen"] and not rows[rid]["erased"]
        assert rows[rid]["payload"]["step"] == rid and rows[rid]["customer_id"] == "C1001"
    for rid in (1, 3, 5):  # personal part gone, skeleton kept for the chain
        assert rows[rid]["erased"] and rows[rid]["payload"] is None and rows[rid]["customer_id"] is None
    assert rows[7]["customer_id"] == "C2002" and not rows[7]["frozen"]  # another customer: untouched
    erasure = rows[report.record_id]
    assert erasure["kind"] == "erasure" and erasure["payload"]["frozen_ids"] == [2, 4, 6]
    assert audit.verify(engine).ok  # the chain survives the erasure

    # years later the retention has run out: a new request erases what was frozen
    with Session(engine) as s:
        later = audit.apply_erasure(s, customer_id="C1001", now=datetime(2031, 6, 1, tzinfo=UTC))
        s.commit()
    assert later.erased_ids == (2, 4, 6)
    assert report.record_id in later.frozen_ids  # the proof of the first request is kept
    assert audit.verify(engine).ok


def test_status_flags_changed_by_hand_are_detected(engine: Engine) -> None:
    fill(engine)
    sql(engine, "UPDATE audit_record SET erased = 1, payload = NULL WHERE id = 2")
    report = audit.verify(engine)
    assert (report.ok, report.first_broken_id) == (False, 2)
    assert "no erasure record lists it" in report.reason


def test_unfreezing_a_frozen_record_is_detected(engine: Engine) -> None:
    fill(engine)
    with Session(engine) as s:
        audit.apply_erasure(s, conversation_ids=["conv-a"], now=datetime(2026, 1, 1, tzinfo=UTC))
        s.commit()
    sql(engine, "UPDATE audit_record SET frozen = 0 WHERE id = 2")
    report = audit.verify(engine)
    assert (report.ok, report.first_broken_id) == (False, 2)
    assert "no longer frozen" in report.reason


def test_erasure_needs_a_subject(engine: Engine) -> None:
    with Session(engine) as s, pytest.raises(audit.AuditError, match="customer id or conversation ids"):
        audit.apply_erasure(s)


def test_concurrent_writers_keep_the_chain_gap_free(engine: Engine) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                with Session(engine) as s:
                    audit.append(s, "action", actor=f"worker-{n}", payload={"i": i})
                    s.commit()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = audit.verify(engine)
    assert report.ok and report.checked == 100 and report.head_id == 100


def test_export_filters_by_conversation_and_time(engine: Engine) -> None:
    fill(engine)
    assert [r["id"] for r in audit.export(engine, conversation_id="conv-b")] == [4, 5, 6]
    since = datetime(2025, 1, 1, 9, 5, tzinfo=UTC)
    assert [r["id"] for r in audit.export(engine, since=since)] == [5, 6]
    naive = datetime(2025, 1, 1, 9, 5)  # taken as UTC
    assert [r["id"] for r in audit.export(engine, conversation_id="conv-a", since=naive)] == []


def test_an_empty_log_verifies(engine: Engine) -> None:
    report = audit.verify(engine)
    assert report.ok and report.checked == 0 and report.head_id == 0
