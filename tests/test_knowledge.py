"""The shared knowledge store on a real SQLite file: ranking, filters, hostile input, loading, notes."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import plugins.builtin
from orchestrator.db import create_schema, make_engine
from orchestrator.knowledge import store as store_module
from orchestrator.knowledge.loader import KnowledgeFileError, load_path, load_paths
from orchestrator.knowledge.models import Article, ArticleIn, CaseNoteRow
from orchestrator.knowledge.notes import Notes, notes_for_customer
from orchestrator.knowledge.stemmer import fold, porter
from orchestrator.knowledge.store import (
    KnowledgeStore,
    ensure_search_index,
    jurisdiction_scope,
    match_expression,
    plan_match,
    query_terms,
)

STARTER_KB = Path(plugins.builtin.__file__).parent / "knowledge"
TODAY = date.today()


def knowledge_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine, tables=[Article.__table__, CaseNoteRow.__table__])  # type: ignore[attr-defined]
    ensure_search_index(engine)
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return knowledge_engine(tmp_path / "kb.db")


@pytest.fixture
def store(engine: Engine) -> KnowledgeStore:
    return KnowledgeStore(engine)


@pytest.fixture
def starter(store: KnowledgeStore) -> KnowledgeStore:
    load_path(store, STARTER_KB)
    return store


def article(id_: str, title: str, body: str, **extra: object) -> ArticleIn:
    return ArticleIn.model_validate(
        {"id": id_, "title": title, "body": body, "department": "billing", **extra}
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def md(id_: str, title: str = "A title", body: str = "Some body text.", extra: str = "") -> str:
    return f"---\nid: {id_}\ntitle: {title}\ndepartment: billing\n{extra}---\n{body}\n"


# ranking ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how much is the fee for taking cash out of an ATM", "KB-BIL-003"),
        ("what is the weekend exchange markup", "KB-BIL-005"),
        ("what fees do you charge on card payments in a foreign currency", "KB-BIL-001"),
        ("I forgot my password", "KB-TEC-002"),
        ("I want to dispute a card payment, the goods never came", "KB-BIL-010"),
        ("am I chatting with a bot?", "KB-GEN-002"),
    ],
)
def test_clear_questions_find_the_article_that_answers_them(
    starter: KnowledgeStore, query: str, expected: str
) -> None:
    hits = starter.search(query)
    assert hits, query
    assert hits[0].id == expected, [h.id for h in hits]


def test_fee_questions_rank_fee_articles_first(starter: KnowledgeStore) -> None:
    hits = starter.search("what fees will I pay", k=5)
    fee_articles = {"KB-BIL-001", "KB-BIL-003", "KB-BIL-005", "KB-BIL-006", "KB-BIL-012", "KB-BIL-013"}
    assert hits[0].id in fee_articles
    assert len([h for h in hits[:3] if h.id in fee_articles]) >= 2
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.score > 0 for h in hits)


def test_a_title_match_outranks_a_passing_mention(store: KnowledgeStore) -> None:
    store.upsert(
        [
            article("T-1", "Chargebacks explained", "How disputes with merchants work."),
            article("T-2", "Travel tips", "Long text about travelling. " * 20 + "A chargeback is possible."),
        ]
    )
    assert [h.id for h in store.search("chargeback")] == ["T-1", "T-2"]


def test_hits_carry_a_plain_text_snippet_about_the_query(starter: KnowledgeStore) -> None:
    hit = starter.search("ATM operator fee")[0]
    assert "operator" in hit.snippet.lower()
    assert len(hit.snippet) <= store_module.SNIPPET_CHARS
    assert not re.search(r"\*\*|^#|\|", hit.snippet)


def test_a_snippet_is_a_whole_sentence_even_when_the_article_wraps_it() -> None:
    body = (
        "# Moving money\n\nEvery transfer to a new payee (a person or a company)\n"
        "needs a one-time code from the app.\n\n"
        "- **Abroad**: transfers outside the EU take\n  two working days.\n"
        "- Within the EU: seconds.\n"
    )
    assert store_module.snippet(body, ["code", "payee"]) == (
        "Every transfer to a new payee (a person or a company) needs a one-time code from the app."
    )
    # a list item's wrapped line stays with its item, and the next item starts afresh
    assert (
        store_module.snippet(body, ["abroad", "days"])
        == "Abroad: transfers outside the EU take two working days."
    )
    assert store_module.snippet(body, ["seconds"]) == "Within the EU: seconds."


# filters ---------------------------------------------------------------------------------------


def test_expired_and_not_yet_valid_articles_are_never_returned(starter: KnowledgeStore) -> None:
    old_schedule = "foreign transaction fee card payments 2023 schedule replaced"
    assert "KB-BIL-002" not in [h.id for h in starter.search(old_schedule, k=100)]
    assert "KB-BIL-014" not in [h.id for h in starter.search("Plus plan price 2.99 monthly", k=100)]
    # on a day inside the old window the old schedule applies and the new one does not yet
    in_2024 = [h.id for h in starter.search(old_schedule, k=100, on=date(2024, 6, 1))]
    assert "KB-BIL-002" in in_2024
    assert "KB-BIL-001" not in in_2024


def test_validity_window_edges_are_inclusive(store: KnowledgeStore) -> None:
    store.upsert(
        [
            article("W-1", "Window", "promo rate", valid_from=TODAY, valid_to=TODAY),
            article("W-2", "Future", "promo rate", valid_from=TODAY + timedelta(days=1)),
            article("W-3", "Past", "promo rate", valid_to=TODAY - timedelta(days=1)),
        ]
    )
    assert [h.id for h in store.search("promo rate", k=10)] == ["W-1"]
    assert [h.id for h in store.search("promo rate", k=10, on=TODAY + timedelta(days=1))] == ["W-2"]


def test_jurisdiction_filter_keeps_own_parent_and_global_articles(starter: KnowledgeStore) -> None:
    hits = starter.search("delete my data", jurisdiction="US-CA", k=20)
    assert "KB-CMP-007" in [h.id for h in hits]  # the CCPA article
    for hit in hits:
        article_ = starter.get(hit.id)
        assert article_ is not None
        assert set(article_.jurisdictions) <= {"US-CA", "US", "*"}, (hit.id, article_.jurisdictions)
    uk = [h.id for h in starter.search("make a complaint ombudsman", jurisdiction="uk", k=20)]
    assert "KB-CMP-012" in uk
    assert not {"KB-CMP-011", "KB-CMP-013", "KB-CMP-014", "KB-CMP-015"} & set(uk)
    assert jurisdiction_scope("us-ca") == ["US-CA", "US", "*"]


def test_department_filter(starter: KnowledgeStore) -> None:
    hits = starter.search("card not working", department="technical", k=10)
    assert hits
    assert {h.department for h in hits} == {"technical"}
    assert starter.search("card not working", department="nobody") == []


# hostile input -------------------------------------------------------------------------------

HOSTILE = [
    '"unbalanced quote',
    "AND OR NEAR *",
    "NOT",
    "fee AND",
    "title:card",
    "{title body}: fee",
    "(((fee",
    "NEAR(fee atm, 2)",
    "fee*",
    "^fee",
    "🙂💳🔥",
    "我的卡被冻结了，怎么办？",
    "Überweisung fehlgeschlagen — warum?",
    "fee\x00\x01\x02",
    "'; DROP TABLE kb_article; --",
    "",
    "   ",
    "a" * 100_000,
    " ".join(f'word{i} AND OR NEAR " * ( ) :' for i in range(12_000)),  # ~400 KB
]


@pytest.mark.parametrize("query", HOSTILE, ids=lambda q: repr(q[:20]))
def test_hostile_queries_never_raise(starter: KnowledgeStore, query: str) -> None:
    before = starter.count()
    hits = starter.search(query, jurisdiction="EU", department="billing")
    assert isinstance(hits, list)
    assert len(hits) <= 3
    assert starter.count() == before


def test_operators_in_customer_text_are_plain_words(starter: KnowledgeStore) -> None:
    assert starter.search('fee" OR "*') == starter.search("fee")
    assert starter.search("ATM NOT fee")[0].id == "KB-BIL-003"  # NOT is just a (stop)word here
    assert query_terms('"weekend" AND markup* NEAR(fx)') == ["weekend", "markup", "near", "fx"]
    assert match_expression(["fee", 'a"b']) == '"fee" OR "a""b"'


def test_long_text_keeps_the_words_it_repeats(starter: KnowledgeStore) -> None:
    rambling = " ".join(f"filler{i}" for i in range(200)) + " chargeback chargeback chargeback"
    assert "chargeback" in query_terms(rambling)
    assert starter.search(rambling)[0].id == "KB-BIL-010"


# large-store pruning ----------------------------------------------------------------------------


def test_plan_is_exact_under_budget_and_prunes_common_terms_over_it() -> None:
    df = {"card": 900, "fee": 700, "uetr": 12, "swift": 40}
    terms = ["card", "fee", "uetr", "swift"]
    assert plan_match(terms, df, articles=1000, budget=2000) == match_expression(terms)
    assert plan_match(terms, df, articles=1000, budget=800) == match_expression(["fee", "uetr", "swift"])
    assert plan_match(terms, df, articles=1000, budget=100) == match_expression(["uetr", "swift"])
    assert plan_match(["card", "fee"], df, articles=1000, budget=100) == '{title tags} : ("fee")'
    # a store no bigger than the budget is always searched exactly
    assert plan_match(terms, df, articles=50, budget=100) == match_expression(terms)


def test_pruned_search_still_finds_the_rare_term_and_falls_back_when_short(
    starter: KnowledgeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "POSTINGS_BUDGET", 5)
    hits = starter.search("card payment transfer uetr")
    assert hits[0].id == "KB-BIL-020"  # the only article about UETR references
    assert len(starter.search("card account payment", k=3)) == 3


# writes ----------------------------------------------------------------------------------------


def test_upsert_bumps_version_only_when_content_changes_and_reindexes(store: KnowledgeStore) -> None:
    assert store.upsert([article("V-1", "Refund times", "Refunds take five days.")]) == 1
    assert store.upsert([article("V-1", "Refund times", "Refunds take five days.")]) == 0
    assert store.get("V-1").version == 1  # type: ignore[union-attr]
    store.upsert([article("V-1", "Refund times", "Refunds take ten business days.")])
    assert store.get("V-1").version == 2  # type: ignore[union-attr]
    assert [h.id for h in store.search("ten business days")] == ["V-1"]
    assert store.search("five") == []  # the old text left the index
    store.upsert([article("V-1", "Refund times", "Refunds take ten business days.", tags=["refund"])])
    updated = store.get("V-1")
    assert updated is not None and updated.version == 2 and updated.tags == ["refund"]
    assert store.count() == 1


def test_search_does_not_wait_for_a_writer(starter: KnowledgeStore) -> None:
    # a department run holds the write lock for its whole run and searches meanwhile
    with starter.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE kb_article SET source = source WHERE id = 'KB-BIL-001'")
        assert starter.search("ATM fee")[0].id == "KB-BIL-003"
        assert starter.get("KB-BIL-003") is not None
        assert starter.count() >= 45


def test_search_index_setup_is_idempotent_and_indexes_existing_articles(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'full.db'}")
    create_schema(engine)
    create_schema(engine)
    store = KnowledgeStore(engine)
    store.upsert([article("I-1", "Interest", "We pay no interest on balances.")])
    with engine.begin() as conn:  # a database from before the index existed
        conn.exec_driver_sql(f"DROP TABLE {store_module.FTS_TABLE}")
        conn.exec_driver_sql("DROP TRIGGER kb_article_fts_ai")
    ensure_search_index(engine)
    assert [h.id for h in store.search("interest")] == ["I-1"]


def test_like_fallback_applies_the_same_filters(starter: KnowledgeStore) -> None:
    fallback = KnowledgeStore(starter.engine, full_text=False)
    assert fallback.search("weekend markup")[0].id == "KB-BIL-005"
    assert "KB-BIL-002" not in [h.id for h in fallback.search("foreign transaction fee", k=100)]
    for hit in fallback.search("complaint", jurisdiction="SG", k=20):
        assert set(starter.get(hit.id).jurisdictions) <= {"SG", "*"}  # type: ignore[union-attr]


# loader ----------------------------------------------------------------------------------------

BAD_FILES = [
    ("---\nid: KB-X-1\ntitle: [unclosed\ndepartment: billing\n---\nbody\n", None, "YAML"),
    ("---\nid: KB-X-1\ndepartment: billing\n---\nbody\n", "title", "Field required"),
    (md("KB-X-1", extra="valid_from: 2024-13-45\n"), "valid_from", "date"),
    (md("KB-X-1", extra="valid_from: 2025-01-01\nvalid_to: 2024-01-01\n"), "valid_to", "before valid_from"),
    (md("KB-X-1", extra="jurisdictions: [Europe]\n"), "jurisdictions", "jurisdiction code"),
    (md("KB-X-1", extra="valid_untill: 2025-01-01\n"), "valid_untill", "unknown field"),
    ("no front matter here\n", None, "front matter"),
    (md("KB-X-1", body=""), "body", "at least 1 character"),
]


@pytest.mark.parametrize(("text", "field", "problem"), BAD_FILES)
def test_a_bad_file_loads_nothing_and_names_file_and_field(
    store: KnowledgeStore, tmp_path: Path, text: str, field: str | None, problem: str
) -> None:
    folder = tmp_path / "kb"
    write(folder / "a-good.md", md("KB-OK-1", body="Original body."))
    load_path(store, folder)
    write(folder / "a-good.md", md("KB-OK-1", body="Changed body."))
    write(folder / "b-new.md", md("KB-OK-2"))
    bad = write(folder / "sub" / "c-bad.md", text)
    with pytest.raises(KnowledgeFileError) as caught:
        load_path(store, folder)
    message = str(caught.value)
    assert str(bad) in message and caught.value.path == bad
    assert problem in message
    if field:
        assert caught.value.field == field and repr(field) in message
    if "KB-X-1" in text and field:
        assert "'KB-X-1'" in message
    # all or nothing: neither the new article nor the changed one was written
    assert store.count() == 1
    assert store.get("KB-OK-1").body == "Original body."  # type: ignore[union-attr]


def test_duplicate_ids_across_files_name_both_files(store: KnowledgeStore, tmp_path: Path) -> None:
    first = write(tmp_path / "kb" / "one.md", md("KB-DUP-1"))
    second = write(tmp_path / "kb" / "two.json", json.dumps({"id": "KB-DUP-1", "title": "T", "content": "x"}))
    with pytest.raises(KnowledgeFileError) as caught:
        load_path(store, tmp_path / "kb")
    assert str(first) in str(caught.value) and str(second) in str(caught.value)
    assert store.count() == 0


def test_json_shapes(store: KnowledgeStore, tmp_path: Path) -> None:
    native = [
        {"id": "J-1", "title": "Card limits", "body": "Daily card limit is 5,000.", "department": "billing"},
        {
            "id": "J-2",
            "title": "PIN help",
            "body": "View the PIN in the app.",
            "department": "technical",
            "jurisdictions": "eu, uk",
            "tags": "pin, card",
        },
    ]
    write(tmp_path / "kb" / "list.json", json.dumps(native))
    write(
        tmp_path / "kb" / "one.json",
        json.dumps({"id": "J-3", "title": "Ope", "body": "x", "department": "general"}),
    )
    export = [
        {
            "id": "doc_accounts_(general)_001",
            "title": "Savings interest",
            "content": "## Rates\nWe pay 2% interest.",
            "url": "https://example.invalid/a",
            "updated": "2024-01-01",
        }
    ]
    write(tmp_path / "kb" / "export.json", json.dumps(export))
    report = load_path(store, tmp_path / "kb")
    assert (report.files, report.loaded, report.new) == (3, 4, 4)
    exported = store.get("doc_accounts_(general)_001")
    assert exported is not None and exported.department == "general" and exported.body.startswith("## Rates")
    assert store.get("J-2").jurisdictions == ["EU", "UK"]  # type: ignore[union-attr]
    assert store.search("savings interest")[0].id == "doc_accounts_(general)_001"
    again = load_path(store, tmp_path / "kb")
    assert (again.new, again.updated, again.unchanged) == (0, 0, 4)


def test_json_errors_name_the_item(store: KnowledgeStore, tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.json", '[{"id": "J-1",}]')
    with pytest.raises(KnowledgeFileError, match=r"broken\.json: is not valid JSON.*line 1"):
        load_path(store, broken)
    items = write(
        tmp_path / "items.json",
        json.dumps([{"id": "J-1", "title": "ok", "content": "x"}, {"id": "J-2", "content": "x"}]),
    )
    with pytest.raises(KnowledgeFileError) as caught:
        load_path(store, items)
    assert (
        caught.value.article_id == "J-2" and caught.value.field == "title" and "item 1" in str(caught.value)
    )
    with pytest.raises(KnowledgeFileError, match="does not exist"):
        load_path(store, tmp_path / "missing")
    assert store.count() == 0


def test_article_validation_normalises() -> None:
    art = ArticleIn.model_validate(
        {
            "id": "N-1",
            "title": " T ",
            "body": "b",
            "department": "Billing",
            "jurisdictions": "us-ca, US",
            "tags": ["Fees", "fees", 12363],
        }
    )
    assert (art.title, art.department, art.jurisdictions, art.tags) == (
        "T",
        "billing",
        ["US-CA", "US"],
        ["fees", "12363"],
    )
    with pytest.raises(ValueError, match="every jurisdiction"):
        ArticleIn.model_validate(
            {"id": "N-2", "title": "T", "body": "b", "department": "x", "jurisdictions": ["*", "EU"]}
        )
    with pytest.raises(ValueError, match="without spaces"):
        ArticleIn.model_validate({"id": "has space", "title": "T", "body": "b", "department": "x"})


# the starter knowledge base ---------------------------------------------------------------------


def test_starter_knowledge_base_loads_completely(store: KnowledgeStore) -> None:
    report = load_path(store, STARTER_KB)
    assert report.loaded >= 45
    assert len(set(report.ids)) == len(report.ids) == report.loaded == store.count()
    for folder in ("billing", "compliance", "technical", "general"):
        files = list((STARTER_KB / folder).glob("*.md"))
        assert files, folder
        for path in files:
            art = store.get(re.search(r"^id: (\S+)$", path.read_text(), re.M).group(1))  # type: ignore[union-attr]
            assert art is not None and art.department == folder, path
            assert art.source == f"knowledge/{folder}/{path.name}"
    arts = [store.get(i) for i in report.ids]
    assert sum(1 for a in arts if a and a.valid_to and a.valid_to < TODAY) >= 2
    assert {j for a in arts if a for j in a.jurisdictions} >= {"*", "EU", "UK", "US", "US-CA", "CN", "SG"}


def test_plugin_knowledge_folders_load_together(store: KnowledgeStore) -> None:
    folders = [STARTER_KB / name for name in ("billing", "compliance", "technical", "general")]
    report = load_paths(store, folders)
    assert report.loaded == store.count() >= 45
    assert store.get("KB-BIL-001").source == "billing/card-fees.md"  # type: ignore[union-attr]
    # a file named again on its own is read once, not reported as a duplicate id
    again = load_paths(store, [STARTER_KB / "billing", STARTER_KB / "billing" / "card-fees.md"])
    assert again.loaded == len(list((STARTER_KB / "billing").glob("*.md"))) == again.unchanged


def test_stemmer_agrees_with_sqlite_on_the_starter_vocabulary() -> None:
    words = sorted(
        {w for p in STARTER_KB.rglob("*.md") for w in re.findall(r"[^\W_]+", p.read_text().lower())}
    )
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 2')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    conn.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", list(enumerate(words)))
    sqlite_stems = {words[doc]: term for term, doc in conn.execute("SELECT term, doc FROM v")}
    assert len(words) > 1000
    assert {w: porter(fold(w)) for w in words} == sqlite_stems


# case notes ------------------------------------------------------------------------------------


def test_notes_written_by_one_department_are_read_by_another_after_commit(engine: Engine) -> None:
    with Session(engine) as billing_session:
        billing = Notes(billing_session, "conv-1", "billing", "C1001")
        first = billing.add(
            "refund", "Refunded duplicate hotel charge", subject="TX-1", data={"amount": 120.5}
        )
        billing.add("observation", "Customer travelling in Spain")
        assert first.department == "billing" and first.customer_id == "C1001" and first.id is None
        with Session(engine) as other:  # nothing is visible before the run commits
            assert Notes(other, "conv-2", "compliance", "C1001").for_customer("C1001") == []
        billing_session.commit()
    with Session(engine) as compliance_session:
        compliance = Notes(compliance_session, "conv-2", "compliance", "C1001")
        notes = compliance.for_customer("C1001")
        assert [n.kind for n in notes] == ["observation", "refund"]  # newest first
        assert notes[1].data == {"amount": 120.5} and notes[1].conversation_id == "conv-1"
        assert [n.text for n in compliance.for_subject("TX-1")] == ["Refunded duplicate hotel charge"]
        assert compliance.for_customer("C1001", kind="refund")[0].subject == "TX-1"
        assert compliance.for_subject("") == []
        compliance.add("kyc_hold", "Source of funds requested")
        compliance_session.commit()
    assert [n.department for n in notes_for_customer(engine, "C1001")] == ["compliance", "billing", "billing"]
    assert notes_for_customer(engine, "C9999") == []
    assert [n.kind for n in notes_for_customer(engine, "C1001", kind="refund", limit=5)] == ["refund"]
    with engine.begin() as writer:  # a department run holding the write lock does not block views
        writer.exec_driver_sql("UPDATE kb_case_note SET text = text")
        assert len(notes_for_customer(engine, "C1001")) == 3


def test_notes_of_a_failed_run_are_dropped(engine: Engine) -> None:
    with Session(engine) as session:
        Notes(session, "conv-1", "billing", "C1001").add("refund", "Will be rolled back")
        session.rollback()
    assert notes_for_customer(engine, "C1001") == []
    with Session(engine) as session, pytest.raises(ValueError, match="needs text"):
        Notes(session, "conv-1", "billing", "C1001").add("refund", "  ")
