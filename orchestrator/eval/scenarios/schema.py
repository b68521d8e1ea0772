"""The scenario file format: conversations with the outcome each turn must have.

A file is a YAML list of scenarios (format in docs/evaluation.md, "Scenarios").
Every problem is an `InputError` naming the file, the scenario and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestrator.errors import InputError

DEFAULT_DIR = Path(__file__).parent
JURISDICTIONS = ("EU", "UK", "US-CA", "US", "CN", "SG")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyExpect(_Strict):
    """What the policy node must (not) have done on the turn."""

    rules: tuple[str, ...] = ()  # rule ids that matched (plan or outcome)
    not_rules: tuple[str, ...] = ()
    denied: bool | None = None  # some sub-issue (or the whole turn) was refused


class CustomerTurn(_Strict):
    message: str = Field(min_length=1)
    departments: tuple[str, ...]  # the departments owning the sub-issues, in the order asked
    actions: tuple[str, ...] = ()  # actions that must have run ok
    no_actions: tuple[str, ...] = ()
    reply_has: tuple[str, ...] = ()  # case-insensitive substrings
    reply_lacks: tuple[str, ...] = ()
    handoff: bool = False  # a person must (not) be involved after this turn
    status: str | None = None  # the turn record's status
    unclear: bool = False  # a clarifying question is expected
    policy: PolicyExpect | None = None
    follow_up: bool = False  # continues the open task of the previous turn
    no_reask: tuple[str, ...] = ()  # phrases that would ask again for what earlier turns gave


class OperatorStep(_Strict):
    """A person acting on the conversation between customer turns (orchestrator.takeover)."""

    operator: Literal["claim", "reply", "release"]
    text: str | None = None  # with reply
    name: str = "eval-operator"

    @model_validator(mode="after")
    def _reply_needs_text(self) -> OperatorStep:
        if self.operator == "reply" and not (self.text or "").strip():
            raise ValueError("an operator reply needs text")
        return self


Step = CustomerTurn | OperatorStep


class Scenario(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    customer: str | None = None  # a demo customer id (docs/demo-data.md)
    jurisdiction: str | None = None  # for an anonymous visitor
    tags: tuple[str, ...] = ()
    known_gap: str | None = None  # why crossdesk does not meet this expectation yet
    turns: tuple[Step, ...] = Field(min_length=1)
    source: str = ""  # the file it came from (set when loading)

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if self.jurisdiction is not None and self.jurisdiction not in JURISDICTIONS:
            raise ValueError(f"jurisdiction must be one of {', '.join(JURISDICTIONS)}")
        if not isinstance(self.turns[0], CustomerTurn):
            raise ValueError("the first turn must be a customer message")
        return self

    @property
    def customer_turns(self) -> list[CustomerTurn]:
        return [t for t in self.turns if isinstance(t, CustomerTurn)]


def _step(raw: Any) -> Any:
    """Pick the step model by its keys, so errors name the right fields."""
    if isinstance(raw, dict) and "operator" in raw:
        return OperatorStep.model_validate(raw)
    return CustomerTurn.model_validate(raw)


def _where(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def read_file(path: Path) -> list[Scenario]:
    """The scenarios of one YAML file."""
    if not path.is_file():
        raise InputError(f"{path}: no such scenario file; pass a YAML list of scenarios")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: expected a non-empty YAML list of scenarios (see docs/evaluation.md)")
    out = []
    for n, raw in enumerate(data, start=1):
        ident = raw.get("id", f"#{n}") if isinstance(raw, dict) else f"#{n}"
        if not isinstance(raw, dict):
            raise InputError(f"{path}: scenario {ident}: expected a mapping with id and turns")
        try:
            turns = raw.get("turns")
            steps = []
            for i, turn in enumerate(turns if isinstance(turns, list) else []):
                try:
                    steps.append(_step(turn))
                except ValidationError as exc:
                    raise InputError(f"{path}: scenario {ident}: turns.{i}: {_where(exc)}") from exc
            scenario = Scenario.model_validate(
                {**raw, "turns": steps if isinstance(turns, list) else turns, "source": path.name}
            )
        except ValidationError as exc:
            raise InputError(f"{path}: scenario {ident}: {_where(exc)}") from exc
        out.append(scenario)
    return out


def load_scenarios(paths: list[Path] | None = None) -> list[Scenario]:
    """The scenarios of the given files (or folders), by default the shipped set; ids must be unique."""
    files: list[Path] = []
    for p in paths or [DEFAULT_DIR]:
        files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
    if not files:
        raise InputError(f"no scenario files (*.yaml) in {', '.join(str(p) for p in paths or [DEFAULT_DIR])}")
    scenarios: list[Scenario] = []
    seen: dict[str, str] = {}
    for f in files:
        for s in read_file(f):
            if s.id in seen:
                raise InputError(f"{f}: scenario {s.id}: id already used in {seen[s.id]}")
            seen[s.id] = f.name
            scenarios.append(s)
    return scenarios
