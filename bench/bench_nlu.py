"""Benchmark the offline NLU: router training, calibration, decomposition latency and triage speed,
and (with --banking77) department accuracy on the Banking77 test set.

    python bench/bench_nlu.py
    python bench/bench_nlu.py --banking77 ../shared/data/banking77 --reference
    python bench/bench_nlu.py --banking77 ../shared/data/banking77 --disable claims  # built-ins only

The Banking77 folder must hold test.csv (text,category), departments.json and, for --reference,
train.csv. The data is read at run time and never copied.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from orchestrator.nlu import Decomposer, Router
from orchestrator.nlu.pseudo import FOLLOW_UP, NLU_DEPARTMENT, PSEUDO_INTENTS
from orchestrator.nlu.router import reliability
from plugins.contracts import Intent
from plugins.manager import load_plugins

CONNECTORS = (" Also, ", ". ", " and also ", "\n", "; ", ". Another thing: ", " Plus ")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def synthetic_messages(intents: list[tuple[str, Intent]], n: int, seed: int = 0) -> list[str]:
    """Messages of 1-3 parts built from the departments' own examples (plus some chit-chat)."""
    rng = random.Random(seed)
    pool = [e for _, i in intents for e in i.examples]
    chat = [e for i in PSEUDO_INTENTS for e in i.examples]
    out = []
    for _ in range(n):
        parts = [rng.choice(pool) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
        if rng.random() < 0.15:
            parts.insert(0, rng.choice(chat))
        msg = parts[0]
        for p in parts[1:]:
            msg += rng.choice(CONNECTORS) + p
        out.append(msg)
    return out


def held_out_calibration(intents: list[tuple[str, Intent]], seed: int = 0) -> dict[str, Any]:
    """Train on 75% of every intent's examples, measure accuracy and calibration on the rest."""
    rng = random.Random(seed)
    train: list[tuple[str, Intent]] = []
    test: list[tuple[str, str, str]] = []
    for dep, intent in intents:
        ex = list(intent.examples)
        rng.shuffle(ex)
        cut = max(5, int(len(ex) * 0.75))
        train.append((dep, intent.model_copy(update={"examples": tuple(ex[:cut])})))
        test.extend((t, dep, intent.name) for t in ex[cut:])
    router = Router.fit(train)
    preds = router.predict([t for t, _, _ in test], k=1)
    conf = [p[0][2] for p in preds]
    ok_intent = [(p[0][0], p[0][1]) == (d, i) for p, (_, d, i) in zip(preds, test, strict=True)]
    rel = reliability(conf, ok_intent)
    dep_conf, dep_pred = department_view(router, [t for t, _, _ in test])
    ok_dep = [p == d for p, (_, d, _) in zip(dep_pred, test, strict=True)]
    return {
        "train_examples": sum(len(i.examples) for _, i in train),
        "test_examples": len(test),
        "intent_accuracy": rel["accuracy"],
        "intent_ece": rel["ece"],
        "intent_reliability": rel["bins"],
        "department_accuracy": round(sum(ok_dep) / max(1, len(ok_dep)), 4),
        "department_ece": reliability(dep_conf, ok_dep)["ece"],
    }


def department_view(router: Router, texts: list[str]) -> tuple[list[float], list[str]]:
    """Top department (intent probabilities summed per department; our own classes kept apart).

    As in the decomposer for a first message, follow_up is ruled out (there is no earlier turn).
    """
    probs = router.predict_proba(texts)
    groups: dict[str, list[int]] = defaultdict(list)
    for j, (dep, intent) in enumerate(router.classes):
        if (dep, intent) == (NLU_DEPARTMENT, FOLLOW_UP):
            probs[:, j] = 0.0
            continue
        groups[dep if dep != NLU_DEPARTMENT else f"{NLU_DEPARTMENT}.{intent}"].append(j)
    probs /= probs.sum(axis=1, keepdims=True)
    names = list(groups)
    conf, pred = [], []
    for row in probs:
        scores = [float(row[groups[g]].sum()) for g in names]
        best = max(range(len(names)), key=scores.__getitem__)
        conf.append(scores[best])
        pred.append(names[best])
    return conf, pred


def banking77(router: Router, decomposer: Decomposer, folder: Path, threshold: float) -> dict[str, Any]:
    mapping = json.loads((folder / "departments.json").read_text(encoding="utf-8"))
    with (folder / "test.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    texts = [r["text"] for r in rows]
    started = time.perf_counter()
    conf, pred = department_view(router, texts)
    route_s = time.perf_counter() - started
    gold = [mapping[r["category"]]["department"] for r in rows]
    alt = [mapping[r["category"]].get("alternative") for r in rows]
    strict = [p == g for p, g in zip(pred, gold, strict=True)]
    lenient = [p == g or p == a for p, g, a in zip(pred, gold, alt, strict=True)]
    top_intents = router.predict(texts, k=1)

    per_topic: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        per_topic[r["category"]].append(i)
    missed = []
    for topic, idx in per_topic.items():
        acc = sum(strict[i] for i in idx) / len(idx)
        if acc < 0.9:
            wrong = Counter(f"{top_intents[i][0][0]}.{top_intents[i][0][1]}" for i in idx if not strict[i])
            missed.append(
                {
                    "topic": topic,
                    "department": mapping[topic]["department"],
                    "alternative": mapping[topic].get("alternative"),
                    "strict_accuracy": round(acc, 3),
                    "lenient_accuracy": round(sum(lenient[i] for i in idx) / len(idx), 3),
                    "routed_to": wrong.most_common(3),
                }
            )
    missed.sort(key=lambda m: m["strict_accuracy"])

    dispatched = [i for i, c in enumerate(conf) if c >= threshold and not pred[i].startswith(NLU_DEPARTMENT)]
    started = time.perf_counter()
    decomps = decomposer.decompose_many(texts)
    decomp_s = time.perf_counter() - started
    first_ok = sum(1 for d, g in zip(decomps, gold, strict=True) if d.tasks and d.tasks[0].department == g)
    return {
        "n": len(rows),
        "strict_accuracy": round(sum(strict) / len(rows), 4),
        "lenient_accuracy": round(sum(lenient) / len(rows), 4),
        "routed_to_router_classes": sum(p.startswith(NLU_DEPARTMENT) for p in pred),
        "department_ece": reliability(conf, strict)["ece"],
        "department_reliability": reliability(conf, strict)["bins"],
        f"dispatched_at_{threshold}": round(len(dispatched) / len(rows), 4),
        "dispatched_strict_accuracy": round(sum(strict[i] for i in dispatched) / max(1, len(dispatched)), 4),
        "decomposer_first_task_correct": round(first_ok / len(rows), 4),
        "decomposer_with_unclear": round(sum(1 for d in decomps if d.unclear) / len(rows), 4),
        "route_seconds": round(route_s, 3),
        "decompose_many_seconds": round(decomp_s, 3),
        "topics_below_90pct": missed,
    }


def fit_time_50x20(folder: Path) -> float:
    """Training time for 50 intents x 20 examples (drawn from Banking77's training set)."""
    with (folder / "train.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_topic: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_topic[r["category"]].append(r["text"])
    rng = random.Random(0)
    intents = [
        (f"dep{i % 3}", Intent(name=f"intent_{i}", description=topic, examples=tuple(rng.sample(texts, 20))))
        for i, (topic, texts) in enumerate(sorted(by_topic.items())[:50])
    ]
    started = time.perf_counter()
    Router.fit(intents)
    return round(time.perf_counter() - started, 3)


def reference(folder: Path) -> dict[str, Any]:
    """The same router trained on Banking77's own training set: how good the method is with real data."""

    def read(name: str) -> list[dict[str, str]]:
        with (folder / name).open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    train, test = read("train.csv"), read("test.csv")
    mapping = json.loads((folder / "departments.json").read_text(encoding="utf-8"))
    labels = sorted({r["category"] for r in train})
    started = time.perf_counter()
    router = Router.fit_labelled(
        [r["text"] for r in train],
        [r["category"] for r in train],
        {c: mapping[c]["department"] for c in labels},
    )
    fit_s = time.perf_counter() - started
    preds = router.predict([r["text"] for r in test], k=1)
    ok = [p[0][1] == r["category"] for p, r in zip(preds, test, strict=True)]
    conf, dep = department_view(router, [r["text"] for r in test])
    dep_ok = [d == mapping[r["category"]]["department"] for d, r in zip(dep, test, strict=True)]
    rel = reliability([p[0][2] for p in preds], ok)
    return {
        "train_examples": len(train),
        "fit_seconds": round(fit_s, 2),
        "intent_accuracy": rel["accuracy"],
        "intent_ece": rel["ece"],
        "department_strict_accuracy": round(sum(dep_ok) / len(dep_ok), 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--banking77", type=Path, help="folder with test.csv and departments.json")
    ap.add_argument("--reference", action="store_true", help="also train on Banking77 train.csv (slow)")
    ap.add_argument("--lines", type=int, default=10_000, help="lines for the triage throughput run")
    ap.add_argument("--latency-messages", type=int, default=1_000)
    ap.add_argument("--threshold", type=float, default=0.45)
    ap.add_argument("--disable", action="append", default=[], help="plugin to leave out (repeatable)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if args.banking77 and not (args.banking77 / "test.csv").is_file():
        ap.error(f"{args.banking77} has no test.csv; pass the Banking77 folder")

    results: dict[str, Any] = {}
    plugins = load_plugins(disabled=tuple(args.disable))
    intents = plugins.intents()
    results["departments"] = sorted(plugins.departments)
    results["intents"] = len(intents)
    results["examples"] = sum(len(i.examples) for _, i in intents)

    started = time.perf_counter()
    router = Router.fit(intents)
    results["fit_seconds_cold"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    router = Router.fit(intents)
    results["fit_seconds_warm"] = round(time.perf_counter() - started, 3)
    with tempfile.TemporaryDirectory() as cache:
        Router.load_or_fit(intents, cache)
        started = time.perf_counter()
        Router.load_or_fit(intents, cache)
        results["cache_load_seconds"] = round(time.perf_counter() - started, 3)
    results["router_info"] = {k: v for k, v in router.info.items() if k != "cv_reliability"}
    results["held_out"] = held_out_calibration(intents)

    decomposer = Decomposer(
        router, threshold=args.threshold, standalone=[(d, i.name) for d, i in intents if i.standalone]
    )
    messages = synthetic_messages(intents, args.latency_messages)
    decomposer.decompose(messages[0])  # first call pays for lazy imports
    latencies = []
    for m in messages:
        t = time.perf_counter()
        decomposer.decompose(m)
        latencies.append((time.perf_counter() - t) * 1000)
    results["decompose_latency_ms"] = {
        "n": len(latencies),
        "p50": round(statistics.median(latencies), 2),
        "p99": round(percentile(latencies, 99), 2),
        "max": round(max(latencies), 2),
    }
    lines = synthetic_messages(intents, args.lines, seed=1)
    t = time.perf_counter()
    out = decomposer.decompose_many(lines)
    elapsed = time.perf_counter() - t
    results["triage"] = {
        "lines": len(lines),
        "seconds": round(elapsed, 2),
        "lines_per_second": round(len(lines) / elapsed),
        "tasks": sum(len(d.tasks) for d in out),
    }
    big = "My card was declined at the shop and I was charged a fee. " * 1800
    t = time.perf_counter()
    decomposer.decompose(big)
    results["decompose_100kb_ms"] = round((time.perf_counter() - t) * 1000, 1)

    if args.banking77:
        results["banking77"] = banking77(router, decomposer, args.banking77, args.threshold)
        if (args.banking77 / "train.csv").is_file():
            results["fit_seconds_50x20"] = fit_time_50x20(args.banking77)
        if args.reference:
            results["banking77_reference_full_train"] = reference(args.banking77)

    text = json.dumps(results, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
