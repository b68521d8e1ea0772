"""Run built-in departments on single tasks through the real dispatcher, against a seeded database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from orchestrator.backend.queries import customer_view, get_customer
from orchestrator.db import make_engine
from orchestrator.dispatch import ActionGuard, DispatchEnv, run_department
from orchestrator.knowledge.models import CaseNoteRow
from orchestrator.knowledge.store import KnowledgeStore
from plugins.contracts import DepartmentResult, Entities, Task
from plugins.manager import load_plugins


class Desk:
    """One seeded database, the installed plugins and the shared knowledge store."""

    def __init__(self, db_path: Path, *, action_guard: ActionGuard | None = None) -> None:
        self.engine = make_engine(f"sqlite:///{db_path}")
        self.env = DispatchEnv(
            engine=self.engine,
            plugins=load_plugins(),
            knowledge=KnowledgeStore(self.engine),
            timeout_s=30.0,
            action_guard=action_guard,
        )
        self._n = 0

    def ask(
        self,
        department: str,
        intent: str,
        text: str,
        customer_id: str | None = None,
        *,
        entities: Entities | None = None,
        policy: dict[str, Any] | None = None,
        **task: Any,
    ) -> DepartmentResult:
        self._n += 1
        customer = None
        if customer_id is not None:
            with Session(self.engine) as session:
                row = get_customer(session, customer_id)
                assert row is not None, f"no customer {customer_id} in the demo data"
                customer = customer_view(row)
        t = Task(
            id=f"t{self._n}",
            text=text,
            span=(0, len(text)),
            department=department,
            intent=intent,
            confidence=0.9,
            entities=entities or Entities(),
            **task,
        )
        return run_department(
            self.env,
            department,
            t,
            conversation_id=f"conv-{self._n}",
            turn_id=f"turn-{self._n}",
            customer=customer,
            jurisdiction=customer.jurisdiction if customer else "EU",
            policy=policy,
        )

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def notes(self, *, customer_id: str | None = None, kind: str | None = None) -> list[CaseNoteRow]:
        with self.session() as s:
            stmt = select(CaseNoteRow)
            if customer_id is not None:
                stmt = stmt.where(CaseNoteRow.customer_id == customer_id)
            if kind is not None:
                stmt = stmt.where(CaseNoteRow.kind == kind)
            return list(s.exec(stmt))

    def close(self) -> None:
        self.engine.dispose()
