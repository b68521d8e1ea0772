"""What the offline decomposer returns for one message."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from plugins.contracts import Task


class Signals(BaseModel):
    """Risk and tone signals the policy node reads. Scores are in [-1, 1] or counts."""

    model_config = ConfigDict(frozen=True)

    sentiment: float = 0.0  # -1 very negative .. 1 very positive
    regulator_threat: bool = False  # "I'll go to the ombudsman / regulator / court"
    self_harm: bool = False
    urgency: bool = False
    structuring: bool = False  # splitting transfers to stay under reporting thresholds
    third_party: bool = False  # asking about someone else's account
    prompt_injection: bool = False
    scam_pressure: bool = False  # someone pressing the customer to move their savings


class Decomposition(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    tasks: tuple[Task, ...] = ()  # confident sub-issues, in the order asked
    unclear: tuple[Task, ...] = ()  # parts below the confidence threshold (best guess kept)
    out_of_scope: bool = False  # nothing in the message belongs to any department
    out_of_scope_spans: tuple[str, ...] = ()  # parts that are out of scope
    wants_human: bool = False  # an explicit request for a person
    greeting_only: bool = False  # "hi", "hello there", "thanks"
    language: str = "en"  # best guess: en, es, zh, ...
    signals: Signals = Signals()
