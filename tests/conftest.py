"""Shared fixtures: every test gets its own crossdesk home; seeded databases are copied from a template."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def router_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One router cache for the session: training is deterministic, so tests can share it."""
    return tmp_path_factory.mktemp("router")


@pytest.fixture(autouse=True)
def crossdesk_home(tmp_path: Path, router_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "router").symlink_to(router_cache, target_is_directory=True)
    monkeypatch.setenv("CROSSDESK_HOME", str(home))
    monkeypatch.delenv("CROSSDESK_DB_URL", raising=False)
    monkeypatch.delenv("CROSSDESK_CONFIG", raising=False)
    monkeypatch.delenv("CROSSDESK_DISABLE_PLUGINS", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray crossdesk.toml from the checkout
    return home


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory, router_cache: Path) -> Path:
    """A database with the demo fintech seeded and the starter knowledge loaded, built once."""
    from orchestrator.backend.seed import seed_demo
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import load_paths
    from orchestrator.knowledge.store import KnowledgeStore
    from plugins.manager import load_plugins

    path = tmp_path_factory.mktemp("template") / "crossdesk.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    seed_demo(engine)
    load_paths(KnowledgeStore(engine), load_plugins().knowledge_paths())
    engine.dispose()
    # fold the WAL into the main file so a plain copy of it is complete
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture
def seeded_home(crossdesk_home: Path, seeded_template: Path) -> Path:
    shutil.copy(seeded_template, crossdesk_home / "crossdesk.db")
    return crossdesk_home


@pytest.fixture
def orch(seeded_home: Path) -> Iterator[object]:
    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator

    o = Orchestrator(load_settings())
    yield o
    o.close()

