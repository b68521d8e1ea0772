"""Scripted chat models for tests: no network, deterministic, and they remember what they were asked.

    from orchestrator.llm.testing import ScriptedChatModel, final_reply, tool_call

    model = ScriptedChatModel(script=[tool_call("refund", transaction_id="TX-1", reason="duplicate"),
                                      final_reply("resolved", "Refunded. [billing-refunds]")])
    orch = Orchestrator(settings, llm_models={"openai:gpt-4o-mini": model})  # CROSSDESK_LLM_MODEL=openai:gpt-4o-mini

A script step is an AIMessage, a string (a plain answer), a dict or pydantic object
(structured output: the answer to `with_structured_output`), an exception (raised, as
a provider error would be) or a callable taking the `Request` and returning a step.
`handler` answers once the script is used up. langchain_core's fakes implement neither
`bind_tools` nor `with_structured_output`; these do.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, PrivateAttr

RESPOND = "reply_to_customer"  # the department runner's finishing tool (orchestrator.llm.agent)


class ScriptExhausted(AssertionError):
    """The model was called more often than the test scripted."""


@dataclass
class Request:
    """One call the model received."""

    messages: list[BaseMessage]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None

    @property
    def system(self) -> str:
        return "\n".join(str(m.content) for m in self.messages if isinstance(m, SystemMessage))

    @property
    def human(self) -> str:
        return "\n".join(str(m.content) for m in self.messages if isinstance(m, HumanMessage))

    @property
    def text(self) -> str:
        """Everything the model was sent, tool definitions included: what a provider would see."""
        return "\n".join(str(m.content) for m in self.messages) + json.dumps(self.tools)

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools]

    @property
    def structured(self) -> bool:
        """The call is a `with_structured_output` call (one forced tool)."""
        return self.tool_choice is not None and len(self.tools) == 1


def tool_call(name: str, /, **args: Any) -> AIMessage:
    """An answer that calls one tool."""
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:8]}"}]
    )


def final_reply(status: str, reply: str, /, **extra: Any) -> AIMessage:
    """A department run's finishing call (`reply_to_customer`)."""
    return tool_call(RESPOND, status=status, reply=reply, **extra)


def _words(text: str) -> int:
    return len(text.split())


class ScriptedChatModel(GenericFakeChatModel):
    """A fake chat model answering from a script, with tool calling and structured output."""

    messages: Iterator[AIMessage | str] = Field(default_factory=lambda: iter(()))
    script: list[Any] = Field(default_factory=list)
    handler: Callable[[Request], Any] | None = None
    sleep_s: float = 0.0  # per call, to test timeouts
    model_name: str = "scripted"
    _requests: list[Request] = PrivateAttr(default_factory=list)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[Any, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[Any, Any]:
        # provider options such as method= or strict= mean nothing to a script
        return super().with_structured_output(schema, include_raw=include_raw)

    def _next(self, request: Request) -> Any:
        with self._lock:
            self._requests.append(request)
            step = self.script.pop(0) if self.script else None
        if step is None:
            if self.handler is None:
                raise ScriptExhausted(
                    f"the scripted model got call {len(self._requests)} but has no step left"
                )
            step = self.handler(request)
        while callable(step) and not isinstance(step, BaseModel | AIMessage | type):
            step = step(request)
        return step

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = Request(list(messages), list(kwargs.get("tools") or []), kwargs.get("tool_choice"))
        step = self._next(request)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if isinstance(step, BaseException):
            raise step
        message = self._as_message(step, request)
        if message.usage_metadata is None:
            tokens_in = _words(request.text)
            tokens_out = _words(str(message.content)) + sum(
                _words(json.dumps(c["args"])) for c in message.tool_calls
            )
            message = message.model_copy(
                update={
                    "usage_metadata": {
                        "input_tokens": tokens_in,
                        "output_tokens": tokens_out,
                        "total_tokens": tokens_in + tokens_out,
                    }
                }
            )
        return ChatResult(generations=[ChatGeneration(message=message)])

    @staticmethod
    def _as_message(step: Any, request: Request) -> AIMessage:
        if isinstance(step, AIMessage):
            return step
        if isinstance(step, str):
            return AIMessage(content=step)
        if isinstance(step, BaseModel):
            step = step.model_dump(mode="json")
        if isinstance(step, dict):
            if request.structured:
                return tool_call(request.tool_names[0], **step)
            return AIMessage(content=json.dumps(step))
        raise TypeError(
            f"a script step must be an AIMessage, str, dict, BaseModel, exception or callable, not {step!r}"
        )

    @property
    def _llm_type(self) -> str:
        return "crossdesk-scripted"
