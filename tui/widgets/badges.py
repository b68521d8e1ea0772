"""Small formatted pieces shared by the screens: status badges, durations, times.

They return Rich `Text` built piece by piece, never markup: customer and
operator text is shown as written, even when it contains brackets.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from tui.data import QueueRow

# Rich styles (cells of a DataTable cannot use Textual's $variables); colours of the default dark theme
STATUS_STYLE = {
    "needs_human": ("●", "needs human", "bold #ff5f5f"),
    "claimed": ("◆", "claimed", "bold #5fafff"),
    "automated": ("○", "automated", "#8a8a8a"),
    "resolved": ("✓", "resolved", "#5fd75f"),
    "closed": ("·", "closed", "#5f5f5f"),
}

TURN_STYLE = {
    "resolved": "#5fd75f",
    "partial": "#ffaf00",
    "needs_human": "bold #ff5f5f",
    "needs_info": "#ffaf00",
    "out_of_scope": "#8a8a8a",
    "greeting": "#8a8a8a",
    "with_operator": "#5fafff",
    "denied": "bold #ff5f5f",
    "not_mine": "#ffaf00",
    "error": "bold #ff5f5f",
}


def status_text(row: QueueRow, operator: str | None) -> Text:
    glyph, label, style = STATUS_STYLE.get(row.status, ("?", row.status, ""))
    if row.status == "claimed" and row.claimed_by:
        label = "claimed (you)" if row.claimed_by == operator else f"claimed: {row.claimed_by}"
    return Text(f"{glyph} {label}", style=style)


def turn_status(status: str) -> Text:
    return Text(status.replace("_", " "), style=TURN_STYLE.get(status, ""))


def fmt_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.1f} ms" if ms >= 10 else f"{ms:.2f} ms"


def fmt_rate(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def fmt_clock(when: datetime) -> str:
    return when.strftime("%H:%M:%S")


def fmt_age(when: datetime, now: datetime) -> str:
    """How long ago, coarse: 4s, 3m, 2h, 5d."""
    seconds = max(0.0, (now - when).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
