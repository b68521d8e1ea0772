"""Model calls in the traces and metrics: one `chat` span per call, GenAI token metrics and cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llm_scripts import MODEL, cite_first, issue, plan, routed
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.config import load_settings
from orchestrator.llm.testing import ScriptedChatModel, tool_call
from orchestrator.runtime import Orchestrator
from traces import names as N
from traces.setup import configure_telemetry


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == name
        for p in m.data.data_points
    ]


def test_every_model_call_is_a_chat_span_under_its_department_with_tokens(
    seeded_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    monkeypatch.setenv("CROSSDESK_LLM_MODEL", MODEL)
    Path("crossdesk.toml").write_text('[llm.costs."openai:gpt-test"]\ninput = 1.0\noutput = 4.0\n')
    settings = load_settings()
    tel = configure_telemetry(settings, exporter=exporter, metric_reader=reader)
    sup = plan(issue("StreamFlix charged me twice this week", "billing", "double_charge"))
    model = ScriptedChatModel(
        handler=routed(
            sup,
            {"billing": [tool_call("refund", transaction_id="TX-1001-SUBB", reason="twice"), cite_first()]},
        )
    )
    orch = Orchestrator(settings, telemetry=tel, llm_models={MODEL: model})
    try:
        out = orch.ask("StreamFlix charged me twice this week", customer_id="C1001")
    finally:
        orch.close()
        tel.force_flush()

    spans = exporter.get_finished_spans()
    chats = [s for s in spans if s.name == "chat gpt-test"]
    assert len(chats) == 4 == out.record["llm"]["calls"]  # supervisor, billing x2, composer
    for span in chats:
        assert span.attributes[N.GEN_AI_OPERATION_NAME] == "chat"
        assert span.attributes[N.GEN_AI_REQUEST_MODEL] == "gpt-test"
        assert span.attributes[N.GEN_AI_PROVIDER_NAME] == "openai"
        assert span.attributes[N.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert sum(s.attributes[N.GEN_AI_USAGE_INPUT_TOKENS] for s in chats) == out.record["llm"]["input_tokens"]
    assert (
        sum(s.attributes[N.GEN_AI_USAGE_OUTPUT_TOKENS] for s in chats) == out.record["llm"]["output_tokens"]
    )
    # the department's calls sit under its agent span, in the turn's trace
    by_id = {s.context.span_id: s for s in spans}
    billing_calls = [s for s in chats if s.attributes.get(N.GEN_AI_AGENT_NAME) == "billing"]
    assert len(billing_calls) == 2
    for span in billing_calls:
        assert span.parent is not None and by_id[span.parent.span_id].name == N.agent_span_name("billing")
    assert len({s.context.trace_id for s in chats}) == 1

    tokens = _points(reader, N.METRIC_GEN_AI_TOKEN_USAGE)
    kinds = {p.attributes[N.GEN_AI_TOKEN_TYPE]: p.sum for p in tokens}
    assert kinds == {"input": out.record["llm"]["input_tokens"], "output": out.record["llm"]["output_tokens"]}
    (cost,) = [
        p.value for p in _points(reader, N.METRIC_LLM_COST) if p.attributes[N.M_DEPARTMENT] == "billing"
    ]
    assert cost == pytest.approx(out.record["llm"]["by_department"]["billing"]["cost_usd"], abs=1e-9)
