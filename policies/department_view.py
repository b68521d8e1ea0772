"""The policy view a department run gets: the plan decision reduced to what a department acts on.

Departments must not depend on the policy engine, so the plan check hands them
plain data instead (`DepartmentContext.policy`, see docs/plugins.md):

    jurisdiction         the customer's code
    deadlines            task id -> {"days", "business", "rule_id", "legal_basis"}: the statutory
                         deadline a rule set for that sub-issue (the shortest when several did)
    deadlines_by_intent  intent -> the same, for tasks added or rerouted later
    retention            {"class", "years", "rule_id"}: the longest period the jurisdiction's packs
                         keep records for, or None
    retention_classes    class -> years, every class the jurisdiction's packs set
    flags                the plan decision's flags (e.g. "retain_but_freeze")
    caps                 action -> [{"max_amount", "currency", "rule_id"}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from policies.decision import Decision, RetentionSetting


def department_view(
    decision: Decision,
    plan: Iterable[Mapping[str, Any]],
    *,
    retentions: Iterable[RetentionSetting],
    caps: Mapping[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """JSON-able view of `decision` for the departments that run `plan` (the final plan tasks)."""
    bound = {m.id: set(m.task_ids) for m in decision.matched}
    by_rule: dict[str, dict[str, Any]] = {}
    for d in decision.deadlines:
        entry = {"days": d.days, "business": d.business, "rule_id": d.rule_id, "legal_basis": d.legal_basis}
        if d.rule_id not in by_rule or d.days < by_rule[d.rule_id]["days"]:
            by_rule[d.rule_id] = entry
    deadlines: dict[str, dict[str, Any]] = {}
    by_intent: dict[str, dict[str, Any]] = {}
    for task in plan:
        # a task the rule bound, or one a rule added or moved to its department (`required_by`)
        found = [
            e
            for rid, e in by_rule.items()
            if task["id"] in bound.get(rid, ()) or task.get("required_by") == rid
        ]
        if not found:
            continue
        best = min(found, key=lambda e: e["days"])
        deadlines[task["id"]] = best
        known = by_intent.get(task["intent"])
        if known is None or best["days"] < known["days"]:
            by_intent[task["intent"]] = best
    classes: dict[str, float] = {}
    longest: RetentionSetting | None = None
    for r in retentions:
        classes[r.retention_class] = max(classes.get(r.retention_class, 0.0), r.years)
        if longest is None or r.years > longest.years:
            longest = r
    return {
        "jurisdiction": decision.jurisdiction,
        "deadlines": deadlines,
        "deadlines_by_intent": by_intent,
        "retention": (
            None
            if longest is None
            else {"class": longest.retention_class, "years": longest.years, "rule_id": longest.rule_id}
        ),
        "retention_classes": classes,
        "flags": list(decision.flags),
        "caps": {k: [dict(c) for c in v] for k, v in caps.items()},
    }
