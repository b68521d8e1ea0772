"""Helpers for the LLM-path tests: an orchestrator with scripted models and scripted answers."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.config import load_settings
from orchestrator.llm.testing import Request, ScriptedChatModel, final_reply
from orchestrator.runtime import Orchestrator

MODEL = "openai:gpt-test"
_ARTICLE = re.compile(r"^- \[([^\]]+)\]", re.M)


def orchestrator(
    monkeypatch: Any, models: dict[str, ScriptedChatModel], toml: str = "", model: str = MODEL
) -> Orchestrator:
    """An orchestrator whose [llm] settings come from `toml` (plus CROSSDESK_LLM_MODEL=model)."""
    monkeypatch.setenv("CROSSDESK_LLM_MODEL", model)
    if toml:
        Path("crossdesk.toml").write_text(toml, encoding="utf-8")  # the tests' working folder
    return Orchestrator(load_settings(), llm_models=models)


def issue(
    text: str, department: str, intent: str, confidence: float = 0.9, **entities: Any
) -> dict[str, Any]:
    return {
        "text": text,
        "department": department,
        "intent": intent,
        "confidence": confidence,
        "entities": entities,
    }


def plan(*issues: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """A supervisor's structured answer."""
    return {"sub_issues": list(issues), **flags}


def articles(request: Request) -> list[str]:
    """The article ids the department run was given."""
    return _ARTICLE.findall(request.human)


def department_of(request: Request) -> str | None:
    m = re.search(r"You are the (\w+) department", request.system)
    return m.group(1) if m else None


def routed(
    supervisor: Any, departments: dict[str, list[Any]], composer: Callable[[Request], Any] | None = None
) -> Callable[[Request], Any]:
    """One handler for a model shared by every step: the supervisor's plan, each department's
    script (in order, per department) and the composer's answer (default: the draft unchanged)."""
    queues = {name: list(steps) for name, steps in departments.items()}

    def handle(request: Request) -> Any:
        if request.structured:
            return supervisor(request) if callable(supervisor) else supervisor
        dep = department_of(request)
        if dep is not None:
            step = queues[dep].pop(0)
            return step(request) if callable(step) else step
        if composer is not None:
            return composer(request)
        return request.human  # the composer keeps the draft

    return handle


def cite_first(status: str = "resolved", text: str = "Here is what I found") -> Callable[[Request], Any]:
    """A department's final reply citing the first article it was given."""

    def answer(request: Request) -> Any:
        ids = articles(request)
        return final_reply(status, f"{text} [{ids[0]}]." if ids else f"{text}.", article_ids=ids[:1])

    return answer
