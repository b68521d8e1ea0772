"""crossdesk chat: an interactive customer REPL over one conversation."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="chat as a customer in one conversation (Ctrl-D or /quit to leave)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--customer", metavar="ID", help="customer id (see `crossdesk demo customers`)")
    who.add_argument("--jurisdiction", metavar="CODE", help="anonymous customer's jurisdiction")
    p.add_argument("--conversation", metavar="ID", help="continue this conversation")
    p.add_argument("--record", action="store_true", help="show the routing record after each reply")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import orchestrator
    from orchestrator.cli.render import render_turn
    from orchestrator.errors import InputError

    orch = orchestrator()
    conversation = args.conversation
    if args.customer:
        orch.customer(args.customer)  # fail early on an unknown id
    print("crossdesk chat · type your message, /record to toggle the routing record, /quit to leave")
    show = args.record
    try:
        while True:
            try:
                line = input("you> ")
            except EOFError:
                print()
                break
            if line.strip() in ("/quit", "/exit"):
                break
            if line.strip() == "/record":
                show = not show
                continue
            if not line.strip():
                continue
            try:
                outcome = orch.ask(
                    line, conversation_id=conversation, customer_id=args.customer, jurisdiction=args.jurisdiction
                )
            except InputError as exc:
                print(f"error: {exc}")
                continue
            conversation = outcome.conversation_id
            if show:
                print(render_turn(outcome.reply, outcome.record))
            else:
                print(f"crossdesk> {outcome.reply}")
    finally:
        orch.close()
    if conversation:
        print(f"conversation {conversation}")
    return 0
