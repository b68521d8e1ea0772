"""Choosing a model: [llm] settings, the environment, provider packages and keys, retries."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import ConfigError, Settings, load_settings
from orchestrator.llm.calls import Caller, LlmFailure, retryable
from orchestrator.llm.config import Cost, ModelRef, load_llm_config
from orchestrator.llm.models import build_model
from orchestrator.llm.testing import ScriptedChatModel, ScriptExhausted, tool_call
from orchestrator.llm.usage import UsageLog, UsageMeter


def settings(toml: str) -> Settings:
    Path("crossdesk.toml").write_text(toml, encoding="utf-8")
    return load_settings()


def test_nothing_configured_means_the_embedded_path() -> None:
    cfg = load_llm_config(load_settings(), environ={})
    assert not cfg.enabled and cfg.models() == []


def test_one_model_for_every_step_with_per_step_overrides_and_costs() -> None:
    cfg = load_llm_config(
        settings(
            """
[llm]
model = "openai:gpt-4o-mini"
composer = "embedded"
departments = "anthropic:claude-sonnet-4-5"
timeout_s = 12
retries = 1

[llm.costs."openai:gpt-4o-mini"]
input = 0.15
output = 0.6
"""
        ),
        environ={},
    )
    assert cfg.supervisor == ModelRef("openai", "gpt-4o-mini")
    assert cfg.departments == ModelRef("anthropic", "claude-sonnet-4-5")
    assert cfg.composer is None
    assert (cfg.timeout_s, cfg.retries) == (12.0, 1)
    assert cfg.costs == {"openai:gpt-4o-mini": Cost(0.15, 0.6)}
    assert cfg.cost_of(ModelRef("openai", "gpt-4o-mini"), 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cfg.cost_of(ModelRef("anthropic", "claude-sonnet-4-5"), 10, 10) is None  # no price: unknown
    assert cfg.cost_of(ModelRef("ollama", "llama3.1"), 10, 10) == 0.0  # a local server


def test_the_environment_wins_over_the_file() -> None:
    s = settings('[llm]\nmodel = "openai:gpt-4o-mini"\n')
    cfg = load_llm_config(s, environ={"CROSSDESK_LLM_MODEL": "ollama:llama3.1", "CROSSDESK_LLM_RETRIES": "0"})
    assert cfg.supervisor == cfg.departments == cfg.composer == ModelRef("ollama", "llama3.1")
    assert cfg.retries == 0
    assert not load_llm_config(s, environ={"CROSSDESK_LLM_MODEL": "embedded"}).enabled


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[llm]\nmodel = "gpt-4o-mini"\n', 'is not "provider:model"'),
        ('[llm]\nmodle = "openai:gpt-4o-mini"\n', "unknown setting(s) in [llm]: modle"),
        ("[llm]\nretries = -1\n", "llm.retries=-1 must be between 0 and 10"),
        ('[llm]\ntimeout_s = "soon"\n', "llm.timeout_s='soon' is not a float"),
        ('[llm.costs."openai:gpt-4o-mini"]\ninput = 1\n', "needs exactly input and output"),
    ],
)
def test_bad_settings_say_what_to_fix(toml: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_llm_config(settings(toml), environ={})
    assert says in str(err.value)


def test_a_model_without_its_key_is_a_clear_error_at_start_up(seeded_home: Path, monkeypatch: Any) -> None:
    from orchestrator.runtime import Orchestrator

    monkeypatch.setenv("CROSSDESK_LLM_MODEL", "openai:gpt-4o-mini")
    with pytest.raises(ConfigError, match=r"needs an API key in OPENAI_API_KEY"):
        Orchestrator(load_settings())


@pytest.mark.skipif(
    importlib.util.find_spec("langchain_anthropic") is not None, reason="the extra is installed"
)
def test_a_provider_without_its_package_names_the_extra_to_install(monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    cfg = load_llm_config(load_settings(), environ={"CROSSDESK_LLM_MODEL": "anthropic:claude-sonnet-4-5"})
    with pytest.raises(ConfigError, match=r"pip install 'crossdesk\[anthropic\]'"):
        build_model(ModelRef("anthropic", "claude-sonnet-4-5"), cfg)


def test_an_openai_model_is_built_with_the_timeout_and_without_its_own_retries(monkeypatch: Any) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = load_llm_config(
        load_settings(), environ={"CROSSDESK_LLM_MODEL": "openai:gpt-4o-mini", "CROSSDESK_LLM_TIMEOUT": "7"}
    )
    model = build_model(ModelRef("openai", "gpt-4o-mini"), cfg)
    assert type(model).__name__ == "ChatOpenAI"
    assert model.model_name == "gpt-4o-mini"  # type: ignore[attr-defined]
    assert model.request_timeout == 7.0 and model.max_retries == 0  # type: ignore[attr-defined]


# ---------------------------------------------------------------- retries


class Status(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


@pytest.mark.parametrize(
    ("status", "again"), [(429, True), (500, True), (503, True), (400, False), (401, False)]
)
def test_which_provider_errors_are_retried(status: int, again: bool) -> None:
    assert retryable(Status(status)) is again
    assert retryable(ConnectionResetError()) is True
    assert retryable(ValueError("bad json")) is False


def test_retries_back_off_exponentially_then_give_up() -> None:
    cfg = load_llm_config(
        load_settings(),
        environ={"CROSSDESK_LLM_MODEL": "openai:gpt-x", "CROSSDESK_LLM_RETRIES": "3"},
    )
    waits: list[float] = []
    caller = Caller(cfg, UsageMeter(), sleep=waits.append)
    model = ScriptedChatModel(handler=lambda r: Status(503))
    usage = UsageLog()
    with pytest.raises(LlmFailure) as err:
        caller.invoke(model, "hi", ref=ModelRef("openai", "gpt-x"), step="composer", usage=usage)
    assert err.value.reason == "provider_error" and len(model.requests) == 4
    assert len(waits) == 3
    for n, wait in enumerate(waits):  # backoff_s * 2**n, with jitter between half and all of it
        assert 0.5 * 0.5 * 2**n <= wait <= 0.5 * 2**n
    (call,) = usage.calls
    assert call.attempts == 4 and not call.ok and call.error == "provider_error"


# ---------------------------------------------------------------- the scripted model itself


def test_the_scripted_model_does_tool_calling_and_structured_output() -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        city: str

    model = ScriptedChatModel(script=[{"city": "Lisbon"}, tool_call("lookup", id="A1"), "plain text"])
    assert model.with_structured_output(Answer).invoke("where?") == Answer(city="Lisbon")
    bound = model.bind_tools([{"type": "function", "function": {"name": "lookup", "parameters": {}}}])
    msg = bound.invoke("find A1")
    assert msg.tool_calls[0]["name"] == "lookup" and msg.tool_calls[0]["args"] == {"id": "A1"}
    assert model.invoke("hello").content == "plain text"
    assert [r.tool_names for r in model.requests] == [["Answer"], ["lookup"], []]
    assert all(r.messages for r in model.requests)
    with pytest.raises(ScriptExhausted):
        model.invoke("one more")
