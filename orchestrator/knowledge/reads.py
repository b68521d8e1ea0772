"""Reads that take no lock.

The application's SQLite engine opens every SQLAlchemy transaction with BEGIN
IMMEDIATE, the write lock. Knowledge searches and read-only views run while
department sessions hold that lock, so they must not ask for it: a plain
SELECT on the DBAPI connection, outside SQLAlchemy's transaction handling,
reads a consistent WAL snapshot and never waits for writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select


@contextmanager
def raw_cursor(engine: Engine) -> Iterator[Any]:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        raw.close()  # back to the pool


def read_rows(engine: Engine, stmt: Select[Any]) -> list[dict[str, Any]]:
    """Run a Core SELECT without starting a transaction; values are converted by the column types."""
    dialect = engine.dialect
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    for name, value in values.items():
        bind = compiled.binds.get(name)
        process = bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None else None
        if process is not None:
            values[name] = process(value)
    params: Any = [values[name] for name in compiled.positiontup or ()] if compiled.positional else values
    with raw_cursor(engine) as cursor:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    columns = list(stmt.selected_columns)
    processors = [col.type.dialect_impl(dialect).result_processor(dialect, None) for col in columns]
    names = [str(col.key) for col in columns]
    return [
        {
            name: (proc(value) if proc else value)
            for name, proc, value in zip(names, processors, row, strict=True)
        }
        for row in rows
    ]
