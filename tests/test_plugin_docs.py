"""Every hook has an entry in docs/plugins.md and a test of its own (a test function named after it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugins.conformance import hook_specs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "plugins.md"
HOOKS = sorted(hook_specs())


def documented(hook: str, text: str) -> bool:
    """A heading naming the hook, or a code line defining it."""
    for line in text.splitlines():
        if line.startswith("#") and re.search(rf"\b{hook}\b", line):
            return True
        if re.search(rf"\bdef {hook}\(", line):
            return True
    return False


def hook_tests(hook: str) -> list[str]:
    found = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        found += [
            f"{path.name}::{m}" for m in re.findall(rf"^def (test_\w*{hook}\w*)\(", path.read_text(), re.M)
        ]
    return found


def test_the_hooks_are_found() -> None:
    assert HOOKS == ["crossdesk_departments", "crossdesk_knowledge_paths", "crossdesk_policy_paths"]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    assert documented(hook, DOCS.read_text(encoding="utf-8")), (
        f"docs/plugins.md has no entry for {hook}: add a '### {hook}' section with its signature and contract"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test_of_its_own(hook: str) -> None:
    assert hook_tests(hook), f"no test function in tests/ mentions {hook}: add one named test_{hook}_..."


def test_the_checks_notice_what_is_missing() -> None:
    assert not documented(
        "crossdesk_departments", "# Hooks\n\ncrossdesk_departments is mentioned in prose only\n"
    )
    assert documented("crossdesk_departments", "```python\ndef crossdesk_departments() -> list:\n```")
    assert not hook_tests("crossdesk_no_such_hook")
