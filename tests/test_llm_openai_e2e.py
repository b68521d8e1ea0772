"""The real provider code path: `openai:` through init_chat_model, the OpenAI client and HTTP, against
a small OpenAI-compatible server this test runs on 127.0.0.1. Structured output and tool calling go
over the wire as they would to the real service."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from orchestrator.backend.models import Refund
from orchestrator.config import load_settings
from orchestrator.runtime import Orchestrator

MESSAGE = "StreamFlix charged me twice this week and I can't log in to the app"
PLAN = {
    "sub_issues": [
        {
            "text": "StreamFlix charged me twice this week",
            "department": "billing",
            "intent": "double_charge",
            "confidence": 0.93,
        },
        {
            "text": "I can't log in to the app",
            "department": "technical",
            "intent": "login_problem",
            "confidence": 0.88,
        },
    ],
    "out_of_scope": [],
    "wants_human": False,
    "greeting_only": False,
}
_ARTICLE = re.compile(r"^- \[([^\]]+)\]", re.M)


@dataclass
class FakeOpenAI:
    """Answers /v1/chat/completions like the OpenAI API: JSON-schema structured output, tool calls, text."""

    fail_first: int = 0  # answer the first N requests with HTTP 503
    requests: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)  # the Authorization header of each request
    usage: list[tuple[int, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        names = [t["function"]["name"] for t in body.get("tools") or []]
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return {"content": json.dumps(PLAN)}
        if len(names) == 1 and body.get("tool_choice"):  # structured output by forced tool call
            return self.call(names[0], PLAN)
        if "reply_to_customer" in names:
            users = "\n".join(str(m.get("content") or "") for m in messages if m["role"] == "user")
            ids = _ARTICLE.findall(users)
            done = [m for m in messages if m["role"] == "tool"]
            if "refund" in names and not done:
                return self.call("refund", {"transaction_id": "TX-1001-SUBB", "reason": "charged twice"})
            what = "I refunded the second charge" if done else "Use 'Forgot password' on the sign-in screen"
            return self.call(
                "reply_to_customer",
                {"status": "resolved", "reply": f"{what} [{ids[0]}].", "article_ids": ids[:1]},
            )
        return {"content": str(messages[-1]["content"])}  # the composer: the draft, unchanged

    @staticmethod
    def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{name}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
            ],
        }


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeOpenAI]]:
    servers: list[ThreadingHTTPServer] = []

    def start(**options: Any) -> FakeOpenAI:
        fake = FakeOpenAI(**options)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append(body)
                    fake.keys.append(self.headers.get("Authorization"))
                    failing = len(fake.requests) <= fake.fail_first
                if self.path != "/v1/chat/completions" or failing:
                    status, payload = (503, {"error": {"message": "overloaded", "type": "server_error"}})
                    if self.path != "/v1/chat/completions":
                        status, payload = 404, {"error": {"message": f"no route {self.path}"}}
                else:
                    message = fake.answer(body)
                    tokens_in = len(json.dumps(body["messages"])) // 4
                    tokens_out = len(json.dumps(message)) // 4
                    with fake.lock:
                        fake.usage.append((tokens_in, tokens_out))
                    status, payload = (
                        200,
                        {
                            "id": f"chatcmpl-{len(fake.requests)}",
                            "object": "chat.completion",
                            "created": 1_700_000_000,
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", **message},
                                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": tokens_in,
                                "completion_tokens": tokens_out,
                                "total_tokens": tokens_in + tokens_out,
                            },
                        },
                    )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local")
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
        monkeypatch.setenv("CROSSDESK_LLM_MODEL", "openai:gpt-test-mini")
        return fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_openai_provider_end_to_end(seeded_home: Any, openai_server: Callable[..., FakeOpenAI]) -> None:
    fake = openai_server()
    orch = Orchestrator(load_settings())
    try:
        assert type(orch.services.llm.models["openai:gpt-test-mini"]).__name__ == "ChatOpenAI"
        out = orch.ask(MESSAGE, customer_id="C1001")
        with Session(orch.engine) as s:
            refund = s.exec(select(Refund).where(Refund.transaction_id == "TX-1001-SUBB")).one()
    finally:
        orch.close()

    rec = out.record
    assert [(t["department"], t["intent"], t["status"]) for t in rec["tasks"]] == [
        ("billing", "double_charge", "resolved"),
        ("technical", "login_problem", "resolved"),
    ]
    assert refund.amount == 17.99 or str(refund.amount) == "17.99"
    assert rec["llm"]["path"] == "llm" and rec["llm"]["fallback"] == []

    # structured output went over the wire as a JSON schema naming the loaded departments
    (structured,) = [r for r in fake.requests if r.get("response_format")]
    schema = structured["response_format"]["json_schema"]
    assert schema["name"] == "CustomerIssues"
    assert "billing" in json.dumps(schema["schema"]) and "login_problem" in json.dumps(schema["schema"])
    # the department's actions were offered as tools with their argument schemas
    billing = [r for r in fake.requests if "refund" in [t["function"]["name"] for t in r.get("tools") or []]]
    refund_tool = next(t for t in billing[0]["tools"] if t["function"]["name"] == "refund")
    assert set(refund_tool["function"]["parameters"]["properties"]) == {"transaction_id", "reason", "amount"}
    # the action's result went back to the model as a tool message answering its call
    tool_msgs = [m for r in billing for m in r["messages"] if m["role"] == "tool"]
    assert (
        tool_msgs
        and tool_msgs[0]["tool_call_id"] == "call_refund"
        and '"ok": true' in tool_msgs[0]["content"]
    )
    assert set(fake.keys) == {"Bearer sk-test-local"}
    # the tokens in the record are the ones the server reported
    assert len(fake.requests) == 5 == rec["llm"]["calls"]
    assert rec["llm"]["input_tokens"] == sum(i for i, _ in fake.usage)
    assert rec["llm"]["output_tokens"] == sum(o for _, o in fake.usage)
    assert "[KB-" in out.reply and "Hi Lena" in out.reply


def test_a_503_from_the_server_is_retried(seeded_home: Any, openai_server: Callable[..., FakeOpenAI]) -> None:
    fake = openai_server(fail_first=1)
    Path("crossdesk.toml").write_text(
        '[llm]\nbackoff_s = 0\ndepartments = "embedded"\ncomposer = "embedded"\n'
    )
    orch = Orchestrator(load_settings())
    try:
        out = orch.ask(MESSAGE, customer_id="C1001")
    finally:
        orch.close()
    assert len(fake.requests) == 2  # the failed try and the retry
    assert out.record["llm"]["fallback"] == [] and out.record["llm"]["by_step"]["supervisor"]["path"] == "llm"
    assert [t["intent"] for t in out.record["tasks"]] == ["double_charge", "login_problem"]


def test_a_provider_off_this_machine_is_unreachable_in_tests(
    seeded_home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://203.0.113.7/v1")  # TEST-NET-3: never routed
    monkeypatch.setenv("CROSSDESK_LLM_MODEL", "openai:gpt-test-mini")
    monkeypatch.setenv("CROSSDESK_LLM_RETRIES", "0")
    orch = Orchestrator(load_settings())
    try:
        out = orch.ask("I can't log in to the app", customer_id="C1008")
    finally:
        orch.close()
    reasons = {f["reason"] for f in out.record["llm"]["fallback"]}
    (reason,) = reasons
    assert reason.startswith("provider_error:") and "ConnectionError" in reason
    assert out.record["llm"]["path"] == "embedded" and out.reply
