"""End-to-end scenarios: the shipped conversations through the real orchestrator on the demo data.

The scenarios and their expected outcomes live in orchestrator/eval/scenarios/*.yaml (the set
`crossdesk eval scenarios` runs); a scenario with a `known_gap` is expected to fail until the gap
is fixed.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.eval.scenarios import load_scenarios
from orchestrator.eval.scenarios.runner import play

SCENARIOS = load_scenarios()


def _param(scenario: Any) -> Any:
    marks = [pytest.mark.xfail(reason=scenario.known_gap, strict=False)] if scenario.known_gap else []
    return pytest.param(scenario, id=scenario.id, marks=marks)


def test_the_shipped_set_covers_the_kinds_of_conversation() -> None:
    assert len(SCENARIOS) >= 60
    tags = [t for s in SCENARIOS for t in s.tags]
    for tag, at_least in {"multi-turn": 15, "multi-department": 20, "jurisdiction": 20, "human": 8}.items():
        assert tags.count(tag) >= at_least, tag
    jurisdictions = {s.jurisdiction for s in SCENARIOS if s.jurisdiction}
    customers = {s.customer for s in SCENARIOS if s.customer}
    assert len(customers) >= 30 and jurisdictions >= {"EU", "UK", "SG"}
    # a known gap is the exception, not the way to make the suite pass
    assert sum(1 for s in SCENARIOS if s.known_gap) <= len(SCENARIOS) // 3


@pytest.mark.parametrize("scenario", [_param(s) for s in SCENARIOS])
def test_scenario(orch: Any, scenario: Any) -> None:
    result = play(orch, scenario)
    assert result.error is None, result.error
    assert len(result.turns) == len(scenario.customer_turns)
    for turn in result.turns:
        problems = turn.failures + [v["detail"] for v in turn.violations] + turn.context_lost
        assert not problems, (
            f"turn {turn.n}: {turn.message!r}\nreply: {turn.reply}\nproblems: {problems}\n"
            f"tasks: {[(t['text'], t['department'], t['intent'], t['status']) for t in turn.record.get('tasks', [])]}"
        )
