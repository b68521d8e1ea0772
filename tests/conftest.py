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


def pg_database(template: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (a copy of `template`), dropped afterwards."""
    import pgtest

    reason = pgtest.unavailable()
    if reason:
        pytest.skip(f"CROSSDESK_TEST_DB=postgres but {reason}")
    name = pgtest.new_name()
    url = pgtest.create_database(name, template)
    try:
        yield url
    finally:
        pgtest.drop_database(name)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty PostgreSQL database for this test; skips when no server answers."""
    yield from pg_database()


@pytest.fixture(autouse=True)
def crossdesk_home(
    tmp_path: Path, router_cache: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    import pgtest

    home = tmp_path / "home"
    home.mkdir()
    (home / "router").symlink_to(router_cache, target_is_directory=True)
    monkeypatch.setenv("CROSSDESK_HOME", str(home))
    monkeypatch.delenv("CROSSDESK_DB_URL", raising=False)
    if pgtest.wanted() and "seeded_home" not in request.fixturenames:
        # CROSSDESK_TEST_DB=postgres: the test's default database is a fresh PostgreSQL one
        monkeypatch.setenv("CROSSDESK_DB_URL", request.getfixturevalue("pg_url"))
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


@pytest.fixture(scope="session")
def seeded_pg_template(router_cache: Path) -> Iterator[str]:
    """The seeded database as a PostgreSQL template (CROSSDESK_TEST_DB=postgres), built once."""
    import pgtest

    from orchestrator.backend.seed import seed_demo
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import load_paths
    from orchestrator.knowledge.store import KnowledgeStore
    from plugins.manager import load_plugins

    reason = pgtest.unavailable()
    if reason:
        pytest.skip(f"CROSSDESK_TEST_DB=postgres but {reason}")
    name = pgtest.new_name("cdtemplate")
    engine = make_engine(pgtest.create_database(name))
    try:
        create_schema(engine)
        seed_demo(engine)
        load_paths(KnowledgeStore(engine), load_plugins().knowledge_paths())
    finally:
        engine.dispose()  # a template database must have no open connections
    yield name
    pgtest.drop_database(name)


@pytest.fixture
def seeded_home(
    crossdesk_home: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    import pgtest

    if pgtest.wanted():
        template = request.getfixturevalue("seeded_pg_template")
        for url in pg_database(template):
            monkeypatch.setenv("CROSSDESK_DB_URL", url)
            yield crossdesk_home
        return
    shutil.copy(request.getfixturevalue("seeded_template"), crossdesk_home / "crossdesk.db")
    yield crossdesk_home


@pytest.fixture
def orch(seeded_home: Path) -> Iterator[object]:
    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator

    o = Orchestrator(load_settings())
    yield o
    o.close()

