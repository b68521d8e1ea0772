"""The file format of rule packs and their test cases, validated with pydantic.

A pack is a YAML file:

    pack: eu
    description: GDPR data-subject rights and record keeping
    jurisdictions: [EU, DE, FR]        # "*" for every customer
    rules:
      - id: eu.gdpr.erasure
        description: Erasure requests go to compliance with the statutory deadline
        legal_basis: GDPR Art. 17, Art. 12(3)
        when: 'task.intent == "data_erasure"'
        stages: [plan]                   # default: both plan and outcome
        effects:
          - require_department: {department: compliance, intent: data_erasure}
          - deadline: {days: 30}

`load_pack_file` reports the first problem as "<file>: rule <id>: field <path>: <message>".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.errors import CrossdeskError
from policies.pii import KINDS as PII_KINDS

EFFECT_KINDS = (
    "deny",
    "require_human",
    "require_department",
    "cap_action",
    "redact",
    "disclose",
    "retention",
    "record",
    "deadline",
    "allow",
)
Stage = Literal["plan", "outcome"]
_NAME = r"^[a-z][a-z0-9_]*$"


class PackError(CrossdeskError):
    """A rule pack or pack test file is unusable; the message names file, rule and field."""


class _Effect(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Allow(_Effect):
    kind: Literal["allow"] = "allow"


class Deny(_Effect):
    kind: Literal["deny"] = "deny"
    message: str = Field(min_length=1)  # customer-safe: shown to the customer as is


class RequireDepartment(_Effect):
    kind: Literal["require_department"] = "require_department"
    department: str = Field(pattern=_NAME)
    intent: str | None = Field(default=None, pattern=_NAME)


class RequireHuman(_Effect):
    kind: Literal["require_human"] = "require_human"
    reason: str = Field(min_length=1)
    sla_seconds: int = Field(default=30, gt=0, le=86_400)


class Redact(_Effect):
    kind: Literal["redact"] = "redact"
    kinds: tuple[str, ...] = Field(min_length=1)

    @field_validator("kinds")
    @classmethod
    def _known(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in kinds if k not in PII_KINDS]
        if unknown:
            raise ValueError(f"unknown personal-data kind(s) {unknown}; known: {', '.join(PII_KINDS)}")
        return kinds


class Disclose(_Effect):
    kind: Literal["disclose"] = "disclose"
    text: str = Field(min_length=1)


class CapAction(_Effect):
    kind: Literal["cap_action"] = "cap_action"
    action: str = Field(pattern=_NAME)
    max_amount: float = Field(ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class Retention(_Effect):
    kind: Literal["retention"] = "retention"
    retention_class: str = Field(alias="class", pattern=_NAME)
    years: float = Field(ge=0, le=100)


class Record(_Effect):
    kind: Literal["record"] = "record"
    flag: str = Field(pattern=_NAME)


class Deadline(_Effect):
    kind: Literal["deadline"] = "deadline"
    days: int = Field(gt=0, le=3650)
    business: bool = False  # business days rather than calendar days


Effect = Annotated[
    Allow
    | Deny
    | RequireDepartment
    | RequireHuman
    | Redact
    | Disclose
    | CapAction
    | Retention
    | Record
    | Deadline,
    Field(discriminator="kind"),
]


def _effect_item(item: Any) -> Any:
    """`- deny: {message: ...}` or `- allow` -> {"kind": "deny", "message": ...}."""
    if isinstance(item, str):
        item = {item: {}}
    if not isinstance(item, dict) or len(item) != 1:
        raise ValueError(f"an effect is a mapping with one key, one of: {', '.join(EFFECT_KINDS)}")
    ((kind, params),) = item.items()
    if kind not in EFFECT_KINDS:
        raise ValueError(f"unknown effect {kind!r}; known: {', '.join(EFFECT_KINDS)}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"effect {kind!r} takes a mapping of parameters, not {type(params).__name__}")
    return {"kind": kind, **params}


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$")
    description: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    when: str | bool | list[Any] | dict[str, Any] = True
    stages: tuple[Stage, ...] = Field(default=("plan", "outcome"), min_length=1)
    effects: tuple[Effect, ...] = Field(min_length=1)

    @field_validator("effects", mode="before")
    @classmethod
    def _effects(cls, value: Any) -> Any:
        if isinstance(value, dict | str):
            value = [value]
        if not isinstance(value, list):
            raise ValueError("effects is a list, e.g. [{deny: {message: ...}}]")
        return [_effect_item(v) for v in value]


class PackHeader(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    pack: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    # "*" applies to every customer; "US" also covers "US-CA"
    jurisdictions: tuple[str, ...] = Field(min_length=1)
    rules: list[Any] = Field(min_length=1)

    @field_validator("jurisdictions")
    @classmethod
    def _codes(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        from policies.facts import normalise_jurisdiction

        out = []
        for code in codes:
            if code != "*" and not code.replace("-", "").isalnum():
                raise ValueError(f"jurisdiction {code!r} is not a code like EU, US-CA or *")
            out.append(code if code == "*" else normalise_jurisdiction(code))
        return tuple(out)


class Pack(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    jurisdictions: tuple[str, ...]
    rules: tuple[Rule, ...]
    path: Path


# ---------------------------------------------------------------- pack test cases


class ActionCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    department: str
    name: str
    args: dict[str, Any] = {}


class ExpectedRetention(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    retention_class: str = Field(alias="class")
    years: float


class Expect(BaseModel):
    """What a case expects. Lists are "at least these"; `effect`, booleans and numbers are exact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effect: str | None = None
    rules: tuple[str, ...] = ()  # must all match
    not_rules: tuple[str, ...] = ()  # must not match
    departments: tuple[str, ...] = ()
    human: bool | None = None
    sla_seconds: int | None = None
    deny: bool | None = None
    deny_message_contains: str | None = None
    redact: tuple[str, ...] = ()
    disclosures: tuple[str, ...] = ()  # substrings of some disclosure
    flags: tuple[str, ...] = ()
    deadlines: tuple[int, ...] = ()
    retention: ExpectedRetention | None = None
    no_retention: bool = False
    action_allowed: bool | None = None
    action_rule: str | None = None

    @field_validator("effect")
    @classmethod
    def _effect(cls, value: str | None) -> str | None:
        from policies.decision import PRECEDENCE

        if value is not None and value not in PRECEDENCE:
            raise ValueError(f"unknown effect {value!r}; one of: {', '.join(PRECEDENCE)}")
        return value


class Case(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    facts: dict[str, Any]
    action: ActionCheck | None = None
    expect: Expect

    @model_validator(mode="after")
    def _action_expectations(self) -> Case:
        wants_action = self.expect.action_allowed is not None or self.expect.action_rule is not None
        if wants_action and self.action is None:
            raise ValueError("expect.action_allowed/action_rule need an `action` to check")
        return self


class PackTests(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pack: str
    cases: tuple[Case, ...] = Field(min_length=1)


# ---------------------------------------------------------------- loading


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"{path}: cannot read ({exc})") from exc
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise PackError(f"{path}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from exc


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors(include_url=False)[0]
    return _loc(err["loc"]), err["msg"]


def parse_pack(data: Any, path: Path) -> Pack:
    """Validate a pack's parsed YAML; conditions are compiled by the engine."""
    if not isinstance(data, dict):
        raise PackError(f"{path}: a pack is a mapping with pack, jurisdictions and rules")
    try:
        header = PackHeader.model_validate(data)
    except ValidationError as exc:
        field, msg = _first_error(exc)
        raise PackError(f"{path}: field {field}: {msg}") from None
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(header.rules):
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        label = f"rule {rule_id}" if isinstance(rule_id, str) else f"rule #{i + 1} (no id)"
        if not isinstance(raw, dict):
            raise PackError(
                f"{path}: {label}: a rule is a mapping with id, description, legal_basis, when, effects"
            )
        try:
            rule = Rule.model_validate(raw)
        except ValidationError as exc:
            field, msg = _first_error(exc)
            raise PackError(f"{path}: {label}: field {field}: {msg}") from None
        if rule.id in seen:
            raise PackError(f"{path}: {label}: field id: the id is used twice in this pack")
        seen.add(rule.id)
        rules.append(rule)
    return Pack(
        name=header.pack,
        description=header.description,
        jurisdictions=header.jurisdictions,
        rules=tuple(rules),
        path=path,
    )


def load_pack_file(path: Path) -> Pack:
    return parse_pack(read_yaml(path), path)


def load_tests_file(path: Path) -> PackTests:
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise PackError(f"{path}: a pack test file is a mapping with pack and cases")
    try:
        return PackTests.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = err["loc"]
        label = ""
        if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
            cases = data.get("cases") or []
            name = cases[loc[1]].get("name") if isinstance(cases[loc[1]], dict) else None
            label = f"case {name!r}: " if name else f"case #{loc[1] + 1}: "
        raise PackError(f"{path}: {label}field {_loc(loc)}: {err['msg']}") from None
