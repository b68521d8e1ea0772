"""Run scenarios through the real Orchestrator on a fresh, seeded temporary database.

The demo fintech is seeded and the plugins' starter knowledge loaded once into a
template; every scenario gets its own copy, so one conversation's refunds or
erasure requests never change another's. The user's database is never opened.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.config import Settings
from orchestrator.errors import InputError
from orchestrator.eval.scenarios.checks import TurnResult, context_lost, expectation_failures, violations
from orchestrator.eval.scenarios.schema import CustomerTurn, OperatorStep, Scenario

log = logging.getLogger(__name__)


@dataclass
class ScenarioResult:
    scenario: Scenario
    turns: list[TurnResult] = field(default_factory=list)
    error: str | None = None  # the run broke off (an exception), not a missed expectation

    @property
    def passed(self) -> bool:
        return self.error is None and all(
            not t.failures and not t.violations and not t.context_lost for t in self.turns
        )


def build_template(root: Path) -> Path:
    """A database with the demo fintech seeded and the starter knowledge loaded."""
    from orchestrator.backend.seed import seed_demo
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import load_paths
    from orchestrator.knowledge.store import KnowledgeStore
    from plugins.manager import load_plugins

    path = root / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        create_schema(engine)
        seed_demo(engine)
        load_paths(KnowledgeStore(engine), load_plugins().knowledge_paths())
    finally:
        engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # a plain copy of the file is then complete
    conn.close()
    return path


def _check_customers(template: Path, scenarios: Sequence[Scenario]) -> None:
    conn = sqlite3.connect(template)
    try:
        known = {row[0] for row in conn.execute("SELECT id FROM bk_customer")}
    finally:
        conn.close()
    unknown = sorted(
        {
            f"{s.customer} (scenario {s.id} in {s.source})"
            for s in scenarios
            if s.customer and s.customer not in known
        }
    )
    if unknown:
        raise InputError(
            f"unknown demo customer(s): {', '.join(unknown)}; scenarios use the customers of "
            "`crossdesk demo customers` (docs/demo-data.md)"
        )


def ai_disclosures(policy: Any) -> list[str]:
    """The texts of the loaded AI-disclosure rules (a rule id ending in `ai_disclosure`)."""
    engine = getattr(policy, "engine", None)
    texts = []
    for pack in getattr(engine, "packs", ()):
        for rule in pack.rules:
            if rule.id.endswith("ai_disclosure"):
                texts += [e.text for e in rule.effects if getattr(e, "kind", "") == "disclose"]
    return texts


def default_decomposer(settings: Settings, plugins: Any, *, untrained: bool = False) -> Any:
    """The decomposer `ask` would use (the trained router unless `untrained`)."""
    from orchestrator.nlu import Decomposer, load_router
    from orchestrator.nlu.trained import plugins_router

    router = plugins_router(settings, plugins) if untrained else load_router(settings, plugins)
    return Decomposer(
        router, threshold=settings.confidence_threshold, standalone=plugins.standalone_intents()
    )


def run_scenarios(
    scenarios: Sequence[Scenario],
    settings: Settings,
    *,
    plugins: Any = None,
    decomposer: Any = None,
    advance: Callable[[int], None] | None = None,
) -> list[ScenarioResult]:
    """One result per scenario, in order. `settings` supplies plugins, policies and models; its
    database is replaced by a temporary one."""
    from plugins.manager import load_plugins
    from traces.setup import Telemetry

    plugins = plugins or load_plugins(disabled=settings.disabled_plugins)
    decomposer = decomposer or default_decomposer(settings, plugins)
    telemetry = Telemetry.disabled()
    root = Path(tempfile.mkdtemp(prefix="crossdesk-scenarios-"))
    try:
        template = build_template(root)
        _check_customers(template, scenarios)
        results = []
        for scenario in scenarios:
            home = root / scenario.id
            home.mkdir()
            shutil.copy(template, home / "crossdesk.db")
            own = replace(settings, home=home, db_url="")
            results.append(
                run_one(scenario, own, plugins=plugins, decomposer=decomposer, telemetry=telemetry)
            )
            if advance is not None:
                advance(1)
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_one(
    scenario: Scenario, settings: Settings, *, plugins: Any, decomposer: Any, telemetry: Any
) -> ScenarioResult:
    """Play one scenario on the database `settings` names."""
    from orchestrator.runtime import Orchestrator

    orch = Orchestrator(settings, plugins=plugins, decomposer=decomposer, telemetry=telemetry)
    try:
        return play(orch, scenario)
    finally:
        orch.close()


def play(orch: Any, scenario: Scenario) -> ScenarioResult:
    """Play the scenario's steps on `orch` and judge every customer turn."""
    from orchestrator import takeover

    result = ScenarioResult(scenario)
    disclosures = ai_disclosures(orch.services.policy)
    conversation: str | None = None
    previous: TurnResult | None = None
    disclosed = False
    try:
        for step in scenario.turns:
            if isinstance(step, OperatorStep):
                assert conversation is not None  # the first step is a customer turn (schema)
                if step.operator == "claim":
                    takeover.claim(orch, conversation, step.name)
                elif step.operator == "reply":
                    takeover.reply(orch, conversation, step.text or "", operator=step.name)
                else:
                    takeover.release(orch, conversation, operator=step.name)
                continue
            assert isinstance(step, CustomerTurn)
            outcome = orch.ask(
                step.message,
                conversation_id=conversation,
                customer_id=scenario.customer,
                jurisdiction=scenario.jurisdiction,
            )
            conversation = outcome.conversation_id
            turn = TurnResult(
                scenario=scenario.id,
                n=len(result.turns) + 1,
                message=step.message,
                reply=outcome.reply,
                record=outcome.record,
                expected=step,
            )
            turn.failures = expectation_failures(step, outcome.record, outcome.reply)
            if turn.automated:
                turn.violations = violations(
                    outcome.record, outcome.reply, first_reply=not disclosed, ai_disclosures=disclosures
                )
                disclosed = True
                if previous is not None:
                    turn.later = True
                    turn.context_lost = context_lost(
                        step,
                        outcome.record,
                        outcome.reply,
                        previous,
                        known_customer=scenario.customer is not None,
                    )
                previous = turn
            result.turns.append(turn)
    except Exception as exc:  # one broken scenario must not hide the others' results
        log.warning("scenario %s broke off: %s: %s", scenario.id, type(exc).__name__, exc)
        result.error = f"{type(exc).__name__}: {exc}"
    return result
