"""Which chat model (if any) each step uses, read from `[llm]` in crossdesk.toml and the environment.

    [llm]
    model = "openai:gpt-4o-mini"        # every step; "embedded" (the default) turns the LLM path off
    supervisor = "openai:gpt-4o-mini"   # optional per step: supervisor, departments, composer
    composer = "embedded"               # a step set to "embedded" stays on the offline path
    timeout_s = 30                      # one model call
    retries = 2                         # after the first try, with exponential backoff
    backoff_s = 0.5
    department_budget_s = 60            # the whole LLM part of one department run
    max_tool_rounds = 5
    temperature = 0.0

    [llm.costs."openai:gpt-4o-mini"]    # USD per million tokens, for the estimated cost
    input = 0.15
    output = 0.60

Environment variables win: CROSSDESK_LLM_MODEL, CROSSDESK_LLM_SUPERVISOR,
CROSSDESK_LLM_DEPARTMENTS, CROSSDESK_LLM_COMPOSER, CROSSDESK_LLM_TIMEOUT,
CROSSDESK_LLM_RETRIES. API keys and base URLs come from each provider's own
variables (OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, OLLAMA_HOST, ...).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import ConfigError, Settings

STEPS = ("supervisor", "departments", "composer")
OFF = frozenset({"", "embedded", "none", "off"})
_SPEC = re.compile(r"^([a-z][a-z0-9_]*):(\S+)$")
_KEYS = {
    "model",
    *STEPS,
    "timeout_s",
    "retries",
    "backoff_s",
    "department_budget_s",
    "max_tool_rounds",
    "temperature",
    "costs",
}
_ENV = {
    "CROSSDESK_LLM_MODEL": "model",
    "CROSSDESK_LLM_SUPERVISOR": "supervisor",
    "CROSSDESK_LLM_DEPARTMENTS": "departments",
    "CROSSDESK_LLM_COMPOSER": "composer",
    "CROSSDESK_LLM_TIMEOUT": "timeout_s",
    "CROSSDESK_LLM_RETRIES": "retries",
}


@dataclass(frozen=True)
class ModelRef:
    """A chat model named "provider:model", e.g. "anthropic:claude-sonnet-4-5"."""

    provider: str
    name: str

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def destination(self) -> str:
        # every provider counts as external: the data leaves this process for a model server
        return f"external:{self.provider}"

    def __str__(self) -> str:
        return self.spec


@dataclass(frozen=True)
class Cost:
    """USD per million tokens."""

    input: float
    output: float

    def estimate(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class LlmConfig:
    supervisor: ModelRef | None = None
    departments: ModelRef | None = None
    composer: ModelRef | None = None
    timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.5
    department_budget_s: float = 60.0
    max_tool_rounds: int = 5
    temperature: float = 0.0
    costs: dict[str, Cost] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return any(self.step(s) is not None for s in STEPS)

    def step(self, name: str) -> ModelRef | None:
        if name not in STEPS:
            raise ValueError(f"unknown step {name!r}; steps are {', '.join(STEPS)}")
        ref: ModelRef | None = getattr(self, name)
        return ref

    def models(self) -> list[ModelRef]:
        """Every distinct model the steps use."""
        return list(dict.fromkeys(r for r in (self.supervisor, self.departments, self.composer) if r))

    def cost_of(self, ref: ModelRef, input_tokens: int, output_tokens: int) -> float | None:
        """Estimated USD, or None when the cost table has no price for this model."""
        price = self.costs.get(ref.spec)
        if price is None:
            return 0.0 if ref.provider == "ollama" else None  # a local server costs no tokens
        return price.estimate(input_tokens, output_tokens)


def parse_model(value: Any, where: str) -> ModelRef | None:
    """ "provider:model" -> ModelRef; "embedded" (or empty) -> None."""
    if not isinstance(value, str):
        raise ConfigError(f'{where} must be a string like "openai:gpt-4o-mini", not {value!r}')
    text = value.strip()
    if text.lower() in OFF:
        return None
    m = _SPEC.match(text)
    if m is None:
        raise ConfigError(
            f'{where}={value!r} is not "provider:model"; write e.g. "openai:gpt-4o-mini", '
            '"anthropic:claude-sonnet-4-5" or "ollama:llama3.1", or "embedded" for the offline path'
        )
    return ModelRef(m.group(1), m.group(2))


def _number(value: Any, where: str, typ: type, low: float, high: float) -> Any:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = typ(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r} is not a {typ.__name__}") from None
    if not low <= number <= high:
        raise ConfigError(f"{where}={value!r} must be between {low:g} and {high:g}")
    return number


def _costs(raw: Any) -> dict[str, Cost]:
    if not isinstance(raw, dict):
        raise ConfigError('[llm] costs must be a table like [llm.costs."openai:gpt-4o-mini"]')
    out: dict[str, Cost] = {}
    for spec, price in raw.items():
        where = f'[llm.costs."{spec}"]'
        ref = parse_model(spec, where)
        if ref is None:
            raise ConfigError(f"{where}: name a model, not {spec!r}")
        if not isinstance(price, dict) or set(price) != {"input", "output"}:
            raise ConfigError(f"{where} needs exactly input and output (USD per million tokens)")
        out[ref.spec] = Cost(
            input=_number(price["input"], f"{where} input", float, 0, 1e6),
            output=_number(price["output"], f"{where} output", float, 0, 1e6),
        )
    return out


def load_llm_config(settings: Settings, environ: dict[str, str] | None = None) -> LlmConfig:
    """The LLM configuration; raises ConfigError saying which setting is wrong and how to fix it."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = dict(settings.section("llm"))
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) in [llm]: {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}"
        )
    for var, key in _ENV.items():
        if env.get(var) is not None:
            raw[key] = env[var]
    base = parse_model(raw.get("model", "embedded"), "llm.model")
    steps = {s: parse_model(raw[s], f"llm.{s}") if s in raw else base for s in STEPS}
    return LlmConfig(
        **steps,
        timeout_s=_number(raw.get("timeout_s", 30.0), "llm.timeout_s", float, 0.05, 600),
        retries=_number(raw.get("retries", 2), "llm.retries", int, 0, 10),
        backoff_s=_number(raw.get("backoff_s", 0.5), "llm.backoff_s", float, 0, 60),
        department_budget_s=_number(
            raw.get("department_budget_s", 60.0), "llm.department_budget_s", float, 0.1, 3600
        ),
        max_tool_rounds=_number(raw.get("max_tool_rounds", 5), "llm.max_tool_rounds", int, 1, 20),
        temperature=_number(raw.get("temperature", 0.0), "llm.temperature", float, 0, 2),
        costs=_costs(raw.get("costs", {})),
    )
