"""bench/bench_supervisor.py works: both systems resolve the same issues, and the model calls each
one makes are the ones its architecture implies (no timing is asserted: speed lives in bench/)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph_supervisor")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_supervisor as bench


def expected_calls(issue: Any, *, crossdesk_rounds: int | None) -> int:
    acting = [p for p in issue.parts if p.actions]
    if crossdesk_rounds is not None:
        # one split, one run per sub-issue (a second round when it acts and reads the result), one reply
        return 1 + len(issue.parts) + (len(acting) if crossdesk_rounds == 2 else 0) + 1
    departments = list(dict.fromkeys(p.department for p in issue.parts))
    acting_departments = {p.department for p in acting}
    # the supervisor before each handoff and once to answer; each agent answers, after acting if it must
    return len(departments) + 1 + len(departments) + len(acting_departments)


def test_the_bench_runs_both_systems_on_the_same_issues(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--latency-ms", "0", "--issues", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    systems = report["systems"]
    issues = bench.ISSUES[:2]
    assert report["issues"] == 2 and report["sub_issues"] == sum(len(i.parts) for i in issues)
    for label, s in systems.items():
        assert s["resolution"] == 1.0, (label, s["misses"])
    calls = {label: s["llm_calls_per_issue"] for label, s in systems.items()}
    assert calls["crossdesk (departments: act, read, answer)"] == pytest.approx(
        sum(expected_calls(i, crossdesk_rounds=2) for i in issues) / 2
    )
    assert calls["crossdesk (departments: act and answer at once)"] == pytest.approx(
        sum(expected_calls(i, crossdesk_rounds=1) for i in issues) / 2
    )
    assert calls["langgraph-supervisor (sequential handoffs, default)"] == pytest.approx(
        sum(expected_calls(i, crossdesk_rounds=None) for i in issues) / 2
    )
    assert calls["crossdesk embedded (no model)"] == 0
    base = systems["langgraph-supervisor (sequential handoffs, default)"]
    assert base["vs_baseline"] == {"wall_time": 1.0, "llm_calls": 1.0, "tokens": 1.0}
