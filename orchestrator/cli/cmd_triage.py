"""crossdesk triage: bulk decomposition of messages, one JSON line out per line in."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator
from typing import Any

BATCH = 512


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "triage",
        help="decompose messages in bulk (one per line: text or JSON with a 'text' field)",
        description="Reads FILE (or stdin) and writes one JSON line per input line with the decomposition: "
        "tasks (department, intent, confidence, span), out_of_scope and wants_human.",
    )
    p.add_argument("file", nargs="?", help="input file (default: stdin)")
    p.add_argument("--text-field", default="text", help="JSON field holding the message (default: text)")
    p.set_defaults(func=run)


def parse_line(raw: str, field: str) -> tuple[str | None, Any, str | None]:
    """Return (text, id, error) for one input line."""
    line = raw.strip()
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            return None, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
        text = obj.get(field) if isinstance(obj, dict) else None
        if not isinstance(text, str):
            return (
                None,
                obj.get("id") if isinstance(obj, dict) else None,
                f"JSON object has no string {field!r} field",
            )
        return text, obj.get("id"), None
    return raw.rstrip("\n"), None, None


def read_lines(path: str | None) -> Iterator[str]:
    if path is None:
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    else:
        from pathlib import Path

        from orchestrator.errors import InputError

        p = Path(path)
        if not p.is_file():
            raise InputError(f"{path}: no such file; pass a text or JSON-lines file, or pipe lines on stdin")
        stream = p.open(encoding="utf-8", errors="replace")
    with stream:
        yield from stream


def run(args: argparse.Namespace) -> int:
    from orchestrator.config import load_settings
    from orchestrator.nlu import Decomposer, load_router
    from orchestrator.runtime import clean_message
    from plugins.manager import load_plugins

    settings = load_settings()
    plugins = load_plugins(disabled=settings.disabled_plugins)
    router = load_router(settings, plugins, labels=True)  # a trained router reports the user's labels
    decomposer = Decomposer(
        router, threshold=settings.confidence_threshold, standalone=plugins.standalone_intents()
    )
    out = sys.stdout
    # rows keep input order: an unusable line waits in the batch next to the good ones
    batch: list[tuple[int, str | None, Any, str | None]] = []
    errors = 0

    def flush() -> None:
        results = iter(
            decomposer.decompose_many([t for _, t, _, err in batch if err is None and t is not None])
        )
        for n, text, ident, error in batch:
            row: dict[str, Any] = {"line": n}
            if ident is not None:
                row["id"] = ident
            if error is not None or text is None:
                row["error"] = error
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                continue
            d = next(results)
            row.update(
                tasks=[
                    {
                        "department": t.department,
                        "intent": t.intent,
                        "confidence": round(t.confidence, 4),
                        "span": list(t.span),
                        "text": t.text,
                    }
                    for t in d.tasks
                ],
                unclear=[
                    {
                        "department": t.department,
                        "intent": t.intent,
                        "confidence": round(t.confidence, 4),
                        "span": list(t.span),
                    }
                    for t in d.unclear
                ],
                out_of_scope=d.out_of_scope,
                wants_human=d.wants_human,
            )
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        batch.clear()

    for n, raw in enumerate(read_lines(args.file), start=1):
        if not raw.strip():
            continue
        text, ident, error = parse_line(raw, args.text_field)
        if error is None and text is not None:
            try:
                text = clean_message(text, settings.max_message_chars)
            except Exception as exc:
                error = str(exc)
        if error is not None or text is None:
            errors += 1
        batch.append((n, text, ident, error))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    if errors:
        print(f"{errors} line(s) could not be triaged; see the 'error' field", file=sys.stderr)
    return 0
