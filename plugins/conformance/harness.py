"""A seeded database and the real dispatcher: what the behaviour checks and plugin authors' tests run on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugins.conformance.hooks import default_name, plugin_set_with
from plugins.conformance.report import ConformanceReport
from plugins.contracts import DepartmentResult, Task
from plugins.manager import PluginSet

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def seeded_engine(
    path: Path, plugins: PluginSet, report: ConformanceReport | None = None, ours: Sequence[str] = ()
) -> Engine:
    """A fresh database with the demo data seeded and every plugin's knowledge loaded.

    With a report, the knowledge of the plugins providing `ours` is checked too; without one a
    knowledge file that does not load raises.
    """
    from orchestrator.backend.seed import seed_demo
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import KnowledgeFileError, load_paths, read_articles
    from orchestrator.knowledge.store import KnowledgeStore

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    seed_demo(engine)
    store = KnowledgeStore(engine)
    try:
        load_paths(store, plugins.knowledge_paths())
    except KnowledgeFileError as exc:
        if report is None:
            raise
        report.add("knowledge", False, f"the installed plugins' knowledge does not load together: {exc}")
        return engine
    if report is None:
        return engine
    for plugin_name in dict.fromkeys(plugins.origin[d].name for d in ours):
        hook = getattr(plugins.manager.get_plugin(plugin_name), "crossdesk_knowledge_paths", None)
        articles = [a for _, a in read_articles(hook() if hook is not None else [])]
        if not articles:
            report.add(
                "knowledge",
                True,
                f"plugin {plugin_name!r} ships no articles (its departments can "
                "still search the shared ones)",
            )
            continue
        lost = [
            a.id
            for a in articles
            if a.id not in {h.id for h in store.search(a.title, department=a.department, k=5)}
        ]
        report.add(
            "knowledge",
            not lost,
            f"plugin {plugin_name!r}: {len(articles)} article(s) load and are found by their titles"
            if not lost
            else f"plugin {plugin_name!r}: a search for the title of {', '.join(lost[:3])} does not find it; "
            "give each article a title that says what it answers",
        )
    return engine


def policy_guard(plugins: PluginSet, engine: Engine) -> Any:
    """The policy node's action guard over the shipped and every plugin's packs, as a turn uses it, or
    None when the packs do not load (the `policies` check reports that)."""
    from policies.engine import PolicyEngine
    from policies.node import PolicyNode
    from policies.schema import PackError

    try:
        packs = PolicyEngine.load(plugins.policy_paths())
    except PackError:
        return None
    return PolicyNode(packs, plugins, db=engine).action_guard


def dispatch_env(engine: Engine, plugins: PluginSet, *, timeout_s: float) -> Any:
    """What the orchestrator hands every department run: database, knowledge store, policy guard."""
    from orchestrator.dispatch import DispatchEnv
    from orchestrator.knowledge.store import KnowledgeStore

    return DispatchEnv(
        engine=engine,
        plugins=plugins,
        knowledge=KnowledgeStore(engine),
        timeout_s=timeout_s,
        action_guard=policy_guard(plugins, engine),
    )


class Harness:
    """A seeded database and the real dispatcher, for a plugin's own behaviour tests.

    with Harness.for_plugin(crossdesk_claims, tmp_path) as h:
        result = h.run("claims", "my suitcase was lost", intent="file_claim", customer_id="C1001")
        assert h.notes("C1001", kind="claim")
    """

    def __init__(self, plugins: PluginSet, workdir: Path, *, timeout_s: float = 5.0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.plugins = plugins
        self.engine = seeded_engine(workdir / "harness.db", plugins)
        self.env = dispatch_env(self.engine, plugins, timeout_s=timeout_s)
        self._turns = 0

    @classmethod
    def for_plugin(
        cls, plugin: Any, workdir: Path, *, name: str | None = None, timeout_s: float = 5.0
    ) -> Harness:
        report = ConformanceReport(plugin=name or default_name(plugin))
        plugins, _ = plugin_set_with(plugin, report.plugin, report)
        if plugins is None:
            raise AssertionError(report.format(failures_only=True))
        return cls(plugins, workdir, timeout_s=timeout_s)

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def customer(self, customer_id: str) -> Any:
        from sqlmodel import Session

        from orchestrator.backend.queries import find_customer_view

        with Session(self.engine) as session:
            view = find_customer_view(session, customer_id)
        if view is None:
            raise KeyError(f"no customer {customer_id!r} in the demo data")
        return view

    def run(
        self,
        department: str,
        text: str,
        *,
        intent: str,
        customer_id: str | None = None,
        conversation_id: str = "harness",
        confidence: float = 0.9,
    ) -> DepartmentResult:
        """Dispatch one task exactly as a turn would (own transaction, time budget, policy guard)."""
        from orchestrator.dispatch import run_department

        self._turns += 1
        customer = self.customer(customer_id) if customer_id else None
        task = Task(
            id=f"h{self._turns}",
            text=text,
            span=(0, len(text)),
            department=department,
            intent=intent,
            confidence=confidence,
            entities=entities_of(text),
        )
        return run_department(
            self.env,
            department,
            task,
            conversation_id=conversation_id,
            turn_id=f"harness-{self._turns}",
            customer=customer,
            jurisdiction=customer.jurisdiction if customer is not None else "EU",
        )

    def notes(self, customer_id: str, *, kind: str | None = None) -> list[Any]:
        """Committed case notes about a customer, newest first."""
        from orchestrator.knowledge.notes import notes_for_customer

        return notes_for_customer(self.engine, customer_id, kind=kind)

    def close(self) -> None:
        self.engine.dispose()


def customers_by_jurisdiction(engine: Engine) -> list[Any]:
    from sqlmodel import Session, select

    from orchestrator.backend.models import Customer
    from orchestrator.backend.queries import customer_view

    with Session(engine) as session:
        rows = session.exec(select(Customer).order_by(Customer.id)).all()
        by_juris: dict[str, Any] = {}
        for row in rows:
            by_juris.setdefault(row.jurisdiction, customer_view(row))
    return list(by_juris.values())


def entities_of(text: str) -> Any:
    """The entities the real decomposer would attach; none when it cannot extract them."""
    from orchestrator.nlu.entities import extract
    from plugins.contracts import Entities

    try:
        return extract(text)
    except Exception:  # the department is under test here, not the extractor
        return Entities()
