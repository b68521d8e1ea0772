"""End-to-end scenarios: realistic multi-part messages through the real orchestrator on the demo data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

SCENARIOS = yaml.safe_load((Path(__file__).parent / "scenarios" / "core.yaml").read_text(encoding="utf-8"))


def ordered_departments(record: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for task in record["tasks"]:
        if task["department"] not in seen:
            seen.append(task["department"])
    return seen


def ok_actions(record: dict[str, Any]) -> set[str]:
    return {a["name"] for t in record["tasks"] for a in t["actions"] if a["ok"]}


def test_there_are_at_least_25_scenarios() -> None:
    assert len(SCENARIOS) >= 25
    assert len({s["id"] for s in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_scenario(orch: Any, scenario: dict[str, Any]) -> None:
    conversation = None
    for n, turn in enumerate(scenario["turns"], start=1):
        outcome = orch.ask(
            turn["message"],
            conversation_id=conversation,
            customer_id=scenario.get("customer"),
            jurisdiction=scenario.get("jurisdiction"),
        )
        conversation = outcome.conversation_id
        record, reply = outcome.record, outcome.reply
        where = f"turn {n}: {turn['message']!r}\nreply: {reply}\nrecord tasks: {record['tasks']}"
        assert reply.strip(), where
        assert ordered_departments(record) == turn["departments"], where
        for name in turn.get("actions", []):
            assert name in ok_actions(record), where
        for name in turn.get("no_actions", []):
            assert name not in ok_actions(record), where
        for text in turn.get("reply_has", []):
            assert text.lower() in reply.lower(), where
        for text in turn.get("reply_lacks", []):
            assert text.lower() not in reply.lower(), where
        if "handoff" in turn:
            assert (record["handoff"] is not None) == turn["handoff"], where
        if "status" in turn:
            assert record["status"] == turn["status"], where
        if turn.get("unclear"):
            assert record["unclear"] and "?" in reply, where
        # counts are consistent with what the record lists
        counts = record["counts"]
        assert counts["dispatches"] == len(record["dispatches"])
        assert counts["dispatches"] == sum(len(t["departments_tried"]) for t in record["tasks"])
        assert counts["reroutes"] == sum(max(0, len(t["departments_tried"]) - 1) for t in record["tasks"])
