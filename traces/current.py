"""The telemetry of the turn running in this context, for code that must not know about tracing.

The orchestrator sets it around each turn; shared services (the knowledge store,
the action guard) read it and open their spans only when it is set. It is a
context variable, so it follows the turn into threads started with
`contextvars.copy_context().run`. This module imports nothing heavy on purpose:
the knowledge store and the dispatcher import it at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import Context, ContextVar, copy_context
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traces.setup import Telemetry

_current: ContextVar[Telemetry | None] = ContextVar("crossdesk_telemetry", default=None)


def current_telemetry() -> Telemetry | None:
    """The telemetry of the running turn, or None (then callers skip their spans entirely)."""
    tel = _current.get()
    return tel if tel is not None and tel.enabled else None


@contextmanager
def using_telemetry(tel: Telemetry | None) -> Iterator[None]:
    """Make `tel` the current telemetry inside the block (None: tracing off inside it)."""
    token = _current.set(tel)
    try:
        yield
    finally:
        _current.reset(token)


def context_with(tel: Telemetry | None) -> Context:
    """A copy of this context with `tel` current: for work handed to a pool thread (`ctx.run`)."""
    ctx = copy_context()
    ctx.run(_current.set, tel)
    return ctx
