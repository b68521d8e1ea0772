"""Shared fixtures: every test gets its own crossdesk home; seeded databases are copied from a template."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

# a developer's keys, base URLs or model choice must never reach a test
_MODEL_ENV = (
    "CROSSDESK_LLM_MODEL",
    "CROSSDESK_LLM_SUPERVISOR",
    "CROSSDESK_LLM_DEPARTMENTS",
    "CROSSDESK_LLM_COMPOSER",
    "CROSSDESK_LLM_TIMEOUT",
    "CROSSDESK_LLM_RETRIES",
    "CROSSDESK_ENCODER",  # the router's optional sentence encoder: tests that want it set it
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_URL",
    "OLLAMA_HOST",
)


def _local(host: object) -> bool:
    import ipaddress

    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_real_model_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection off this machine, so no test can call a real model provider by accident."""
    import socket

    for name in _MODEL_ENV:
        monkeypatch.delenv(name, raising=False)
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _local(host):
                raise ConnectionRefusedError(
                    f"tests may not connect to {host}: use orchestrator.llm.testing.ScriptedChatModel "
                    "or a server on 127.0.0.1 instead of a real model provider"
                )

    def connect(sock: socket.socket, address: object) -> None:
        check(sock, address)
        real_connect(sock, address)  # type: ignore[arg-type]

    def connect_ex(sock: socket.socket, address: object) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(scope="session")
def router_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One router cache for the session: training is deterministic, so tests can share it."""
    return tmp_path_factory.mktemp("router")


from pgtest import pg_database  # noqa: E402  (test helper module next to this file)


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
    for name in [n for n in os.environ if n.startswith("OTEL_") or n == "CROSSDESK_CAPTURE_CONTENT"]:
        monkeypatch.delenv(name)  # a developer's or CI's collector settings must not leak in
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


@pytest.fixture
def span_exporter() -> object:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    return InMemorySpanExporter()


@pytest.fixture
def traced_orch(seeded_home: Path, span_exporter: object) -> Iterator[object]:
    """`orch` with every span in `span_exporter` (an InMemorySpanExporter) as soon as it ends."""
    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator

    o = Orchestrator(load_settings(), exporter=span_exporter)
    yield o
    o.close()
