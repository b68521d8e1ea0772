"""The shared knowledge store: articles every department searches, ranked by BM25.

On SQLite an FTS5 index (``kb_article_fts``) over title, body and tags is kept in
step with ``kb_article`` by triggers, so rows written by any code path stay
searchable. On PostgreSQL a generated ``search_tsv`` column (title weighted A,
tags B, body D) with a GIN index does the same, ranked by ``ts_rank_cd``. On
other databases the store falls back to a case-insensitive LIKE match with a
simple term-count score: correct but it scans, so not for large knowledge bases.
"""

from __future__ import annotations

import logging
import re
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from orchestrator.knowledge import longquery
from orchestrator.knowledge.models import ALL_JURISDICTIONS, Article, ArticleIn, utcnow
from orchestrator.knowledge.reads import raw_cursor, read_rows
from orchestrator.knowledge.stemmer import fold, porter
from plugins.contracts import ArticleHit
from traces.current import current_telemetry

log = logging.getLogger(__name__)

FTS_TABLE = "kb_article_fts"
VOCAB_TABLE = "kb_article_fts_vocab"  # term -> number of articles containing it
# bm25 column weights for (title, body, tags): a term in the title says far more
# about what an article is for than the same term deep in its body
BM25_WEIGHTS = (8.0, 1.0, 4.0)
MAX_TERMS = 32  # a longer query adds noise and cost, not precision
# Ranking costs about a microsecond per matching article. When a query could
# match more articles than this, its most frequent terms (which BM25 weighs
# least) are left out until it fits; stores up to this size always get exact
# BM25 over every term.
POSTINGS_BUDGET = 4000
MAX_TERM_CHARS = 40  # longer "words" are hashes, URLs or garbage
MAX_QUERY_CHARS = 20_000  # beyond this a "query" is a pasted document; its start says enough
SNIPPET_CHARS = 240
_FALLBACK_CANDIDATES = 500

_ARTICLE = Article.__table__  # type: ignore[attr-defined]
_Found = tuple[str, str, str, str, float]  # id, title, department, body, score

_FTS_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "title, body, tags, content='kb_article', "
    "tokenize='porter unicode61 remove_diacritics 2')"
)
# external-content FTS5: the index keeps no copy of the text and the triggers
# replay every change; the update trigger fires only when indexed columns change
_TRIGGERS = (
    f"""CREATE TRIGGER IF NOT EXISTS kb_article_fts_ai AFTER INSERT ON kb_article BEGIN
  INSERT INTO {FTS_TABLE}(rowid, title, body, tags) VALUES (new.rowid, new.title, new.body, new.tags);
END""",
    f"""CREATE TRIGGER IF NOT EXISTS kb_article_fts_ad AFTER DELETE ON kb_article BEGIN
  INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body, tags)
  VALUES ('delete', old.rowid, old.title, old.body, old.tags);
END""",
    f"""CREATE TRIGGER IF NOT EXISTS kb_article_fts_au AFTER UPDATE OF title, body, tags ON kb_article BEGIN
  INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body, tags)
  VALUES ('delete', old.rowid, old.title, old.body, old.tags);
  INSERT INTO {FTS_TABLE}(rowid, title, body, tags) VALUES (new.rowid, new.title, new.body, new.tags);
END""",
)

STOPWORDS = frozenset(
    """
a about above after again against all am an and any are aren as at be because been before being below
between both but by can cannot could couldn did didn do does doesn doing don down during each few for
from further had hadn has hasn have haven having he her here hers herself him himself his how i if in
into is isn it its itself just let ll me more most mustn my myself no nor not now of off on once only or
other ought our ours ourselves out over own re s same shan she should shouldn so some such t than that
the their theirs them themselves then there these they this those through to too under until up ve very
was wasn we were weren what when where which while who whom why will with won would wouldn you your
yours yourself yourselves
also already anyone anything get got gotten hello hey hi im ive just like ok okay please pls thank
thanks thx want wanted wants would yes yet
""".split()
)

# \w without "_": the FTS tokenizer treats "_" as a separator, so we do too
_WORD = re.compile(r"[^\W_]+")


def query_terms(text: str) -> list[str]:
    """Turn arbitrary customer text into at most MAX_TERMS distinct search terms.

    Never raises: operators, quotes and symbols are not words and are dropped,
    so the MATCH expression built from the terms is always well formed. When a
    long text has more terms than that, the ones it repeats most (then the
    longer, usually rarer, words) are kept.
    """
    first: dict[str, str] = {}  # stem -> first spelling seen, in order of appearance
    counts: dict[str, int] = {}
    for match in _WORD.finditer(text[:MAX_QUERY_CHARS].lower()):
        word = match.group()
        if word in STOPWORDS or len(word) > MAX_TERM_CHARS or (len(word) < 2 and word.isascii()):
            continue
        key = _stem(word)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, word)
    if len(first) <= MAX_TERMS:
        return list(first.values())
    order = {key: i for i, key in enumerate(first)}
    keep = sorted(first, key=lambda key: (-counts[key], -len(key), order[key]))[:MAX_TERMS]
    return [first[key] for key in sorted(keep, key=order.__getitem__)]


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 query that matches any of the terms; every term is quoted, so none is an operator."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def plan_match(terms: list[str], df: dict[str, int], articles: int, budget: int | None = None) -> str:
    """The MATCH expression for `terms`, pruned so it touches about `budget` articles at most.

    `df` holds each term's document frequency, `articles` the store's size. Exact
    (every term) when the query cannot match more than the budget. Otherwise the
    rarest terms that fit are kept; if even the rarest alone is too common, only
    its title and tag matches are ranked.
    """
    budget = POSTINGS_BUDGET if budget is None else budget
    counts = {term: df.get(term, 0) for term in terms}
    if min(sum(counts.values()), articles) <= budget:
        return match_expression(terms)
    # a term no article contains costs nothing and cannot rank anything: leave it out
    ranked = sorted((t for t in terms if counts[t]), key=counts.__getitem__)
    kept, total = [ranked[0]], counts[ranked[0]]
    for term in ranked[1:]:
        if total + counts[term] > budget:
            break
        kept.append(term)
        total += counts[term]
    if total > budget:
        return "{title tags} : (" + match_expression(kept) + ")"
    return match_expression([t for t in terms if t in kept])


# Document frequencies per engine, remembered for a while: they only steer pruning on
# large stores, and this store's own writes clear them.
_DF_TTL_S = 300.0
_DF_MAX_TERMS = 20_000
_df_cache: weakref.WeakKeyDictionary[Engine, dict[tuple[str, int], tuple[int, float]]] = (
    weakref.WeakKeyDictionary()
)


def document_frequencies(engine: Engine, cursor: Any, terms: Sequence[str], cap: int = 0) -> dict[str, int]:
    """How many articles contain each term, counted up to `cap` + 1 (0: exactly).

    Counting stops early, so a capped count of a common term is cheap; the exact
    count comes from the FTS5 vocabulary, which walks all the term's postings.
    """
    cache = _df_cache.setdefault(engine, {})
    now = time.monotonic()
    out: dict[str, int] = {}
    for term in terms:
        key = (_stem(term), cap)
        cached = cache.get(key)
        if cached is not None and now - cached[1] < _DF_TTL_S:
            out[term] = cached[0]
            continue
        if cap:
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? LIMIT ?)"
            row = cursor.execute(sql, (match_expression([term]), cap + 1)).fetchone()
        else:  # one lookup per term: fts5vocab serves "term = ?" from its index but scans for "IN (...)"
            row = cursor.execute(f"SELECT doc FROM {VOCAB_TABLE} WHERE term = ?", (key[0],)).fetchone()
        out[term] = int(row[0]) if row else 0
        if len(cache) >= _DF_MAX_TERMS:
            cache.clear()
        cache[key] = (out[term], now)
    return out


def forget_frequencies(engine: Engine) -> None:
    _df_cache.pop(engine, None)


@lru_cache(maxsize=50_000)  # snippets stem every word of a body; the vocabulary repeats
def _stem(word: str) -> str:
    return porter(fold(word))


def jurisdiction_scope(jurisdiction: str) -> list[str]:
    """The codes whose articles apply to a customer: "US-CA" also gets "US", everyone gets "*"."""
    code = jurisdiction.strip().upper()
    scope = [code]
    if "-" in code:
        scope.append(code.split("-", 1)[0])
    scope.append(ALL_JURISDICTIONS)
    return scope


PG_TSV_COLUMN = "search_tsv"
PG_TSV_INDEX = "ix_kb_article_search_tsv"
# the weights ts_rank_cd gives to D (body), C (unused), B (tags) and A (title): BM25_WEIGHTS scaled to 1
PG_RANK_WEIGHTS = f"{{{BM25_WEIGHTS[1] / BM25_WEIGHTS[0]}, 0, {BM25_WEIGHTS[2] / BM25_WEIGHTS[0]}, 1}}"
_PG_DDL = (
    f"ALTER TABLE kb_article ADD COLUMN IF NOT EXISTS {PG_TSV_COLUMN} tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(tags::text, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(body, '')), 'D')) STORED",
    f"CREATE INDEX IF NOT EXISTS {PG_TSV_INDEX} ON kb_article USING GIN ({PG_TSV_COLUMN})",
)


def _ensure_pg_index(engine: Engine) -> None:
    from orchestrator.pgsql import advisory_lock

    with engine.begin() as conn, advisory_lock(conn, "crossdesk-kb-index"):
        for ddl in _PG_DDL:
            conn.exec_driver_sql(ddl)


def ensure_search_index(engine: Engine) -> None:
    """Create the full-text index and its triggers if missing. Safe to call on every start."""
    if engine.dialect.name == "postgresql":
        _ensure_pg_index(engine)
        return
    if engine.dialect.name != "sqlite":
        log.info("no full-text index on %s yet; knowledge search uses the LIKE fallback", engine.dialect.name)
        return
    with engine.begin() as conn:
        existed = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)
        ).first()
        conn.exec_driver_sql(_FTS_DDL)
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {VOCAB_TABLE} USING fts5vocab({FTS_TABLE}, 'row')"
        )
        for ddl in _TRIGGERS:
            conn.exec_driver_sql(ddl)
        if not existed:
            # articles written before the index existed (e.g. an older database) get indexed now
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


@dataclass(frozen=True)
class UpsertStats:
    inserted: int
    updated: int
    unchanged: int


# what makes an article "changed"; `source` alone does not (the same file loaded through another path)
_COMPARED = ("title", "body", "department", "jurisdictions", "valid_from", "valid_to", "tags")


class KnowledgeStore:
    """Articles shared by all departments. Implements plugins.contracts.KnowledgeAPI."""

    def __init__(self, engine: Engine, *, full_text: bool | None = None) -> None:
        """`full_text=None` picks FTS5 on SQLite, tsvector on PostgreSQL and the LIKE fallback elsewhere."""
        self.engine = engine
        native = engine.dialect.name in ("sqlite", "postgresql")
        self.full_text = native if full_text is None else full_text

    def search(
        self,
        query: str,
        *,
        department: str | None = None,
        jurisdiction: str | None = None,
        k: int = 3,
        on: date | None = None,
    ) -> list[ArticleHit]:
        """The k best articles for `query` valid on `on` (default today), best first.

        `department` keeps only that department's articles; `jurisdiction` keeps
        articles for that jurisdiction, its parent region and "*". Scores are
        positive, higher is better, and comparable only within one result list.
        """
        tel = current_telemetry()
        if tel is None:
            return self._search(query, department, jurisdiction, k, on)
        # inside a traced turn: a `retrieve` span under the department run (query text only
        # with content capture on, masked)
        from traces.instrument import retrieve_span

        with retrieve_span(tel, department=department, query=query) as span:
            hits = self._search(query, department, jurisdiction, k, on)
            span.set_hits(hits)
        return hits

    def _search(
        self, query: str, department: str | None, jurisdiction: str | None, k: int, on: date | None
    ) -> list[ArticleHit]:
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        day = (on or date.today()).isoformat()
        scope = jurisdiction_scope(jurisdiction) if jurisdiction else None
        if self.full_text and self.engine.dialect.name == "postgresql":
            found = self._search_pg(terms, department, scope, k, day)
        elif self.full_text and len(terms) >= MAX_TERMS and longquery.is_long(query, MAX_TERMS):
            # a whole case description: phrases, sentences and embeddings re-rank BM25's candidates
            found = longquery.search_long(
                query, terms, lambda sub, n: self._search_fts(sub, department, scope, n, day), k
            )
        elif self.full_text:
            found = self._search_fts(terms, department, scope, k, day)
        else:
            found = self._search_like(terms, department, scope, k, day)
        return [
            ArticleHit(id=id_, title=title, department=dep, snippet=snippet(body, terms), score=score)
            for id_, title, dep, body, score in found
        ]

    def _search_fts(
        self, terms: list[str], department: str | None, scope: list[str] | None, k: int, day: str
    ) -> list[_Found]:
        where = [
            f"{FTS_TABLE} MATCH :q",
            "f.rank MATCH :ranker",
            "(a.valid_from IS NULL OR a.valid_from <= :day)",
            "(a.valid_to IS NULL OR a.valid_to >= :day)",
        ]
        params: dict[str, Any] = {"ranker": "bm25({}, {}, {})".format(*BM25_WEIGHTS), "day": day, "k": k}
        if department:
            where.append("a.department = :dep")
            params["dep"] = department
        if scope:
            names = [f":j{i}" for i in range(len(scope))]
            where.append(
                f"EXISTS (SELECT 1 FROM json_each(a.jurisdictions) WHERE value IN ({', '.join(names)}))"
            )
            params.update({f"j{i}": code for i, code in enumerate(scope)})
        # rank inside the FTS index, which yields rows best first so filtering stops after k;
        # only then read the k bodies the snippets need
        sql = (
            f"WITH top AS (SELECT a.rowid AS rid, f.rank AS rank FROM {FTS_TABLE} AS f "
            f"JOIN kb_article AS a ON a.rowid = f.rowid WHERE {' AND '.join(where)} ORDER BY f.rank LIMIT :k) "
            "SELECT a.id, a.title, a.department, a.body, top.rank FROM top "
            "JOIN kb_article AS a ON a.rowid = top.rid ORDER BY top.rank"
        )
        full = planned = match_expression(terms)
        with raw_cursor(self.engine) as cursor:
            # the highest rowid bounds the article count without counting
            articles = cursor.execute("SELECT max(rowid) FROM kb_article").fetchone()[0] or 0
            if articles > POSTINGS_BUDGET:
                df = document_frequencies(self.engine, cursor, terms, cap=POSTINGS_BUDGET)
                if min((n for n in df.values() if n), default=0) > POSTINGS_BUDGET:
                    # every term that occurs at all is common: which one least so needs exact counts
                    df = document_frequencies(self.engine, cursor, terms)
                planned = plan_match(terms, df, articles)
            rows = cursor.execute(sql, {**params, "q": planned}).fetchall()
            if len(rows) < k and planned != full:
                # the pruned query found too little: pay for the full one
                rows = cursor.execute(sql, {**params, "q": full}).fetchall()
        # bm25() is lower-is-better and negative; flip it so callers read "higher is better"
        return [(id_, title, dep, body, -float(rank)) for id_, title, dep, body, rank in rows]

    def _search_pg(
        self, terms: list[str], department: str | None, scope: list[str] | None, k: int, day: str
    ) -> list[_Found]:
        from sqlalchemy import text

        where = [
            f"a.{PG_TSV_COLUMN} @@ q.query",
            "(a.valid_from IS NULL OR a.valid_from <= :day)",
            "(a.valid_to IS NULL OR a.valid_to >= :day)",
        ]
        # terms are runs of letters and digits only, so joining them with | is a well-formed tsquery
        params: dict[str, Any] = {"q": " | ".join(terms), "day": date.fromisoformat(day), "k": k}
        if department:
            where.append("a.department = :dep")
            params["dep"] = department
        if scope:
            names = [f":j{i}" for i in range(len(scope))]
            where.append(
                "EXISTS (SELECT 1 FROM json_array_elements_text(a.jurisdictions) AS j(v) "
                f"WHERE j.v IN ({', '.join(names)}))"
            )
            params.update({f"j{i}": code for i, code in enumerate(scope)})
        sql = (
            f"SELECT a.id, a.title, a.department, a.body, "
            f"ts_rank_cd('{PG_RANK_WEIGHTS}'::float4[], a.{PG_TSV_COLUMN}, q.query) AS score "
            "FROM kb_article AS a, to_tsquery('english', :q) AS q(query) "
            f"WHERE {' AND '.join(where)} ORDER BY score DESC, a.id LIMIT :k"
        )
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql), params).all()
        return [(id_, title, dep, body, float(score)) for id_, title, dep, body, score in rows]

    def _search_like(
        self, terms: list[str], department: str | None, scope: list[str] | None, k: int, day: str
    ) -> list[_Found]:
        t = _ARTICLE.c
        conds = [or_(*(col.ilike(f"%{term}%") for term in terms for col in (t.title, t.body)))]
        conds.append(or_(t.valid_from.is_(None), t.valid_from <= date.fromisoformat(day)))
        conds.append(or_(t.valid_to.is_(None), t.valid_to >= date.fromisoformat(day)))
        if department:
            conds.append(t.department == department)
        stmt = (
            select(t.id, t.title, t.department, t.body, t.tags, t.jurisdictions)
            .where(*conds)
            .limit(_FALLBACK_CANDIDATES)
        )
        scored: list[_Found] = []
        for row in read_rows(self.engine, stmt):
            if scope and not set(row["jurisdictions"] or []) & set(scope):
                continue
            title, body, tags = row["title"].lower(), row["body"].lower(), " ".join(row["tags"] or []).lower()
            score = sum(
                BM25_WEIGHTS[0] * title.count(term)
                + BM25_WEIGHTS[1] * min(body.count(term), 5)
                + BM25_WEIGHTS[2] * tags.count(term)
                for term in terms
            )
            scored.append((row["id"], row["title"], row["department"], row["body"], float(score)))
        scored.sort(key=lambda item: (-item[4], item[0]))
        return scored[:k]

    def get(self, article_id: str) -> Article | None:
        rows = read_rows(self.engine, select(*_ARTICLE.c).where(_ARTICLE.c.id == article_id))
        return Article(**rows[0]) if rows else None

    def count(self) -> int:
        return int(read_rows(self.engine, select(func.count().label("n")).select_from(_ARTICLE))[0]["n"])

    def upsert(self, articles: Iterable[ArticleIn]) -> int:
        """Insert new articles and update changed ones in one transaction; returns how many were written.

        A changed title or body bumps `version`; unchanged articles are left alone.
        """
        with self.engine.begin() as conn:
            stats = upsert_articles(conn, list(articles))
        return stats.inserted + stats.updated

    def reindex(self) -> None:
        """Rebuild the full-text index from kb_article (after a bulk import that bypassed triggers)."""
        if self.engine.dialect.name != "sqlite":
            return
        ensure_search_index(self.engine)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
        forget_frequencies(self.engine)


def upsert_articles(conn: Connection, articles: Sequence[ArticleIn]) -> UpsertStats:
    """Write `articles` on `conn` inside the caller's transaction (the loader's all-or-nothing load)."""
    seen: set[str] = set()
    for art in articles:
        if art.id in seen:
            raise ValueError(f"article id {art.id!r} appears twice in one upsert")
        seen.add(art.id)
    t = _ARTICLE.c
    now = utcnow()
    inserted = updated = unchanged = 0
    for start in range(0, len(articles), 500):
        chunk = articles[start : start + 500]
        stored = {
            row.id: row
            for row in conn.execute(
                select(t.id, t.version, *(t[name] for name in _COMPARED)).where(
                    t.id.in_([a.id for a in chunk])
                )
            )
        }
        new_rows = []
        for art in chunk:
            values = art.model_dump()
            old = stored.get(art.id)
            if old is None:
                new_rows.append({**values, "version": 1, "updated_at": now})
                continue
            changes = {name: values[name] for name in _COMPARED if getattr(old, name) != values[name]}
            if not changes:
                unchanged += 1
                continue
            if "title" in changes or "body" in changes:
                changes["version"] = old.version + 1
            changes["source"] = values["source"]
            changes["updated_at"] = now
            conn.execute(update(_ARTICLE).where(t.id == art.id).values(**changes))
            updated += 1
        if new_rows:
            conn.execute(insert(_ARTICLE), new_rows)
            inserted += len(new_rows)
    if inserted or updated:
        forget_frequencies(conn.engine)
    return UpsertStats(inserted=inserted, updated=updated, unchanged=unchanged)


_MD_LINE_MARK = re.compile(r"^\s{0,3}(#{1,6}\s+|[-*+]\s+|\d+\.\s+|>\s*)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"\*\*|__|`|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")


def _plain(line: str) -> str:
    if line.startswith("|"):
        line = "; ".join(cell.strip() for cell in line.strip("|").split("|") if cell.strip())
    line = _MD_LINE_MARK.sub("", line)
    return " ".join(_MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", line)).split())


@lru_cache(maxsize=2048)
def _stemmed_sentences(body: str) -> tuple[tuple[str, bool, frozenset[str]], ...]:
    """(sentence, is heading, its word stems) of an article body; the same articles come back
    search after search, and stemming their every word was most of a search's time."""
    out = []
    for block in _blocks(body):
        heading = block.startswith("#")
        for sentence in _SENTENCE.split(_plain(block)):
            if len(sentence) >= 3:
                out.append((sentence, heading, frozenset(_stem(w) for w in _WORD.findall(sentence.lower()))))
    return tuple(out)


def _blocks(body: str) -> list[str]:
    """Headings, table rows, list items and paragraphs, with a paragraph's or item's wrapped
    lines joined: a sentence that goes on to the next line is one sentence, not two halves."""
    blocks: list[str] = []
    open_block = False  # the last block is a paragraph or list item a next line may continue
    for raw in body.splitlines():
        line = raw.strip()
        if not line or _TABLE_RULE.match(line):
            open_block = False
            continue
        starts_new = line.startswith(("#", "|", ">")) or bool(_MD_LINE_MARK.match(line))
        if open_block and not starts_new:
            blocks[-1] = f"{blocks[-1]} {line}"
            continue
        blocks.append(line)
        open_block = not line.startswith(("#", "|"))
    return blocks


def snippet(body: str, terms: Sequence[str], limit: int = SNIPPET_CHARS) -> str:
    """The sentence of `body` that mentions most query terms, as plain text of at most `limit` chars.

    Headings repeat the title, so a heading wins only when it matches strictly more terms.
    """
    stems = {_stem(term.lower()) for term in terms}
    best, best_score = "", 0.0
    for sentence, heading, words in _stemmed_sentences(body):
        hits = len(stems & words)
        score = hits - 0.5 if heading else float(hits)
        if not best or score > best_score:
            best, best_score = sentence, score
    if len(best) <= limit:
        return best
    return best[: limit - 1].rsplit(" ", 1)[0] + "…"
