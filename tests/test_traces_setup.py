"""Telemetry set-up: configuration, providers, and never failing the application."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from traces_synth import Issue, TurnSpec, clean_env, run_turn

from orchestrator import __version__
from orchestrator.config import ConfigError, Settings
from traces import instrument as ti
from traces.safe import SafeSpanExporter
from traces.setup import Telemetry, configure_telemetry, resolve_config


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)


def settings(tmp_path: Path, **telemetry: Any) -> Settings:
    return Settings(home=tmp_path, extra={"telemetry": telemetry} if telemetry else {})


def processors(tel: Telemetry) -> list[Any]:
    assert tel.tracer_provider is not None
    return list(tel.tracer_provider._active_span_processor._span_processors)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_in_memory_exporter_gets_every_span_with_resource(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    tel = configure_telemetry(settings(tmp_path), exporter=exporter)
    run_turn(tel, TurnSpec("conv-1", "turn-1", [Issue("billing", "refund_status", "Where is my refund?")]))
    spans = exporter.get_finished_spans()
    assert {s.name for s in spans} >= {"invoke_workflow", "plan", "invoke_agent billing", "compose_reply"}
    resource = spans[0].resource.attributes
    assert resource["service.name"] == "crossdesk"
    assert resource["service.version"] == __version__
    # a test's exporter replaces the configured local store, behind a simple processor
    assert [type(p) for p in processors(tel)] == [SimpleSpanProcessor]
    assert not (tmp_path / "crossdesk.db").exists()
    tel.shutdown()


def test_service_name_from_settings_then_standard_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = InMemorySpanExporter()
    tel = configure_telemetry(settings(tmp_path, service_name="desk-eu"), exporter=exporter)
    ti.turn_span(tel, conversation_id="c", turn_id="t").end()
    assert exporter.get_finished_spans()[0].resource.attributes["service.name"] == "desk-eu"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "desk-prod")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,team=sre")
    exporter2 = InMemorySpanExporter()
    tel2 = configure_telemetry(settings(tmp_path, service_name="desk-eu"), exporter=exporter2)
    ti.turn_span(tel2, conversation_id="c", turn_id="t").end()
    attrs = exporter2.get_finished_spans()[0].resource.attributes
    assert attrs["service.name"] == "desk-prod"
    assert attrs["deployment.environment"] == "staging"
    assert attrs["team"] == "sre"
    assert attrs["service.version"] == __version__


def test_configure_is_idempotent_until_shutdown(tmp_path: Path) -> None:
    s = settings(tmp_path)
    first = configure_telemetry(s)
    assert configure_telemetry(s) is first
    assert configure_telemetry(settings(tmp_path)) is first  # equal settings, same providers
    first.shutdown()
    first.shutdown()  # twice is fine
    second = configure_telemetry(s)
    assert second is not first and not second.closed
    second.shutdown()


def test_default_is_local_store_behind_batch_processor(tmp_path: Path) -> None:
    tel = configure_telemetry(settings(tmp_path))
    assert tel.config.exporters == ("local",)
    assert tel.config.store_url == f"sqlite:///{tmp_path / 'crossdesk.db'}"
    assert [type(p) for p in processors(tel)] == [BatchSpanProcessor]
    assert tel.config.metric_exporters == ()  # local metrics are computed from the store
    assert tel.meter_provider is None  # so measurements cost nothing
    tel.shutdown()


def test_several_exporters_from_settings_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = resolve_config(
        settings(tmp_path, exporters=["local", "console", "otlp"], otlp_endpoint="http://col:4318/")
    )
    assert cfg.exporters == ("local", "console", "otlp")
    assert cfg.metric_exporters == ("console", "otlp")
    assert cfg.otlp_traces_endpoint == "http://col:4318/v1/traces"
    assert cfg.otlp_metrics_endpoint == "http://col:4318/v1/metrics"

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.internal:4318")
    cfg = resolve_config(settings(tmp_path))
    assert cfg.exporters == ("otlp",)
    assert cfg.otlp_traces_endpoint == "https://collector.internal:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:4318/custom/traces")
    assert resolve_config(settings(tmp_path)).otlp_traces_endpoint == "http://tempo:4318/custom/traces"

    tel = configure_telemetry(settings(tmp_path, exporters="local,console"))
    assert [type(p) for p in processors(tel)] == [BatchSpanProcessor]  # env says otlp only
    tel.shutdown()


def test_turned_off_by_none_or_sdk_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tel = configure_telemetry(settings(tmp_path, exporters=["none"]))
    assert not tel.enabled and tel.tracer_provider is None
    with ti.turn_span(tel, conversation_id="c", turn_id="t", message="hello") as turn:
        assert turn.carrier == {}
        with ti.agent_span(tel, "billing", task_id="t-1", parent=turn) as agent:
            agent.set_status("resolved")
        turn.set_status("resolved")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert resolve_config(settings(tmp_path)).exporters == ()
    # helpers accept None for "no telemetry" too
    with ti.turn_span(None, conversation_id="c", turn_id="t"):
        ti.record_transfer(None, "billing", source="supervisor", kind="dispatch")


@pytest.mark.parametrize(
    ("telemetry", "needle"),
    [
        ({"exporters": ["jaeger"]}, "unknown exporter 'jaeger'"),
        ({"exporter": ["local"]}, "unknown setting telemetry.exporter"),
        ({"capture_content": "sometimes"}, "not a yes/no value"),
        ({"exporters": ["otlp"], "otlp_endpoint": "collector:4318"}, "must start with http"),
        ({"otlp_timeout_s": 0}, "must be positive"),
    ],
)
def test_bad_settings_say_what_to_fix(tmp_path: Path, telemetry: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        configure_telemetry(settings(tmp_path, **telemetry))


def test_capture_content_setting_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_config(settings(tmp_path)).capture_content is False
    assert resolve_config(settings(tmp_path, capture_content=True)).capture_content is True
    monkeypatch.setenv("CROSSDESK_CAPTURE_CONTENT", "1")
    assert resolve_config(settings(tmp_path)).capture_content is True
    monkeypatch.setenv("CROSSDESK_CAPTURE_CONTENT", "0")
    assert resolve_config(settings(tmp_path, capture_content=True)).capture_content is False


def test_global_provider_only_on_request(tmp_path: Path) -> None:
    tel = configure_telemetry(settings(tmp_path), exporter=InMemorySpanExporter())
    assert trace.get_tracer_provider() is not tel.tracer_provider
    # the global provider can be set once per process: check it in a child process
    code = (
        "from pathlib import Path; import sys\n"
        "from opentelemetry import trace\n"
        "from orchestrator.config import Settings\n"
        "from traces.setup import configure_telemetry\n"
        "tel = configure_telemetry(Settings(home=Path(sys.argv[1])), set_global=True)\n"
        "assert trace.get_tracer_provider() is tel.tracer_provider\n"
        "tel.shutdown()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)


@pytest.mark.parametrize("batch", [True, False])
def test_dead_collector_never_fails_a_turn(tmp_path: Path, batch: bool) -> None:
    port = closed_port()
    tel = configure_telemetry(
        settings(
            tmp_path,
            exporters=["otlp"],
            otlp_endpoint=f"http://127.0.0.1:{port}",
            otlp_timeout_s=1,
            batch=batch,
        )
    )
    trace_id = run_turn(
        tel,
        TurnSpec(
            "conv-dead",
            "turn-1",
            [
                Issue("billing", "refund_status", "Refund please."),
                Issue("technical", "login", "Cannot log in."),
            ],
        ),
    )
    assert len(trace_id) == 32
    tel.force_flush(3000)  # returns whatever it can; must not raise
    safe = [p.span_exporter for p in processors(tel)]
    assert all(isinstance(e, SafeSpanExporter) for e in safe)
    assert safe[0].failures >= 1  # the export was tried and failed
    tel.shutdown()


class ExplodingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.calls += 1
        raise OSError("disk full")

    def shutdown(self) -> None:
        raise OSError("still full")


def test_exporter_that_raises_is_contained(tmp_path: Path) -> None:
    exporter = ExplodingExporter()
    tel = configure_telemetry(settings(tmp_path), exporter=exporter)
    run_turn(tel, TurnSpec("conv-x", "turn-1", [Issue("billing", "refund_status", "Refund please.")]))
    assert exporter.calls > 5
    tel.shutdown()


def test_store_failure_does_not_fail_the_turn(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    tel = configure_telemetry(
        settings(tmp_path, store_url=f"sqlite:///{blocker}/sub/crossdesk.db", batch=False)
    )
    run_turn(tel, TurnSpec("conv-y", "turn-1", [Issue("billing", "refund_status", "Refund please.")]))
    (proc,) = processors(tel)
    assert proc.span_exporter.failures >= 1
    tel.shutdown()
