"""The supervisor graph's state.

Values are plain JSON-able dicts and lists so the checkpointer stores them
without custom serialisers; nodes convert to the typed models at their edges.
Conversation-level keys survive across turns; turn-level keys are reset by
the supervisor node at the start of every turn (`graph.start_turn`).
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

# finished turns a conversation's state keeps: enough for follow-ups, repeat contacts and the
# operator's summary; the transcript tables keep every turn. Without a bound every turn's
# checkpoint carried the whole conversation (400 turns: 330 kB a checkpoint, turns 50% slower).
HISTORY_KEPT = 20


def recent_turns(
    left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Finished turns accumulate, the oldest beyond HISTORY_KEPT dropped."""
    return [*(left or []), *(right or [])][-HISTORY_KEPT:]


def told_once(left: list[str] | None, right: list[str] | None) -> list[str]:
    """Texts the conversation was given, each once, in the order first given."""
    return list(dict.fromkeys([*(left or []), *(right or [])]))


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
    # the customer's own names for their things ({"MusicHub": "subscription"}): see Decomposer.decompose
    terms: dict[str, str]
    history: Annotated[list[dict[str, Any]], recent_turns]  # the last HISTORY_KEPT finished turns
    disclosed: Annotated[list[str], told_once]  # disclosures given so far: never repeated
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
