"""crossdesk chat: an interactive customer REPL over one conversation."""

from __future__ import annotations

import argparse
from typing import Any

CHECK_HINT = "press Enter to check for new replies"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="chat as a customer in one conversation (Ctrl-D or /quit to leave)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--customer", metavar="ID", help="customer id (see `crossdesk demo customers`)")
    who.add_argument("--jurisdiction", metavar="CODE", help="anonymous customer's jurisdiction")
    p.add_argument("--conversation", metavar="ID", help="continue this conversation")
    p.add_argument("--record", action="store_true", help="show the routing record after each reply")
    p.set_defaults(func=run)


class OperatorWatch:
    """What happened in the conversation outside our own turns: an operator claiming it, their
    replies, handing it back. Polled between prompts (no background thread: input() blocks)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine  # a read-only engine: polling never takes the write lock
        self.conversation_id: str | None = None
        self.last_message_id = 0
        self.operator: str | None = None  # the operator announced as present

    def follow(self, conversation_id: str) -> None:
        """Start watching after what the conversation holds now (its history is not replayed)."""
        from sqlmodel import Session, func, select

        from orchestrator.records import Message

        self.conversation_id = conversation_id
        with Session(self.engine) as session:
            last = session.exec(
                select(func.max(Message.id)).where(Message.conversation_id == conversation_id)
            ).one()
        self.last_message_id = int(last or 0)

    def poll(self) -> list[str]:
        """Lines to show for what is new since the last poll, in order."""
        if self.conversation_id is None:
            return []
        from sqlmodel import Session, col, select

        from orchestrator.records import Message
        from orchestrator.takeover import TAKEN, TakeoverEntry

        lines: list[str] = []
        with Session(self.engine) as session:
            entry = session.exec(
                select(TakeoverEntry)
                .where(TakeoverEntry.conversation_id == self.conversation_id)
                .order_by(col(TakeoverEntry.id).desc())
            ).first()
            claimed = entry.claimed_by if entry is not None and entry.status == TAKEN else None
            if claimed and claimed != self.operator:
                lines.append(joined(claimed))
            messages = session.exec(
                select(Message)
                .where(Message.conversation_id == self.conversation_id)
                .where(col(Message.id) > self.last_message_id)
                .order_by(col(Message.id))
            ).all()
        for m in messages:
            self.last_message_id = max(self.last_message_id, m.id or 0)
            if m.role == "operator":
                lines.append(f"{m.author or 'operator'}> {m.text}")
        if self.operator and not claimed:
            lines.append(f"crossdesk> {self.operator} has handed the conversation back to the assistant")
        self.operator = claimed
        return lines


def joined(operator: str) -> str:
    return f"crossdesk> an operator ({operator}) has joined the conversation; {CHECK_HINT}"


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
    watch = OperatorWatch(orch.reader)
    if conversation:
        watch.follow(conversation)
    try:
        while True:
            for line in watch.poll():
                print(line)
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
                continue  # the next round polls: an empty line checks for operator replies
            try:
                outcome = orch.ask(
                    line,
                    conversation_id=conversation,
                    customer_id=args.customer,
                    jurisdiction=args.jurisdiction,
                )
            except InputError as exc:
                print(f"error: {exc}")
                continue
            if conversation is None:
                conversation = outcome.conversation_id
                watch.follow(conversation)  # the turn just written is shown below, not polled
            if outcome.record.get("status") == "with_operator":
                # no automated reply: the message went to the operator, whose answers the poll shows
                news = watch.poll()
                if not news and watch.operator is None:
                    name = (outcome.record.get("handoff") or {}).get("claimed_by") or "a colleague"
                    news = [joined(name)]
                    watch.operator = name
                for news_line in news or [f"(sent to {watch.operator}; {CHECK_HINT})"]:
                    print(news_line)
                if show:
                    print(render_turn(outcome.reply, outcome.record))
                continue
            if show:
                print(render_turn(outcome.reply, outcome.record))
            else:
                print(f"crossdesk> {outcome.reply}")
    finally:
        orch.close()
    if conversation:
        print(f"conversation {conversation}")
    return 0
