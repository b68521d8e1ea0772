"""What the policy engine returns: a Decision per check, an ActionVerdict per action."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# highest first; `Decision.effect` is the highest effect that applies (see policies.engine)
PRECEDENCE: tuple[str, ...] = (
    "deny",
    "require_human",
    "require_department",
    "cap",
    "redact",
    "disclose",
    "retention",
    "record",
    "deadline",
    "allow",
)
# the effect kinds of a pack file, named as in the summary
SUMMARY_KIND = {"cap_action": "cap"}


@dataclass(frozen=True, slots=True)
class MatchedRule:
    id: str
    pack: str
    legal_basis: str
    description: str
    effects: tuple[str, ...]  # effect kinds of the rule, as in PRECEDENCE
    why: tuple[str, ...]  # the parts of the condition that held, with the values they saw
    task_ids: tuple[str, ...] = ()  # tasks the condition bound
    actions: tuple[str, ...] = ()  # actions the condition bound, as "department.name"


@dataclass(frozen=True, slots=True)
class Denial:
    rule_id: str
    message: str
    # scope: the tasks / actions the rule bound; `destination` when it is about where data goes;
    # none of these: the whole turn
    task_ids: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    destination: bool = False

    @property
    def whole_turn(self) -> bool:
        return not (self.task_ids or self.actions or self.destination)


@dataclass(frozen=True, slots=True)
class HumanHandoff:
    reason: str  # all reasons, "; "-joined
    sla_seconds: int  # the shortest SLA of the rules that asked
    reasons: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    task_ids: tuple[str, ...] = ()  # empty: the whole turn needs the human


@dataclass(frozen=True, slots=True)
class RequiredDepartment:
    department: str
    intent: str | None
    rule_id: str
    task_ids: tuple[str, ...] = ()  # the tasks that made it necessary


@dataclass(frozen=True, slots=True)
class Cap:
    action: str
    max_amount: float
    currency: str | None
    rule_id: str


@dataclass(frozen=True, slots=True)
class BlockedAction:
    department: str
    name: str
    rule_id: str
    message: str
    needs_human: bool


@dataclass(frozen=True, slots=True)
class RetentionSetting:
    retention_class: str
    years: float
    rule_id: str


@dataclass(frozen=True, slots=True)
class DeadlineSetting:
    days: int
    business: bool
    rule_id: str
    legal_basis: str


@dataclass(frozen=True, slots=True)
class Decision:
    stage: str
    jurisdiction: str
    packs: tuple[str, ...]
    effect: str  # the highest effect in PRECEDENCE that applies; "allow" when nothing matched
    matched: tuple[MatchedRule, ...] = ()
    required_departments: tuple[RequiredDepartment, ...] = ()
    human: HumanHandoff | None = None
    redact: tuple[str, ...] = ()  # personal-data kinds to mask in what goes out
    disclosures: tuple[str, ...] = ()  # texts to add to the reply, in rule order
    caps: tuple[Cap, ...] = ()
    blocked_actions: tuple[BlockedAction, ...] = ()
    retention: RetentionSetting | None = None  # the longest retention that applies
    flags: tuple[str, ...] = ()
    deadlines: tuple[DeadlineSetting, ...] = ()
    denials: tuple[Denial, ...] = ()
    error: str | None = None  # set when the check failed closed

    @property
    def denied(self) -> bool:
        return bool(self.denials)

    @property
    def deny_message(self) -> str | None:
        msgs = list(dict.fromkeys(d.message for d in self.denials))
        return " ".join(msgs) if msgs else None

    @property
    def turn_denied(self) -> bool:
        """A deny that is not limited to some tasks, actions or the data destination."""
        return any(d.whole_turn for d in self.denials)

    @property
    def denied_task_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for d in self.denials for t in d.task_ids))

    @property
    def destination_denied(self) -> bool:
        return any(d.destination for d in self.denials)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.matched)

    @property
    def departments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.department for r in self.required_departments))

    @property
    def deadline_days(self) -> int | None:
        return min((d.days for d in self.deadlines), default=None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            denied=self.denied,
            deny_message=self.deny_message,
            turn_denied=self.turn_denied,
            destination_denied=self.destination_denied,
        )
        return data

    @classmethod
    def fail_closed(cls, error: str, *, stage: str = "plan", jurisdiction: str = "") -> Decision:
        """The decision when policy could not be checked: no automated reply, a human takes over."""
        reason = f"policy check failed: {error}"
        return cls(
            stage=stage,
            jurisdiction=jurisdiction,
            packs=(),
            effect="require_human",
            human=HumanHandoff(reason=reason, sla_seconds=30, reasons=(reason,), rule_ids=("policy.error",)),
            flags=("policy_error",),
            error=error,
        )


@dataclass(frozen=True, slots=True)
class ActionVerdict:
    """Whether one action may run. When not, `message` says why and `needs_human` whether a
    person can approve it (a cap) rather than it being refused outright (a deny)."""

    allowed: bool
    rule_id: str | None = None
    message: str = ""
    needs_human: bool = False
    redact: tuple[str, ...] = ()  # for data destinations: kinds to mask before sending

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
