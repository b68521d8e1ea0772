"""Only the console imports Textual: the rest of crossdesk (and the console's read model,
actions and simulator) must load without it."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "orchestrator.cli",
    "orchestrator.cli.cmd_tui",
    "orchestrator.runtime",
    "orchestrator.takeover",
    "orchestrator.graph",
    "plugins.manager",
    "plugins.builtin.billing",
    "policies.node",
    "policies.audit",
    "traces.query",
    "traces.setup",
    "tui",
    "tui.data",
    "tui.desk",
    "tui.simulator",
]

PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from orchestrator.cli import build_parser
build_parser()  # every command's module, as `crossdesk --help` loads them
print(sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.")))
"""


def test_nothing_outside_the_console_imports_textual() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, *MODULES], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"textual was imported: {out.stdout.strip()}"


def test_the_probe_would_notice() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, "tui.app"], capture_output=True, text=True, check=True)
    assert "'textual'" in out.stdout
