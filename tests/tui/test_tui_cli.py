"""`crossdesk tui` from the command line: its arguments, and a clear error without a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_without_a_terminal_it_says_so(capsys: pytest.CaptureFixture[str], crossdesk_home: Path) -> None:
    code, err = run(capsys, "tui")  # pytest captures stdin and stdout: not a terminal
    assert code == 2
    assert "needs a terminal" in err and "crossdesk queue" in err
    assert not (crossdesk_home / "crossdesk.db").exists()  # nothing was created on the way out


def test_bad_arguments_are_explained(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "tui", "--rate", "5")
    assert code == 2 and "add --simulate" in err
    code, err = run(capsys, "tui", "--simulate", "--rate", "0")
    assert code == 2 and "0 < N <= 200" in err
    code, err = run(capsys, "tui", "--db", "not a url")
    assert code == 2 and "is not a database URL" in err


def test_help_lists_the_console() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "tui", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("--db", "--simulate", "--rate", "--operator"):
        assert option in out
