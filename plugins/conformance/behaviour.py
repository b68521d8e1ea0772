"""Behaviour checks: own intents handled, foreign ones declined, bad input survived, within the time budget."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plugins.conformance.harness import customers_by_jurisdiction, dispatch_env, entities_of
from plugins.conformance.overlap import Overlap
from plugins.conformance.report import ConformanceReport, KitOptions
from plugins.contracts import DepartmentResult, Task
from plugins.manager import PluginSet

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

BAD_INPUTS: tuple[tuple[str, str], ...] = (
    ("empty text", ""),
    ("whitespace only", " \n\t "),
    ("10 KB of text", ("my order " * 1200)[:10_240]),
    ("emoji only", "😡😡💸💳❓"),
    ("control characters", "help\x00\x07\x1b[31m with\x7f this\u202e please"),
    ("mixed scripts", "你好, necesito ayuda — can you help? 🙏"),
    ("symbols only", "%%% $$$ ### @@@ !!! ???"),
)


@dataclass
class _Run:
    label: str
    task: Task
    customer: str
    result: DepartmentResult
    seconds: float


def check_behaviour(
    plugins: PluginSet,
    dep_name: str,
    engine: Engine,
    overlap: Overlap,
    report: ConformanceReport,
    options: KitOptions,
) -> None:
    from orchestrator.dispatch import run_department

    env = dispatch_env(engine, plugins, timeout_s=options.time_budget_s)
    dep = plugins.departments[dep_name]
    customers = customers_by_jurisdiction(engine) or [None]
    rng = random.Random(f"{options.seed}:{dep_name}")
    runs: list[_Run] = []
    counter = 0

    def run(label: str, text: str, intent: str, confidence: float, customer: Any) -> _Run:
        nonlocal counter
        counter += 1
        task = Task(
            id=f"kit-{counter}",
            text=text,
            span=(0, len(text)),
            department=dep_name,
            intent=intent,
            confidence=confidence,
            entities=entities_of(text),
        )
        started = time.perf_counter()
        result = run_department(
            env,
            dep_name,
            task,
            conversation_id=f"kit-{dep_name}",
            turn_id=f"kit-turn-{counter}",
            customer=customer,
            jurisdiction=customer.jurisdiction if customer is not None else "EU",
        )
        done = _Run(
            label,
            task,
            customer.id if customer is not None else "anonymous",
            result,
            time.perf_counter() - started,
        )
        runs.append(done)
        return done

    # own intents: a signed-in customer (rotating jurisdictions) and an anonymous one
    for n, intent in enumerate(dep.intents):
        sample = rng.sample(list(intent.examples), min(options.samples_per_intent, len(intent.examples)))
        failures = []
        for m, text in enumerate(sample):
            customer = customers[(n + m) % len(customers)]
            for who in (customer, None):
                r = run("own", text, intent.name, 0.9, who)
                problem = _own_problem(r)
                if problem:
                    failures.append(problem)
        report.add(
            "own_intents",
            not failures,
            "; ".join(failures[:3])
            if failures
            else f"handled {len(sample) * 2} of its own examples (signed in and anonymous) without declining",
            department=dep_name,
            intent=intent.name,
        )

    # foreign examples: ones the router clearly gives to their own department, sent here as a misroute
    clear = [
        (d, i, text)
        for (d, i, text), p in overlap.predictions.items()
        if d != dep_name and p[0] == d and d in plugins.departments
    ]
    by_intent: dict[tuple[str, str], list[str]] = {}
    for d, i, text in clear:
        by_intent.setdefault((d, i), []).append(text)
    keys = sorted(by_intent)
    rng.shuffle(keys)
    picked = [(k, rng.choice(by_intent[k])) for k in keys[: options.foreign_samples]]
    declined, wrong = 0, []
    for n, ((d, i), text) in enumerate(picked):
        own_intent = dep.intents[n % len(dep.intents)].name
        r = run("foreign", text, own_intent, 0.5, customers[n % len(customers)])
        if r.result.status == "not_mine" and r.result.error is None:
            declined += 1
        else:
            wrong.append(f"{text!r} (a {d}.{i} example) came back {r.result.status}{_err(r.result)}")
    if picked:
        share = declined / len(picked)
        ok = share >= options.min_not_mine
        msg = (
            f"answered not_mine to {declined} of {len(picked)} other departments' examples"
            if ok
            else f"{dep_name} answered not_mine to only {declined} of {len(picked)} examples of other departments "
            f"(needs {options.min_not_mine:.0%}); e.g. {'; '.join(wrong[:3])}. When a task is not about "
            f"{dep_name}, return status 'not_mine' (with `suggest` when you know the owner)"
        )
        report.add(
            "foreign",
            ok,
            msg,
            department=dep_name,
            data={"declined": declined, "sent": len(picked), "wrong": wrong},
        )
    else:
        report.add(
            "foreign", True, "no other department is installed to borrow examples from", department=dep_name
        )

    # bad input must never raise, hang or produce invalid output
    bad = []
    for label, text in BAD_INPUTS:
        r = run("bad", text, dep.intents[0].name, 0.5, customers[0])
        if r.result.error is not None:
            bad.append(f"{label}: {r.result.error}")
    report.add(
        "bad_input",
        not bad,
        "; ".join(bad) + " — handle() must return a DepartmentResult for any text (not_mine or needs_info "
        "when it cannot tell)"
        if bad
        else f"survived {len(BAD_INPUTS)} kinds of bad input",
        department=dep_name,
    )

    # the time budget: every run, measured around the real dispatch
    durations = [r.seconds for r in runs]
    slow = [
        r for r in runs if r.seconds > options.time_budget_s or (r.result.error or "").startswith("timed out")
    ]
    summary = f"max {max(durations):.3f}s, median {statistics.median(durations):.3f}s over {len(runs)} runs"
    report.add(
        "time_budget",
        not slow,
        f"{summary} (budget {options.time_budget_s:g}s)"
        if not slow
        else f"{len(slow)} run(s) took longer than the {options.time_budget_s:g}s budget, e.g. {slow[0].task.text[:60]!r}; "
        f"{summary}. Move slow work out of handle() or cache it",
        department=dep_name,
        data={"max_s": max(durations), "median_s": statistics.median(durations), "runs": len(runs)},
    )


def _own_problem(r: _Run) -> str | None:
    res = r.result
    if res.error is not None:
        return f"{r.task.text!r} ({r.customer}) failed: {res.error}; handle() must return a result, not raise"
    if res.status == "not_mine":
        return (
            f"{r.task.text!r} ({r.customer}) came back not_mine although it is an example of {r.task.intent}; "
            "make handle() accept what its own intents describe"
        )
    if res.status == "needs_info" and not (res.question or res.reply).strip():
        return f"{r.task.text!r} ({r.customer}) needs_info without a question; set `question`"
    return None


def _err(result: DepartmentResult) -> str:
    return f" ({result.error})" if result.error else ""
