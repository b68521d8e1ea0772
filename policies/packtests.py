"""Run the test cases a pack ships (facts in, expected effects out).

A pack `<folder>/<name>.yaml` keeps its cases in `<folder>/tests/<name>.yaml`.
Every rule of a pack must appear in some case's `expect.rules` or
`expect.action_rule`; a rule no case names is reported as uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from policies.decision import Decision
from policies.engine import PolicyEngine
from policies.facts import facts_from_dict
from policies.schema import Case, Pack, PackError, load_tests_file


@dataclass
class CaseResult:
    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class PackReport:
    pack: str
    path: Path
    tests_path: Path | None
    cases: list[CaseResult] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.uncovered and all(c.ok for c in self.cases)

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.ok]

    def as_dict(self) -> dict[str, object]:
        return {
            "pack": self.pack,
            "ok": self.ok,
            "path": str(self.path),
            "tests": str(self.tests_path) if self.tests_path else None,
            "cases": len(self.cases),
            "passed": sum(c.ok for c in self.cases),
            "failures": [{"case": c.name, "problems": c.problems} for c in self.failed],
            "uncovered_rules": self.uncovered,
            "error": self.error,
        }


def tests_file_for(pack: Pack) -> Path | None:
    folder = pack.path.parent / "tests"
    for name in (pack.path.stem, pack.name):
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _problems(engine: PolicyEngine, case: Case) -> list[str]:
    try:
        facts = facts_from_dict(case.facts)
    except (ValidationError, ValueError) as exc:
        return [f"facts are invalid: {exc}"]
    d: Decision = engine.check(facts)
    exp = case.expect
    out: list[str] = []
    if exp.effect is not None and d.effect != exp.effect:
        out.append(f"effect is {d.effect}, expected {exp.effect}")
    missing = [r for r in exp.rules if r not in d.rule_ids]
    if missing:
        out.append(f"rules did not match: {', '.join(missing)} (matched: {', '.join(d.rule_ids) or 'none'})")
    extra = [r for r in exp.not_rules if r in d.rule_ids]
    if extra:
        out.append(f"rules matched but should not: {', '.join(extra)}")
    for dep in exp.departments:
        if dep not in d.departments:
            out.append(f"department {dep} not required (required: {', '.join(d.departments) or 'none'})")
    if exp.human is not None and (d.human is not None) != exp.human:
        out.append(f"human is {'required' if d.human else 'not required'}, expected the opposite")
    if exp.sla_seconds is not None and (d.human is None or d.human.sla_seconds != exp.sla_seconds):
        got = d.human.sla_seconds if d.human else None
        out.append(f"SLA is {got}, expected {exp.sla_seconds} seconds")
    if exp.deny is not None and d.denied != exp.deny:
        out.append(f"denied is {d.denied}, expected {exp.deny}")
    if exp.deny_message_contains and exp.deny_message_contains not in (d.deny_message or ""):
        out.append(f"deny message {d.deny_message!r} lacks {exp.deny_message_contains!r}")
    for kind in exp.redact:
        if kind not in d.redact:
            out.append(f"{kind} not redacted (redacted: {', '.join(d.redact) or 'none'})")
    for text in exp.disclosures:
        if not any(text in disc for disc in d.disclosures):
            out.append(f"no disclosure contains {text!r}")
    for flag in exp.flags:
        if flag not in d.flags:
            out.append(f"flag {flag} not set (flags: {', '.join(d.flags) or 'none'})")
    got_days = [dl.days for dl in d.deadlines]
    for days in exp.deadlines:
        if days not in got_days:
            out.append(f"no {days}-day deadline (deadlines: {got_days or 'none'})")
    if exp.retention is not None:
        r = d.retention
        if r is None or (r.retention_class, r.years) != (exp.retention.retention_class, exp.retention.years):
            shown = f"{r.retention_class} {r.years:g} years" if r else "none"
            out.append(
                f"retention is {shown}, expected {exp.retention.retention_class} {exp.retention.years:g} years"
            )
    if exp.no_retention and d.retention is not None:
        out.append(f"retention {d.retention.retention_class} set, expected none")
    if case.action is not None:
        v = engine.check_action(facts, case.action.department, case.action.name, case.action.args)
        if exp.action_allowed is not None and v.allowed != exp.action_allowed:
            out.append(
                f"action {case.action.name} allowed={v.allowed} ({v.rule_id}: {v.message}), expected {exp.action_allowed}"
            )
        if exp.action_rule is not None and v.rule_id != exp.action_rule:
            out.append(f"action verdict came from {v.rule_id}, expected {exp.action_rule}")
    return out


def run_pack_tests(engine: PolicyEngine, packs: list[str] | None = None) -> list[PackReport]:
    """Run the cases of `packs` (default: every loaded pack). Unknown names raise PackError."""
    names = [p.name for p in engine.packs]
    wanted = packs or names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise PackError(f"no pack named {', '.join(unknown)}; loaded packs: {', '.join(names)}")
    known_rules = {r.id for p in engine.packs for r in p.rules}
    reports = []
    for name in wanted:
        pack = engine.pack(name)
        assert pack is not None
        tests_path = tests_file_for(pack)
        report = PackReport(pack=name, path=pack.path, tests_path=tests_path)
        reports.append(report)
        if tests_path is None:
            report.error = f"no test cases: add {pack.path.parent / 'tests' / pack.path.name}"
            continue
        try:
            suite = load_tests_file(tests_path)
        except PackError as exc:
            report.error = str(exc)
            continue
        if suite.pack != name:
            report.error = f"{tests_path}: field pack: says {suite.pack!r}, expected {name!r}"
            continue
        named: set[str] = set()
        for case in suite.cases:
            result = CaseResult(case.name)
            unknown_ids = [r for r in (*case.expect.rules, *case.expect.not_rules) if r not in known_rules]
            if case.expect.action_rule and case.expect.action_rule not in known_rules:
                unknown_ids.append(case.expect.action_rule)
            if unknown_ids:
                result.problems.append(f"expects unknown rule(s): {', '.join(unknown_ids)}")
            result.problems.extend(_problems(engine, case))
            named.update(case.expect.rules)
            if case.expect.action_rule:
                named.add(case.expect.action_rule)
            report.cases.append(result)
        report.uncovered = [r.id for r in pack.rules if r.id not in named]
    return reports
