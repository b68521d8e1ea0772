"""A progress bar on stderr for long evaluation runs (only when stderr is a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MIN_ITEMS = 500  # shorter runs finish before a bar is worth drawing

Advance = Callable[[int], None]


@contextmanager
def progress(total: int, description: str, *, enabled: bool | None = None) -> Iterator[Advance]:
    """Yield `advance(n)`; draws a transient rich bar when `enabled` (default: a terminal and a long run)."""
    if enabled is None:
        enabled = total >= MIN_ITEMS and sys.stderr.isatty()
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
