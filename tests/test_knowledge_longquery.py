"""Long queries (a whole case description) are ranked by phrases, sentences and embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.db import create_schema, make_engine
from orchestrator.knowledge import longquery
from orchestrator.knowledge.models import ArticleIn
from orchestrator.knowledge.store import MAX_TERMS, KnowledgeStore

ARTICLES = [
    (
        "KB-CARD-CASHBACK",
        "billing",
        "Rewards card: earning cash back",
        "The rewards card pays cash back on every purchase. Cash back is credited monthly to the card account. "
        "Groceries and fuel earn the highest cash back rate.",
    ),
    (
        "KB-CARD-FEES",
        "billing",
        "Card annual fees explained",
        "Some cards have an annual fee. The fee is charged once a year on the card anniversary.",
    ),
    (
        "KB-SAVINGS",
        "billing",
        "Savings account interest",
        "Savings accounts pay interest monthly. The interest rate depends on the balance kept in the account.",
    ),
    (
        "KB-TRAVEL",
        "technical",
        "Travel notice for your card",
        "Tell us before you travel abroad so card payments are not declined. Set the travel notice in the app.",
    ),
    (
        "KB-PRIVACY",
        "compliance",
        "Deleting your personal data",
        "You can ask us to erase personal data. Some records are kept for legal reasons.",
    ),
]

# a customer's whole story: persona noise, repeated topic phrases, more terms than one search carries
STORY = (
    "You are a nurse named Alex who works night shifts at the city hospital and commutes by train. "
    "Alex is looking for a rewards card for everyday spending on groceries and fuel. "
    "Alex wants the highest cash back possible and asks which rewards card pays the most cash back. "
    "Alex dislikes paperwork, enjoys hiking, owns two cats and plays chess on weekends with neighbours. "
    "If the agent mentions several cards, Alex asks for the single best cash back option and applies."
)


@pytest.fixture
def store(tmp_path: Path) -> KnowledgeStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.db'}")
    create_schema(engine)
    store = KnowledgeStore(engine)
    store.upsert(ArticleIn(id=i, department=d, title=t, body=b) for i, d, t, b in ARTICLES)
    return store


def test_a_long_story_finds_the_article_its_topic_is_about(store: KnowledgeStore) -> None:
    assert longquery.is_long(STORY, MAX_TERMS)
    assert "cash back" in longquery.phrases(STORY) and "rewards card" in longquery.phrases(STORY)
    hits = store.search(STORY, k=3)
    assert hits[0].id == "KB-CARD-CASHBACK"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert "cash back" in hits[0].snippet.lower()


def test_long_queries_keep_the_filters(store: KnowledgeStore) -> None:
    hits = store.search(STORY, department="technical", k=5)
    assert hits and {h.department for h in hits} == {"technical"}
    assert store.search(STORY, department="no_such_department") == []


def test_short_queries_stay_on_plain_bm25(store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a short query took the long-query path")

    monkeypatch.setattr(longquery, "search_long", fail)
    assert store.search("how much cash back does the rewards card pay", k=1)[0].id == "KB-CARD-CASHBACK"


def test_ranking_still_works_without_the_embedding_model(
    store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.nlu.router import RouterError

    def missing(texts: object) -> None:
        raise RouterError("model files missing")

    monkeypatch.setattr("orchestrator.nlu.router.embed", missing)
    monkeypatch.setattr(longquery, "_embedding_failed", False)
    assert store.search(STORY, k=1)[0].id == "KB-CARD-CASHBACK"
    assert longquery._embedding_failed  # said once, then not retried on every query


def test_usage_prior_is_a_damped_share_of_the_most_needed_article() -> None:
    prior = longquery.usage_prior({"A": 4, "B": 1, "C": 0})
    assert prior == {"A": 1.0, "B": 0.5}
    assert longquery.usage_prior({}) == {} and longquery.usage_prior({"A": 0}) == {}


def test_an_article_prior_lifts_what_past_cases_needed_only_inside_its_block(store: KnowledgeStore) -> None:
    plain = [h.id for h in store.search(STORY, k=5)]
    assert plain[0] == "KB-CARD-CASHBACK" and "KB-CARD-FEES" in plain[1:]
    last = plain[-1]
    with longquery.article_prior({last: 1.0}):
        lifted = [h.id for h in store.search(STORY, k=5)]
        assert lifted.index(last) < plain.index(last)
        # a short query keeps plain BM25: the prior is for whole case descriptions
        assert store.search("how much cash back does the rewards card pay", k=1)[0].id == "KB-CARD-CASHBACK"
    assert [h.id for h in store.search(STORY, k=5)] == plain
    with longquery.article_prior({}):
        assert [h.id for h in store.search(STORY, k=5)] == plain


def test_kb_eval_takes_its_prior_from_other_tasks_only(tmp_path: Path) -> None:
    import json

    from orchestrator.errors import InputError
    from orchestrator.eval.kb import evaluate_kb, format_kb, needed_counts

    docs = tmp_path / "documents.json"
    docs.write_text(json.dumps([{"id": i, "title": t, "content": b} for i, _, t, b in ARTICLES]))
    scored = [("t1", STORY, ["KB-TRAVEL"])]
    past = [("p1", "abroad", ["KB-TRAVEL", "KB-SAVINGS"]), ("p2", "abroad again", ["KB-TRAVEL"])]
    assert needed_counts(past) == {"KB-TRAVEL": 2, "KB-SAVINGS": 1}
    without = evaluate_kb(docs, scored)
    with_prior = evaluate_kb(docs, scored, prior_tasks=past)
    assert without["prior_tasks"] == 0 and with_prior["prior_tasks"] == 2
    assert with_prior["mrr@10"] > without["mrr@10"] > 0
    assert "usage prior from the articles 2 other tasks needed" in format_kb(with_prior)
    with pytest.raises(InputError, match="other half"):
        evaluate_kb(docs, scored, prior_tasks=[*past, scored[0]])
