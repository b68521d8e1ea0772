"""The knowledge store: search and read articles."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from orchestrator.knowledge.reads import read_rows


@dataclass(frozen=True)
class ArticleHitView:
    id: str
    title: str
    department: str
    snippet: str
    score: float | None


@dataclass(frozen=True)
class ArticleView:
    id: str
    title: str
    department: str
    body: str
    jurisdictions: tuple[str, ...]
    tags: tuple[str, ...]
    version: int
    valid_from: str | None
    valid_to: str | None
    source: str


def search_articles(engine: Engine, query: str, *, k: int = 25) -> list[ArticleHitView]:
    """Articles for `query`, best first; an empty query lists the store by department and id.
    `dept:NAME` and `j:CODE` words narrow the search to a department or jurisdiction."""
    from orchestrator.knowledge.models import Article
    from orchestrator.knowledge.store import KnowledgeStore

    department = jurisdiction = None
    words = []
    for word in query.split():
        key, sep, value = word.partition(":")
        if sep and key.lower() in ("d", "dept", "department") and value:
            department = value.lower()
        elif sep and key.lower() in ("j", "jur", "jurisdiction") and value:
            jurisdiction = value.upper()
        else:
            words.append(word)
    text = " ".join(words).strip()
    if text:
        hits = KnowledgeStore(engine).search(text, department=department, jurisdiction=jurisdiction, k=k)
        return [ArticleHitView(h.id, h.title, h.department, h.snippet, h.score) for h in hits]
    table = Article.__table__  # type: ignore[attr-defined]
    stmt = select(table.c.id, table.c.title, table.c.department, table.c.jurisdictions)
    if department:
        stmt = stmt.where(table.c.department == department)
    rows = read_rows(engine, stmt.order_by(table.c.department, table.c.id))
    if jurisdiction:
        from orchestrator.knowledge.store import jurisdiction_scope

        scope = set(jurisdiction_scope(jurisdiction))
        rows = [r for r in rows if scope & set(r["jurisdictions"] or ())]
    return [ArticleHitView(r["id"], r["title"], r["department"], "", None) for r in rows]


def get_article(engine: Engine, article_id: str) -> ArticleView | None:
    from orchestrator.knowledge.models import Article

    table = Article.__table__  # type: ignore[attr-defined]
    rows = read_rows(engine, select(*table.c).where(table.c.id == article_id))
    if not rows:
        return None
    r = rows[0]
    return ArticleView(
        id=r["id"],
        title=r["title"],
        department=r["department"],
        body=r["body"],
        jurisdictions=tuple(r["jurisdictions"] or ()),
        tags=tuple(r["tags"] or ()),
        version=int(r["version"]),
        valid_from=r["valid_from"].isoformat() if r["valid_from"] else None,
        valid_to=r["valid_to"].isoformat() if r["valid_to"] else None,
        source=r["source"] or "",
    )
