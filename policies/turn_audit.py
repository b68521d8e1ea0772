"""What a finished turn appends to the audit log, inside the recorder's transaction.

Every policy decision and every department action of the turn becomes one
hash-chained record carrying the turn's retention (the longest the plan and
outcome decisions set), so an erasure request later freezes what the law says
to keep. A registered erasure request applies `apply_erasure` to the
customer's earlier records right away, and `erase_transcripts` to their
earlier messages and turn records; a compliance flag also becomes a case note
for the compliance team.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from policies.audit import Entry, ErasureReport, apply_erasure, write_entries
from policies.pii import mask_data
from policies.transcript_erasure import erase_transcripts

ERASURE_INTENT = "data_erasure"
COMPLIANCE_FLAGS = ("compliance_review",)


def turn_retention(policy: Mapping[str, Any]) -> tuple[str, float]:
    """(class, years) of the longest retention the turn's decisions set; ("standard", 0) if none."""
    best: tuple[str, float] = ("standard", 0.0)
    for stage in ("plan", "outcome"):
        retention = (policy.get(stage) or {}).get("retention")
        if retention and float(retention["years"]) > best[1]:
            best = (str(retention["retention_class"]), float(retention["years"]))
    return best


def erasure_registered(state: Mapping[str, Any]) -> bool:
    """The turn holds an erasure request the compliance department accepted (resolved)."""
    final = {r["task_id"]: r for r in state.get("results") or []}
    return any(
        t.get("intent") == ERASURE_INTENT and (final.get(t["id"]) or {}).get("status") == "resolved"
        for t in state.get("plan") or []
    )


def audit_turn(session: Session, state: Mapping[str, Any], record: Mapping[str, Any]) -> ErasureReport | None:
    """Append the turn's policy decisions, errors and actions; apply a registered erasure request first.

    Payloads are masked (cards, national ids and other personal data kinds) so the log never
    holds what a reply was not allowed to show.
    """
    policy = state.get("policy") or {}
    conversation_id = state["conversation_id"]
    customer_id = (state.get("customer") or {}).get("id")
    turn_id = state["turn_id"]
    retention_class, years = turn_retention(policy)
    report = None
    if customer_id and erasure_registered(state):
        # before this turn's records: the request itself is documented, not erased
        report = apply_erasure(
            session,
            customer_id=customer_id,
            actor="compliance",
            reason=f"erasure request in conversation {conversation_id}, turn {turn_id}",
        )
        # the transcripts and turn records too, in this same transaction (see transcript_erasure)
        erase_transcripts(
            session,
            customer_id=customer_id,
            request_turn_id=turn_id,
            request_conversation_id=conversation_id,
        )

    entries: list[Entry] = []

    def add(kind: str, actor: str, payload: dict[str, Any]) -> None:
        masked = mask_data({"turn_id": turn_id, **payload})
        entries.append(Entry(kind, actor, masked, conversation_id, customer_id, retention_class, years))

    for stage in ("plan", "outcome"):
        decision = policy.get(stage)
        if decision:
            add("policy_decision", "policy", dict(decision))
    if policy.get("error"):
        add(
            "error",
            "policy",
            {"error": policy["error"], "effect": "turn handed to a person, no automated reply"},
        )
    for result in state.get("results") or []:
        for action in result.get("actions") or []:
            add(
                "action",
                result["department"],
                {
                    "task_id": result["task_id"],
                    "name": action.get("name"),
                    "args": action.get("args"),
                    "ok": action.get("ok"),
                    "result": action.get("result"),
                    "message": action.get("message"),
                    "blocked_by": action.get("blocked_by"),
                },
            )
    # one lock of the chain's head for the whole turn
    write_entries(session, entries)
    _flag_for_compliance(session, state, policy, customer_id)
    return report


def _flag_for_compliance(
    session: Session, state: Mapping[str, Any], policy: Mapping[str, Any], customer_id: str | None
) -> None:
    flags = {f for stage in ("plan", "outcome") for f in (policy.get(stage) or {}).get("flags", [])}
    hit = sorted(flags & set(COMPLIANCE_FLAGS))
    if not hit:
        return
    from orchestrator.knowledge.notes import Notes

    rules = sorted(
        {m["id"] for stage in ("plan", "outcome") for m in (policy.get(stage) or {}).get("matched", [])}
    )
    Notes(session, state["conversation_id"], "compliance", customer_id).add(
        "compliance_review",
        f"Flagged for compliance review by policy ({', '.join(rules)}): "
        f"{mask_data(state.get('message', ''))[:300]}",
        subject=state["turn_id"],
        data={"turn_id": state["turn_id"], "flags": sorted(flags), "rules": rules},
    )
