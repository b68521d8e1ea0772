"""Static checks of a department: enough distinct examples per intent, typed actions."""

from __future__ import annotations

import difflib
import inspect
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from plugins.conformance.report import ConformanceReport, KitOptions
from plugins.contracts import Department


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\d+", "0", text)
    return " ".join(re.findall(r"\w+", text))


def near_duplicate_groups(examples: Sequence[str], options: KitOptions | None = None) -> list[list[str]]:
    """Group examples that say the same thing (same words, reordered words, a typo apart)."""
    opts = options or KitOptions()
    groups: list[tuple[str, set[str], list[str]]] = []
    for example in examples:
        norm = _normalise(example)
        words = set(norm.split())
        if not norm:
            continue
        for key, key_words, members in groups:
            union = words | key_words
            jaccard = len(words & key_words) / len(union) if union else 1.0
            if (
                norm == key
                or jaccard >= opts.near_duplicate
                or difflib.SequenceMatcher(None, norm, key).ratio() >= opts.near_duplicate_chars
            ):
                members.append(example)
                break
        else:
            groups.append((norm, words, [example]))
    return [members for _, _, members in groups]


def check_examples(dep: Department, report: ConformanceReport, options: KitOptions) -> None:
    for intent in dep.intents:
        groups = near_duplicate_groups(intent.examples, options)
        distinct = len(groups)
        dupes = [g for g in groups if len(g) > 1]
        shown = "; ".join(" ~ ".join(repr(e) for e in g[:2]) for g in dupes[:3])
        if distinct >= options.min_examples:
            msg = f"{distinct} distinct examples"
            if dupes:
                msg += f" ({len(intent.examples) - distinct} near-duplicates folded, e.g. {shown})"
            report.add(
                "examples", True, msg, department=dep.name, intent=intent.name, data={"distinct": distinct}
            )
            continue
        msg = (
            f"intent {dep.name}.{intent.name} has {distinct} distinct examples, needs at least "
            f"{options.min_examples}: write {options.min_examples - distinct} more, varied in wording, length "
            "and tone, as customers really write"
        )
        if dupes:
            msg += f"; these count once: {shown}"
        report.add(
            "examples", False, msg, department=dep.name, intent=intent.name, data={"distinct": distinct}
        )


def check_actions(dep: Department, report: ConformanceReport) -> None:
    names = Counter(a.name for a in dep.actions)
    for action in dep.actions:
        where = f"action {dep.name}.{action.name}"
        problems = []
        if names[action.name] > 1:
            problems.append("the name is declared twice; action names must be unique in a department")
        if not action.description.strip():
            problems.append("the description is empty; say what the action changes")
        if not (isinstance(action.args, type) and issubclass(action.args, BaseModel)):
            problems.append("args is not a pydantic model class")
        else:
            untyped = [n for n, f in action.args.model_fields.items() if f.annotation in (Any, None)]
            if untyped:
                problems.append(f"argument(s) {', '.join(untyped)} have no type; annotate them")
            try:
                schema = action.args.model_json_schema()
            except Exception as exc:
                problems.append(
                    f"args has no JSON schema ({type(exc).__name__}: {exc}); use JSON-able field types"
                )
                schema = {}
        if not callable(action.run):
            problems.append("run is not callable")
        elif len(inspect.signature(action.run).parameters) != 2:
            problems.append("run must take exactly (ctx, args)")
        if problems:
            report.add("actions", False, f"{where}: {'; '.join(problems)}", department=dep.name)
        else:
            fields = ", ".join(schema.get("properties", {})) or "no arguments"
            report.add("actions", True, f"{where}: typed ({fields})", department=dep.name)
    if not dep.actions:
        report.add("actions", True, "declares no actions (answers from knowledge only)", department=dep.name)
