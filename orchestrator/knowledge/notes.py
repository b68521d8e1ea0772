"""Case notes: what one department learned about a customer, readable by every other department."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from orchestrator.knowledge.models import CaseNoteRow, utcnow
from plugins.contracts import CaseNote

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_LIMIT = 50


def to_case_note(row: CaseNoteRow) -> CaseNote:
    return CaseNote(
        id=row.id,
        customer_id=row.customer_id,
        conversation_id=row.conversation_id,
        department=row.department,
        kind=row.kind,
        subject=row.subject,
        text=row.text,
        data=dict(row.data or {}),
        created_at=row.created_at,
    )


class Notes:
    """plugins.contracts.NotesAPI for one department run, writing through the run's session.

    `add` only adds to the session: the run's transaction commits the note with
    everything else the department did, or drops it if the department fails.
    Reads go through the same session, so a run sees its own unsaved notes.
    """

    def __init__(
        self, session: Session, conversation_id: str | None, department: str, customer_id: str | None
    ) -> None:
        self.session = session
        self.conversation_id = conversation_id
        self.department = department
        self.customer_id = customer_id
        self.written: list[CaseNote] = []  # this run's notes, for the department result and the record

    def for_customer(
        self, customer_id: str, *, kind: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[CaseNote]:
        """Notes about a customer from every department and conversation, newest first."""
        return self._newest("customer_id", customer_id, kind, limit)

    def for_subject(
        self, subject: str, *, kind: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[CaseNote]:
        """Notes about one thing (a transaction id, an account id ...), newest first."""
        if not subject:
            return []  # "" is the default subject of unrelated notes, not a subject
        return self._newest("subject", subject, kind, limit)

    def add(self, kind: str, text: str, *, subject: str = "", data: dict[str, Any] | None = None) -> CaseNote:
        """Record a note for this run's customer and conversation; committed with the run."""
        if not kind.strip():
            raise ValueError("a case note needs a kind, e.g. 'refund' or 'kyc_hold'")
        if not text.strip():
            raise ValueError("a case note needs text saying what happened")
        row = CaseNoteRow(
            customer_id=self.customer_id,
            conversation_id=self.conversation_id,
            department=self.department,
            kind=kind.strip(),
            subject=subject,
            text=text.strip(),
            data=dict(data or {}),
            created_at=utcnow(),
        )
        self.session.add(row)
        note = to_case_note(row)
        self.written.append(note)
        return note

    def _newest(self, column: str, value: str, kind: str | None, limit: int) -> list[CaseNote]:
        params = {"value": value, "limit": limit, **({"kind": kind} if kind is not None else {})}
        return [
            to_case_note(row)
            for row in self.session.exec(_newest_stmt(column, kind is not None), params=params)
        ]


@functools.cache
def _newest_stmt(column: str, by_kind: bool) -> Any:
    """Notes where `column` = :value (and kind = :kind), newest first, :limit of them; built once."""
    stmt = select(CaseNoteRow).where(getattr(CaseNoteRow, column) == bindparam("value"))
    if by_kind:
        stmt = stmt.where(CaseNoteRow.kind == bindparam("kind"))
    return stmt.order_by(col(CaseNoteRow.created_at).desc(), col(CaseNoteRow.id).desc()).limit(
        bindparam("limit")
    )


def notes_for_customer(
    engine: Engine, customer_id: str, *, kind: str | None = None, limit: int = DEFAULT_LIMIT
) -> list[CaseNote]:
    """Committed notes about a customer, newest first, for read-only views (CLI, TUI, traces).

    Reads without a transaction, so a view never waits for a department run that is writing.
    """
    from orchestrator.knowledge.reads import read_rows

    table = CaseNoteRow.__table__  # type: ignore[attr-defined]
    stmt = sa_select(*table.c).where(table.c.customer_id == customer_id)
    if kind is not None:
        stmt = stmt.where(table.c.kind == kind)
    stmt = stmt.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
    return [to_case_note(CaseNoteRow(**row)) for row in read_rows(engine, stmt)]
