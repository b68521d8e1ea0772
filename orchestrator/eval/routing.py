"""Routing accuracy of the decomposer on labelled single-issue messages.

Each message is decomposed exactly as `ask` would; its predicted department is the
department of its most confident task. A message with no task is "(unclear)" when
the decomposer would ask which department it means, else "(out of scope)" (nothing
for any department: chit-chat, a request for a person, another topic). Strict
accuracy counts the mapped department only; lenient also accepts the mapping's
alternative. Both count unclear and out-of-scope messages as misses; the best-guess
accuracy gives unclear messages their best guess.

`message_level` classifies each whole message once, without splitting it: what
published intent-classification results measure. The decomposer may split a
two-sentence message into two tasks, and its most confident task can carry
another intent than the message's label.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from orchestrator.eval.data import Labelled, Target
from orchestrator.eval.progress import Advance

UNCLEAR = "(unclear)"
OUT_OF_SCOPE = "(out of scope)"
BATCH = 256
WORST_MISSES = 15
TEXT_CHARS = 200


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


def predictions(
    decomposer: Any, texts: Sequence[str], advance: Advance | None = None
) -> list[dict[str, Any]]:
    """Per message: predicted department and intent, confidence, best guess and every task's department."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(texts), BATCH):
        batch = list(texts[start : start + BATCH])
        for d in decomposer.decompose_many(batch):
            tasks = sorted(d.tasks, key=lambda t: -t.confidence)
            if tasks:
                top = tasks[0]
                out.append(
                    {
                        "department": top.department,
                        "intent": top.intent,
                        "confidence": top.confidence,
                        "guess": top.department,
                        "guess_intent": top.intent,
                        "departments": sorted({t.department for t in tasks}),
                    }
                )
            elif d.unclear:
                guess = max(d.unclear, key=lambda t: t.confidence)
                out.append(
                    {
                        "department": UNCLEAR,
                        "intent": "",
                        "confidence": guess.confidence,
                        "guess": guess.department,
                        "guess_intent": guess.intent,
                        "departments": [],
                    }
                )
            else:
                out.append(
                    {
                        "department": OUT_OF_SCOPE,
                        "intent": "",
                        "confidence": 0.0,
                        "guess": OUT_OF_SCOPE,
                        "guess_intent": "",
                        "departments": [],
                    }
                )
        if advance is not None:
            advance(len(batch))
    return out


def message_level(router: Any, texts: Sequence[str]) -> list[tuple[str, str]]:
    """(department, intent) of each whole message; the router's own classes count as out of scope."""
    from orchestrator.nlu.pseudo import FOLLOW_UP, NLU_DEPARTMENT

    classes = router.classes
    out: list[tuple[str, str]] = []
    for start in range(0, len(texts), BATCH * 4):
        probs = router.predict_proba(list(texts[start : start + BATCH * 4]))
        for j, (dep, intent) in enumerate(classes):
            if (dep, intent) == (NLU_DEPARTMENT, FOLLOW_UP):
                probs[:, j] = 0.0  # as for a first message: nothing earlier to follow up on
        for row in probs:
            totals: dict[str, float] = {}
            for j, (dep, _) in enumerate(classes):
                key = dep if dep != NLU_DEPARTMENT else f"{NLU_DEPARTMENT}.{j}"
                totals[key] = totals.get(key, 0.0) + float(row[j])
            best = max(totals, key=totals.__getitem__)
            if best.startswith(NLU_DEPARTMENT):
                out.append((OUT_OF_SCOPE, ""))
            else:
                cols = [j for j, (d, _) in enumerate(classes) if d == best]
                out.append((best, classes[max(cols, key=lambda j: row[j])][1]))
    return out


def _per_department(gold: list[str], pred: list[str], departments: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for dep in departments:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == dep and p == dep)
        predicted = sum(1 for p in pred if p == dep)
        support = sum(1 for g in gold if g == dep)
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        f1 = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
        out[dep] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": predicted,
        }
    return out


def evaluate_routing(
    decomposer: Any,
    data: Labelled,
    mapping: dict[str, Target],
    *,
    router_kind: str = "plugins",
    advance: Advance | None = None,
) -> dict[str, Any]:
    """The routing report for `data` (labels already checked against `mapping`)."""
    started = time.perf_counter()
    preds = predictions(decomposer, data.texts, advance)
    seconds = time.perf_counter() - started
    n = len(preds)
    gold = [mapping[lab].department for lab in data.labels]
    alt = [mapping[lab].alternative for lab in data.labels]
    got = [p["department"] for p in preds]
    strict = [g == p for g, p in zip(gold, got, strict=True)]
    lenient = [s or (a is not None and p == a) for s, a, p in zip(strict, alt, got, strict=True)]
    guessed = [g == p["guess"] for g, p in zip(gold, preds, strict=True)]

    router = decomposer.router
    departments = list(router.departments)
    known_classes = {c for _, c in router.classes}
    labels_known = len(set(data.labels) & known_classes) >= 0.5 * len(set(data.labels))
    intent_ok = (
        [
            p["department"] == g and p["intent"] == lab
            for p, g, lab in zip(preds, gold, data.labels, strict=True)
        ]
        if labels_known
        else None
    )

    gold_deps = sorted(
        set(gold), key=lambda d: (d not in departments, departments.index(d) if d in departments else 0, d)
    )
    columns = departments + [UNCLEAR, OUT_OF_SCOPE]
    counts = Counter(zip(gold, got, strict=True))
    confusion = [[counts[(g, c)] for c in columns] for g in gold_deps]

    by_label: dict[str, list[int]] = defaultdict(list)
    for i, lab in enumerate(data.labels):
        by_label[lab].append(i)
    per_label = []
    for lab, idx in by_label.items():
        wrong = Counter(
            f"{preds[i]['department']}.{preds[i]['intent']}" if preds[i]["intent"] else preds[i]["department"]
            for i in idx
            if not strict[i]
        )
        per_label.append(
            {
                "label": lab,
                "department": mapping[lab].department,
                "alternative": mapping[lab].alternative,
                "n": len(idx),
                "strict": _ratio(sum(strict[i] for i in idx), len(idx)),
                "lenient": _ratio(sum(lenient[i] for i in idx), len(idx)),
                "routed_to": wrong.most_common(3),
            }
        )
    per_label.sort(key=lambda r: (r["strict"], r["label"]))

    misses = [i for i in range(n) if not lenient[i] and got[i] not in (UNCLEAR, OUT_OF_SCOPE)]
    misses.sort(key=lambda i: -preds[i]["confidence"])
    worst = [
        {
            "line": data.lines[i],
            "text": data.texts[i][:TEXT_CHARS],
            "label": data.labels[i],
            "expected": gold[i],
            "got": f"{got[i]}.{preds[i]['intent']}",
            "confidence": round(preds[i]["confidence"], 4),
        }
        for i in misses[:WORST_MISSES]
    ]
    extra = sum(1 for p in preds if len(p["departments"]) > 1)
    whole = message_level(router, data.texts)
    whole_strict = [g == d for g, (d, _) in zip(gold, whole, strict=True)]
    whole_lenient = [
        s or (a is not None and d == a) for s, a, (d, _) in zip(whole_strict, alt, whole, strict=True)
    ]
    whole_intent = (
        _ratio(sum(d == g and i == lab for (d, i), g, lab in zip(whole, gold, data.labels, strict=True)), n)
        if labels_known
        else None
    )
    return {
        "kind": "routing",
        "data": {
            "file": data.path.name,
            "messages": n,
            "rows_in_file": data.total_rows,
            "skipped_empty": data.skipped_empty,
            "labels": len(by_label),
        },
        "router": {
            "kind": router_kind,
            "departments": departments,
            "classes": len(router.classes),
            "examples": router.info.get("examples"),
        },
        "threshold": decomposer.threshold,
        "department_accuracy": {
            "strict": _ratio(sum(strict), n),
            "lenient": _ratio(sum(lenient), n),
            "best_guess_strict": _ratio(sum(guessed), n),
        },
        "intent_accuracy": _ratio(sum(intent_ok), n) if intent_ok is not None else None,
        "message_level": {
            "department_strict": _ratio(sum(whole_strict), n),
            "department_lenient": _ratio(sum(whole_lenient), n),
            "intent_accuracy": whole_intent,
        },
        "dispatched_rate": _ratio(sum(1 for g in got if g not in (UNCLEAR, OUT_OF_SCOPE)), n),
        "unclear_rate": _ratio(got.count(UNCLEAR), n),
        "out_of_scope_rate": _ratio(got.count(OUT_OF_SCOPE), n),
        "several_departments_rate": _ratio(extra, n),
        "per_department": _per_department(gold, got, departments),
        "confusion": {"rows": gold_deps, "columns": columns, "matrix": confusion},
        "per_label": per_label,
        "worst_misses": worst,
        "seconds": round(seconds, 2),
        "messages_per_second": round(n / seconds, 1) if seconds > 0 else None,
    }


def format_routing(report: dict[str, Any], *, labels: int = 10) -> str:
    """The report as text for a terminal."""
    acc = report["department_accuracy"]
    lines = [
        f"routing on {report['data']['messages']} messages from {report['data']['file']} "
        f"({report['data']['labels']} labels; router: {report['router']['kind']}, "
        f"threshold {report['threshold']})",
        f"  department accuracy  strict {acc['strict']:.1%}   lenient {acc['lenient']:.1%}   "
        f"best guess {acc['best_guess_strict']:.1%}",
    ]
    if report["intent_accuracy"] is not None:
        lines.append(f"  intent accuracy      {report['intent_accuracy']:.1%}")
    whole = report["message_level"]
    lines.append(
        f"  whole message, unsplit: department strict {whole['department_strict']:.1%}, lenient "
        f"{whole['department_lenient']:.1%}"
        + (f", intent {whole['intent_accuracy']:.1%}" if whole["intent_accuracy"] is not None else "")
    )
    lines.append(
        f"  dispatched {report['dispatched_rate']:.1%} · unclear {report['unclear_rate']:.1%} · "
        f"out of scope {report['out_of_scope_rate']:.1%} · several departments "
        f"{report['several_departments_rate']:.1%}"
    )
    lines += ["", f"  {'department':<16} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}"]
    for dep, m in report["per_department"].items():
        lines.append(
            f"  {dep:<16} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['support']:>8}"
        )
    conf = report["confusion"]
    width = max(10, *(len(c) for c in conf["columns"]))
    lines += [
        "",
        "  confusion (rows: expected, columns: got)",
        "  " + " " * 14 + "".join(f"{c:>{width + 1}}" for c in conf["columns"]),
    ]
    for row, values in zip(conf["rows"], conf["matrix"], strict=True):
        lines.append(f"  {row:<14}" + "".join(f"{v:>{width + 1}}" for v in values))
    weak = [r for r in report["per_label"] if r["strict"] < 1.0][:labels]
    if weak:
        lines += ["", f"  weakest labels (of {len(report['per_label'])})"]
        for r in weak:
            to = ", ".join(f"{name} {count}" for name, count in r["routed_to"])
            lines.append(
                f"  {r['strict']:>6.1%}  {r['label']:<40} -> {r['department']:<11} misrouted to: {to}"
            )
    if report["worst_misses"]:
        lines += ["", "  most confident misses"]
        for m in report["worst_misses"][:10]:
            text = m["text"].replace("\n", " ")[:90]
            lines.append(
                f"  line {m['line']:>6}  {m['confidence']:.2f}  {m['expected']} -> {m['got']}: {text}"
            )
    lines.append(f"\n  {report['seconds']} s, {report['messages_per_second']} messages/s")
    return "\n".join(lines)
