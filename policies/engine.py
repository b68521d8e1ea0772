"""The policy engine: loads rule packs, picks the ones for a customer, decides.

Pack selection: every pack with jurisdiction "*" (the global pack), then the
packs of each prefix of the customer's jurisdiction, general before specific:
a US-CA customer gets global, us, us-ca. Unknown or empty jurisdictions get the
global packs only.

Every rule whose condition holds contributes all of its effects. When effects
pull in different directions, precedence decides (highest first):

    deny > require_human > require_department > cap > redact > disclose > retention > record > deadline > allow

- `Decision.effect` is the highest effect that applies; "allow" when nothing else does.
- deny: the denied scope (the tasks or actions its condition bound, the data
  destination, or else the whole turn) gets no automated help; the customer
  sees the deny message. Nothing lower can lift a deny, and `allow` never
  overrides anything: it only records that a rule explicitly permits.
- require_human: the turn (or the tasks the rule bound) goes to an operator
  with the shortest SLA asked for, before any required department or capped
  action runs. A capped action above its limit becomes a human approval.
- require_department, cap, redact, disclose, record, deadline accumulate:
  every required department, every cap, the union of kinds to redact, every
  disclosure (in rule order), every flag and deadline.
- retention: the longest period wins, so the strictest legal period is kept.

`check_action` runs before any action: a rule that denies or requires a
human for the action, or a cap it exceeds, stops it. Conditions are compiled
once at load; a check evaluates plain Python closures (no parsing, no I/O).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.conditions import ConditionError, Node, Trace, compile_condition, referenced
from policies.decision import (
    PRECEDENCE,
    SUMMARY_KIND,
    ActionVerdict,
    BlockedAction,
    Cap,
    DeadlineSetting,
    Decision,
    Denial,
    HumanHandoff,
    MatchedRule,
    RequiredDepartment,
    RetentionSetting,
)
from policies.facts import (
    RISK_RANK,
    ActionFact,
    TurnFacts,
    amount_of,
    check_destination,
    normalise_jurisdiction,
)
from policies.schema import (
    CapAction,
    Deadline,
    Deny,
    Disclose,
    Pack,
    PackError,
    Record,
    Redact,
    RequireDepartment,
    RequireHuman,
    Retention,
    Rule,
    load_pack_file,
)

log = logging.getLogger(__name__)

SHIPPED_PACKS = Path(__file__).parent / "packs"
_RANK = {kind: i for i, kind in enumerate(PRECEDENCE)}


@dataclass(frozen=True, eq=False)
class CompiledRule:
    rule: Rule
    pack: str
    node: Node
    stages: frozenset[str]
    kinds: tuple[str, ...]
    caps: tuple[CapAction, ...]
    uses_action: bool
    uses_destination: bool
    blocking: bool  # denies or requires a human

    @property
    def id(self) -> str:
        return self.rule.id


@dataclass(frozen=True)
class _Selection:
    packs: tuple[str, ...]
    rules: tuple[CompiledRule, ...]
    by_stage: dict[str, tuple[CompiledRule, ...]] = field(default_factory=dict)


def _compile_rule(rule: Rule, pack: Pack) -> CompiledRule:
    try:
        node = compile_condition(rule.when, "when")
    except ConditionError as exc:
        raise PackError(f"{pack.path}: rule {rule.id}: field {exc}") from None
    kinds = tuple(dict.fromkeys(SUMMARY_KIND.get(e.kind, e.kind) for e in rule.effects))
    caps = tuple(e for e in rule.effects if isinstance(e, CapAction))
    return CompiledRule(
        rule=rule,
        pack=pack.name,
        node=node,
        stages=frozenset(rule.stages),
        kinds=kinds,
        caps=caps,
        uses_action=referenced(node, "action"),
        uses_destination=referenced(node, "data_destination"),
        blocking=any(isinstance(e, Deny | RequireHuman) for e in rule.effects),
    )


def _pack_files(paths: Iterable[Path | str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise PackError(f"{path}: no such policy pack file or folder")
    return files


def _root(facts: TurnFacts) -> dict[str, Any]:
    c = facts.customer
    customer = None if c is None else {**c.__dict__, "risk_rank": RISK_RANK.get(c.risk_profile)}
    return {
        "stage": facts.stage,
        "jurisdiction": facts.jurisdiction,
        "message": facts.message,
        "wants_human": facts.wants_human,
        "data_destination": facts.data_destination,
        "repeat_contacts": facts.repeat_contacts,
        "customer": customer,
        "signals": facts.signals,
        "reply": {"text": facts.reply, "pii": facts.reply_pii},
        "task": facts.tasks,
        "action": facts.actions,
    }


def _cap_problem(cap: CapAction, action: ActionFact | None, name: str, args: Mapping[str, Any]) -> str | None:
    """Why `args` exceed `cap`, or None when they do not (or the cap is for another currency)."""
    amount, currency = amount_of(args)
    if cap.currency and currency and currency != cap.currency:
        return None
    limit = f"{cap.max_amount:g}" + (f" {cap.currency}" if cap.currency else "")
    if amount is None:
        return f"{name} has no amount to check against the {limit} limit; a person must approve it"
    if amount > cap.max_amount:
        shown = f"{amount:.2f}" + (f" {currency}" if currency else "")
        return f"{name} of {shown} is above the {limit} limit and needs approval by a person"
    return None


class PolicyEngine:
    """Loaded, compiled rule packs. Build with `load`, `from_settings` or `load_or_fail_closed`."""

    def __init__(self, packs: Iterable[Pack] = (), *, load_error: str | None = None) -> None:
        self.packs: tuple[Pack, ...] = tuple(packs)
        self.load_error = load_error
        self._compiled: dict[str, tuple[CompiledRule, ...]] = {}
        seen_rules: dict[str, Path] = {}
        seen_packs: dict[str, Path] = {}
        for pack in self.packs:
            if pack.name in seen_packs:
                raise PackError(
                    f"{pack.path}: field pack: pack {pack.name!r} is also defined in {seen_packs[pack.name]}"
                )
            seen_packs[pack.name] = pack.path
            compiled = []
            for rule in pack.rules:
                if rule.id in seen_rules:
                    raise PackError(
                        f"{pack.path}: rule {rule.id}: field id: already used in {seen_rules[rule.id]}"
                    )
                seen_rules[rule.id] = pack.path
                compiled.append(_compile_rule(rule, pack))
            self._compiled[pack.name] = tuple(compiled)
        self._selections: dict[str, _Selection] = {}

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, paths: Iterable[Path | str] = (), *, shipped: bool = True) -> PolicyEngine:
        """The shipped packs (unless `shipped=False`) plus packs in `paths` (files or folders)."""
        files = _pack_files(([SHIPPED_PACKS] if shipped else []) + list(paths))
        return cls(load_pack_file(f) for f in files)

    @classmethod
    def from_settings(cls, settings: Any = None, plugin_paths: Iterable[Path] | None = None) -> PolicyEngine:
        """Shipped packs, plugin packs (crossdesk_policy_paths) and `[policies] paths` of the config."""
        if settings is None:
            from orchestrator.config import load_settings

            settings = load_settings()
        if plugin_paths is None:
            from plugins.manager import load_plugins

            plugin_paths = load_plugins(disabled=settings.disabled_plugins).policy_paths()
        extra = [Path(p).expanduser() for p in settings.section("policies").get("paths", [])]
        return cls.load([*plugin_paths, *extra])

    @classmethod
    def load_or_fail_closed(cls, paths: Iterable[Path | str] = (), *, shipped: bool = True) -> PolicyEngine:
        """Like `load`, but a pack that cannot be loaded gives an engine whose every check fails
        closed (a human, no automated reply) and says why, instead of raising."""
        try:
            return cls.load(paths, shipped=shipped)
        except Exception as exc:  # fail closed on anything, not only PackError
            log.error("policy packs not loaded, every turn goes to a human: %s", exc)
            return cls(load_error=str(exc))

    # ------------------------------------------------------------ selection

    def pack(self, name: str) -> Pack | None:
        return next((p for p in self.packs if p.name == name), None)

    def rules_of(self, pack: str) -> tuple[CompiledRule, ...]:
        return self._compiled.get(pack, ())

    def packs_for(self, jurisdiction: str) -> tuple[str, ...]:
        return self._select(jurisdiction).packs

    def _select(self, jurisdiction: str) -> _Selection:
        code = normalise_jurisdiction(jurisdiction)
        sel = self._selections.get(code)
        if sel is not None:
            return sel
        parts = code.split("-") if code else []
        chain = ["*"] + ["-".join(parts[: i + 1]) for i in range(len(parts))]
        names: list[str] = []
        for want in chain:
            names.extend(p.name for p in self.packs if want in p.jurisdictions and p.name not in names)
        rules = tuple(r for n in names for r in self._compiled[n])
        by_stage = {s: tuple(r for r in rules if s in r.stages) for s in ("plan", "outcome")}
        sel = _Selection(packs=tuple(names), rules=rules, by_stage=by_stage)
        self._selections[code] = sel
        return sel

    def caps_for(self, jurisdiction: str) -> list[Cap]:
        """Every cap that can apply to this jurisdiction's customers (conditions not evaluated)."""
        return [
            Cap(c.action, c.max_amount, c.currency, r.id)
            for r in self._select(jurisdiction).rules
            for c in r.caps
        ]

    def retentions_for(self, jurisdiction: str) -> list[RetentionSetting]:
        """Every retention period this jurisdiction's packs set (conditions not evaluated), longest first."""
        found = [
            RetentionSetting(e.retention_class, e.years, r.id)
            for r in self._select(jurisdiction).rules
            for e in r.rule.effects
            if isinstance(e, Retention)
        ]
        return sorted(found, key=lambda s: -s.years)

    # ------------------------------------------------------------ checks

    def check(self, facts: TurnFacts) -> Decision:
        """Decide one stage of one turn. Raises only on a bug; see `safe_check`."""
        if self.load_error is not None:
            return Decision.fail_closed(self.load_error, stage=facts.stage, jurisdiction=facts.jurisdiction)
        sel = self._select(facts.jurisdiction)
        root = _root(facts)
        hits: list[tuple[CompiledRule, Trace]] = []
        cap_hits: list[tuple[CompiledRule, CapAction, ActionFact, str | None]] = []
        for cr in sel.by_stage[facts.stage]:
            if cr.caps:
                trace = self._cap_rule(cr, root, facts.actions, cap_hits)
                if trace is not None:
                    hits.append((cr, trace))
                continue
            if cr.node.test(root, {}, None):
                trace = Trace()
                cr.node.test(root, {}, trace)
                hits.append((cr, trace))
        return self._decide(facts, sel, hits, cap_hits)

    def safe_check(self, facts: TurnFacts) -> Decision:
        """`check` that never raises: an error gives a fail-closed decision (a human, no automated reply)."""
        try:
            return self.check(facts)
        except Exception as exc:
            log.exception("policy check failed; failing closed")
            return Decision.fail_closed(
                f"{type(exc).__name__}: {exc}", stage=facts.stage, jurisdiction=facts.jurisdiction
            )

    def _cap_rule(
        self,
        cr: CompiledRule,
        root: dict[str, Any],
        actions: tuple[ActionFact, ...],
        cap_hits: list[tuple[CompiledRule, CapAction, ActionFact, str | None]],
    ) -> Trace | None:
        """Cap rules match per action they cap: the condition is evaluated with that action bound."""
        trace: Trace | None = None
        for index, action in enumerate(actions):
            for cap in cr.caps:
                if action.name != cap.action:
                    continue
                bind = {"action": action, "#action": index}
                if not cr.node.test(root, bind, None):
                    continue
                if trace is None:
                    trace = Trace()
                cr.node.test(root, bind, trace)
                if index not in trace.actions:
                    trace.actions.append(index)
                problem = _cap_problem(cap, action, action.name, action.args)
                trace.why.append(problem or f"{action.name} within the {cap.max_amount:g} limit")
                cap_hits.append((cr, cap, action, problem))
        return trace

    def _decide(
        self,
        facts: TurnFacts,
        sel: _Selection,
        hits: list[tuple[CompiledRule, Trace]],
        cap_hits: list[tuple[CompiledRule, CapAction, ActionFact, str | None]],
    ) -> Decision:
        kinds: set[str] = set()
        matched: list[MatchedRule] = []
        denials: list[Denial] = []
        human_parts: list[tuple[str, int, str, tuple[str, ...]]] = []
        departments: list[RequiredDepartment] = []
        redact: set[str] = set()
        disclosures: list[str] = []
        retention: RetentionSetting | None = None
        flags: list[str] = []
        deadlines: list[DeadlineSetting] = []
        for cr, trace in hits:
            rule = cr.rule
            task_ids = tuple(trace.tasks)
            actions = tuple(
                f"{facts.actions[i].department}.{facts.actions[i].name}" for i in trace.actions if i >= 0
            )
            matched.append(
                MatchedRule(
                    rule.id,
                    cr.pack,
                    rule.legal_basis,
                    rule.description,
                    cr.kinds,
                    tuple(trace.why),
                    task_ids,
                    actions,
                )
            )
            kinds.update(k for k in cr.kinds if k != "cap")
            for eff in rule.effects:
                if isinstance(eff, Deny):
                    denials.append(Denial(rule.id, eff.message, task_ids, actions, cr.uses_destination))
                elif isinstance(eff, RequireHuman):
                    human_parts.append((eff.reason, eff.sla_seconds, rule.id, task_ids))
                elif isinstance(eff, RequireDepartment):
                    departments.append(RequiredDepartment(eff.department, eff.intent, rule.id, task_ids))
                elif isinstance(eff, Redact):
                    redact.update(eff.kinds)
                elif isinstance(eff, Disclose):
                    if eff.text not in disclosures:
                        disclosures.append(eff.text)
                elif isinstance(eff, Retention):
                    if retention is None or eff.years > retention.years:
                        retention = RetentionSetting(eff.retention_class, eff.years, rule.id)
                elif isinstance(eff, Record):
                    if eff.flag not in flags:
                        flags.append(eff.flag)
                elif isinstance(eff, Deadline):
                    deadlines.append(DeadlineSetting(eff.days, eff.business, rule.id, rule.legal_basis))
        caps: list[Cap] = []
        blocked: list[BlockedAction] = []
        for cr, cap, action, problem in cap_hits:
            entry = Cap(cap.action, cap.max_amount, cap.currency, cr.id)
            if entry not in caps:
                caps.append(entry)
            kinds.add("cap")
            if problem is not None:
                blocked.append(
                    BlockedAction(action.department, action.name, cr.id, problem, needs_human=True)
                )
                human_parts.append((problem, 30, cr.id, ()))
        human = None
        if human_parts:
            reasons = tuple(dict.fromkeys(p[0] for p in human_parts))
            whole_turn = any(not p[3] for p in human_parts)
            human = HumanHandoff(
                reason="; ".join(reasons),
                sla_seconds=min(p[1] for p in human_parts),
                reasons=reasons,
                rule_ids=tuple(dict.fromkeys(p[2] for p in human_parts)),
                task_ids=() if whole_turn else tuple(dict.fromkeys(t for p in human_parts for t in p[3])),
            )
            kinds.add("require_human")
        effect = min(kinds, key=_RANK.__getitem__) if kinds else "allow"
        return Decision(
            stage=facts.stage,
            jurisdiction=facts.jurisdiction,
            packs=sel.packs,
            effect=effect,
            matched=tuple(matched),
            required_departments=tuple(departments),
            human=human,
            redact=tuple(sorted(redact)),
            disclosures=tuple(disclosures),
            caps=tuple(caps),
            blocked_actions=tuple(blocked),
            retention=retention,
            flags=tuple(flags),
            deadlines=tuple(deadlines),
            denials=tuple(denials),
        )

    def check_action(
        self,
        facts: TurnFacts,
        department: str,
        action_name: str,
        args: Mapping[str, Any],
        *,
        money_movement: bool | None = None,
    ) -> ActionVerdict:
        """May `department` run `action_name(**args)` in this turn? Call before the action runs.

        Rules whose condition reads `action.*` and that deny or require a human
        refuse it; a cap it exceeds (or cannot be checked against: no amount)
        sends it to a person for approval. Fails closed on any error.
        """
        if self.load_error is not None:
            return ActionVerdict(False, "policy.error", f"policy packs not loaded: {self.load_error}", True)
        try:
            moves = money_movement if money_movement is not None else amount_of(args)[0] is not None
            action = ActionFact(
                department=department, name=action_name, args=dict(args), taken=False, money_movement=moves
            )
            sel = self._select(facts.jurisdiction)
            root = _root(facts)
            root["action"] = (action,)
            bind = {"action": action, "#action": 0}
            human: ActionVerdict | None = None
            for cr in sel.rules:
                if not (cr.uses_action and cr.blocking) or not cr.node.test(root, bind, None):
                    continue
                for eff in cr.rule.effects:
                    if isinstance(eff, Deny):
                        return ActionVerdict(False, cr.id, eff.message, needs_human=False)
                    if isinstance(eff, RequireHuman) and human is None:
                        human = ActionVerdict(False, cr.id, eff.reason, needs_human=True)
            if human is not None:
                return human
            for cr in sel.rules:
                for cap in cr.caps:
                    if cap.action != action_name or not cr.node.test(root, bind, None):
                        continue
                    problem = _cap_problem(cap, action, action_name, args)
                    if problem is not None:
                        return ActionVerdict(False, cr.id, problem, needs_human=True)
            return ActionVerdict(True)
        except Exception as exc:
            log.exception("action check failed; failing closed")
            return ActionVerdict(
                False, "policy.error", f"policy check failed: {type(exc).__name__}: {exc}", True
            )

    def check_destination(self, facts: TurnFacts, destination: str) -> ActionVerdict:
        """May this turn's data go to `destination` ("local" or "external:<provider>")?

        Not allowed when a rule reading `data_destination` denies it (then use the
        embedded path); when allowed, `redact` lists the kinds to mask before sending.
        """
        check_destination(destination)
        if self.load_error is not None:
            return ActionVerdict(False, "policy.error", f"policy packs not loaded: {self.load_error}")
        sel = self._select(facts.jurisdiction)
        root = _root(facts)
        root["data_destination"] = destination
        kinds: set[str] = set()
        for cr in sel.rules:
            if not cr.uses_destination or not cr.node.test(root, {}, None):
                continue
            for eff in cr.rule.effects:
                if isinstance(eff, Deny):
                    return ActionVerdict(False, cr.id, eff.message)
                if isinstance(eff, Redact):
                    kinds.update(eff.kinds)
        return ActionVerdict(True, redact=tuple(sorted(kinds)))
