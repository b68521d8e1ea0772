"""Compose one reply that answers every sub-issue in the order the customer asked."""

from __future__ import annotations

from typing import Any

_TOPIC_WORDS = 8
CLARIFY_DEPARTMENTS = (
    "a payment or fee, your identity or personal data, or a problem with the app, login or card"
)


def topic(text: str) -> str:
    """A short quote of what the customer asked, for connectors and questions."""
    words = text.strip().rstrip(".!?。！？").split()
    short = " ".join(words[:_TOPIC_WORDS])
    return short + ("…" if len(words) > _TOPIC_WORDS else "")


def final_results(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last result per task: a rerouted task's final word is its last department's."""
    final: dict[str, dict[str, Any]] = {}
    for result in results:
        final[result["task_id"]] = result
    return final


def compose_reply(
    *,
    plan: list[dict[str, Any]],
    unclear: list[dict[str, Any]],
    results: list[dict[str, Any]],
    decomposition: dict[str, Any],
    customer_name: str | None,
    handoff: dict[str, Any] | None,
    greet: bool = True,
) -> str:
    final = final_results(results)
    parts: list[str] = []
    several = len(plan) > 1
    pending_human: list[str] = []
    said: set[str] = set()
    for task in plan:
        result = final.get(task["id"])
        about = topic(task["text"])
        lead = f"About “{about}”: " if several else ""
        blocked = task.get("blocked")
        if result is None and blocked:
            # kept from the departments by policy: a refusal the customer may see, or a person's job
            if blocked.get("kind") == "deny":
                if not any(blocked["message"] in p for p in parts):
                    parts.append(lead + blocked["message"])
            else:
                pending_human.append(about)
            continue
        if result is None:
            continue
        status = result["status"]
        if status in ("resolved", "needs_info") and result.get("reply"):
            text = result["reply"].strip()
            if status == "needs_info" and result.get("question") and result["question"] not in text:
                text = f"{text} {result['question']}"
            if text in said:
                # two parts with one cause (a KYC hold behind both the login and the card): say it once
                text = "This has the same cause as the point above."
            else:
                said.add(text)
            parts.append(lead + text)
        elif status == "needs_info":
            parts.append(lead + (result.get("question") or "Could you tell me a little more about this?"))
        elif status == "needs_human":
            pending_human.append(about)
            if result.get("reply"):
                parts.append(lead + result["reply"].strip())
        elif status == "not_mine":
            parts.append(
                lead + "I couldn't find the right team for this one automatically, so I've noted it for a "
                "colleague who will get back to you."
            )
    if unclear and not plan:
        parts.append(
            f"I want to make sure I get this right: is “{topic(unclear[0]['text'])}” about "
            f"{CLARIFY_DEPARTMENTS}?"
        )
    elif unclear:
        parts.append(
            f"You also mentioned “{topic(unclear[0]['text'])}”: could you tell me a little more about it?"
        )
    oos = decomposition.get("out_of_scope_spans") or []
    if oos and plan:
        parts.append(
            "I can only help with your account, payments, cards and the app, so I can't answer "
            f"“{topic(oos[0])}”."
        )
    if handoff is not None:
        who = "a member of our team"
        if pending_human:
            listed = "; ".join(f"“{p}”" for p in pending_human)
            parts.append(
                f"I've passed {listed} to {who}, who already has everything you told me and will "
                "pick it up shortly, so you won't need to repeat yourself."
            )
        else:
            parts.append(
                f"I'm connecting you with {who} now; they can see this conversation, so you won't need "
                "to repeat yourself."
            )
    if not parts:
        return ""
    if customer_name and greet:
        parts.insert(0, f"Hi {customer_name.split()[0]},")
    return "\n\n".join(parts)


def greeting_reply(customer_name: str | None) -> str:
    name = f" {customer_name.split()[0]}" if customer_name else ""
    return (
        f"Hello{name}! I'm an automated assistant (an AI). I can help with payments, refunds, fees and "
        "transfers, your identity checks and personal data, and login, card or app problems. "
        "What can I do for you?"
    )


def closing_reply(customer_name: str | None) -> str:
    """A later turn that only thanks or says goodbye: no introduction again."""
    name = f", {customer_name.split()[0]}" if customer_name else ""
    return f"You're welcome{name}! If anything else comes up, just write here."


def out_of_scope_reply() -> str:
    return (
        "Sorry, that's outside what I can help with here. I can help with payments, refunds, fees and "
        "transfers, identity checks and personal data, and login, card or app problems."
    )
