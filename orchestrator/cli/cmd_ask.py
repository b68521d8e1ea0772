"""crossdesk ask: run one customer turn."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="run one customer turn and print the reply and routing record")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--customer", metavar="ID", help="customer id (see `crossdesk demo customers`)")
    who.add_argument(
        "--jurisdiction", metavar="CODE", help="anonymous customer's jurisdiction: EU UK US-CA US CN SG"
    )
    p.add_argument("--conversation", metavar="ID", help="continue this conversation (default: a new one)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("text", nargs="*", help="the customer's message ('-' or nothing reads stdin)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json, orchestrator, read_stdin_text
    from orchestrator.cli.render import render_turn

    text = " ".join(args.text)
    if not args.text or text == "-":
        if sys.stdin.isatty():
            from orchestrator.errors import InputError

            raise InputError('no message given; pass it as an argument: crossdesk ask "I was charged twice"')
        text = read_stdin_text()
    orch = orchestrator()
    try:
        outcome = orch.ask(
            text, conversation_id=args.conversation, customer_id=args.customer, jurisdiction=args.jurisdiction
        )
    finally:
        orch.close()
    if args.json:
        emit_json(outcome.as_json())
    else:
        print(render_turn(outcome.reply, outcome.record))
    return 0
