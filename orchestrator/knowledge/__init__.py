"""The knowledge store every department shares: articles (searched by BM25) and case notes.

Submodules import SQLModel, so names are resolved lazily to keep CLI start-up light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Article": "models",
    "ArticleIn": "models",
    "CaseNoteRow": "models",
    "KnowledgeStore": "store",
    "ensure_search_index": "store",
    "KnowledgeFileError": "loader",
    "LoadReport": "loader",
    "load_path": "loader",
    "load_paths": "loader",
    "Notes": "notes",
    "notes_for_customer": "notes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
