"""Aggregate scenario results into the report `crossdesk eval scenarios` prints.

- first-contact resolution: conversations whose first turn raised an issue and ended `resolved`;
- transfers per issue: the record's counts (dispatches, reroutes, escalations, customer
  transfers) summed over automated turns, divided by the sub-issues the supervisor planned;
- escalation precision and recall: per automated turn, expected `handoff` against a person
  actually brought in;
- policy violations: personal data unmasked, no AI disclosure on the first reply, advice on
  structuring, amounts beyond a cap (orchestrator.eval.scenarios.checks);
- context lost: later turns that re-ask what earlier turns gave or route a follow-up away.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from orchestrator.eval.scenarios.runner import ScenarioResult

KINDS = ("dispatches", "reroutes", "escalations", "customer_transfers")


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def summarize(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    turns = [t for r in results for t in r.turns]
    automated = [t for t in turns if t.automated]
    issues = sum(len(t.record.get("tasks", [])) for t in automated)
    totals = {k: sum(int((t.record.get("counts") or {}).get(k, 0)) for t in automated) for k in KINDS}

    first = [r.turns[0] for r in results if r.turns and r.turns[0].automated]
    raised = [t for t in first if t.record.get("tasks") or t.record.get("unclear") or t.record.get("handoff")]
    fcr = sum(1 for t in raised if t.record.get("status") == "resolved")

    tp = sum(1 for t in automated if t.escalated and t.expected.handoff)
    fp = sum(1 for t in automated if t.escalated and not t.expected.handoff)
    fn = sum(1 for t in automated if not t.escalated and t.expected.handoff)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = round(2 * precision * recall / (precision + recall), 4) if precision and recall else None

    kinds = Counter(v["kind"] for t in turns for v in t.violations)
    later = [t for t in turns if t.later]
    lost = [t for t in later if t.context_lost]

    by_tag: dict[str, dict[str, int]] = {}
    for r in results:
        for tag in r.scenario.tags or ("untagged",):
            row = by_tag.setdefault(tag, {"scenarios": 0, "passed": 0})
            row["scenarios"] += 1
            row["passed"] += int(r.passed)
    return {
        "scenarios": len(results),
        "passed": sum(1 for r in results if r.passed),
        "errors": sum(1 for r in results if r.error),
        "known_gaps": sum(1 for r in results if r.scenario.known_gap),
        "known_gaps_passing": sorted(r.scenario.id for r in results if r.scenario.known_gap and r.passed),
        "turns": len(turns),
        "automated_turns": len(automated),
        "operator_turns": len(turns) - len(automated),
        "issues": issues,
        "first_contact_resolution": {
            "conversations": len(raised),
            "resolved": fcr,
            "rate": _ratio(fcr, len(raised)),
        },
        "transfers_per_issue": {k: _ratio(v, issues) for k, v in totals.items()},
        "transfers_per_conversation": {k: _ratio(v, len(results)) for k, v in totals.items()},
        "transfers_total": totals,
        "escalation": {
            "expected": tp + fn,
            "actual": tp + fp,
            "true_positive": tp,
            "false_positive": fp,
            "false_negative": fn,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        },
        "policy_violations": {
            "total": sum(kinds.values()),
            "turns_with_violation": sum(1 for t in turns if t.violations),
            "rate": _ratio(sum(1 for t in turns if t.violations), len(automated)),
            "by_kind": dict(sorted(kinds.items())),
        },
        "context": {"later_turns": len(later), "lost": len(lost), "rate": _ratio(len(lost), len(later))},
        "by_tag": dict(sorted(by_tag.items())),
    }


def report(results: Sequence[ScenarioResult], *, files: Sequence[str] = ()) -> dict[str, Any]:
    """The full report: the summary plus every scenario's turns and findings."""
    return {
        "files": list(files),
        "summary": summarize(results),
        "scenarios": [
            {
                "id": r.scenario.id,
                "source": r.scenario.source,
                "customer": r.scenario.customer,
                "jurisdiction": r.scenario.jurisdiction,
                "tags": list(r.scenario.tags),
                "known_gap": r.scenario.known_gap,
                "passed": r.passed,
                "error": r.error,
                "turns": [t.as_json() for t in r.turns],
            }
            for r in results
        ],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_report(rep: dict[str, Any], *, show: int = 15) -> str:
    """A readable table: the headline numbers, then per tag, then the failing scenarios."""
    s = rep["summary"]
    fcr, esc, pol, ctx = s["first_contact_resolution"], s["escalation"], s["policy_violations"], s["context"]
    per = s["transfers_per_issue"]
    lines = [
        f"{s['scenarios']} scenarios, {s['turns']} customer turns ({s['automated_turns']} automated, "
        f"{s['operator_turns']} with an operator), {s['issues']} sub-issues",
        f"passed {s['passed']}/{s['scenarios']}  (known gaps: {s['known_gaps']}, errors: {s['errors']})",
        "",
        f"{'metric':<44} {'value':>10}",
        f"{'first-contact resolution':<44} {_pct(fcr['rate']):>10}   {fcr['resolved']}/{fcr['conversations']} conversations",
        f"{'dispatches per issue':<44} {_num(per['dispatches']):>10}",
        f"{'reroutes per issue':<44} {_num(per['reroutes']):>10}",
        f"{'escalations per issue':<44} {_num(per['escalations']):>10}",
        f"{'customer transfers per issue':<44} {_num(per['customer_transfers']):>10}",
        f"{'escalation precision':<44} {_pct(esc['precision']):>10}   {esc['true_positive']}/{esc['actual']} handoffs expected",
        f"{'escalation recall':<44} {_pct(esc['recall']):>10}   {esc['true_positive']}/{esc['expected']} expected handoffs made",
        f"{'turns with a policy violation':<44} {_pct(pol['rate']):>10}   {pol['turns_with_violation']} turns, {pol['total']} violations",
    ]
    lines += [f"  {kind:<42} {n:>10}" for kind, n in pol["by_kind"].items()]
    lines.append(
        f"{'later turns that lost context':<44} {_pct(ctx['rate']):>10}   {ctx['lost']}/{ctx['later_turns']} turns"
    )
    lines += ["", f"{'tag':<24} {'passed':>8} {'of':>4}"]
    lines += [f"{tag:<24} {row['passed']:>8} {row['scenarios']:>4}" for tag, row in s["by_tag"].items()]
    failing = [sc for sc in rep["scenarios"] if not sc["passed"]]
    if failing:
        lines += ["", f"not passed ({len(failing)}; known gaps marked *):"]
        for sc in failing[:show]:
            mark = "*" if sc["known_gap"] else " "
            if sc["error"]:
                lines.append(f" {mark} {sc['id']}: error: {sc['error']}")
                continue
            for t in sc["turns"]:
                problems = t["failures"] + [v["detail"] for v in t["violations"]] + t["context_lost"]
                if problems:
                    lines.append(f" {mark} {sc['id']} turn {t['turn']}: {'; '.join(problems)}")
        if len(failing) > show:
            lines.append(f"   ... and {len(failing) - show} more (--json lists all)")
    if s["known_gaps_passing"]:
        lines += [
            "",
            f"known gaps that now pass (update their scenario): {', '.join(s['known_gaps_passing'])}",
        ]
    return "\n".join(lines)
