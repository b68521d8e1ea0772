"""Readable rendering of a turn's reply and routing record."""

from __future__ import annotations

from typing import Any

_STATUS_MARK = {
    "resolved": "resolved",
    "needs_info": "needs info",
    "needs_human": "needs a human",
    "not_mine": "declined",
    "not_dispatched": "not dispatched",
}


def render_turn(reply: str, record: dict[str, Any]) -> str:
    lines = [
        reply,
        "",
        f"── routing record · {record['conversation_id']} · turn {record['seq']} · {record['status']}",
    ]
    for t in record.get("tasks", []):
        tried = " -> ".join(t["departments_tried"]) or t["department"]
        lines.append(
            f"  {t['id']}  {tried:<28} {t['intent']:<26} conf {t['confidence']:.2f}  "
            f"{_STATUS_MARK.get(t['status'], t['status'])}"
        )
        for a in t.get("actions", []):
            mark = "ok" if a.get("ok") else f"refused: {a.get('message', '')}"
            lines.append(f"        action {a['name']} ({mark})")
        if t.get("knowledge"):
            lines.append(f"        knowledge {', '.join(t['knowledge'])}")
        if t.get("error"):
            lines.append(f"        error {t['error']}")
        if t.get("blocked"):
            lines.append(f"        policy {t['blocked']['rule_id']}: {t['blocked']['message']}")
    for u in record.get("unclear", []):
        lines.append(f"  ?   unclear: “{u['text'][:60]}” (best guess {u['best_guess']})")
    c = record.get("counts", {})
    lines.append(
        f"  counts: dispatches {c.get('dispatches', 0)} · reroutes {c.get('reroutes', 0)} · "
        f"escalations {c.get('escalations', 0)} · customer transfers {c.get('customer_transfers', 0)}"
        f" · {record.get('latency_ms', 0):.0f} ms"
    )
    if record.get("handoff"):
        lines.append(f"  handoff: {record['handoff']['summary']}")
    if record.get("status") == "with_operator":
        operator = record["handoff"].get("claimed_by")
        lines.insert(0, f"(passed to {operator}, who has taken over; no automated reply)")
    if (record.get("policy") or {}).get("error"):
        lines.append(f"  POLICY ERROR (turn handed to a person): {record['policy']['error']}")
    return "\n".join(lines)
