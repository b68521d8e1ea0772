"""Fixtures for the console tests: a seeded database with real turns run through the Orchestrator,
traces for them, a Desk for the operator alice, and a frozen copy (fixed times) for screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tui_helpers import TURNS, freeze, span_count


@pytest.fixture
def conversations(orch: Any) -> dict[str, Any]:
    """The turns above, run for real; returns conversation id -> the turn's outcome."""
    return {cid: orch.ask(text, customer_id=customer, conversation_id=cid) for cid, customer, text in TURNS}


@pytest.fixture
def traced(orch: Any, conversations: dict[str, Any]) -> dict[str, Any]:
    """The same conversations with every span of their turns written to the span store."""
    assert orch.telemetry.force_flush(), "the spans were not written"
    for cid in conversations:
        assert span_count(orch.engine, cid) > 3, f"no trace of {cid}: is the local span exporter on?"
    return conversations


@pytest.fixture
def desk(orch: Any) -> Iterator[Any]:
    from tui.desk import Desk

    d = Desk(orch.settings, "alice", orchestrator=orch)
    yield d
    d.close()


@pytest.fixture
def frozen(orch: Any, traced: dict[str, Any]) -> dict[str, Any]:
    freeze(orch.engine)
    return traced
