"""crossdesk tui: the operator console (Textual), over the same database as everything else."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_RATE = 2.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tui", help="open the operator console: queue, takeover, traces, metrics, knowledge")
    p.add_argument("--db", metavar="URL", help="database URL (default: the crossdesk home's SQLite file)")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="simulated customers write in, so the console is alive for a demo",
    )
    p.add_argument(
        "--rate",
        type=float,
        metavar="N",
        help=f"simulated messages per second (default {DEFAULT_RATE:g}; with --simulate)",
    )
    p.add_argument(
        "--operator",
        metavar="NAME",
        help="who you are when you take conversations over (default: $CROSSDESK_OPERATOR or your login name)",
    )
    p.set_defaults(func=run_tui)


def _default_operator() -> str:
    import getpass

    name = os.environ.get("CROSSDESK_OPERATOR", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def run_tui(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError

    if args.rate is not None and not args.simulate:
        raise InputError("--rate sets the simulator's pace; add --simulate to start simulated customers")
    rate = DEFAULT_RATE if args.rate is None else args.rate
    if not 0 < rate <= 200:
        raise InputError(f"--rate {rate:g} is out of range; give 0 < N <= 200 messages per second")

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from orchestrator.config import load_settings
    from orchestrator.errors import CrossdeskError

    if args.db:
        try:
            make_url(args.db)
        except ArgumentError:
            raise InputError(
                f"--db {args.db!r} is not a database URL; use e.g. sqlite:///path/to/crossdesk.db "
                "or postgresql+psycopg://user@host/crossdesk"
            ) from None
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InputError(
            "crossdesk tui draws a full-screen console and needs a terminal, but its input or output is "
            "redirected; run it in a terminal (for scripts use `crossdesk queue`, `crossdesk traces`)"
        )
    overrides = {"db_url": args.db} if args.db else {}
    settings = load_settings(**overrides)
    operator = args.operator if args.operator is not None else _default_operator()

    # Textual is only needed here; nothing else in crossdesk imports it
    from tui.app import CrossdeskApp
    from tui.desk import Desk

    try:
        desk = Desk(settings, operator)
    except SQLAlchemyError as exc:
        raise CrossdeskError(
            f"cannot open the database {settings.database_url.split('@')[-1]}: {type(exc).__name__}; "
            "check --db (or CROSSDESK_DB_URL) and that the server is running"
        ) from exc
    try:
        CrossdeskApp(desk, simulate_rate=rate if args.simulate else None).run()
    finally:
        desk.close()
    return 0
