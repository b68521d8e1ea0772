"""The supervisor graph's state.

Values are plain JSON-able dicts and lists so the checkpointer stores them
without custom serialisers; nodes convert to the typed models at their edges.
Conversation-level keys survive across turns; turn-level keys are reset by
the supervisor node at the start of every turn (`graph.start_turn`).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


def merge_results(
    left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Department results accumulate across parallel branches; `None` resets them for a new turn."""
    if right is None:
        return []
    return (left or []) + right


class TurnState(TypedDict, total=False):
    # conversation level
    conversation_id: str
    customer: dict[str, Any] | None  # CustomerView dump, None for an anonymous customer
    jurisdiction: str
    history: Annotated[list[dict[str, Any]], operator.add]  # one entry per finished turn
    # turn level
    turn_id: str
    seq: int
    message: str
    started_at: float
    decomposition: dict[str, Any]  # nlu Decomposition dump
    plan: list[dict[str, Any]]  # Task dumps to dispatch, in the order asked
    unclear: list[dict[str, Any]]  # Task dumps below the confidence threshold
    results: Annotated[list[dict[str, Any]], merge_results]  # one per department run
    policy: dict[str, Any]  # decisions of the policy node, by stage
    handoff: dict[str, Any] | None  # set when a human must take over
    reply: str
    record: dict[str, Any]  # the routing record of this turn
    llm: dict[str, Any]  # what the chat-model steps did (supervisor, composer), when configured
    trace: dict[str, str] | None  # W3C trace context of the turn's root span; None: tracing off
    queued: bool  # an operator queue entry was open when the turn began (takeover.before_turn)
