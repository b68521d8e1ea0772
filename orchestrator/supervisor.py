"""The supervisor's plan: decompose the message and resolve follow-ups against earlier turns."""

from __future__ import annotations

import re
from typing import Any

from plugins.contracts import Entities, Task

# a short message that points back at what was said before ("and the other charge?")
_FOLLOW_UP = re.compile(
    r"\b(the other|another|that one|this one|same|again|it|that|those|them|also|as well|too|still|y el otro|"
    r"la otra|otro|otra)\b|还有|另一|那个|这个",
    re.IGNORECASE,
)
_MAX_FOLLOW_UP_CHARS = 160
# "can you cancel it?": a follow-up that asks for something to be done is a new request about the same
# thing, so it keeps the intent the router gave it (and borrows what the earlier task knew)
_ASKS_TO_ACT = re.compile(
    r"\b(?:cancel|stop|block|freeze|unfreeze|unblock|activate|switch\s+(?:it|that|this)?\s*on"
    r"|turn\s+(?:it|that|this)?\s*on|send|resend|refund|close|delete|erase|reset|replace|reverse|dispute)\b"
    r"|cancela|bloquea|activa|取消|冻结|激活|退款",
    re.IGNORECASE,
)


# "When do I get the money back?" after a fraud report: how the last request goes on, asked with no
# subject of its own (nothing but "it", "that" or "the money" says what it is about)
_ASKS_AFTER = re.compile(
    r"^\W*(?:(?:and|so|ok|okay|thanks|thank you)\W+)*(?:when|how long|how soon|any (?:news|update))\b",
    re.IGNORECASE,
)
_ONLY_POINTS_BACK = re.compile(r"\b(?:it|that|this|them|those|the money|my money)\b", re.IGNORECASE)
_MAX_ASKS_AFTER_CHARS = 80


def asks_after(text: str) -> bool:
    """A short question about when or how the earlier request goes on ("when will it be back?")."""
    return (
        len(text) <= _MAX_ASKS_AFTER_CHARS
        and _ASKS_AFTER.search(text) is not None
        and _ONLY_POINTS_BACK.search(text) is not None
    )


def is_follow_up(text: str) -> bool:
    return len(text) <= _MAX_FOLLOW_UP_CHARS and bool(_FOLLOW_UP.search(text))


# "The StreamFlix one." after "Which subscription should I cancel: StreamFlix, NewsDaily?"
_MAX_ANSWER_CHARS = 60
_WORD = re.compile(r"[^\W\d_]{4,}")
_PLAIN = frozenset(
    "that this with have what which your yours mine please thanks thank there they them from"
    " just about would could should will want need like sure okay".split()
)


def answers_question(text: str, last: dict[str, Any]) -> bool:
    """A short message that names something the last reply offered, when that turn asked a question."""
    if len(text) > _MAX_ANSWER_CHARS or not any(
        t.get("status") == "needs_info" for t in last.get("tasks", [])
    ):
        return False
    offered = set(_WORD.findall(str(last.get("reply", "")).lower()))
    return any(w in offered and w not in _PLAIN for w in _WORD.findall(text.lower()))


def reclaim_answer(
    decomposition: dict[str, Any], history: list[dict[str, Any]], message: str
) -> dict[str, Any]:
    """An answer to the question we asked ("NewsDaily please") that the router found nothing in
    (out of scope, or no problem at all) becomes one unclear part, which `carry_over` then gives to
    the task that asked: the router does not know the customer's merchants, the last reply named them."""
    if decomposition.get("tasks") or decomposition.get("unclear"):
        return decomposition
    if not history or not answers_question(message, history[-1]):
        return decomposition
    text = message.strip()
    start = message.find(text)
    part = Task(id="t1", text=text, span=(start, start + len(text)), department="", intent="", confidence=0.0)
    return {
        **decomposition,
        "unclear": [part.model_dump(mode="json")],
        "out_of_scope": False,
        "out_of_scope_spans": [],
        "greeting_only": False,
    }


def carry_over(
    decomposition: dict[str, Any], history: list[dict[str, Any]], message: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (plan, unclear) after resolving unclear parts against the previous turn.

    An unclear part of a short follow-up inherits the department and intent of the
    previous turn's task it most likely refers to: the one still open (needs info
    or a human), else the last one asked. A question we asked last turn makes the
    whole answer belong to the task that asked it.
    """
    plan = list(decomposition.get("tasks", []))
    unclear = list(decomposition.get("unclear", []))
    if history and (is_follow_up(message) or answers_question(message, history[-1])):
        plan = [_continue_intent(t, history[-1]) for t in plan]
    if history and len(plan) == 1 and not unclear and asks_after(message):
        plan = [_about_the_last_task(plan[0], history[-1])]
    if not history or not unclear:
        return plan, unclear
    last = history[-1]
    previous = [t for t in last.get("tasks", []) if t.get("department")]
    if not previous:
        return plan, unclear
    asked = [t for t in previous if t.get("status") == "needs_info"]
    if not asked and not is_follow_up(message):
        return plan, unclear
    target = (asked or [t for t in previous if t.get("status") in ("needs_human",)] or previous)[-1]
    resolved = []
    for part in unclear:
        # "the other charge" must not reuse the old transaction id
        merged = _inherit(part, target, transactions=False)
        task = Task.model_validate(part).model_copy(
            update={
                "department": target["department"],
                "intent": target["intent"],
                "confidence": max(float(part.get("confidence", 0.0)), float(target.get("confidence", 0.0))),
                "entities": merged,
            }
        )
        dumped = task.model_dump(mode="json")
        dumped["follow_up_of"] = target.get("id")
        resolved.append(dumped)
    return plan + resolved, []


def _about_the_last_task(task: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """A question about how the last turn's one request goes on belongs to that request, whichever
    department its words alone suggest ("the money back" reads like a refund, but it is the fraud
    case's money), as long as it names nothing of its own."""
    previous = [t for t in last.get("tasks", []) if t.get("department")]
    if len(previous) != 1 or previous[0]["department"] == task.get("department"):
        return task
    if Entities.model_validate(task.get("entities") or {}) != Entities():
        return task
    earlier = previous[0]
    entities = _inherit(task, earlier, transactions=True).model_dump(mode="json")
    return {
        **task,
        "department": earlier["department"],
        "intent": earlier["intent"],
        "entities": entities,
        "follow_up_of": earlier.get("id"),
    }


def _continue_intent(task: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """A short follow-up routed to a department we just dealt with continues that task's intent,
    unless it asks for something to be done: then it is that request, about the same thing."""
    same = [t for t in last.get("tasks", []) if t.get("department") == task.get("department")]
    if not same or any(t.get("intent") == task.get("intent") for t in same):
        return task
    if _ASKS_TO_ACT.search(task.get("text", "")):
        entities = _inherit(task, same[-1], transactions=True).model_dump(mode="json")
        return {**task, "entities": entities, "follow_up_of": same[-1].get("id")}
    return {**task, "intent": same[-1]["intent"], "follow_up_of": same[-1].get("id")}


def _inherit(task: dict[str, Any], earlier: dict[str, Any], *, transactions: bool) -> Entities:
    """The task's entities, with what the earlier task named filling the gaps ("it" = that transfer);
    its transaction ids too only when `transactions`."""
    own = Entities.model_validate(task.get("entities") or {})
    old = Entities.model_validate(earlier.get("entities") or {})
    gaps = {
        name: getattr(old, name)
        for name in Entities.model_fields
        if not getattr(own, name) and (transactions or name != "transaction_ids")
    }
    return own.model_copy(update=gaps)
