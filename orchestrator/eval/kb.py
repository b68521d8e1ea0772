"""Knowledge retrieval on a gold set: articles, and queries with the articles each one needs.

The articles go into a fresh temporary SQLite store (never the user's), each
query is searched with the store's default ranking, and the ranked ids are
scored against the gold ids: recall@5, recall@10 (share of a query's gold
articles in its first k hits, averaged over queries) and MRR@10 (mean of
1/rank of the first gold article within the first 10; 0 when none is).

With `prior_tasks` (other tasks, e.g. the tuning half), the articles those tasks
needed become a usage prior for the searches (knowledge.longquery.article_prior):
what a log of past cases would give. The scored tasks must not be among them.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.errors import InputError
from orchestrator.eval.data import sample_indices
from orchestrator.eval.progress import Advance

DEPTH = 10


def _field(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # structured instructions: their text fields in order
        parts = [v for v in value.values() if isinstance(v, str) and v.strip()]
        return "\n".join(parts) or None
    return None


HALVES = ("even", "odd")


def read_tasks(
    path: Path, query_field: str, gold_field: str, *, limit: int | None = None, half: str | None = None
) -> list[tuple[str, str, list[str]]]:
    """(task id, query text, gold article ids) for every task with a query and gold ids.

    `half` keeps the tasks at even (0, 2, ...) or odd positions of the file: a tuning half
    and a held-out half, so settings chosen on one can be checked on the other.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such tasks file; pass a JSON list of tasks")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of task objects")
    tasks = []
    for index, task in enumerate(data):
        query = _as_text(_field(task, query_field))
        gold = _field(task, gold_field)
        if query is None:
            raise InputError(
                f"{path}: task {index}: no text at {query_field!r}; pass the right --query-field"
            )
        if not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
            raise InputError(
                f"{path}: task {index}: {gold_field!r} is not a list of article ids; pass --gold-field"
            )
        if half is not None and index % 2 != HALVES.index(half):
            continue
        if gold:
            ident = task.get("id") if isinstance(task, dict) else None
            tasks.append((str(ident or index), query, gold))
    if not tasks:
        raise InputError(f"{path}: no task has gold articles in {gold_field!r}")
    keep = sample_indices(len(tasks), limit)
    return [tasks[i] for i in keep]


def score(ranked: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    wanted = set(gold)
    first = next((i + 1 for i, a in enumerate(ranked[:DEPTH]) if a in wanted), None)
    return {
        "recall@5": len(wanted & set(ranked[:5])) / len(wanted),
        "recall@10": len(wanted & set(ranked[:10])) / len(wanted),
        "rr": 1.0 / first if first else 0.0,
        "first_rank": first or 0,
    }


def needed_counts(tasks: Sequence[tuple[str, str, list[str]]]) -> Counter[str]:
    """How many of `tasks` need each article."""
    return Counter(g for _, _, gold in tasks for g in set(gold))


def evaluate_kb(
    docs: Path,
    tasks: list[tuple[str, str, list[str]]],
    *,
    query_field: str = "user_scenario.instructions",
    advance: Advance | None = None,
    prior_tasks: Sequence[tuple[str, str, list[str]]] = (),
) -> dict[str, Any]:
    """Load `docs` into a fresh store, search every task's query (see `read_tasks`), score the rankings."""
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import KnowledgeFileError, load_path
    from orchestrator.knowledge.longquery import article_prior, usage_prior
    from orchestrator.knowledge.store import KnowledgeStore

    shared = {t[0] for t in tasks} & {t[0] for t in prior_tasks}
    if shared:
        raise InputError(
            f"{len(shared)} scored task(s) also feed the usage prior (e.g. {sorted(shared)[0]}); "
            "take the prior from the other half"
        )
    prior = usage_prior(needed_counts(prior_tasks))

    with tempfile.TemporaryDirectory(prefix="crossdesk-eval-kb-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'kb.db'}")
        try:
            create_schema(engine)
            store = KnowledgeStore(engine)
            started = time.perf_counter()
            try:
                loaded = load_path(store, docs)
            except KnowledgeFileError as exc:
                raise InputError(str(exc)) from exc
            load_seconds = time.perf_counter() - started
            known = set(loaded.ids)
            unknown = sorted({g for _, _, gold in tasks for g in gold if g not in known})
            per_task: list[dict[str, Any]] = []
            latencies = []
            for ident, query, gold in tasks:
                t = time.perf_counter()
                with article_prior(prior):
                    hits = store.search(query, k=DEPTH)
                latencies.append((time.perf_counter() - t) * 1000)
                s = score([h.id for h in hits], gold)
                per_task.append({"task": ident, "gold": len(gold), **{k: round(v, 4) for k, v in s.items()}})
                if advance is not None:
                    advance(1)
        finally:
            engine.dispose()
    n = len(per_task)
    return {
        "kind": "kb",
        "articles": loaded.loaded,
        "tasks": n,
        "query_field": query_field,
        "prior_tasks": len(prior_tasks),
        "recall@5": round(sum(t["recall@5"] for t in per_task) / n, 4),
        "recall@10": round(sum(t["recall@10"] for t in per_task) / n, 4),
        "mrr@10": round(sum(t["rr"] for t in per_task) / n, 4),
        "gold_not_in_articles": unknown[:20],
        "gold_not_in_articles_count": len(unknown),
        "load_seconds": round(load_seconds, 2),
        "search_ms": {
            "p50": round(statistics.median(latencies), 2),
            "max": round(max(latencies), 2),
        },
        "per_task": per_task,
    }


def format_kb(report: dict[str, Any]) -> str:
    lines = [
        f"knowledge retrieval: {report['tasks']} queries over {report['articles']} articles "
        f"(query: {report['query_field']})",
        *(
            [f"  with a usage prior from the articles {report['prior_tasks']} other tasks needed"]
            if report.get("prior_tasks")
            else []
        ),
        f"  recall@5 {report['recall@5']:.3f}   recall@10 {report['recall@10']:.3f}   MRR@10 {report['mrr@10']:.3f}",
        f"  search p50 {report['search_ms']['p50']} ms, max {report['search_ms']['max']} ms; "
        f"load {report['load_seconds']} s",
    ]
    if report["gold_not_in_articles_count"]:
        lines.append(
            f"  warning: {report['gold_not_in_articles_count']} gold ids are not among the articles "
            f"(e.g. {', '.join(report['gold_not_in_articles'][:3])}); they count as misses"
        )
    return "\n".join(lines)
