"""Metric instruments for turns, transfers, first-contact resolution and takeovers.

`record_turn` is called once per turn (the turn span does it on exit); the same
numbers can be recomputed from the local span store by `traces.query.stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.metrics import Meter

from traces import names as N
from traces.safe import warn_limited

_COUNT_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10)
_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_TAKEOVER_BUCKETS_S = (5, 15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400)


@dataclass
class IssueOutcome:
    """What happened to one sub-issue during a turn."""

    task_id: str
    department: str | None = None  # the department that last handled it
    status: str | None = None  # the last department status (resolved, needs_info, ...)
    transfers: dict[str, int] = field(default_factory=dict)  # kind -> count

    @property
    def escalated(self) -> bool:
        return self.transfers.get(N.KIND_ESCALATION, 0) > 0

    @property
    def first_contact_resolved(self) -> bool:
        # resolved in this turn by departments alone: reroutes are allowed, a human is not
        return self.status == "resolved" and not self.escalated


class Metrics:
    """The project's instruments on one meter."""

    def __init__(self, meter: Meter) -> None:
        self.transfers_per_issue = meter.create_histogram(
            N.METRIC_TRANSFERS_PER_ISSUE,
            unit="{transfer}",
            description="Transfers one sub-issue needed in a turn, by kind",
            explicit_bucket_boundaries_advisory=_COUNT_BUCKETS,
        )
        self.turns = meter.create_counter(
            N.METRIC_TURNS, unit="{turn}", description="Turns handled, by status"
        )
        self.fcr_issues = meter.create_counter(
            N.METRIC_FCR_ISSUES, unit="{issue}", description="Sub-issues resolved on first contact"
        )
        self.escalations = meter.create_counter(
            N.METRIC_ESCALATIONS, unit="{transfer}", description="Transfers to a human"
        )
        self.reroutes = meter.create_counter(
            N.METRIC_REROUTES, unit="{transfer}", description="Transfers from one department to another"
        )
        self.takeover_latency = meter.create_histogram(
            N.METRIC_TAKEOVER_LATENCY,
            unit="s",
            description="Time from escalation until a human took the conversation over",
            explicit_bucket_boundaries_advisory=_TAKEOVER_BUCKETS_S,
        )
        self.department_latency = meter.create_histogram(
            N.METRIC_DEPARTMENT_LATENCY,
            unit="s",
            description="Duration of one department run",
            explicit_bucket_boundaries_advisory=_LATENCY_BUCKETS_S,
        )

    def record_turn(
        self,
        *,
        status: str,
        issues: Sequence[IssueOutcome] = (),
        escalations: int | None = None,
        reroutes: int | None = None,
    ) -> None:
        """Record one finished turn. Counts default to the sum over `issues`."""
        try:
            self.turns.add(1, {N.M_STATUS: status})
            fcr = sum(1 for i in issues if i.first_contact_resolved)
            if fcr:
                self.fcr_issues.add(fcr)
            for issue in issues:
                for kind in N.TRANSFER_KINDS:
                    self.transfers_per_issue.record(issue.transfers.get(kind, 0), {N.M_KIND: kind})
            if escalations is None:
                escalations = sum(i.transfers.get(N.KIND_ESCALATION, 0) for i in issues)
            if reroutes is None:
                reroutes = sum(i.transfers.get(N.KIND_REROUTE, 0) for i in issues)
            if escalations:
                self.escalations.add(escalations)
            if reroutes:
                self.reroutes.add(reroutes)
        except Exception as exc:
            warn_limited("metrics:turn", "telemetry: could not record turn metrics: %r", exc)

    def record_department(self, department: str, seconds: float) -> None:
        try:
            self.department_latency.record(seconds, {N.M_DEPARTMENT: department})
        except Exception as exc:
            warn_limited("metrics:department", "telemetry: could not record department latency: %r", exc)

    def record_takeover(self, seconds: float, *, sla_breached: bool) -> None:
        try:
            self.takeover_latency.record(seconds, {N.M_SLA_BREACHED: sla_breached})
        except Exception as exc:
            warn_limited("metrics:takeover", "telemetry: could not record takeover latency: %r", exc)
