"""No personal data in exported telemetry: none of the text without content capture, masked text with it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from traces_synth import Issue, TurnSpec, clean_env, run_turn

from orchestrator.config import Settings
from traces import names as N
from traces.setup import configure_telemetry

# Made-up but checksum-valid identifiers: the masker only claims numbers whose checksum holds.
CARDS = ("4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005")
IBANS = ("GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR14 2004 1010 0505 0001 3M02 606")
EMAILS = ("jane.doe@example.com", "li.wei+bank@mail.example.cn")
PHONES = ("+44 20 7946 0958", "+1 415 555 0132", "+65 6123 4567")

ISSUES = [
    Issue("billing", "refund_status", f"Refund the charge on card {CARDS[0]} please, write to {EMAILS[0]}."),
    Issue(
        "compliance",
        "kyc_status",
        f"My transfer from {IBANS[0]} to {IBANS[1]} is blocked, call me on {PHONES[0]}.",
        escalate=True,
    ),
    Issue(
        "technical",
        "login_problem",
        f"Cannot log in with {EMAILS[1]}, my other card {CARDS[1]} fails.",
        reroute_to="billing",
    ),
    Issue(
        "billing",
        "card_declined",
        f"Card {CARDS[2]} declined; IBAN {IBANS[2]}, phone {PHONES[1]}.",
        fail=True,
    ),
    Issue("technical", "app_crash", f"App crashes when I add {PHONES[2]} as my number."),
]


def digits(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text).lower()


def exported_strings(spans: tuple[ReadableSpan, ...]) -> list[str]:
    """Every string in every exported attribute: span, event and resource attributes."""
    out: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, tuple | list):
            for v in value:
                add(v)

    for s in spans:
        out.append(s.name)
        out.append(s.status.description or "")
        for attrs in [s.attributes, s.resource.attributes, *(e.attributes for e in s.events)]:
            for key, value in (attrs or {}).items():
                out.append(key)
                add(value)
    return out


def assert_no_pii(strings: list[str]) -> None:
    blob = "\n".join(strings)
    squashed = digits(blob)
    for value in (*CARDS, *IBANS, *EMAILS, *PHONES):
        assert value not in blob, value
        assert digits(value) not in squashed, value  # not even with the spaces removed


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)


def record(tmp_path: Path, capture: bool) -> tuple[InMemorySpanExporter, Any]:
    exporter = InMemorySpanExporter()
    tel = configure_telemetry(
        Settings(home=tmp_path, extra={"telemetry": {"capture_content": capture}}), exporter=exporter
    )
    spec = TurnSpec("conv-pii", "turn-1", ISSUES, status="partial")
    run_turn(tel, spec)
    return exporter, spec


@pytest.fixture
def off(tmp_path: Path) -> Iterator[tuple[tuple[ReadableSpan, ...], TurnSpec]]:
    exporter, spec = record(tmp_path, capture=False)
    yield exporter.get_finished_spans(), spec


def test_without_capture_no_message_text_at_all(off: tuple[tuple[ReadableSpan, ...], TurnSpec]) -> None:
    spans, spec = off
    strings = exported_strings(spans)
    assert_no_pii(strings)
    blob = "\n".join(strings)
    # no fragment of any message: every run of three words is absent
    for issue in ISSUES:
        words = issue.text.split()
        for i in range(len(words) - 2):
            assert " ".join(words[i : i + 3]) not in blob
    for key in (N.GEN_AI_INPUT_MESSAGES, N.GEN_AI_OUTPUT_MESSAGES, N.RETRIEVAL_QUERY, "exception.message"):
        assert key not in blob
    # the failure is still visible to an SRE, by type
    (failed,) = [
        s for s in spans if s.status.status_code.name == "ERROR" and s.name.startswith("invoke_agent")
    ]
    assert failed.attributes[N.ERROR_TYPE] == "RuntimeError"


def test_with_capture_text_is_there_but_masked(tmp_path: Path) -> None:
    exporter, spec = record(tmp_path, capture=True)
    spans = exporter.get_finished_spans()
    assert_no_pii(exported_strings(spans))

    (root,) = [s for s in spans if s.name == N.SPAN_TURN]
    (message,) = json.loads(root.attributes[N.GEN_AI_INPUT_MESSAGES])
    content = message["parts"][0]["content"]
    assert message["role"] == "user"
    assert "Refund the charge on card ****1111 please, write to [email]." in content
    assert "call me on [phone]" in content
    assert json.loads(root.attributes[N.GEN_AI_OUTPUT_MESSAGES])[0]["role"] == "assistant"

    failed = [s for s in spans if s.status.status_code.name == "ERROR" and s.name.startswith("invoke_agent")]
    (event,) = [e for e in failed[0].events if e.name == "exception"]
    assert event.attributes["exception.message"].startswith(
        "backend failed while handling: Card ****0005 declined"
    )

    queries = [s.attributes[N.RETRIEVAL_QUERY] for s in spans if s.name == N.SPAN_RETRIEVE]
    assert any("[email]" in q for q in queries)
