"""Service metrics over a time window: first-contact resolution, escalations, SLA breaches, transfers
per issue and latency per department, with their trend as sparklines."""

from __future__ import annotations

from datetime import timedelta

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui import data
from tui.data import MetricsView
from tui.screens.base import ConsoleScreen, Loaded
from tui.widgets.badges import fmt_ms, fmt_rate, fmt_seconds
from tui.widgets.charts import Bar, BarChart, Trend
from tui.widgets.keybar import KeyBar
from tui.widgets.navbar import NavBar

WINDOWS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=24),
)
BUCKETS = 30


def _window_label(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes >= 60 else f"{minutes} min"


# (series, title); the title's value is the whole window's, the sparkline shows each bucket
TRENDS = (
    ("turns", "Turns"),
    ("first-contact resolution", "First-contact resolution"),
    ("escalation rate", "Escalation rate"),
    ("turn latency p50", "Turn latency p50"),
    ("SLA breaches", "SLA breaches"),
)


def trend_values(m: MetricsView) -> dict[str, str]:
    return {
        "turns": f"{m.turns} in window",
        "first-contact resolution": fmt_rate(m.fcr_rate),
        "escalation rate": fmt_rate(m.escalation_rate),
        "turn latency p50": fmt_ms(m.turn_latency_p50_ms),
        "SLA breaches": f"{m.sla_breaches} of {m.takeovers} hand-overs",
    }


def kpi(title: str, value: str, note: str = "", *, alert: bool = False) -> Text:
    return Text.assemble(
        (title + "\n", "#8a8a8a"),
        (value, "bold #ff5f5f" if alert else "bold"),
        (f"  {note}" if note else "", "#8a8a8a"),
    )


class MetricsScreen(ConsoleScreen):
    MODE = "metrics"
    REFRESH_EVERY = 5.0
    BINDINGS = [Binding("w", "window", "Window")]

    def __init__(self) -> None:
        super().__init__()
        self.window = WINDOWS[2]

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield Static(id="metrics-head")
        with Horizontal(id="kpis"):
            for name in ("fcr", "escalation", "sla", "waiting", "latency"):
                yield Static(id=f"kpi-{name}", classes="kpi")
        with Horizontal(id="metrics-body"):
            with Vertical(id="trends"):
                for key, label in TRENDS:
                    yield Trend(label, id=f"trend-{key.replace(' ', '-')}")
            with Vertical(id="bars"):
                yield Static("Transfers per issue (traced turns)", classes="chart-title")
                yield BarChart(empty="no traced turns in this window", color="#ffaf00", id="transfers")
                yield Static("Latency per department, p50 (traced turns)", classes="chart-title")
                yield BarChart(empty="no department runs traced in this window", id="departments")
        yield KeyBar()

    def reload(self) -> None:
        reader, window, now = self.desk.reader, self.window, self.now()
        self.load("metrics", lambda: data.metrics(reader, now=now, window=window, buckets=BUCKETS))

    def on_loaded(self, message: Loaded) -> None:
        if message.what == "metrics":
            self._show(message.data)

    def _show(self, m: MetricsView) -> None:
        head = Text.assemble(
            ("Last ", "bold"),
            (_window_label(m.window), "bold"),
            f" · {fmt_seconds(m.bucket.total_seconds())} buckets · {m.turns} turns",
            (f" ({m.traced_turns} traced)", "#8a8a8a"),
            ("   w: change window", "#6c6c6c"),
        )
        self.query_one("#metrics-head", Static).update(head)
        issues = f"issues {fmt_rate(m.fcr_issue_rate)}" if m.fcr_issue_rate is not None else ""
        cards = {
            "fcr": kpi("FCR", fmt_rate(m.fcr_rate), issues),
            "escalation": kpi("Escalated", fmt_rate(m.escalation_rate)),
            "sla": kpi("SLA breaches", f"{m.sla_breaches}", f"of {m.takeovers}", alert=m.sla_breaches > 0),
            "waiting": kpi(
                "Waiting",
                f"{m.waiting_now}",
                f"{m.overdue_now} late" if m.overdue_now else "",
                alert=m.overdue_now > 0,
            ),
            "latency": kpi("Turn p50", fmt_ms(m.turn_latency_p50_ms)),
        }
        for name, text in cards.items():
            self.query_one(f"#kpi-{name}", Static).update(text)
        values = trend_values(m)
        for key, _ in TRENDS:
            self.query_one(f"#trend-{key.replace(' ', '-')}", Trend).show(m.series_named(key), values[key])
        total = sum(n for _, n in m.transfers_per_issue) or 1
        self.query_one("#transfers", BarChart).show(
            [
                Bar(f"{k} transfer{'s' if k != '1' else ''}", n, f"{n} ({n / total:.0%})")
                for k, n in m.transfers_per_issue
            ]
        )
        self.query_one("#departments", BarChart).show(
            [
                Bar(d.name, d.p50_ms or 0.0, f"{fmt_ms(d.p50_ms)} · p95 {fmt_ms(d.p95_ms)} · {d.runs} runs")
                for d in m.department_latency
            ]
        )

    def action_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self.reload()
