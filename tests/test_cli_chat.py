"""`crossdesk chat` while an operator has the conversation: the customer sees them join and answer."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from orchestrator import takeover
from orchestrator.cli import main
from orchestrator.config import load_settings
from orchestrator.db import make_engine
from orchestrator.records import Conversation


def scripted_input(steps: list[str | Callable[[], str]]) -> Callable[[str], str]:
    """input() that returns each step's text; a callable step acts (as an operator would) first."""
    it: Iterator[str | Callable[[], str]] = iter(steps)

    def fake(prompt: str = "") -> str:
        print(prompt, end="")
        try:
            step = next(it)
        except StopIteration:
            raise EOFError from None
        return step() if callable(step) else step

    return fake


def test_the_customer_sees_the_operator_join_answer_and_hand_back(
    seeded_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(load_settings().database_url)

    def conversation() -> str:
        with Session(engine) as s:
            conv = s.exec(select(Conversation).order_by(col(Conversation.created_at).desc())).first()
        assert conv is not None
        return conv.id

    def operator_claims() -> str:
        takeover.claim(engine, conversation(), "alice")
        return ""  # the customer just presses Enter

    def operator_answers() -> str:
        takeover.reply(engine, conversation(), "Hello, Alice here. I can see your account.", operator="alice")
        return ""

    def operator_releases() -> str:
        from orchestrator.runtime import Orchestrator

        other = Orchestrator(load_settings())
        try:
            takeover.release(other, conversation(), operator="alice")
        finally:
            other.close()
        return ""

    monkeypatch.setattr(
        builtins,
        "input",
        scripted_input(
            [
                "I want to talk to a real person please",
                operator_claims,
                operator_answers,
                "Thanks, it is about a payment I don't recognise",
                operator_releases,
            ]
        ),
    )
    try:
        assert main(["chat", "--customer", "C1001"]) == 0
    finally:
        engine.dispose()
    out = capsys.readouterr().out
    lines = [re.sub(r"^(you> )+", "", line) for line in out.splitlines()]  # prompts share a line

    joined = "crossdesk> an operator (alice) has joined the conversation"
    answer = "alice> Hello, Alice here. I can see your account."
    back = "crossdesk> alice has handed the conversation back to the assistant"
    assert [sum(line.startswith(x) for line in lines) for x in (joined, answer, back)] == [1, 1, 1]
    order = [next(i for i, line in enumerate(lines) if line.startswith(x)) for x in (joined, answer, back)]
    assert order == sorted(order)
    # the message written while alice had the conversation got no empty automated reply
    assert "crossdesk>" not in lines and "crossdesk> " not in lines
    between = lines[order[1] + 1 : order[2]]
    assert "(sent to alice; press Enter to check for new replies)" in between
    assert not [line for line in between if line.startswith("crossdesk>")]
