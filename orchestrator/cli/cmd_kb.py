"""crossdesk kb: load, search and read knowledge articles."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kb", help="the shared knowledge store: load, search, show")
    ksub = p.add_subparsers(dest="kb_command", metavar="SUBCOMMAND")
    load = ksub.add_parser(
        "load", help="load markdown or JSON articles from folders or files (all or nothing)"
    )
    load.add_argument("paths", nargs="*", metavar="PATH")
    load.add_argument("--plugins", action="store_true", help="also load the articles the plugins ship")
    load.add_argument("--json", action="store_true")
    load.set_defaults(func=run_load)
    search = ksub.add_parser("search", help="ranked full-text search")
    search.add_argument("query")
    search.add_argument("--department")
    search.add_argument("--jurisdiction")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=run_search)
    show = ksub.add_parser("show", help="print one article")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _store() -> Any:
    from orchestrator.config import load_settings
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.store import KnowledgeStore

    engine = make_engine(load_settings().database_url)
    create_schema(engine)
    return KnowledgeStore(engine)


def run_load(args: argparse.Namespace) -> int:
    from pathlib import Path

    from orchestrator.cli.common import emit_json
    from orchestrator.errors import InputError
    from orchestrator.knowledge.loader import KnowledgeFileError, load_paths

    paths = [Path(p) for p in args.paths]
    if args.plugins:
        from orchestrator.config import load_settings
        from plugins.manager import load_plugins

        paths += load_plugins(disabled=load_settings().disabled_plugins).knowledge_paths()
    if not paths:
        raise InputError("nothing to load; give a folder or file of articles, or --plugins")
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
    store = _store()
    try:
        report = load_paths(store, paths)
    except KnowledgeFileError as exc:
        raise InputError(f"{exc} (nothing was loaded)") from exc
    if args.json:
        emit_json(
            {
                "loaded": report.loaded,
                "new": report.new,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "total": store.count(),
            }
        )
    else:
        print(
            f"loaded {report.loaded} articles ({report.new} new, {report.updated} updated, "
            f"{report.unchanged} unchanged); the store holds {store.count()}"
        )
    return 0


def run_search(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json

    hits = _store().search(args.query, department=args.department, jurisdiction=args.jurisdiction, k=args.k)
    if args.json:
        emit_json([h.model_dump() for h in hits])
        return 0
    if not hits:
        print("no matching articles")
        return 1
    for h in hits:
        print(f"{h.id:<14} {h.score:7.2f}  [{h.department}] {h.title}")
        print(f"{'':14} {h.snippet}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.errors import NotFoundError

    article = _store().get(args.id)
    if article is None:
        raise NotFoundError(f"no article {args.id!r}; find ids with `crossdesk kb search WORDS`")
    if args.json:
        emit_json(article.model_dump(mode="json"))
    else:
        print(f"{article.id} · {article.title} · {article.department} · v{article.version}")
        print(article.body)
    return 0
