"""PostgreSQL for tests: a throw-away database per test, cloned from a seeded template.

CROSSDESK_TEST_DB=postgres makes the `crossdesk_home`, `seeded_home` and `orch`
fixtures use PostgreSQL instead of SQLite; CROSSDESK_TEST_PG_URL names the server
(default: the local one, database `test`). Tests skip with a clear message when
no server answers.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from functools import lru_cache

import pytest
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_names = itertools.count(1)


def wanted() -> bool:
    return os.environ.get("CROSSDESK_TEST_DB", "sqlite").strip().lower() in ("postgres", "postgresql", "pg")


def server_url() -> str:
    return os.environ.get("CROSSDESK_TEST_PG_URL", DEFAULT_URL)


@lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    from orchestrator.pgsql import libpq_url

    try:
        with psycopg.connect(libpq_url(server_url()), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"no PostgreSQL server answers at {make_url(server_url()).render_as_string()}: {exc}"
    return None


def url_for(database: str) -> str:
    return make_url(server_url()).set(database=database).render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    import psycopg

    from orchestrator.pgsql import libpq_url

    with psycopg.connect(libpq_url(server_url()), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def new_name(prefix: str = "cdtest") -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


def create_database(name: str, template: str | None = None) -> str:
    """Create database `name` (a copy of `template` when given); returns its URL."""
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return url_for(name)


def drop_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_database(template: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (a copy of `template`), dropped afterwards."""
    reason = unavailable()
    if reason:
        pytest.skip(f"CROSSDESK_TEST_DB=postgres but {reason}")
    name = new_name()
    url = create_database(name, template)
    try:
        yield url
    finally:
        drop_database(name)
