"""Cost of the policy node with every shipped pack loaded.

    .venv/bin/python bench/bench_policy.py [--rounds 2000]

Reports p50/p99 in microseconds for: one `check` (plan and outcome facts across
all jurisdictions), one `check_action`, and a whole turn as the graph runs it
(plan facts from a decomposition, plan check, outcome facts with the reply's
personal-data scan, outcome check).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

from orchestrator.nlu.types import Decomposition, Signals
from plugins.contracts import ActionRecord, CustomerView, DepartmentResult, Task
from policies.engine import PolicyEngine
from policies.facts import ActionFact, TurnFacts, facts_for_outcome, facts_from_message

JURISDICTIONS = ("EU", "UK", "US", "US-CA", "CN", "SG")
REPLY = (
    "I've refunded the duplicate charge of 42.00 EUR to your card ****4242; it should show within 3 days. "
    "For the data request, our compliance team will contact you at the address on file."
)


def _task(tid: str, department: str, intent: str, text: str) -> Task:
    return Task(id=tid, text=text, span=(0, len(text)), department=department, intent=intent, confidence=0.9)


def _decompositions() -> list[Decomposition]:
    return [
        Decomposition(
            text="charged twice and delete my data",
            tasks=(
                _task("t1", "billing", "double_charge", "I was charged twice"),
                _task("t2", "compliance", "data_erasure", "delete my data"),
            ),
        ),
        Decomposition(
            text="my app crashes",
            tasks=(_task("t1", "technical", "app_error", "my app crashes"),),
            signals=Signals(sentiment=-0.7),
        ),
        Decomposition(
            text="split transfers",
            tasks=(_task("t1", "compliance", "structuring", "split my transfers"),),
            signals=Signals(structuring=True),
        ),
        Decomposition(
            text="a debt collector keeps calling",
            tasks=(_task("t1", "compliance", "complaint", "a debt collector keeps calling me"),),
            wants_human=True,
        ),
    ]


def _customers() -> list[CustomerView]:
    return [
        CustomerView(id=f"C{i}", name="Bench", jurisdiction=j, age_band=age, vulnerability=vuln)
        for i, (j, age, vuln) in enumerate(
            (
                ("EU", "25-34", ()),
                ("UK", "45-54", ("bereavement",)),
                ("US", "80+", ()),
                ("US-CA", "35-44", ()),
                ("CN", "35-44", ()),
                ("SG", "25-34", ()),
            )
        )
    ]


def _timed(fn: Callable[[], Any], rounds: int) -> list[float]:
    for _ in range(min(200, rounds)):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def _report(name: str, samples: list[float]) -> None:
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{name:<50} p50 {p50:8.1f} us   p99 {p99:8.1f} us   ({len(samples)} samples)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2000, help="timed calls per facts set")
    args = parser.parse_args()

    t0 = time.perf_counter()
    engine = PolicyEngine.load()
    load_ms = (time.perf_counter() - t0) * 1000
    rules = sum(len(p.rules) for p in engine.packs)
    print(f"loaded {len(engine.packs)} packs, {rules} rules in {load_ms:.1f} ms")

    refund = ActionFact(
        department="billing", name="refund", args={"amount": 800, "currency": "EUR"}, money_movement=True
    )
    plan_facts: list[TurnFacts] = []
    outcome_facts: list[TurnFacts] = []
    result = DepartmentResult(
        department="billing",
        task_id="t1",
        status="resolved",
        actions=(ActionRecord(name="refund", args={"amount": "42.00", "currency": "EUR"}, ok=True),),
    )
    for cust in _customers():
        for dec in _decompositions():
            plan = facts_from_message(dec, customer=cust)
            plan_facts.append(plan)
            plan_facts.append(plan.with_actions([refund]))
            outcome_facts.append(facts_for_outcome(plan, [result], REPLY))

    check_samples: list[float] = []
    for facts in plan_facts + outcome_facts:
        check_samples += _timed(functools.partial(engine.check, facts), args.rounds // 4)
    _report("check (plan + outcome, all jurisdictions)", check_samples)

    action_samples: list[float] = []
    for facts in plan_facts[:: len(_decompositions())]:
        refund_args = {"amount": 120, "currency": "EUR"}
        action_samples += _timed(
            functools.partial(engine.check_action, facts, "billing", "refund", refund_args), args.rounds // 2
        )
    _report("check_action (refund)", action_samples)

    turn_samples: list[float] = []
    for cust in _customers():
        for dec in _decompositions():

            def turn(d: Decomposition = dec, c: CustomerView = cust) -> None:
                plan = facts_from_message(d, customer=c)
                engine.check(plan)
                engine.check(facts_for_outcome(plan, [result], REPLY))

            turn_samples += _timed(turn, args.rounds // 4)
    _report("whole turn (facts + plan check + outcome check)", turn_samples)


if __name__ == "__main__":
    main()
