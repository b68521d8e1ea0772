"""Helpers shared by the CLI commands (light imports only at module level)."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def orchestrator() -> Any:
    from orchestrator.runtime import Orchestrator

    return Orchestrator()


def read_stdin_text() -> str:
    """Read stdin as UTF-8, replacing invalid bytes instead of failing on them."""
    data = sys.stdin.buffer.read()
    return data.decode("utf-8", errors="replace")
