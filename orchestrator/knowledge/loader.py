"""Load knowledge articles from markdown and JSON files, all or nothing.

Markdown: one article per file, YAML front matter (id, title, department,
jurisdictions, valid_from, valid_to, tags) and the article body after it.
JSON: one article object or a list of them, either in the store's own shape
(``body``) or the common KB-export shape ``{"id", "title", "content"}``, where
``content`` becomes the body, ``department`` defaults to "general" and other
export fields (urls, timestamps ...) are ignored. Files named README.md and
hidden files are skipped. Every file is parsed and validated before anything is
written; one bad article and nothing is loaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from orchestrator.knowledge.models import ArticleIn

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from orchestrator.knowledge.store import KnowledgeStore

MARKDOWN_SUFFIXES = (".md", ".markdown")
JSON_SUFFIXES = (".json",)
_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*$\r?\n?", re.DOTALL | re.MULTILINE
)
_EXPORT_FIELDS = ("department", "jurisdictions", "valid_from", "valid_to", "tags")
_HINT = "fix it and load again; nothing was written"


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text: pydantic then parses them and names the field when one is bad."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class KnowledgeFileError(Exception):
    """A knowledge file is unreadable or holds an invalid article. Names the file, article and field."""

    def __init__(self, path: Path, problem: str, *, article_id: str | None = None, field: str | None = None):
        self.path = path
        self.problem = problem
        self.article_id = article_id
        self.field = field
        where = str(path)
        if article_id:
            where += f": article {article_id!r}"
        if field:
            where += f": field {field!r}"
        super().__init__(f"{where}: {problem} ({_HINT})")


@dataclass(frozen=True)
class LoadReport:
    files: int
    loaded: int  # articles read and valid
    new: int
    updated: int  # existed and changed
    unchanged: int
    ids: tuple[str, ...] = ()


def knowledge_files(root: Path) -> list[Path]:
    """The article files under `root` (or `root` itself), in a stable order."""
    if not root.exists():
        raise KnowledgeFileError(root, "does not exist; pass a folder or a .md/.json file")
    if root.is_file():
        if root.suffix.lower() not in MARKDOWN_SUFFIXES + JSON_SUFFIXES:
            raise KnowledgeFileError(root, "is neither markdown (.md) nor JSON (.json)")
        return [root]
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name.lower() == "readme.md":
            continue
        if path.is_file() and path.suffix.lower() in MARKDOWN_SUFFIXES + JSON_SUFFIXES:
            found.append(path)
    return found


def read_articles(paths: Iterable[Path | str]) -> list[tuple[Path, ArticleIn]]:
    """Parse and validate every article under `paths`; raise KnowledgeFileError on the first problem."""
    out: list[tuple[Path, ArticleIn]] = []
    first_seen: dict[str, Path] = {}
    read: set[Path] = set()
    for root in (Path(p) for p in paths):
        for file in knowledge_files(root):
            if file.resolve() in read:  # named twice, e.g. as a folder and as a file in it
                continue
            read.add(file.resolve())
            source = file.relative_to(root.parent).as_posix()
            for article in _read_file(file, source):
                if article.id in first_seen:
                    raise KnowledgeFileError(
                        file,
                        f"id is already used by an article in {first_seen[article.id]}; ids must be unique",
                        article_id=article.id,
                        field="id",
                    )
                first_seen[article.id] = file
                out.append((file, article))
    return out


def load_path(store_or_engine: KnowledgeStore | Engine, path: Path | str) -> LoadReport:
    """Load a folder (recursively) or a file of articles into the store in one transaction."""
    return load_paths(store_or_engine, [path])


def load_paths(store_or_engine: KnowledgeStore | Engine, paths: Sequence[Path | str]) -> LoadReport:
    """Load several folders or files (e.g. every plugin's) together: ids must be unique across all."""
    from orchestrator.knowledge.store import KnowledgeStore, ensure_search_index, upsert_articles

    engine = store_or_engine.engine if isinstance(store_or_engine, KnowledgeStore) else store_or_engine
    parsed = read_articles(paths)
    articles = [article for _, article in parsed]
    ensure_search_index(engine)
    with engine.begin() as conn:
        stats = upsert_articles(conn, articles)
    return LoadReport(
        files=len({file for file, _ in parsed}),
        loaded=len(articles),
        new=stats.inserted,
        updated=stats.updated,
        unchanged=stats.unchanged,
        ids=tuple(a.id for a in articles),
    )


def _read_file(path: Path, source: str) -> list[ArticleIn]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeFileError(path, f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise KnowledgeFileError(path, f"cannot be read: {exc.strerror or exc}") from exc
    if path.suffix.lower() in JSON_SUFFIXES:
        return _read_json(path, text, source)
    return [_read_markdown(path, text, source)]


def _read_markdown(path: Path, text: str, source: str) -> ArticleIn:
    match = _FRONT_MATTER.match(text)
    if not match:
        raise KnowledgeFileError(
            path,
            "has no YAML front matter; start the file with '---', the fields (id, title, department ...), '---'",
        )
    try:
        meta = yaml.load(match.group(1), Loader=_FrontMatterLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark is not None else ""  # +1 for 0-based, +1 for the '---'
        problem = getattr(exc, "problem", None) or str(exc)
        raise KnowledgeFileError(
            path, f"front matter is not valid YAML{line}: {problem}; quote values that contain ': '"
        ) from exc
    if not isinstance(meta, dict):
        raise KnowledgeFileError(path, "front matter must be a mapping of fields such as 'id: KB-BIL-001'")
    article_id = meta.get("id") if isinstance(meta.get("id"), str) else None
    if "body" in meta:
        raise KnowledgeFileError(
            path,
            "the body is the text after the front matter, not a field",
            article_id=article_id,
            field="body",
        )
    return _validate(path, {**meta, "body": text[match.end() :].strip(), "source": source})


def _read_json(path: Path, text: str, source: str) -> list[ArticleIn]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KnowledgeFileError(
            path, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    items = data if isinstance(data, list) else [data]
    articles = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise KnowledgeFileError(
                path, f"item {index} is {type(item).__name__}, expected an article object"
            )
        if "content" in item and "body" not in item:
            # the common export shape: keep what we know, drop the exporter's metadata
            item = {
                "id": item.get("id"),
                "title": item.get("title"),
                "body": item["content"],
                "department": item.get("department") or "general",
                **{k: item[k] for k in _EXPORT_FIELDS[1:] if item.get(k) is not None},
            }
        articles.append(_validate(path, {**item, "source": source}, index=index if len(items) > 1 else None))
    return articles


def _validate(path: Path, raw: dict[str, Any], *, index: int | None = None) -> ArticleIn:
    try:
        return ArticleIn.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        if len(errors) == 1:
            problem = _describe(first, with_field=False)
        else:
            problem = "; ".join(_describe(err) for err in errors[:3])
        if len(errors) > 3:
            problem += f"; and {len(errors) - 3} more"
        if index is not None:
            problem = f"item {index}: {problem}"
        article_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        raise KnowledgeFileError(path, problem, article_id=article_id, field=field) from exc


def _describe(err: Any, *, with_field: bool = True) -> str:
    loc = ".".join(str(part) for part in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; allowed: id, title, department, jurisdictions, valid_from, valid_to, tags)"
    return f"{loc}: {msg}" if loc and with_field else msg
