"""Tamper-evident audit log: an append-only, hash-chained table in the application's database.

Every policy decision, department action, takeover and operator reply is one
`audit_record`. Records are numbered 1, 2, 3, ... with no gaps, and each stores
the hash of the one before, so `verify` finds an edited, deleted or inserted
record and names the first broken link. The `audit_head` row holds the last
number and hash: it serialises writers (every append updates it first, which
takes the database's write lock in SQLite and a row lock in PostgreSQL) and it
shows records cut off the end.

What the hash covers, and why. A record's hash covers its number, time,
conversation, kind, actor, retention class, retain-until date, the previous
hash, and `content_hash`: the hash of the record's personal part (customer id
and payload). It does not cover `frozen` and `erased`, the two status columns
an erasure request changes. That lets an erasure request act on old records
without breaking the chain:

- records still under retention are kept intact and marked `frozen`;
- the others lose their personal part (payload and customer id set to null,
  `erased` set); their `content_hash` stays, so the chain still verifies.

Each erasure is itself appended as an `erasure` record listing the ids it froze
and erased; `verify` checks every frozen or erased record against those lists,
so flipping a status column by hand is detected too. What no hash chain can
show is a rewrite of the whole log from some point on (head included);
exporting the head hash elsewhere from time to time anchors it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Table, event, func, insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from policies.decision import Decision

GENESIS = "0" * 64
ERASURE_LOG_CLASS = "erasure_log"
# proof that an erasure request was honoured outlives the data it erased
ERASURE_LOG_YEARS = 6.0
# the kinds crossdesk writes; plugins may append others
KINDS = ("policy_decision", "action", "takeover", "operator_reply", "release", "erasure", "error")


class AuditError(Exception):
    """The audit log cannot be written as asked; the message says why."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_record"

    # the sequence number: 1, 2, 3, ... without gaps (assigned under the head lock)
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ts: datetime = Field(index=True)
    conversation_id: str | None = Field(default=None, index=True)
    customer_id: str | None = Field(default=None, index=True)
    kind: str = Field(index=True)
    actor: str
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    content_hash: str
    retention_class: str = "standard"
    retain_until: datetime | None = None
    frozen: bool = False
    erased: bool = False
    prev_hash: str
    hash: str


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_id: int = 0
    last_hash: str = GENESIS


_RECORD: Table = AuditRecord.__table__  # type: ignore[attr-defined]
_HEAD: Table = AuditHead.__table__  # type: ignore[attr-defined]
# built once (every turn appends): SQLAlchemy reuses their compiled form
_LOCK_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(last_id=_HEAD.c.last_id)
    .returning(_HEAD.c.last_id, _HEAD.c.last_hash)
)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1)
_INSERT_RECORDS = insert(_RECORD)


@event.listens_for(_HEAD, "after_create")
def _seed_head(target: Any, connection: Any, **_: Any) -> None:
    connection.execute(insert(target).values(id=1, last_id=0, last_hash=GENESIS))


def ensure_tables(engine: Engine) -> None:
    """Create the audit tables only (the application's create_schema creates them too)."""
    tables = [SQLModel.metadata.tables["audit_record"], SQLModel.metadata.tables["audit_head"]]
    SQLModel.metadata.create_all(engine, tables=tables)


# ---------------------------------------------------------------- hashing


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _ts(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat(timespec="microseconds")


def content_hash(customer_id: str | None, payload: Any) -> str:
    return _sha(canonical({"customer_id": customer_id, "payload": payload}))


def record_hash(
    *,
    id: int,
    ts: datetime,
    conversation_id: str | None,
    kind: str,
    actor: str,
    content_hash: str,
    retention_class: str,
    retain_until: datetime | None,
    prev_hash: str,
) -> str:
    body = {
        "id": id,
        "ts": _ts(ts),
        "conversation_id": conversation_id,
        "kind": kind,
        "actor": actor,
        "content_hash": content_hash,
        "retention_class": retention_class,
        "retain_until": _ts(retain_until),
        "prev_hash": prev_hash,
    }
    return _sha(canonical(body))


def _hash_of(rec: AuditRecord) -> str:
    return record_hash(
        id=rec.id,
        ts=rec.ts,
        conversation_id=rec.conversation_id,
        kind=rec.kind,
        actor=rec.actor,
        content_hash=rec.content_hash,
        retention_class=rec.retention_class,
        retain_until=rec.retain_until,
        prev_hash=rec.prev_hash,
    )


# ---------------------------------------------------------------- writing


def _lock_head(session: Session) -> tuple[int, str]:
    """Take the head row's lock inside the caller's transaction; return (last id, last hash)."""
    for _ in range(3):
        # one statement takes the lock and reads the head (SQLite 3.35+ and PostgreSQL have RETURNING)
        row = session.execute(_LOCK_HEAD).first()
        if row is not None:
            return int(row[0]), str(row[1])
        count = session.exec(select(func.count()).select_from(AuditRecord)).one()
        if count:
            raise AuditError(
                "the audit_head row is missing although audit records exist: the log was tampered with; "
                "run `crossdesk audit verify`"
            )
        try:
            with session.begin_nested():
                session.execute(insert(_HEAD).values(id=1, last_id=0, last_hash=GENESIS))
        except IntegrityError:
            continue  # another writer created it first: lock it on the next round
    raise AuditError("could not lock the audit log head row")


@dataclass(frozen=True)
class Entry:
    """One record to append: what happened, who did it, and how long the law keeps it."""

    kind: str
    actor: str
    payload: dict[str, Any] | None = None
    conversation_id: str | None = None
    customer_id: str | None = None
    retention_class: str = "standard"
    retention_years: float = 0.0


def append(
    session: Session,
    kind: str,
    *,
    actor: str,
    payload: dict[str, Any] | None = None,
    conversation_id: str | None = None,
    customer_id: str | None = None,
    retention_class: str = "standard",
    retention_years: float = 0.0,
    now: datetime | None = None,
) -> AuditRecord:
    """Append one record inside the caller's transaction (it commits or rolls back with it).

    Concurrent writers queue on the head row's lock, so numbers stay gap-free
    and every record links to its real predecessor. `retention_years` sets
    `retain_until`: until then an erasure request freezes the record instead of
    erasing its personal part.
    """
    entry = Entry(kind, actor, payload, conversation_id, customer_id, retention_class, retention_years)
    return append_many(session, [entry], now=now)[0]


def _checked_payload(entry: Entry) -> dict[str, Any] | None:
    if not entry.kind or not entry.actor:
        raise AuditError("an audit record needs a kind and an actor")
    if entry.retention_years < 0:
        raise AuditError(f"retention_years must be 0 or more, not {entry.retention_years}")
    payload = json.loads(canonical(entry.payload)) if entry.payload is not None else None
    if payload is not None and not isinstance(payload, dict):
        raise AuditError("an audit payload is a JSON object")
    return payload


def append_many(
    session: Session, entries: Iterable[Entry], *, now: datetime | None = None
) -> list[AuditRecord]:
    """Append several records in order under one lock of the head row (a turn's decisions and
    actions): the same chain as appending them one by one, for one lock and one head update."""
    return [AuditRecord(**values) for values in write_entries(session, entries, now=now)]


def write_entries(
    session: Session, entries: Iterable[Entry], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """append_many without building the model objects: the rows written, as column values."""
    checked = [(e, _checked_payload(e)) for e in entries]  # all valid, or nothing is written
    if not checked:
        return []
    last_id, last_hash = _lock_head(session)
    # the time is read under the lock, so times follow the chain's order
    ts = as_utc(now or utcnow())
    rows: list[dict[str, Any]] = []
    for entry, payload in checked:
        years = entry.retention_years
        retain_until = ts + timedelta(days=365.25 * years) if years else None
        c_hash = content_hash(entry.customer_id, payload)
        values: dict[str, Any] = {
            "id": last_id + 1,
            "ts": ts,
            "conversation_id": entry.conversation_id,
            "customer_id": entry.customer_id,
            "kind": entry.kind,
            "actor": entry.actor,
            "payload": payload,
            "content_hash": c_hash,
            "retention_class": entry.retention_class,
            "retain_until": retain_until,
            "frozen": False,
            "erased": False,
            "prev_hash": last_hash,
        }
        values["hash"] = record_hash(
            id=values["id"],
            ts=ts,
            conversation_id=entry.conversation_id,
            kind=entry.kind,
            actor=entry.actor,
            content_hash=c_hash,
            retention_class=entry.retention_class,
            retain_until=retain_until,
            prev_hash=last_hash,
        )
        rows.append(values)
        last_id, last_hash = values["id"], values["hash"]
    # Core statements on the tables: the ORM's bulk paths cost more than the writes
    session.execute(_INSERT_RECORDS, rows)
    session.execute(_MOVE_HEAD, {"last_id": last_id, "last_hash": last_hash})
    return rows


def append_decision(
    session: Session,
    decision: Decision,
    *,
    conversation_id: str | None,
    customer_id: str | None = None,
    turn_id: str | None = None,
    actor: str = "policy",
) -> AuditRecord:
    """Append a policy decision; its retention setting (if any) becomes the record's retention."""
    payload = {"turn_id": turn_id, **decision.as_dict()}
    retention = decision.retention
    return append(
        session,
        "policy_decision",
        actor=actor,
        payload=payload,
        conversation_id=conversation_id,
        customer_id=customer_id,
        retention_class=retention.retention_class if retention else "standard",
        retention_years=retention.years if retention else 0.0,
    )


# ---------------------------------------------------------------- erasure


@dataclass(frozen=True)
class ErasureReport:
    record_id: int  # the `erasure` record that documents this request
    frozen_ids: tuple[int, ...]  # kept: still under retention
    erased_ids: tuple[int, ...]  # personal part removed


def apply_erasure(
    session: Session,
    *,
    customer_id: str | None = None,
    conversation_ids: Iterable[str] = (),
    actor: str = "compliance",
    reason: str = "erasure request",
    now: datetime | None = None,
) -> ErasureReport:
    """Honour an erasure request in the audit log, inside the caller's transaction.

    Records of the customer (or the conversations) still under retention are
    kept and marked frozen; the others lose their personal part. Nothing is
    deleted, so the chain still verifies; the request itself is appended as an
    `erasure` record listing what was frozen and erased.
    """
    conv_ids = list(dict.fromkeys(conversation_ids))
    if not customer_id and not conv_ids:
        raise AuditError("apply_erasure needs a customer id or conversation ids")
    when = as_utc(now or utcnow())
    _lock_head(session)  # no append may interleave with the status changes below
    conds = []
    if customer_id:
        conds.append(col(AuditRecord.customer_id) == customer_id)
    if conv_ids:
        conds.append(col(AuditRecord.conversation_id).in_(conv_ids))
    rows = session.exec(
        select(AuditRecord.id, AuditRecord.retain_until, AuditRecord.kind)
        .where(or_(*conds))
        .where(col(AuditRecord.erased).is_(False))
        .order_by(col(AuditRecord.id))
    ).all()
    freeze = [r[0] for r in rows if r[1] is not None and as_utc(r[1]) > when]
    erase = [r[0] for r in rows if (r[1] is None or as_utc(r[1]) <= when) and r[2] != "erasure"]
    if freeze:
        session.exec(update(AuditRecord).where(col(AuditRecord.id).in_(freeze)).values(frozen=True))
    if erase:
        session.exec(
            update(AuditRecord)
            .where(col(AuditRecord.id).in_(erase))
            .values(payload=None, customer_id=None, erased=True, frozen=False)
        )
    rec = append(
        session,
        "erasure",
        actor=actor,
        payload={
            "reason": reason,
            "customer_id": customer_id,
            "conversation_ids": conv_ids,
            "frozen_ids": freeze,
            "erased_ids": erase,
        },
        customer_id=customer_id,
        retention_class=ERASURE_LOG_CLASS,
        retention_years=ERASURE_LOG_YEARS,
        now=when,
    )
    return ErasureReport(record_id=rec.id, frozen_ids=tuple(freeze), erased_ids=tuple(erase))


# ---------------------------------------------------------------- verification and export


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""
    head_id: int = 0
    head_hash: str = GENESIS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(engine: Engine, *, batch: int = 1000) -> VerifyReport:
    """Walk the chain from record 1 and report the first broken link, if any."""
    problems: list[tuple[int, str]] = []
    frozen_claims: set[int] = set()
    erased_claims: set[int] = set()
    frozen_ids: set[int] = set()
    erased_ids: set[int] = set()
    expected_id = 1
    prev_hash = GENESIS
    checked = 0
    with Session(engine) as session:
        head = session.exec(select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)).first()
        result = session.exec(
            select(AuditRecord).order_by(col(AuditRecord.id)).execution_options(yield_per=batch)
        )
        for rec in result:
            checked += 1
            if not problems:
                problem = _check_link(rec, expected_id, prev_hash)
                if problem is not None:
                    problems.append((rec.id, problem))
            if not rec.erased and content_hash(rec.customer_id, rec.payload) != rec.content_hash:
                problems.append(
                    (rec.id, f"record {rec.id}: its customer id or payload was changed after it was written")
                )
            if rec.erased:
                erased_ids.add(rec.id)
            elif rec.frozen:
                frozen_ids.add(rec.id)
            if rec.kind == "erasure" and isinstance(rec.payload, dict):
                frozen_claims.update(int(i) for i in rec.payload.get("frozen_ids", []))
                erased_claims.update(int(i) for i in rec.payload.get("erased_ids", []))
            expected_id = rec.id + 1
            prev_hash = rec.hash
    for rid in erased_ids - erased_claims:
        problems.append((rid, f"record {rid}: marked erased, but no erasure record lists it"))
    for rid in frozen_ids - frozen_claims:
        problems.append((rid, f"record {rid}: marked frozen, but no erasure record lists it"))
    for rid in frozen_claims - erased_claims - frozen_ids - erased_ids:
        if rid < expected_id:
            problems.append((rid, f"record {rid}: an erasure record froze it, but it is no longer frozen"))
    head_id, head_hash = (int(head[0]), str(head[1])) if head is not None else (0, GENESIS)
    last_id = expected_id - 1
    if head is None and checked:
        problems.append((last_id, "the audit_head row is missing"))
    elif (head_id, head_hash) != (last_id, prev_hash):
        if head_id > last_id:
            problems.append(
                (
                    last_id + 1,
                    f"records {last_id + 1}..{head_id} are missing from the end (head says {head_id})",
                )
            )
        elif head_id < last_id:
            problems.append(
                (head_id + 1, f"record {head_id + 1} was added after the last appended record {head_id}")
            )
        else:
            problems.append((last_id, f"record {last_id}: its hash differs from the one the head recorded"))
    if not problems:
        return VerifyReport(True, checked, head_id=head_id, head_hash=head_hash)
    first_id, reason = min(problems, key=lambda p: p[0])
    return VerifyReport(False, checked, first_id, reason, head_id=head_id, head_hash=head_hash)


def _check_link(rec: AuditRecord, expected_id: int, prev_hash: str) -> str | None:
    if rec.id != expected_id:
        if rec.id > expected_id:
            gap = f"{expected_id}" if rec.id == expected_id + 1 else f"{expected_id}..{rec.id - 1}"
            return f"record {rec.id}: record(s) {gap} before it are missing (deleted)"
        return f"record {rec.id}: out of sequence"
    if rec.prev_hash != prev_hash:
        return f"record {rec.id}: prev_hash does not match the hash of record {rec.id - 1} (inserted or replaced)"
    if _hash_of(rec) != rec.hash:
        return f"record {rec.id}: its contents do not match its hash (edited)"
    return None


def record_dict(rec: AuditRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "ts": _ts(rec.ts),
        "conversation_id": rec.conversation_id,
        "customer_id": rec.customer_id,
        "kind": rec.kind,
        "actor": rec.actor,
        "payload": rec.payload,
        "retention_class": rec.retention_class,
        "retain_until": _ts(rec.retain_until),
        "frozen": rec.frozen,
        "erased": rec.erased,
        "content_hash": rec.content_hash,
        "prev_hash": rec.prev_hash,
        "hash": rec.hash,
    }


def export(
    engine: Engine, conversation_id: str | None = None, since: datetime | None = None, *, batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """Records as JSON-ready dicts in chain order, optionally for one conversation and/or from `since`."""
    stmt = select(AuditRecord).order_by(col(AuditRecord.id))
    if conversation_id is not None:
        stmt = stmt.where(AuditRecord.conversation_id == conversation_id)
    if since is not None:
        stmt = stmt.where(col(AuditRecord.ts) >= as_utc(since))
    with Session(engine) as session:
        for rec in session.exec(stmt.execution_options(yield_per=batch)):
            yield record_dict(rec)


def head(engine: Engine) -> tuple[int, str]:
    """(last id, last hash): publish it elsewhere to anchor the chain."""
    with Session(engine) as session:
        row = session.exec(select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == 1)).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)
