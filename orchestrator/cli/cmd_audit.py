"""crossdesk audit: verify the hash chain of the audit log, export it as JSON lines."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="the tamper-evident audit log: verify, export")
    asub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    verify = asub.add_parser("verify", help="check the hash chain; name the first broken link")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=run_verify)
    export = asub.add_parser("export", help="write audit records as JSON lines")
    export.add_argument("--conversation", metavar="ID", help="only this conversation's records")
    export.add_argument(
        "--since", metavar="ISO", help="only records from this time on, e.g. 2025-01-31 or 2025-01-31T09:00Z"
    )
    export.add_argument("--out", metavar="FILE", help="write to FILE (default: standard output)")
    export.set_defaults(func=run_export)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _engine() -> Any:
    from orchestrator.config import load_settings
    from orchestrator.db import create_schema, make_engine

    engine = make_engine(load_settings().database_url)
    create_schema(engine)
    return engine


def run_verify(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from policies.audit import verify

    report = verify(_engine())
    if args.json:
        emit_json(report.as_dict())
    elif report.ok:
        print(f"audit log intact: {report.checked} records, head {report.head_id} {report.head_hash[:16]}")
    else:
        print(
            f"audit log BROKEN at record {report.first_broken_id}: {report.reason} ({report.checked} records read)"
        )
    return 0 if report.ok else 1


def _parse_since(raw: str) -> Any:
    from datetime import datetime

    from orchestrator.errors import InputError

    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            f"--since {raw!r} is not an ISO date or time; use e.g. 2025-01-31 or 2025-01-31T09:00:00Z"
        ) from None


def run_export(args: argparse.Namespace) -> int:
    import json
    import os
    import sys
    import tempfile
    from pathlib import Path

    from orchestrator.errors import InputError
    from policies.audit import export

    since = _parse_since(args.since) if args.since else None
    records = export(_engine(), conversation_id=args.conversation, since=since)
    if not args.out:
        count = 0
        for rec in records:
            sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
            count += 1
        return 0
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name")
    if not out.parent.exists():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    # write next to the target and rename: a failed export leaves no half-written file
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"wrote {count} audit records to {out}", file=sys.stderr)
    return 0
