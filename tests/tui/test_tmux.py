"""End to end in a real terminal: `crossdesk tui` in a 100x30 tmux session, driven by send-keys
and read back with capture-pane."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import takeover

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)"
    ),
]


class Tmux:
    """One tmux server on its own socket, so nothing touches the user's sessions."""

    def __init__(self) -> None:
        self.socket = f"crossdesk-test-{uuid.uuid4().hex[:8]}"
        self.session = "console"

    def run(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def start(self, command: str, width: int = 100, height: int = 30) -> None:
        self.run("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command)
        self.run("set-option", "-t", self.session, "remain-on-exit", "on")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def wait_until(self, check: Callable[[str], bool], what: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{what} never showed; last screen:\n{screen}")

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        return self.wait_until(lambda screen: text in screen, repr(text), timeout)

    def dead(self) -> bool:
        return self.run("display-message", "-p", "-t", self.session, "#{pane_dead}").strip() == "1"

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux()
    yield t
    t.kill()


def test_console_in_a_real_terminal(orch: Any, seeded_home: Path, tmux: Tmux) -> None:
    waiting = orch.ask("I want to talk to a person please", customer_id="C1002").conversation_id
    orch.ask("How do I reset my password?", customer_id="C1001")
    # a clean environment: COLUMNS/LINES from the test runner would override the terminal's size
    env = {
        "CROSSDESK_HOME": str(seeded_home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    command = " ".join(
        [
            "env",
            "-i",
            *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
            shlex.quote(sys.executable),
            "-m",
            "orchestrator.cli",
            "tui",
            "--operator",
            "alice",
        ]
    )
    tmux.start(command)

    queue = tmux.wait_for(waiting)
    assert "1 Queue" in queue and "needs human" in queue and "1 waiting" in queue
    assert "resolved" in queue and "C1001" in queue

    tmux.keys("Enter")  # the most urgent conversation is on top
    conversation = tmux.wait_for("the customer asked for a person")
    assert (
        "Hand-over" in conversation
        and "Transcript" in conversation
        and "waiting for an operator" in conversation
    )

    tmux.keys("c")
    tmux.wait_for("taken over by alice")
    assert takeover.show(orch, waiting)["claimed_by"] == "alice"

    tmux.keys("r")
    tmux.wait_for("reply to the customer")
    tmux.keys("Hello from the console", "Enter")
    # sent: the reply box is gone and the answer is in the transcript
    tmux.wait_until(
        lambda screen: (
            "Hello from the console" in screen
            and "reply to the customer" not in screen
            and "alice " in screen.split("Transcript", 1)[-1]
        ),
        "the reply in the transcript",
    )

    tmux.keys("Escape")
    tmux.wait_for("sort: attention")
    tmux.keys("q")
    deadline = time.monotonic() + 15
    while not tmux.dead() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tmux.dead(), "the console did not quit on q"
    transcript = takeover.show(orch, waiting)["transcript"]
    assert ("operator", "alice", "Hello from the console") in [
        (m["role"], m["author"], m["text"]) for m in transcript
    ]
