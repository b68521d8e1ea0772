"""Guards that keep telemetry failures out of the application.

A dead collector, a locked database or a bug in an exporter must cost at most a
log line, never a customer's turn; the log itself is rate-limited so a long
outage does not flood it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("crossdesk.telemetry")

_WARN_EVERY_S = 60.0
_last_warned: dict[str, float] = {}
_warn_lock = threading.Lock()


def warn_limited(key: str, msg: str, *args: Any) -> None:
    """Log a warning at most once a minute per key."""
    now = time.monotonic()
    with _warn_lock:
        last = _last_warned.get(key)
        if last is not None and now - last < _WARN_EVERY_S:
            return
        _last_warned[key] = now
    log.warning(msg, *args)


class _RateLimit(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        key = f"{record.name}:{record.msg}"
        with _warn_lock:
            last = _last_warned.get(key)
            if last is not None and now - last < _WARN_EVERY_S:
                return False
            _last_warned[key] = now
        return True


_quieted: set[str] = set()


def quiet_exporter_logs(*logger_names: str) -> None:
    """Rate-limit the OTLP exporters' own error lines: a collector outage would log every batch."""
    for name in logger_names:
        if name not in _quieted:
            _quieted.add(name)
            logging.getLogger(name).addFilter(_RateLimit())


class SafeSpanExporter(SpanExporter):
    """Wraps an exporter so export, flush and shutdown never raise."""

    def __init__(self, inner: SpanExporter, label: str) -> None:
        self.inner = inner
        self.label = label
        self.failures = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:
            result = SpanExportResult.FAILURE
            warn_limited(
                f"span:{self.label}:exc", "telemetry: %s exporter raised %r; spans dropped", self.label, exc
            )
        if result is not SpanExportResult.SUCCESS:
            self.failures += 1
            warn_limited(
                f"span:{self.label}",
                "telemetry: %s exporter failed (%d failed batches so far); the application is unaffected",
                self.label,
                self.failures,
            )
        return result

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception as exc:
            warn_limited(
                f"span:{self.label}:shutdown", "telemetry: %s exporter shutdown raised %r", self.label, exc
            )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception as exc:
            warn_limited(
                f"span:{self.label}:flush", "telemetry: %s exporter flush raised %r", self.label, exc
            )
            return False


class SafeMetricExporter(MetricExporter):
    """Wraps a metric exporter so export, flush and shutdown never raise."""

    def __init__(self, inner: MetricExporter, label: str) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.label = label

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            warn_limited(
                f"metric:{self.label}:exc", "telemetry: %s metric exporter raised %r", self.label, exc
            )
            return MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            warn_limited(f"metric:{self.label}", "telemetry: %s metric exporter failed", self.label)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis=timeout_millis))
        except Exception as exc:
            warn_limited(
                f"metric:{self.label}:flush", "telemetry: %s metric flush raised %r", self.label, exc
            )
            return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)
        except Exception as exc:
            warn_limited(
                f"metric:{self.label}:shutdown", "telemetry: %s metric shutdown raised %r", self.label, exc
            )
