"""Chat models for the configured steps, built with langchain's `init_chat_model`.

Each provider package is an optional extra (`pip install 'crossdesk[openai]'`, `[anthropic]`,
`[ollama]`); langchain and the provider SDKs are imported only when a model is configured.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from orchestrator.config import ConfigError
from orchestrator.llm.config import LlmConfig, ModelRef

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

# provider -> (package, extra, the environment variable that must hold an API key)
PROVIDERS: dict[str, tuple[str, str, str | None]] = {
    "openai": ("langchain-openai", "openai", "OPENAI_API_KEY"),
    "anthropic": ("langchain-anthropic", "anthropic", "ANTHROPIC_API_KEY"),
    "ollama": ("langchain-ollama", "ollama", None),  # OLLAMA_HOST, default http://localhost:11434
}


def _provider_kwargs(ref: ModelRef, cfg: LlmConfig) -> dict[str, Any]:
    # the provider's own retries are off: crossdesk retries with backoff inside a time budget
    if ref.provider == "openai":
        return {"timeout": cfg.timeout_s, "max_retries": 0}
    if ref.provider == "anthropic":
        return {"timeout": cfg.timeout_s, "max_retries": 0}
    if ref.provider == "ollama":
        return {"client_kwargs": {"timeout": cfg.timeout_s}}
    return {}


def build_model(ref: ModelRef, cfg: LlmConfig) -> BaseChatModel:
    """One chat model, or a ConfigError that says what to install or set. Keys come from the environment."""
    package, extra, key_var = PROVIDERS.get(ref.provider, (f"the {ref.provider} integration", "", None))
    if key_var is not None and not os.environ.get(key_var):
        raise ConfigError(
            f'the model {ref.spec} needs an API key in {key_var}; set it, or set llm.model = "embedded" '
            "(or unset CROSSDESK_LLM_MODEL) to stay offline"
        )
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise ConfigError(
            f"the model {ref.spec} needs the langchain package: pip install 'crossdesk[{extra or 'openai'}]'"
        ) from exc
    kwargs = {"temperature": cfg.temperature, **_provider_kwargs(ref, cfg)}
    try:
        return init_chat_model(ref.spec, **kwargs)
    except ImportError as exc:
        hint = f"pip install 'crossdesk[{extra}]'" if extra else f"pip install {package}"
        raise ConfigError(f"the model {ref.spec} needs {package}: {hint} ({exc})") from exc
    except ValueError as exc:
        raise ConfigError(f"cannot use the model {ref.spec}: {exc}") from exc


def build_models(cfg: LlmConfig) -> dict[str, BaseChatModel]:
    """ "provider:model" -> chat model, one per distinct model the steps use."""
    return {ref.spec: build_model(ref, cfg) for ref in cfg.models()}
