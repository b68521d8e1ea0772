"""The demo simulator: realistic messages from many customers, through the real Orchestrator."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlmodel import Session, select

from orchestrator.records import Conversation, TurnRecord
from tui.simulator import (
    CURRENCY,
    DEPARTMENT_TEMPLATES,
    MessageFactory,
    SimCustomer,
    Simulator,
    SimulatorError,
    demo_customers,
)

CUSTOMERS = [
    SimCustomer("C1", "EU"),
    SimCustomer("C2", "UK"),
    SimCustomer("C3", "SG"),
    SimCustomer("C4", "US-CA"),
]


def test_messages_are_reproducible_varied_and_local() -> None:
    a = MessageFactory(CUSTOMERS, seed=3, follow_up=0)
    b = MessageFactory(CUSTOMERS, seed=3, follow_up=0)
    batch = [a.next() for _ in range(300)]
    assert batch == [b.next() for _ in range(300)]
    assert batch != [MessageFactory(CUSTOMERS, seed=4, follow_up=0).next() for _ in range(300)]
    assert {m.customer_id for m in batch} == {c.id for c in CUSTOMERS}
    assert all(m.conversation_id is None and m.text.endswith(".") and m.text[0].isupper() for m in batch)
    # several problems in one message, in a share of them
    multi = [
        m
        for m in batch
        if any(j in m.text for j in (". Also, ", ". And ", "on top of that", "Another thing"))
    ]
    assert 0.2 < len(multi) / len(batch) < 0.8
    risky = [m for m in batch if m.high_risk]
    assert 0.04 < len(risky) / len(batch) < 0.25
    # money is in the customer's own currency
    jurisdiction = {c.id: c.jurisdiction for c in CUSTOMERS}
    for m in batch:
        for code in set(CURRENCY.values()):
            if f"{code} " in m.text:
                assert code == CURRENCY[jurisdiction[m.customer_id]], m
    # every department's templates are used
    used = {
        d
        for d, templates in DEPARTMENT_TEMPLATES.items()
        for m in batch
        for t in templates
        if t.split("{")[0] in m.text
    }
    assert used == set(DEPARTMENT_TEMPLATES)


def test_follow_ups_continue_open_conversations() -> None:
    f = MessageFactory(CUSTOMERS, seed=1, follow_up=1.0)
    opening = f.next()
    assert opening.conversation_id is None  # nothing open yet
    f.remember("conv-1", opening.customer_id)
    follow = f.next()
    assert (follow.conversation_id, follow.customer_id) == ("conv-1", opening.customer_id)


def test_no_customers_and_a_bad_rate_are_refused(orch: Any) -> None:
    with pytest.raises(SimulatorError, match="crossdesk demo seed"):
        MessageFactory([])
    with pytest.raises(SimulatorError, match="at most 200"):
        Simulator(orch, rate=500)
    with pytest.raises(SimulatorError, match="above 0"):
        Simulator(orch, rate=0)


def test_simulator_feeds_the_database_through_the_orchestrator(orch: Any) -> None:
    customers = demo_customers(orch.reader)
    assert len(customers) >= 30 and {c.jurisdiction for c in customers} == set(CURRENCY)
    sim = Simulator(orch, rate=20, seed=11, high_risk=0.5, follow_up=0.5)
    sim.start()
    try:
        deadline = time.monotonic() + 30
        while sim.stats().sent < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sim.stop()
    stats = sim.stats()
    assert not sim.running
    assert stats.sent >= 20 and stats.failed == 0, stats.last_error
    assert stats.needs_human >= 1  # high-risk messages reach the operator queue
    with Session(orch.engine) as s:
        convs = s.exec(select(Conversation)).all()
        turns = s.exec(select(TurnRecord)).all()
    assert len(turns) == stats.sent  # every message was a real turn
    assert len({c.customer_id for c in convs}) >= 5
    assert any(c.status == "needs_human" for c in convs)
    assert any(t.seq > 1 for t in turns)  # follow-ups land in open conversations


def test_a_simulator_that_falls_behind_skips_instead_of_piling_up(orch: Any) -> None:
    sim = Simulator(orch, rate=200, seed=5, workers=1)
    sim.start()
    time.sleep(1.0)
    sim.stop()
    stats = sim.stats()
    # one worker cannot keep up with 200 a second: the pacer skips rather than queueing without bound
    assert stats.skipped > 0 and stats.sent > 0 and stats.failed == 0


@pytest.mark.slow
def test_the_console_runs_the_simulator_in_child_processes(seeded_home: Any, crossdesk_home: Any) -> None:
    from orchestrator.config import load_settings
    from tui.simulator import SimulatorProcess

    url = load_settings().database_url
    sim = SimulatorProcess(url, rate=12, seed=3)  # more than one process's share
    try:
        assert sim.processes == 2 and sim.running
        deadline = time.monotonic() + 60
        while sim.stats().sent < 8 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        sim.stop()
    assert not sim.running
    stats = sim.stats()
    assert stats.sent >= 8 and stats.failed == 0, stats.last_error
    from orchestrator.db import make_engine, reader
    from tui.data import list_conversations

    engine = make_engine(url)
    try:
        assert len(list_conversations(reader(engine))) >= 5
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_child_that_cannot_start_says_why(crossdesk_home: Any) -> None:
    from orchestrator.config import load_settings
    from orchestrator.db import create_schema, make_engine
    from tui.simulator import SimulatorProcess

    url = load_settings().database_url
    engine = make_engine(url)
    create_schema(engine)  # an empty database: no demo customers
    engine.dispose()
    with pytest.raises(SimulatorError, match="did not start: .*crossdesk demo seed"):
        SimulatorProcess(url, rate=2)
