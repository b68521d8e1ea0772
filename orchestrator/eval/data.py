"""Read labelled messages (CSV, TSV or JSON lines) and a label -> department mapping.

Every problem is an `InputError` that names the file, the line or column, and what to do.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import InputError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
_DEPARTMENT = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Labelled:
    """Rows of a labelled file, in file order; `lines` are 1-based line numbers (for messages)."""

    path: Path
    texts: list[str]
    labels: list[str]
    lines: list[int]
    skipped_empty: int = 0  # rows with an empty text
    total_rows: int = 0  # before --limit

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class Target:
    department: str
    alternative: str | None = None  # also acceptable (lenient scoring)


def _open_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: no such file; pass a CSV or JSON-lines file of labelled messages")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _rows_csv(path: Path, text: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # newline="": line breaks inside quoted fields stay part of the field, as csv expects
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c for c in (reader.fieldnames or []) if c is not None]
    if not columns:
        raise InputError(f"{path}: empty file; the first line must name the columns (e.g. text,label)")
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num}: not valid CSV ({exc})") from exc
    return columns, rows


def _rows_jsonl(path: Path, text: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    columns: dict[str, None] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {n}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        if not isinstance(obj, dict):
            raise InputError(f"{path}: line {n}: expected a JSON object per line, got {type(obj).__name__}")
        columns.update(dict.fromkeys(obj))
        rows.append((n, obj))
    return list(columns), rows


def sample_indices(n: int, limit: int | None, seed: int = 0) -> list[int]:
    """`limit` row indices spread over the whole file (seeded, in file order); all rows without a limit.

    Labelled files are often sorted by label: the first N rows would hold a few labels only.
    """
    if limit is None or limit >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), limit))


def read_labelled(path: Path | str, text_col: str, label_col: str, *, limit: int | None = None) -> Labelled:
    """Read (text, label) rows from a CSV/TSV (header row) or JSON-lines file."""
    path = Path(path)
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    raw = _open_text(path)
    is_jsonl = path.suffix.lower() in JSONL_SUFFIXES or (
        path.suffix.lower() not in (".csv", ".tsv") and raw.lstrip().startswith("{")
    )
    columns, rows = _rows_jsonl(path, raw) if is_jsonl else _rows_csv(path, raw)
    for role, col in (("text", text_col), ("label", label_col)):
        if col not in columns:
            shown = ", ".join(repr(c) for c in columns[:20]) or "none"
            raise InputError(
                f"{path}: no {role} column {col!r}; its columns are {shown}. "
                f"Pass the right name with --{role}-col"
            )
    texts: list[str] = []
    labels: list[str] = []
    lines: list[int] = []
    empty = 0
    for line, row in rows:
        text, label = row.get(text_col), row.get(label_col)
        if text is None or (isinstance(text, str) and not text.strip()):
            empty += 1
            continue
        if not isinstance(text, str):
            raise InputError(f"{path}: line {line}: {text_col!r} is {type(text).__name__}, expected text")
        if label is None or (isinstance(label, str) and not label.strip()):
            raise InputError(
                f"{path}: line {line}: empty {label_col!r}; every message needs a label (or remove the row)"
            )
        if not isinstance(label, str | int):
            raise InputError(f"{path}: line {line}: {label_col!r} is {type(label).__name__}, expected text")
        texts.append(text)
        labels.append(str(label).strip())
        lines.append(line)
    if not texts:
        raise InputError(f"{path}: no labelled messages in it (all {empty} rows have an empty {text_col!r})")
    keep = sample_indices(len(texts), limit)
    return Labelled(
        path=path,
        texts=[texts[i] for i in keep],
        labels=[labels[i] for i in keep],
        lines=[lines[i] for i in keep],
        skipped_empty=empty,
        total_rows=len(texts),
    )


def label_half(data: Labelled, half: int) -> Labelled:
    """The first (1) or second (2) half of every label's rows, in file order.

    Tune on one half and report on the other: neither depends on a random draw, and
    every label keeps its share. With an odd count the first half gets the extra row.
    """
    if half not in (1, 2):
        raise InputError(f"--half must be 1 or 2, got {half}")
    totals: dict[str, int] = {}
    for label in data.labels:
        totals[label] = totals.get(label, 0) + 1
    seen: dict[str, int] = {}
    keep = []
    for i, label in enumerate(data.labels):
        seen[label] = seen.get(label, 0) + 1
        if (seen[label] <= (totals[label] + 1) // 2) == (half == 1):
            keep.append(i)
    return Labelled(
        path=data.path,
        texts=[data.texts[i] for i in keep],
        labels=[data.labels[i] for i in keep],
        lines=[data.lines[i] for i in keep],
        skipped_empty=data.skipped_empty,
        total_rows=data.total_rows,
    )


def read_mapping(path: Path | str) -> dict[str, Target]:
    """A JSON object: label -> "department", or label -> {"department": ..., "alternative": ...}."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: no such mapping file; pass a JSON object from each label to its department"
        )
    try:
        data = json.loads(_open_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(data, dict) or not data:
        raise InputError(
            f'{path}: expected a JSON object such as {{"card_arrival": {{"department": "technical"}}}}'
        )
    out: dict[str, Target] = {}
    for label, value in data.items():
        if isinstance(value, str):
            value = {"department": value}
        if not isinstance(value, dict) or not isinstance(value.get("department"), str):
            raise InputError(f'{path}: label {label!r}: give a department name or {{"department": ...}}')
        department, alternative = value["department"], value.get("alternative")
        for what, name in (("department", department), ("alternative", alternative)):
            if name is not None and (not isinstance(name, str) or not _DEPARTMENT.match(name)):
                raise InputError(
                    f"{path}: label {label!r}: {what} {name!r} is not a department name "
                    "(lower case letters, digits and _)"
                )
        out[str(label)] = Target(department, alternative if alternative != department else None)
    return out


def check_labels(labels: Sequence[str], mapping: dict[str, Target], mapping_path: Path | str) -> None:
    """Every label in the data must be in the mapping."""
    missing = sorted(set(labels) - set(mapping))
    if missing:
        shown = ", ".join(repr(m) for m in missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise InputError(
            f"{mapping_path}: no department for label(s) {shown} found in the data; add them to the mapping"
        )
