"""Two-issue messages built at run time from single-issue labelled messages.

Two messages whose labels belong to different departments are joined the way
customers chain problems (". Also, ", " and ", ", plus ", a new line). A message
succeeds when the decomposer dispatches tasks to exactly those two departments:
both found, no third one. Lenient scoring also accepts each part's alternative.

Each part is also decomposed alone, which tells the parts' own routing from the joining: a
message whose parts each get exactly their department alone can only be lost in the joining;
one with a part that fails alone is a routing miss (a few come right once joined).
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from typing import Any

from orchestrator.eval.data import Labelled, Target
from orchestrator.eval.progress import Advance

JOINERS = (". Also, ", " and ", ", plus ", "\n")
BATCH = 256
FAILURES_SHOWN = 10


def _lower_first(text: str) -> str:
    first = text.split(" ", 1)[0]
    if first in ("I", "I'm", "I've", "I'd", "I'll") or (len(first) > 1 and first.isupper()):
        return text  # "I" and acronyms keep their capitals
    return text[:1].lower() + text[1:]


def join(first: str, second: str, joiner: str) -> str:
    """`first` + `joiner` + `second`, with the punctuation and capitals a person would use."""
    a, b = first.strip(), second.strip()
    if joiner == "\n":
        return f"{a}\n{b}"
    if joiner == ". Also, ":
        return (
            f"{a} Also, {_lower_first(b)}" if a.endswith((".", "?", "!")) else f"{a}. Also, {_lower_first(b)}"
        )
    return a.rstrip(".!? ") + joiner + _lower_first(b)


def build_pairs(data: Labelled, mapping: dict[str, Target], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` two-issue messages, each part from a different department (seeded, reproducible)."""
    rng = random.Random(seed)
    by_department: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(data.labels):
        by_department[mapping[label].department].append(i)
    departments = sorted(by_department)
    if len(departments) < 2:
        raise ValueError("the data holds one department only; two-issue messages need two")
    pairs = []
    for k in range(n):
        d1, d2 = rng.sample(departments, 2)
        i, j = rng.choice(by_department[d1]), rng.choice(by_department[d2])
        joiner = JOINERS[k % len(JOINERS)]
        pairs.append(
            {
                "text": join(data.texts[i], data.texts[j], joiner),
                "parts": (data.texts[i], data.texts[j]),
                "joiner": joiner,
                "lines": (data.lines[i], data.lines[j]),
                "expected": (d1, d2),
                "accepted": (
                    {d1, mapping[data.labels[i]].alternative} - {None},
                    {d2, mapping[data.labels[j]].alternative} - {None},
                ),
            }
        )
    return pairs


def evaluate_multi(
    decomposer: Any,
    pairs: list[dict[str, Any]],
    *,
    router_kind: str = "plugins",
    advance: Advance | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    found: list[set[str]] = []
    alone: list[tuple[set[str], set[str]]] = []  # what each part gets when sent on its own
    task_counts: Counter[int] = Counter()
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        for d in decomposer.decompose_many([p["text"] for p in batch]):
            found.append({t.department for t in d.tasks})
            task_counts[len(d.tasks)] += 1
        parts = decomposer.decompose_many([part for p in batch for part in p["parts"]])
        for k in range(0, len(parts), 2):
            alone.append(({t.department for t in parts[k].tasks}, {t.department for t in parts[k + 1].tasks}))
        if advance is not None:
            advance(len(batch))
    seconds = time.perf_counter() - started
    n = len(pairs)
    strict = both = third = lenient = parts_right = lost = rescued = 0
    per_joiner: dict[str, list[bool]] = defaultdict(list)
    failures: list[dict[str, Any]] = []
    for p, got, (got1, got2) in zip(pairs, found, alone, strict=True):
        want = set(p["expected"])
        ok_both = want <= got
        ok = got == want
        a1, a2 = p["accepted"]
        ok_lenient = bool(got & a1) and bool(got & a2) and got <= (a1 | a2)
        right_alone = got1 == {p["expected"][0]} and got2 == {p["expected"][1]}
        strict += ok
        both += ok_both
        third += bool(got - want)
        lenient += ok_lenient
        parts_right += right_alone
        lost += right_alone and not ok
        rescued += ok and not right_alone
        per_joiner[p["joiner"]].append(ok)
        if not ok and len(failures) < FAILURES_SHOWN:
            failures.append(
                {
                    "text": p["text"][:300],
                    "lines": list(p["lines"]),
                    "expected": sorted(want),
                    "got": sorted(got),
                    "alone": [sorted(got1), sorted(got2)],
                }
            )
    return {
        "kind": "multi",
        "messages": n,
        "router": router_kind,
        "threshold": decomposer.threshold,
        "both_found_no_third": round(strict / n, 4) if n else 0.0,
        "lenient": round(lenient / n, 4) if n else 0.0,
        "both_found": round(both / n, 4) if n else 0.0,
        "third_dispatched": round(third / n, 4) if n else 0.0,
        # each part alone gets exactly its department: what is left is the joining's doing
        "parts_right_alone": round(parts_right / n, 4) if n else 0.0,
        "lost_in_joining": round(lost / n, 4) if n else 0.0,  # parts right alone, the message not
        "right_though_a_part_fails_alone": round(rescued / n, 4) if n else 0.0,
        "per_joiner": {repr(j): round(sum(v) / len(v), 4) for j, v in per_joiner.items()},
        "tasks_per_message": {str(k): v for k, v in sorted(task_counts.items())},
        "failures": failures,
        "seconds": round(seconds, 2),
    }


def format_multi(report: dict[str, Any]) -> str:
    lines = [
        f"two-issue messages: {report['messages']} (router: {report['router']}, threshold {report['threshold']})",
        f"  both departments found, no third   {report['both_found_no_third']:.1%}",
        f"  lenient (alternatives accepted)    {report['lenient']:.1%}",
        f"  both found (third allowed)         {report['both_found']:.1%}",
        f"  a third department dispatched      {report['third_dispatched']:.1%}",
        f"  both parts right when sent alone   {report['parts_right_alone']:.1%}",
        f"  lost in the joining                {report['lost_in_joining']:.1%}"
        f" (right although a part fails alone: {report['right_though_a_part_fails_alone']:.1%})",
        "  by joiner: " + " · ".join(f"{j} {v:.1%}" for j, v in report["per_joiner"].items()),
        "  tasks per message: " + ", ".join(f"{k}: {v}" for k, v in report["tasks_per_message"].items()),
    ]
    if report["failures"]:
        lines.append("  some misses:")
        for f in report["failures"][:5]:
            text = f["text"].replace("\n", " / ")[:110]
            parts = " / ".join("+".join(a) or "nothing" for a in f["alone"])
            lines.append(
                f"    want {'+'.join(f['expected'])}, got {'+'.join(f['got']) or 'nothing'}"
                f" (parts alone: {parts}): {text}"
            )
    lines.append(f"  {report['seconds']} s")
    return "\n".join(lines)
