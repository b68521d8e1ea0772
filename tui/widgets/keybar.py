"""The bottom line: the keys of the screen, then the keys that work everywhere.

A single Static instead of Textual's Footer: the Footer rebuilds one widget per
key whenever the screen changes, which made switching screens visibly slower
while simulated customers kept the CPU busy.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.markup import escape
from textual.widgets import Static

KEY_NAMES = {"slash": "/", "question_mark": "?", "escape": "esc", "enter": "⏎"}


def key_label(binding: Binding) -> str:
    first = binding.key.split(",")[0].strip()
    return binding.key_display or KEY_NAMES.get(first, first)


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $panel; color: $text-muted; }
    """

    def on_mount(self) -> None:
        bindings = [
            b for b in (*self.screen.BINDINGS, *self.app.BINDINGS) if isinstance(b, Binding) and b.show
        ]
        parts = []
        for b in bindings:
            action = b.action
            target = "app" if b in self.app.BINDINGS else "screen"
            parts.append(
                f"[@click={target}.{action}][b #ffa62b]{escape(key_label(b))}[/] {escape(b.description)}[/]"
            )
        self.update(" " + "  ".join(parts))
