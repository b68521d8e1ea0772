"""The facts a policy rule reads about one turn.

The policy node runs twice per turn: on the plan (`stage="plan"`: the
decomposition, before any department runs) and on the outcome
(`stage="outcome"`: the actions taken and the composed reply). Build the first
with `facts_from_message` and the second with `facts_for_outcome`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.nlu.types import Decomposition, Signals
from plugins.contracts import CustomerView, DepartmentResult, Task

Stage = Literal["plan", "outcome"]
RISK_RANK = {"low": 1, "medium": 2, "high": 3}


def normalise_jurisdiction(code: str | None) -> str:
    """Upper-case, "_" to "-", "GB" to "UK": "us_ca" -> "US-CA". Empty -> "" (unknown)."""
    value = (code or "").strip().upper().replace("_", "-")
    return "UK" if value == "GB" else value


def check_destination(value: str) -> str:
    if value != "local" and not value.startswith("external:"):
        raise ValueError(f'data destination {value!r} must be "local" or "external:<provider>"')
    return value


def amount_of(args: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """(amount, currency) of an action's arguments: `amount` as a number, a Money or its dict."""
    raw = args.get("amount")
    currency = args.get("currency")
    if isinstance(raw, Mapping):
        currency = raw.get("currency") or currency
        raw = raw.get("amount")
    elif raw is not None and hasattr(raw, "amount"):
        currency = getattr(raw, "currency", None) or currency
        raw = raw.amount
    try:
        amount = None if raw is None or isinstance(raw, bool) else float(raw)
    except (TypeError, ValueError):
        amount = None
    return amount, (str(currency).upper() if currency else None)


class ActionFact(BaseModel):
    """An action a department proposes (plan) or took (outcome)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    department: str
    name: str
    args: dict[str, Any] = {}
    taken: bool = False  # False: proposed; True: it ran
    ok: bool | None = None  # with taken: whether it succeeded
    money_movement: bool = False

    @property
    def amount(self) -> float | None:
        return amount_of(self.args)[0]

    @property
    def currency(self) -> str | None:
        return amount_of(self.args)[1]

    @property
    def risk_rank(self) -> int | None:
        """Risk of the product the action concerns (args.risk_level: low/medium/high) as 1..3."""
        level = self.args.get("risk_level")
        return RISK_RANK.get(str(level).lower()) if level is not None else None


class TurnFacts(BaseModel):
    """Everything a rule condition may read. Field paths are listed in docs/policies.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: Stage = "plan"
    customer: CustomerView | None = None
    # the customer's jurisdiction unless given: "EU", "UK", "US-CA", "US", "CN", "SG", ...
    jurisdiction: str = ""
    message: str = ""
    tasks: tuple[Task, ...] = ()
    signals: Signals = Signals()
    wants_human: bool = False
    actions: tuple[ActionFact, ...] = ()
    reply: str = ""  # the composed reply (outcome stage)
    reply_pii: frozenset[str] | None = None  # computed from `reply` when not given
    # where the turn's data would go: "local" or "external:<provider>"
    data_destination: str = "local"
    # earlier consecutive contacts about the same issue: the third complaint in a row has 2
    repeat_contacts: int = Field(default=0, ge=0)

    @field_validator("data_destination")
    @classmethod
    def _destination(cls, value: str) -> str:
        return check_destination(value)

    @model_validator(mode="after")
    def _derive(self) -> TurnFacts:
        jurisdiction = normalise_jurisdiction(
            self.jurisdiction or (self.customer.jurisdiction if self.customer else "")
        )
        object.__setattr__(self, "jurisdiction", jurisdiction)
        if self.reply_pii is None:
            from policies.pii import categories

            object.__setattr__(
                self, "reply_pii", frozenset(categories(self.reply)) if self.reply else frozenset()
            )
        return self

    def with_destination(self, destination: str) -> TurnFacts:
        return self.model_copy(update={"data_destination": check_destination(destination)})

    def with_actions(self, actions: Iterable[ActionFact]) -> TurnFacts:
        return self.model_copy(update={"actions": tuple(actions)})

    def replaced(self, **changes: Any) -> TurnFacts:
        """A validated copy with `changes` (derived fields such as `reply_pii` are recomputed)."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        if "reply" in changes and "reply_pii" not in changes:
            values["reply_pii"] = None
        return TurnFacts.model_validate({**values, **changes})


def facts_from_message(
    decomposition: Decomposition,
    *,
    customer: CustomerView | None = None,
    jurisdiction: str | None = None,
    repeat_contacts: int = 0,
    data_destination: str = "local",
    actions: Iterable[ActionFact] = (),
) -> TurnFacts:
    """Plan-stage facts from an already computed decomposition.

    Unclear sub-issues are included with their best guess: a rule about erasure
    requests must see one even when the router was unsure.
    """
    return TurnFacts(
        stage="plan",
        customer=customer,
        jurisdiction=jurisdiction or "",
        message=decomposition.text,
        tasks=tuple(decomposition.tasks) + tuple(decomposition.unclear),
        signals=decomposition.signals,
        wants_human=decomposition.wants_human,
        actions=tuple(actions),
        data_destination=data_destination,
        repeat_contacts=repeat_contacts,
    )


def facts_for_outcome(
    plan: TurnFacts,
    results: Sequence[DepartmentResult],
    reply: str,
    *,
    money_movement: Callable[[str, str], bool] | None = None,
) -> TurnFacts:
    """Outcome-stage facts: the plan's facts plus the actions the departments took and the reply.

    `money_movement(department, action)` says whether an action moves money
    (`ActionSpec.money_movement`); without it, an action whose arguments carry an
    amount counts as moving money.
    """
    actions = []
    for result in results:
        for record in result.actions:
            moves = (
                money_movement(result.department, record.name)
                if money_movement is not None
                else amount_of(record.args)[0] is not None
            )
            actions.append(
                ActionFact(
                    department=result.department,
                    name=record.name,
                    args=dict(record.args),
                    taken=True,
                    ok=record.ok,
                    money_movement=moves,
                )
            )
    return plan.replaced(stage="outcome", actions=tuple(actions), reply=reply)


def facts_from_dict(data: Mapping[str, Any]) -> TurnFacts:
    """Facts from a plain mapping (pack test cases, `policy explain --facts`).

    Tasks need only `department` and `intent`; ids, text and confidence get
    defaults. A customer needs only `jurisdiction` (or nothing: the turn's).
    """
    data = dict(data)
    tasks = []
    for i, raw in enumerate(data.pop("tasks", []) or [], start=1):
        if not isinstance(raw, Mapping):
            raise ValueError(f"tasks[{i - 1}] must be a mapping with department and intent")
        item = {"id": f"t{i}", "text": "", "span": (0, 0), "confidence": 1.0, **raw}
        tasks.append(Task.model_validate(item))
    customer = data.pop("customer", None)
    if isinstance(customer, Mapping):
        customer = {
            "id": "c-test",
            "name": "Test Customer",
            "jurisdiction": data.get("jurisdiction", ""),
            **customer,
        }
        customer = CustomerView.model_validate(customer)
    actions = [ActionFact.model_validate(a) for a in data.pop("actions", []) or []]
    signals = data.get("signals")
    if isinstance(signals, Mapping):
        # Signals ignores unknown keys; a typo in a test case must not pass silently
        unknown = sorted(set(signals) - set(Signals.model_fields))
        if unknown:
            raise ValueError(f"unknown signal(s) {unknown}; known: {', '.join(Signals.model_fields)}")
    if "reply_pii" in data and data["reply_pii"] is not None:
        data["reply_pii"] = frozenset(data["reply_pii"])
    return TurnFacts.model_validate({**data, "tasks": tasks, "customer": customer, "actions": actions})
