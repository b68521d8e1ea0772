"""Tracer and meter providers for crossdesk, configured in one place.

Configuration, most specific first: the standard ``OTEL_*`` variables (plus
CROSSDESK_CAPTURE_CONTENT), then the ``[telemetry]`` section of crossdesk.toml::

    [telemetry]
    exporters = ["local", "otlp"]         # local (default), console, otlp, none
    otlp_endpoint = "http://collector:4318"  # base URL; /v1/traces is appended
    otlp_timeout_s = 5
    capture_content = false               # message text in spans, PII masked
    service_name = "crossdesk"
    store_url = ""                        # empty: the project's database
    batch = true                          # false: export each span as it ends

The providers belong to the returned `Telemetry` object; the process-wide
global providers are only set with ``set_global=True``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.metrics import Meter, NoOpMeter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from orchestrator.config import ConfigError
from traces import names as N
from traces.metrics import Metrics
from traces.safe import SafeMetricExporter, SafeSpanExporter, quiet_exporter_logs

if TYPE_CHECKING:
    from orchestrator.config import Settings

log = logging.getLogger("crossdesk.telemetry")

EXPORTERS = ("local", "console", "otlp")
_SECTION_KEYS = {
    "exporters",
    "otlp_endpoint",
    "otlp_timeout_s",
    "capture_content",
    "service_name",
    "store_url",
    "batch",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DEFAULT_OTLP = "http://localhost:4318"
_LOCAL_SCHEDULE_DELAY_MS = 1000  # short, so `crossdesk traces list` sees a turn a second later
_LOCAL_BATCH_SIZE = 128


@dataclass(frozen=True)
class TelemetryConfig:
    exporters: tuple[str, ...]  # span exporters; empty means telemetry is off
    metric_exporters: tuple[str, ...]  # console / otlp; the local store needs none
    capture_content: bool
    store_url: str
    otlp_traces_endpoint: str
    otlp_metrics_endpoint: str
    otlp_timeout_s: float
    batch: bool
    service_name: str


def _split(value: Any, where: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f'{where} must be a list like ["local", "otlp"], not {value!r}')
    names = tuple(str(i).strip().lower() for i in items if str(i).strip())
    return names


def _exporter_names(value: Any, where: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    names = _split(value, where)
    for name in names:
        if name != "none" and name not in allowed:
            raise ConfigError(
                f"{where}: unknown exporter {name!r}; use one or more of {', '.join(allowed)}, or none"
            )
    if "none" in names:
        return ()
    return tuple(dict.fromkeys(names))


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{where}={value!r} is not a yes/no value; use true or false")


def _endpoint_base(url: str) -> str:
    url = url.strip().rstrip("/")
    for suffix in ("/v1/traces", "/v1/metrics"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def resolve_config(settings: Settings) -> TelemetryConfig:
    """Merge the [telemetry] section and the OTEL_* environment; raise ConfigError on bad values."""
    section = settings.section("telemetry")
    unknown = sorted(set(section) - _SECTION_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown setting telemetry.{unknown[0]}; known settings: {', '.join(sorted(_SECTION_KEYS))}"
        )
    env = os.environ

    exporters = _exporter_names(section.get("exporters", ["local"]), "telemetry.exporters", EXPORTERS)
    if env.get("OTEL_TRACES_EXPORTER"):
        exporters = _exporter_names(env["OTEL_TRACES_EXPORTER"], "OTEL_TRACES_EXPORTER", EXPORTERS)
    if _flag(env.get("OTEL_SDK_DISABLED", "false"), "OTEL_SDK_DISABLED"):
        exporters = ()

    metric_exporters = tuple(e for e in exporters if e != "local")
    if env.get("OTEL_METRICS_EXPORTER"):
        metric_exporters = _exporter_names(
            env["OTEL_METRICS_EXPORTER"], "OTEL_METRICS_EXPORTER", ("console", "otlp")
        )
    if not exporters:
        metric_exporters = ()

    capture = _flag(section.get("capture_content", False), "telemetry.capture_content")
    if env.get("CROSSDESK_CAPTURE_CONTENT") is not None:
        capture = _flag(env["CROSSDESK_CAPTURE_CONTENT"], "CROSSDESK_CAPTURE_CONTENT")

    base = _endpoint_base(
        str(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or section.get("otlp_endpoint") or _DEFAULT_OTLP)
    )
    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or f"{base}/v1/traces"
    metrics_endpoint = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or f"{base}/v1/metrics"
    for name, url in (("traces", traces_endpoint), ("metrics", metrics_endpoint)):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"OTLP {name} endpoint {url!r} must start with http:// or https://")

    timeout_raw = env.get("OTEL_EXPORTER_OTLP_TIMEOUT")
    try:
        # the OTEL variable is in milliseconds, the setting in seconds
        timeout_s = float(timeout_raw) / 1000 if timeout_raw else float(section.get("otlp_timeout_s", 10))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"OTLP timeout {timeout_raw or section.get('otlp_timeout_s')!r} is not a number"
        ) from exc
    if timeout_s <= 0:
        raise ConfigError("telemetry.otlp_timeout_s must be positive")

    return TelemetryConfig(
        exporters=exporters,
        metric_exporters=metric_exporters,
        capture_content=capture,
        store_url=str(section.get("store_url") or settings.database_url),
        otlp_traces_endpoint=traces_endpoint,
        otlp_metrics_endpoint=metrics_endpoint,
        otlp_timeout_s=timeout_s,
        batch=_flag(section.get("batch", True), "telemetry.batch"),
        service_name=str(section.get("service_name") or N.SERVICE_NAME),
    )


def build_resource(service_name: str = N.SERVICE_NAME) -> Resource:
    from orchestrator import __version__

    base = Resource.create({"service.name": service_name, "service.version": __version__})
    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over our defaults
    return base.merge(OTELResourceDetector().detect())


class Telemetry:
    """Providers, tracer and instruments for one process (or one test)."""

    def __init__(
        self,
        config: TelemetryConfig,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ) -> None:
        self.config = config
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.enabled = tracer_provider is not None
        self.capture_content = config.capture_content and self.enabled
        self.tracer: trace.Tracer = (
            tracer_provider.get_tracer(N.INSTRUMENTATION_SCOPE) if tracer_provider else trace.NoOpTracer()
        )
        self.meter: Meter = (
            meter_provider.get_meter(N.INSTRUMENTATION_SCOPE)
            if meter_provider
            else NoOpMeter(N.INSTRUMENTATION_SCOPE)
        )
        self.metrics = Metrics(self.meter)
        self._closed = False

    @classmethod
    def disabled(cls) -> Telemetry:
        """Telemetry that records nothing: every helper becomes a cheap no-op."""
        config = TelemetryConfig((), (), False, "", "", "", 1.0, False, N.SERVICE_NAME)
        return cls(config, None, None)

    @property
    def closed(self) -> bool:
        return self._closed

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        """Export everything buffered; False when an exporter did not finish in time."""
        ok = True
        try:
            if self.tracer_provider is not None:
                ok = self.tracer_provider.force_flush(timeout_millis) and ok
            if self.meter_provider is not None:
                ok = self.meter_provider.force_flush(timeout_millis) and ok
        except Exception as exc:
            log.warning("telemetry: flush failed: %r", exc)
            return False
        return ok

    def shutdown(self) -> None:
        """Flush and stop the exporters. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.tracer_provider is not None:
                self.tracer_provider.shutdown()
            if self.meter_provider is not None:
                self.meter_provider.shutdown()
        except Exception as exc:
            log.warning("telemetry: shutdown failed: %r", exc)
        with _cache_lock:
            for key, tel in list(_cache.items()):
                if tel is self:
                    del _cache[key]


_cache: dict[tuple[Any, ...], Telemetry] = {}
_cache_lock = threading.Lock()


def configure_telemetry(
    settings: Settings,
    *,
    exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
    set_global: bool = False,
) -> Telemetry:
    """Build (or return the already built) telemetry for these settings.

    `exporter` replaces the configured span exporters and is fed by a simple
    processor, so a test's in-memory exporter holds every span once the span
    ends. `metric_reader` is added to the configured metric readers.
    """
    config = resolve_config(settings)
    resource = build_resource(config.service_name)
    key = (config, tuple(sorted(resource.attributes.items())), id(exporter), id(metric_reader), set_global)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and not cached.closed:
            return cached
        if exporter is None and not config.exporters and metric_reader is None:
            tel = Telemetry(config, None, None)
        else:
            tel = _build(config, resource, exporter, metric_reader)
        _cache[key] = tel
    if set_global and tel.tracer_provider is not None:
        trace.set_tracer_provider(tel.tracer_provider)
        if tel.meter_provider is not None:
            from opentelemetry import metrics

            metrics.set_meter_provider(tel.meter_provider)
    return tel


def _build(
    config: TelemetryConfig,
    resource: Resource,
    exporter: SpanExporter | None,
    metric_reader: MetricReader | None,
) -> Telemetry:
    tracer_provider = TracerProvider(resource=resource)
    if exporter is not None:
        tracer_provider.add_span_processor(SimpleSpanProcessor(SafeSpanExporter(exporter, "test")))
    else:
        for name in config.exporters:
            tracer_provider.add_span_processor(_span_processor(name, config))

    readers: list[MetricReader] = [_metric_reader(name, config) for name in config.metric_exporters]
    if exporter is not None:
        readers = []  # a test's exporter replaces the configured ones, for metrics too
    if metric_reader is not None:
        readers.append(metric_reader)
    # with no reader (the local store alone) measurements would go nowhere: skip their cost
    meter_provider = MeterProvider(resource=resource, metric_readers=readers) if readers else None
    return Telemetry(config, tracer_provider, meter_provider)


def _span_processor(name: str, config: TelemetryConfig) -> SpanProcessor:
    span_exporter: SpanExporter
    delay: float | None = None
    batch_size: int | None = None
    if name == "local":
        from traces.store import LocalSpanStore

        span_exporter = LocalSpanStore(config.store_url)
        if not os.environ.get("OTEL_BSP_SCHEDULE_DELAY"):
            delay = _LOCAL_SCHEDULE_DELAY_MS
        if not os.environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"):
            # smaller transactions: a 512-span write holds the GIL long enough to show in turn p95
            batch_size = _LOCAL_BATCH_SIZE
    elif name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr: stdout carries the replies and --json output
        span_exporter = ConsoleSpanExporter(out=sys.stderr)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        quiet_exporter_logs(OTLPSpanExporter.__module__)
        span_exporter = OTLPSpanExporter(endpoint=config.otlp_traces_endpoint, timeout=config.otlp_timeout_s)
    safe = SafeSpanExporter(span_exporter, name)
    if not config.batch:
        return SimpleSpanProcessor(safe)
    return BatchSpanProcessor(safe, schedule_delay_millis=delay, max_export_batch_size=batch_size)


def _metric_reader(name: str, config: TelemetryConfig) -> MetricReader:
    if name == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        inner: Any = ConsoleMetricExporter(out=sys.stderr)
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        quiet_exporter_logs(OTLPMetricExporter.__module__)
        inner = OTLPMetricExporter(endpoint=config.otlp_metrics_endpoint, timeout=config.otlp_timeout_s)
    return PeriodicExportingMetricReader(SafeMetricExporter(inner, name))
