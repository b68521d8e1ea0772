"""The console's read model on a real database: what each screen is given to show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator import takeover
from tui import data
from tui.data import QueueRow


def row(cid: str, status: str = "automated", **kw: Any) -> QueueRow:
    base: dict[str, Any] = {
        "customer_id": "C1001",
        "jurisdiction": "EU",
        "departments": ("billing",),
        "transfers": 0,
        "turns": 1,
        "updated_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    base.update(kw)
    return QueueRow(conversation_id=cid, status=status, **base)


def test_queue_lists_waiting_conversations_even_beyond_the_recent_limit(
    orch: Any, conversations: dict[str, Any]
) -> None:
    newest = orch.ask("How do I reset my password?", customer_id="C1003")
    rows = data.list_conversations(orch.reader, limit=1)
    ids = {r.conversation_id for r in rows}
    assert ids == {newest.conversation_id, "conv-person", "conv-split"}
    waiting = {r.conversation_id: r for r in rows if r.waiting}
    assert set(waiting) == {"conv-person", "conv-split"}
    person = waiting["conv-person"]
    assert person.sla_seconds == 30 and person.claimed_by is None and "asked for a person" in person.summary
    left = person.seconds_left(datetime.now(UTC))
    assert left is not None and 0 < left <= 30

    takeover.claim(orch, "conv-person", "alice")
    claimed = next(r for r in data.list_conversations(orch.reader) if r.conversation_id == "conv-person")
    assert claimed.status == "claimed" and claimed.claimed_by == "alice" and not claimed.waiting
    assert claimed.takeover_latency_ms is not None and claimed.seconds_left(datetime.now(UTC)) is None


def test_filter_words_must_all_match_and_keys_pick_a_field() -> None:
    rows = [
        row("a", "needs_human", jurisdiction="UK", departments=("technical",), customer_id="C1002"),
        row("b", "claimed", claimed_by="bob", departments=("billing", "compliance")),
        row("c", "resolved", summary="double charge refunded"),
    ]
    assert [r.conversation_id for r in data.filter_rows(rows, "status:needs")] == ["a"]
    assert [r.conversation_id for r in data.filter_rows(rows, "needs human")] == [
        "a"
    ]  # free text, both words
    assert [r.conversation_id for r in data.filter_rows(rows, "j:uk d:tech")] == ["a"]
    assert [r.conversation_id for r in data.filter_rows(rows, "d:comp op:bob")] == ["b"]
    assert [r.conversation_id for r in data.filter_rows(rows, "refunded")] == ["c"]
    assert data.filter_rows(rows, "c:C1002 status:resolved") == []
    assert len(data.filter_rows(rows, "  ")) == 3
    # an unknown key is free text, not an error
    assert data.filter_rows(rows, "colour:red") == []


def test_attention_sort_puts_the_most_urgent_wait_first() -> None:
    t0 = datetime(2025, 1, 1, 12, tzinfo=UTC)
    rows = [
        row("done", "resolved", updated_at=t0 + timedelta(minutes=5)),
        row("mine", "claimed", claimed_by="alice", updated_at=t0),
        row("theirs", "claimed", claimed_by="bob", updated_at=t0 + timedelta(minutes=1)),
        row("late", "needs_human", sla_deadline=t0 - timedelta(seconds=5), updated_at=t0),
        row(
            "soon",
            "needs_human",
            sla_deadline=t0 + timedelta(seconds=20),
            updated_at=t0 + timedelta(minutes=2),
        ),
    ]
    order = [r.conversation_id for r in data.sort_rows(rows, "attention", "alice")]
    assert order == ["late", "soon", "mine", "theirs", "done"]
    assert [r.conversation_id for r in data.sort_rows(rows, "updated", "alice")][0] == "done"
    with pytest.raises(ValueError, match="unknown sort 'nope'"):
        data.sort_rows(rows, "nope", "alice")


def test_conversation_detail_has_turns_results_policy_and_cited_articles(
    orch: Any, conversations: dict[str, Any]
) -> None:
    detail = data.conversation_detail(orch.reader, "conv-resolved")
    assert detail is not None
    assert detail.customer_name and detail.row.customer_id == "C1001" and detail.handover is None
    assert [m.role for m in detail.messages] == ["customer", "assistant"]
    (turn,) = detail.turns
    record = conversations["conv-resolved"].record
    assert [(t.id, t.department, t.intent, t.status) for t in turn.tasks] == [
        (t["id"], t["department"], t["intent"], t["status"]) for t in record["tasks"]
    ]
    assert turn.trace_id == record["trace_id"]
    assert any(r.id == "global.ai_disclosure" for p in turn.policy for r in p.rules)
    assert [a for a, _ in detail.articles] == [k for t in record["tasks"] for k in t["knowledge"]]
    assert all(title and "no longer" not in title for _, title in detail.articles)

    split = data.conversation_detail(orch.reader, "conv-split")
    assert split is not None and split.handover is not None and split.handover.status == "queued"
    (task,) = split.turns[0].tasks
    assert task.status == "denied" and task.blocked and task.blocked.startswith("global.aml.structuring")
    assert len(split.handover.summary) <= 300
    assert data.conversation_detail(orch.reader, "conv-nope") is None


def test_knowledge_search_filters_and_reads(orch: Any) -> None:
    hits = data.search_articles(orch.reader, "charged twice")
    assert hits[0].id == "KB-BIL-008" and hits[0].score is not None
    tech = data.search_articles(orch.reader, "card dept:technical")
    assert tech and {h.department for h in tech} == {"technical"}
    everything = data.search_articles(orch.reader, "")
    assert len(everything) > 50 and everything == sorted(everything, key=lambda h: (h.department, h.id))
    only_claims = data.search_articles(orch.reader, "d:claims")
    assert only_claims and {h.department for h in only_claims} == {"claims"}
    article = data.get_article(orch.reader, "KB-BIL-008")
    assert article is not None and article.body and article.department == "billing"
    assert data.get_article(orch.reader, "KB-NOPE") is None


def test_departments_with_intents_and_origin(orch: Any) -> None:
    view = data.departments(orch.plugins)
    by_name = {d.name: d for d in view.departments}
    assert set(by_name) >= {"billing", "compliance", "technical", "claims"}
    assert by_name["billing"].builtin and by_name["billing"].package == "crossdesk"
    claims = by_name["claims"]
    assert not claims.builtin and claims.package == "crossdesk-claims" and claims.module == "crossdesk_claims"
    assert {i.name for i in claims.intents} >= {"file_claim", "claim_status"}
    assert all(i.examples >= 5 for d in view.departments for i in d.intents)
    assert view.problems == ()


def test_trace_waterfall_in_tree_order_with_handoffs(orch: Any, traced: dict[str, Any]) -> None:
    (turn,) = data.list_traces(orch.reader, conversation_id="conv-claims")
    assert turn.conversation_id == "conv-claims" and turn.status == "needs_info"
    wf = data.trace_waterfall(orch.reader, turn.trace_id)
    assert wf is not None and wf.conversation_id == "conv-claims"
    root, *rest = wf.bars
    assert root.kind == "turn" and root.offset_ms == 0 and root.duration_ms == pytest.approx(wf.total_ms)
    assert all(b.depth >= 1 for b in rest)
    targets = {b.target for b in rest if b.kind == "handoff" and b.source == "supervisor"}
    assert targets == {"compliance", "claims"}
    agents = {b.name for b in rest if b.kind == "agent"}
    assert agents == {"invoke_agent compliance", "invoke_agent claims"}
    # every span sits inside the turn
    assert all(b.offset_ms >= 0 and b.offset_ms + b.duration_ms <= wf.total_ms + 1e-6 for b in wf.bars)
    assert data.trace_waterfall(orch.reader, "f" * 32) is None


def test_metrics_over_a_window(orch: Any, traced: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    m = data.metrics(orch.reader, now=now, window=timedelta(minutes=5), buckets=10)
    assert m.turns == 4 and m.traced_turns == 4
    assert m.escalation_rate == pytest.approx(0.5)  # conv-person and conv-split
    assert m.fcr_rate == pytest.approx(0.25)  # only conv-resolved was resolved in its first turn
    assert (m.waiting_now, m.takeovers) == (2, 2)
    assert m.sla_breaches == 0 and m.overdue_now == 0
    assert dict(m.statuses) == {"needs_human": 2, "needs_info": 1, "resolved": 1}
    assert {d.name for d in m.department_latency} == {"technical", "compliance", "claims"}
    # one count per sub-issue the four turns had
    assert sum(n for _, n in m.transfers_per_issue) == sum(len(o.record["tasks"]) for o in traced.values())
    turns = m.series_named("turns")
    assert len(turns.values) == 10 and sum(turns.filled()) == 4

    # 40 s later both waits are past their 30-second SLA
    later = data.metrics(
        orch.reader, now=now + timedelta(seconds=40), window=timedelta(minutes=5), buckets=10
    )
    assert later.sla_breaches == 2 and later.overdue_now == 2
    # and outside the window nothing is counted
    gone = data.metrics(orch.reader, now=now + timedelta(hours=2), window=timedelta(minutes=5))
    assert gone.turns == 0 and gone.traced_turns == 0 and gone.fcr_rate is None
    assert gone.waiting_now == 2  # still waiting, whatever the window
