"""crossdesk queue | takeover | reply | release: operators work the human-takeover queue."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queue", help="conversations waiting for an operator, most urgent first")
    p.add_argument("--all", action="store_true", help="include released conversations")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=run_queue)

    p = sub.add_parser("takeover", help="take over a queued conversation (shows its hand-over)")
    p.add_argument("conversation", metavar="ID", help="conversation id, as `crossdesk queue` lists it")
    p.add_argument("--operator", metavar="NAME", required=True, help="who takes it over")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_takeover)

    p = sub.add_parser("reply", help="answer the customer of a conversation you have taken over")
    p.add_argument("conversation", metavar="ID", help="conversation id")
    p.add_argument("text", nargs="*", help="the answer ('-' or nothing reads stdin)")
    p.add_argument("--operator", metavar="NAME", help="who answers (default: whoever took it over)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_reply)

    p = sub.add_parser(
        "release", help="hand a conversation back to automation; it resumes from its checkpoint"
    )
    p.add_argument("conversation", metavar="ID", help="conversation id")
    p.add_argument("--operator", metavar="NAME", help="who releases it (default: whoever took it over)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_release)


def _engine() -> Any:
    from orchestrator.config import load_settings
    from orchestrator.db import create_schema, make_engine

    engine = make_engine(load_settings().database_url)
    create_schema(engine)
    return engine


def _sla(item: dict[str, Any]) -> str:
    if item["status"] == "queued":
        left = item["seconds_left"]
        return f"OVERDUE {-left:.0f}s" if item["overdue"] else f"{left:.0f}s left"
    if item["takeover_latency_ms"] is not None:
        mark = " BREACHED" if item["sla_breached"] else ""
        return f"taken in {item['takeover_latency_ms'] / 1000:.1f}s{mark}"
    return "-"


def run_queue(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.takeover import queue

    items = queue(_engine(), include_closed=args.all)
    if args.json:
        emit_json(items)
        return 0
    if not items:
        print("no conversation is waiting for an operator")
        return 0
    print(f"{'CONVERSATION':<22} {'CUSTOMER':<9} {'STATUS':<9} {'SLA':<22} {'OPERATOR':<12} SUMMARY")
    for item in items:
        print(
            f"{item['conversation_id']:<22} {item['customer_id'] or '-':<9} {item['status']:<9} "
            f"{_sla(item):<22} {item['claimed_by'] or '-':<12} {item['summary']}"
        )
    return 0


def _print_handover(view: dict[str, Any]) -> None:
    latency = view["takeover_latency_ms"]
    breach = " (SLA BREACHED)" if view["sla_breached"] else ""
    print(f"{view['conversation_id']} taken over by {view['claimed_by']} after {latency / 1000:.1f}s{breach}")
    print(f"summary: {view['summary']}")
    for reason in view["reasons"]:
        print(f"  why: {reason}")
    print("findings:")
    for f in view["findings"]:
        print(f"  {f['task_id']}  {f.get('department', '?'):<12} {f['intent']:<24} {f.get('status', '?')}")
        print(f"        asked: {f['asked']}")
        if f.get("reason"):
            print(f"        note: {f['reason']}")
        for a in f.get("actions") or []:
            state = "ok" if a.get("ok") else f"refused: {a.get('message') or ''}"
            print(f"        action {a['name']} ({state})")
    print("transcript:")
    for m in view["transcript"]:
        who = m["role"] + (f" {m['author']}" if m["author"] else "")
        print(f"  [{m['at']}] {who}: {m['text']}")


def run_takeover(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.takeover import claim

    view = claim(_engine(), args.conversation, args.operator)
    if args.json:
        emit_json(view)
    else:
        _print_handover(view)
    return 0


def run_reply(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json, read_stdin_text
    from orchestrator.config import load_settings
    from orchestrator.takeover import reply

    text = " ".join(args.text)
    if not args.text or text == "-":
        if sys.stdin.isatty():
            from orchestrator.errors import InputError

            raise InputError(
                f'no answer given; pass it as an argument: crossdesk reply {args.conversation} "..."'
            )
        text = read_stdin_text()
    sent = reply(
        _engine(),
        args.conversation,
        text,
        operator=args.operator,
        max_chars=load_settings().max_message_chars,
    )
    if args.json:
        emit_json(sent)
    else:
        print(f"sent to {args.conversation} as {sent['operator']}")
    return 0


class _NoDecomposer:
    """Releasing resumes the paused `human` node only; the message splitter is never needed."""

    def decompose(self, text: str) -> Any:
        raise RuntimeError("release does not run new customer turns")


def run_release(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.runtime import Orchestrator
    from orchestrator.takeover import release

    orch = Orchestrator(decomposer=_NoDecomposer())
    try:
        view = release(orch, args.conversation, operator=args.operator)
    finally:
        orch.close()
    if args.json:
        emit_json(view)
    else:
        how = "resumed from its checkpoint" if view["resumed"] else "no paused turn to resume"
        print(
            f"{args.conversation} released by {view['released_by']} ({how}; "
            f"{view['operator_replies']} operator replies); automation answers the next message"
        )
    return 0
