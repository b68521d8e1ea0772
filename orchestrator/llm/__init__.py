"""Optional chat-model reasoning behind the same contracts as the embedded path.

Nothing here runs unless `[llm] model` (or CROSSDESK_LLM_MODEL) names a model;
importing this package loads neither langchain nor a provider SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.llm.config import LlmConfig, ModelRef, load_llm_config

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.llm.services import LlmServices
    from plugins.manager import PluginSet
    from traces.setup import Telemetry

__all__ = ["LlmConfig", "ModelRef", "build_llm", "load_llm_config"]


def build_llm(
    settings: Settings,
    plugins: PluginSet,
    policy: Any = None,
    *,
    models: Mapping[str, Any] | None = None,
    telemetry: Telemetry | None = None,
) -> LlmServices | None:
    """The LLM services for these settings, or None when every step is on the embedded path.

    `models` ("provider:model" -> chat model) replaces building them with
    `init_chat_model`, e.g. with the scripted models of `orchestrator.llm.testing`.
    `policy` is the policy node (its engine decides where data may go); without
    one the configured packs are loaded.
    """
    cfg = load_llm_config(settings)
    if not cfg.enabled:
        return None
    from orchestrator.llm.models import build_model
    from orchestrator.llm.services import LlmServices

    given = dict(models or {})
    chat_models = {ref.spec: given.get(ref.spec) or build_model(ref, cfg) for ref in cfg.models()}
    engine = getattr(policy, "engine", None)
    if engine is None:
        from policies.engine import PolicyEngine

        engine = PolicyEngine.from_settings(settings, plugins.policy_paths())
    return LlmServices(
        cfg,
        chat_models,
        plugins,
        engine,
        threshold=settings.confidence_threshold,
        telemetry=telemetry,
    )
