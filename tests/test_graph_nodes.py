"""Unit tests of the supervisor graph's nodes and routing functions, called directly."""

from __future__ import annotations

import time
from typing import Any

from orchestrator import graph
from orchestrator.state import HISTORY_KEPT, merge_results, recent_turns
from orchestrator.supervisor import carry_over, is_follow_up
from plugins.contracts import Task


def task(tid: str, department: str, intent: str = "x", start: int = 0, **extra: Any) -> dict[str, Any]:
    data = Task(
        id=tid,
        text=f"text of {tid}",
        span=(start, start + 5),
        department=department,
        intent=intent,
        confidence=0.9,
    ).model_dump(mode="json")
    data.update(extra)
    return data


def result(tid: str, department: str, status: str, attempt: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "task_id": tid,
        "department": department,
        "status": status,
        "reply": f"{department} says",
        "attempt": attempt,
        "actions": [],
        "knowledge": [],
        "notes": [],
        **extra,
    }


def base_state(**kw: Any) -> dict[str, Any]:
    state = {
        "conversation_id": "c1",
        "turn_id": "t",
        "seq": 1,
        "message": "m",
        "started_at": time.time(),
        "customer": None,
        "jurisdiction": "EU",
        "history": [],
        "decomposition": {},
        "plan": [],
        "unclear": [],
        "results": [],
        "policy": {},
        "handoff": None,
    }
    state.update(kw)
    return state


def test_results_reducer_accumulates_and_none_resets() -> None:
    assert merge_results([{"a": 1}], [{"b": 2}]) == [{"a": 1}, {"b": 2}]
    assert merge_results([{"a": 1}], None) == []


def test_a_turn_starts_fresh_numbered_after_the_history() -> None:
    update = graph.start_turn(base_state(history=[{"seq": 1}, {"seq": 2}]))  # type: ignore[arg-type]
    assert update["seq"] == 3
    assert update["results"] is None and update["plan"] == [] and update["handoff"] is None


def test_the_history_keeps_the_latest_turns_and_the_numbering_goes_on() -> None:
    kept = recent_turns([{"seq": n} for n in range(1, HISTORY_KEPT + 1)], [{"seq": HISTORY_KEPT + 1}])
    assert [h["seq"] for h in kept] == list(range(2, HISTORY_KEPT + 2))
    update = graph.start_turn(base_state(history=kept))  # type: ignore[arg-type]
    assert update["seq"] == HISTORY_KEPT + 2


def test_a_long_conversation_keeps_a_bounded_state_and_is_told_the_disclosures_once(
    orch: Any, monkeypatch: Any
) -> None:
    from orchestrator import state as turn_state

    monkeypatch.setattr(turn_state, "HISTORY_KEPT", 2)
    ai = "You're chatting with an automated assistant (an AI)."
    first = orch.ask("How do I reset my password?", customer_id="C1001")
    assert ai in first.reply
    for said in (
        "What are your transfer fees?",
        "How do I change my PIN?",
        "Do you charge for ATM withdrawals?",
    ):
        out = orch.ask(said, conversation_id=first.conversation_id)
        assert ai not in out.reply  # told at turn 1, which left the kept history at turn 3
    assert out.record["seq"] == 4
    values = orch.graph.get_state({"configurable": {"thread_id": first.conversation_id}}).values
    assert [h["seq"] for h in values["history"]] == [3, 4]
    assert any(ai in d for d in values["disclosed"])


def test_route_plan_goes_to_the_departments_while_a_task_is_left_for_them() -> None:
    state = base_state(plan=[task("t1", "billing", blocked={"kind": "deny"}), task("t2", "technical")])
    assert graph.route_plan(state) == "departments"  # type: ignore[arg-type]


def test_route_plan_goes_straight_to_compose_with_nothing_to_dispatch() -> None:
    assert graph.route_plan(base_state(plan=[])) == "compose"  # type: ignore[arg-type]
    blocked = base_state(plan=[task("t1", "billing", blocked={"kind": "human"})])
    assert graph.route_plan(blocked) == "compose"  # type: ignore[arg-type]


def test_reroute_picks_the_suggested_department_once() -> None:
    loaded = {"billing", "technical", "compliance"}
    plan = [task("t1", "technical", alternatives=[["billing", "double_charge", 0.2]])]
    results = [result("t1", "technical", "not_mine", suggest="compliance")]
    moved = graph.reroutes(plan, results, loaded, max_reroutes=2)
    assert [r["department"] for r in moved] == ["compliance"]
    assert moved[0]["attempt"] == 1 and moved[0]["previous_departments"] == ["technical"]
    # once compliance also declines, the next candidate is the router's alternative, with its intent
    results.append(result("t1", "compliance", "not_mine", attempt=1))
    moved = graph.reroutes(plan, results, loaded, max_reroutes=2)
    assert [(r["department"], r["intent"]) for r in moved] == [("billing", "double_charge")]
    # past the limit, or with nowhere left to go, the task stays declined
    results.append(result("t1", "billing", "not_mine", attempt=2))
    assert graph.reroutes(plan, results, loaded, max_reroutes=2) == []
    assert graph.reroutes(plan, results[:1], {"technical"}, max_reroutes=2) == []


def test_record_counts_dispatches_reroutes_escalations_and_transfers() -> None:
    plan = [task("t1", "technical"), task("t2", "billing", start=10)]
    results = [
        result("t1", "technical", "not_mine"),
        result("t2", "billing", "needs_human", reason="refund above the limit"),
        result("t1", "compliance", "resolved", attempt=1),
    ]
    state = base_state(plan=plan, results=results)
    state["handoff"] = graph.build_handoff(state)  # type: ignore[arg-type]
    record = graph.build_record(state)  # type: ignore[arg-type]
    assert record["counts"] == {"dispatches": 3, "reroutes": 1, "escalations": 1, "customer_transfers": 1}
    assert record["status"] == "needs_human"
    assert [t["departments_tried"] for t in record["tasks"]] == [["technical", "compliance"], ["billing"]]
    assert len(record["handoff"]["summary"]) <= graph.SUMMARY_MAX_CHARS


def test_handoff_summary_never_exceeds_300_characters() -> None:
    plan = [task(f"t{i}", "billing", intent="a_very_long_intent_name_" * 3) for i in range(30)]
    results = [result(f"t{i}", "billing", "needs_human") for i in range(30)]
    state = base_state(plan=plan, results=results, customer={"id": "C1001"})
    handoff = graph.build_handoff(state)  # type: ignore[arg-type]
    assert handoff is not None and len(handoff["summary"]) <= 300


def test_follow_up_inherits_the_open_task_of_the_previous_turn() -> None:
    history = [
        {
            "tasks": [
                {
                    "id": "t1",
                    "department": "billing",
                    "intent": "double_charge",
                    "confidence": 0.9,
                    "status": "resolved",
                    "entities": {"transaction_ids": ["TX-1"]},
                }
            ]
        }
    ]
    unclear = task("t1", "technical", intent="app_error", confidence=0.2)
    plan, left = carry_over({"tasks": [], "unclear": [unclear]}, history, "and the other charge?")
    assert left == []
    assert plan[0]["department"] == "billing" and plan[0]["intent"] == "double_charge"
    assert plan[0]["entities"]["transaction_ids"] == []  # "the other" charge is not the same one


def test_an_answer_to_our_question_continues_the_task_that_asked_it() -> None:
    from orchestrator.supervisor import answers_question

    asked = {
        "reply": "About cancel my subscription: Which subscription should I cancel: StreamFlix, NewsDaily?",
        "tasks": [{"id": "t2", "department": "billing", "intent": "subscription", "status": "needs_info"}],
    }
    answer = task("t1", "billing", intent="double_charge", text="The StreamFlix one.")
    plan, _ = carry_over({"tasks": [answer]}, [asked], "The StreamFlix one.")
    assert plan[0]["intent"] == "subscription" and plan[0]["follow_up_of"] == "t2"
    assert answers_question("NewsDaily please", asked)
    # not an answer: names nothing offered, is long, or nothing was asked
    assert not answers_question("My card was declined", asked)
    assert not answers_question("StreamFlix " + "charged me again and again " * 3, asked)
    assert not answers_question(
        "The StreamFlix one.", {**asked, "tasks": [{**asked["tasks"][0], "status": "resolved"}]}
    )


def test_an_answer_the_router_found_nothing_in_goes_to_the_task_that_asked() -> None:
    from orchestrator.supervisor import reclaim_answer

    asked = {
        "reply": "Which subscription should I cancel: StreamFlix, NewsDaily?",
        "tasks": [{"id": "t2", "department": "billing", "intent": "subscription", "status": "needs_info"}],
    }
    nothing = {"tasks": [], "unclear": [], "out_of_scope": True, "out_of_scope_spans": ["NewsDaily please"]}
    reclaimed = reclaim_answer(nothing, [asked], " NewsDaily please")
    assert reclaimed["out_of_scope"] is False and reclaimed["out_of_scope_spans"] == []
    part = reclaimed["unclear"][0]
    assert part["text"] == "NewsDaily please" and part["span"] == [1, 17]
    plan, left = carry_over(reclaimed, [asked], " NewsDaily please")
    assert left == [] and plan[0]["intent"] == "subscription" and plan[0]["follow_up_of"] == "t2"
    # left alone: a message that is no answer, an answer the router already routed, no question asked
    assert reclaim_answer(nothing, [asked], "what's the weather?") is nothing
    routed = {**nothing, "tasks": [task("t1", "billing", text="NewsDaily please")]}
    assert reclaim_answer(routed, [asked], "NewsDaily please") is routed
    done = {**asked, "tasks": [{**asked["tasks"][0], "status": "resolved"}]}
    assert reclaim_answer(nothing, [done], "NewsDaily please") is nothing
    assert reclaim_answer(nothing, [], "NewsDaily please") is nothing


def test_a_long_unrelated_message_is_not_a_follow_up() -> None:
    assert is_follow_up("and the other charge?")
    assert not is_follow_up("I would like to understand the fee schedule for international transfers " * 3)


def test_a_follow_up_that_asks_to_act_keeps_its_own_intent_and_borrows_the_earlier_entities() -> None:
    from orchestrator.supervisor import carry_over

    earlier = {
        "tasks": [
            {
                "id": "t1",
                "department": "billing",
                "intent": "pending_transfer",
                "status": "resolved",
                "entities": {"amounts": [{"amount": "480", "currency": "GBP"}], "dates": ["2026-11-20"]},
            }
        ]
    }

    def task(text: str, intent: str) -> dict[str, object]:
        return {"id": "t1", "text": text, "department": "billing", "intent": intent, "confidence": 0.5}

    plan, _ = carry_over(
        {"tasks": [task("Can you cancel it?", "cancel_transfer")]}, [earlier], "Can you cancel it?"
    )
    assert plan[0]["intent"] == "cancel_transfer" and plan[0]["follow_up_of"] == "t1"
    assert plan[0]["entities"]["dates"] == ["2026-11-20"]
    # a follow-up that only asks again continues the earlier task
    plan, _ = carry_over(
        {"tasks": [task("and is it there yet?", "card_arrival")]}, [earlier], "and is it there yet?"
    )
    assert plan[0]["intent"] == "pending_transfer"


def test_a_question_about_how_the_last_request_goes_on_belongs_to_it_whatever_its_words_suggest() -> None:
    from orchestrator.supervisor import asks_after

    fraud = {
        "tasks": [
            {
                "id": "t1",
                "text": "that 289.90 isn't mine",
                "department": "compliance",
                "intent": "unrecognised_transaction",
                "status": "resolved",
                "entities": {},
            }
        ]
    }
    when = "When do I get the money back?"
    refund = task("t1", "billing", intent="refund_request", confidence=0.99, text=when)
    plan, _ = carry_over({"tasks": [refund]}, [fraud], when)
    assert (plan[0]["department"], plan[0]["intent"], plan[0]["follow_up_of"]) == (
        "compliance",
        "unrecognised_transaction",
        "t1",
    )
    # its own subject, a new question, or a last turn of two requests: the router's reading stands
    named = {**refund, "entities": {"amounts": [{"amount": "12", "currency": "EUR"}]}}
    assert (
        carry_over({"tasks": [named]}, [fraud], "When do I get the 12 EUR back?")[0][0]["department"]
        == "billing"
    )
    assert not asks_after("Why was I charged a fee?")
    assert (
        carry_over({"tasks": [refund]}, [fraud], "Why was I charged a fee?")[0][0]["department"] == "billing"
    )
    two = {"tasks": [*fraud["tasks"], {**fraud["tasks"][0], "id": "t2", "department": "technical"}]}
    assert carry_over({"tasks": [refund]}, [two], when)[0][0]["department"] == "billing"
