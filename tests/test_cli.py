"""The crossdesk command end to end: real processes, real database, bad input handled."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXE = [sys.executable, "-m", "orchestrator.cli"]


def run(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*EXE, *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def ask_json(*args: str) -> dict[str, Any]:
    proc = run("ask", "--json", *args)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def turn_rows(home: Path) -> int:
    with sqlite3.connect(home / "crossdesk.db") as conn:
        return conn.execute("select count(*) from cd_turn").fetchone()[0]


def test_help_is_fast_and_lists_the_commands() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    out = proc.stdout.decode()
    for command in ("ask", "chat", "triage", "plugins", "kb", "demo"):
        assert command in out
    code = "import sys, orchestrator.cli as c; c.build_parser(); print(sorted(m for m in sys.modules))"
    mods = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in ("langgraph", "sklearn", "wordllama", "sqlalchemy", "textual", "numpy"):
        assert f"'{heavy}'" not in mods, f"{heavy} is imported at start-up"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CROSSDESK_ENCODER": "bert"}, "error: CROSSDESK_ENCODER='bert' is not a choice: use off or minilm"),
        ({"CROSSDESK_CONFIG": "/nonexistent/crossdesk.toml"}, "error: CROSSDESK_CONFIG points at"),
    ],
)
def test_a_bad_setting_is_a_user_error_not_a_bug(tmp_path: Path, env: dict[str, str], message: str) -> None:
    proc = run("triage", stdin=b"I was charged twice\n", env={"CROSSDESK_HOME": str(tmp_path), **env})
    err = proc.stderr.decode()
    assert proc.returncode == 2 and message in err, err
    assert "internal error" not in err and proc.stdout == b""


def test_ask_json_has_the_documented_shape(seeded_home: Path) -> None:
    out = ask_json("--customer", "C1001", "I was charged twice for StreamFlix and I can't log in to the app")
    assert {"reply", "conversation_id", "tasks", "counts"} <= set(out)
    assert {t["department"] for t in out["tasks"]} == {"billing", "technical"}
    for t in out["tasks"]:
        assert {"department", "intent", "confidence", "status"} <= set(t)
    assert set(out["counts"]) == {"dispatches", "reroutes", "escalations", "customer_transfers"}


def test_a_follow_up_in_the_same_conversation_uses_what_was_said(seeded_home: Path) -> None:
    first = ask_json("--customer", "C1001", "StreamFlix charged me twice, please refund the extra charge")
    assert any(a["name"] == "refund" and a["ok"] for t in first["tasks"] for a in t["actions"])
    second = ask_json("--conversation", first["conversation_id"], "and the other charge?")
    assert second["conversation_id"] == first["conversation_id"]
    assert [t["department"] for t in second["tasks"]] == ["billing"]
    assert not any(a["name"] == "refund" and a["ok"] for t in second["tasks"] for a in t["actions"])
    assert "already refunded" in second["reply"].lower()


def test_readable_output_shows_reply_and_routing_record(seeded_home: Path) -> None:
    proc = run("ask", "--customer", "C1013", "My PIN is blocked. Also I want a copy of my personal data.")
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "routing record" in out and "technical" in out and "compliance" in out
    assert "dispatches 2" in out


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["ask", "   "], None, "empty"),
        (["ask", "--customer", "C9999", "hello"], None, "C9999"),
        (["ask", "--jurisdiction", "XX", "hello"], None, "jurisdiction"),
        (["ask", "--conversation", "bad id!", "hello"], None, "conversation id"),
        (["ask", "-"], b"x" * 100_000, "limit"),
        (["kb", "load", "no/such/folder"], None, "no such file"),
        (["triage", "no-such-file.txt"], None, "no such file"),
    ],
)
def test_bad_input_gets_a_clear_error_and_writes_nothing(
    seeded_home: Path, args: list[str], stdin: bytes | None, needle: str
) -> None:
    before = turn_rows(seeded_home)
    proc = run(*args, stdin=stdin)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert needle.lower() in err.lower()
    assert "Traceback" not in err
    assert turn_rows(seeded_home) == before


@pytest.mark.parametrize(
    "message",
    [
        "Hola, me cobraron dos veces la suscripción y no puedo entrar en la app",
        "我的卡被扣了两次钱，而且我无法登录",
        "💳❌ charged twice?? 😡😡",
        "hello",
        "charged twice\x00\x07 for\x1b[31m StreamFlix",
    ],
)
def test_unusual_but_valid_messages_get_a_sensible_reply(seeded_home: Path, message: str) -> None:
    proc = run("ask", "--json", "--customer", "C1001", "-", stdin=message.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["reply"].strip()
    assert "\x00" not in out["reply"] and "\x1b" not in out["reply"]


def test_invalid_utf8_on_stdin_is_replaced_not_fatal(seeded_home: Path) -> None:
    proc = run(
        "ask", "--json", "--customer", "C1001", "-", stdin=b"I was charged twice \xff\xfe for StreamFlix"
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["tasks"][0]["department"] == "billing"


def test_triage_handles_text_json_blank_and_broken_lines() -> None:
    lines = (
        "\n".join(
            [
                "I was charged twice and my app crashes",
                json.dumps({"id": 7, "text": "please delete my data"}),
                "",
                '{"text": broken json',
                json.dumps({"body": "no text field"}),
                "let me talk to a human",
                "what's the weather tomorrow",
            ]
        ).encode()
        + b"\n\xff\xfe bytes that are not utf-8 about a refund\n"
    )
    proc = run("triage", stdin=lines)
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 4, 5, 6, 7, 8]
    assert [t["department"] for t in rows[0]["tasks"]] == ["billing", "technical"]
    assert rows[1]["id"] == 7 and rows[1]["tasks"][0]["department"] == "compliance"
    assert "invalid JSON" in rows[2]["error"] and "text" in rows[3]["error"]
    assert rows[4]["wants_human"] is True
    assert rows[5]["out_of_scope"] is True and rows[5]["tasks"] == []
    for t in rows[0]["tasks"]:
        assert {"department", "intent", "confidence", "span"} <= set(t)


def test_triage_takes_ten_thousand_lines(tmp_path: Path) -> None:
    src = tmp_path / "many.txt"
    msgs = ["I was charged twice", "my card is declined", "delete my data please", "app crashes on start"]
    src.write_text("\n".join(msgs[i % 4] + f" #{i}" for i in range(10_000)) + "\n", encoding="utf-8")
    proc = run("triage", str(src))
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode().splitlines()
    assert len(out) == 10_000
    assert json.loads(out[-1])["line"] == 10_000


def test_plugins_list_shows_departments_intents_and_packages() -> None:
    proc = run("plugins", "list", "--json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    by_dep = {d["name"]: r for r in rows for d in r["departments"]}
    assert {"billing", "compliance", "technical"} <= set(by_dep)
    assert by_dep["billing"]["package"] == "crossdesk"
    billing = next(d for d in by_dep["billing"]["departments"] if d["name"] == "billing")
    assert "double_charge" in billing["intents"]


def test_kb_load_then_search_and_show(tmp_path: Path, crossdesk_home: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\nid: KB-T-1\ntitle: Weekend FX markup\ndepartment: billing\n---\nWe add 1% on weekends.\n",
        encoding="utf-8",
    )
    assert run("kb", "load", str(folder)).returncode == 0
    hits = json.loads(run("kb", "search", "--json", "weekend markup").stdout)
    assert hits[0]["id"] == "KB-T-1"
    assert "1% on weekends" in run("kb", "show", "KB-T-1").stdout.decode()
    (folder / "b.md").write_text("---\nid: KB-T-2\n---\nno title\n", encoding="utf-8")
    proc = run("kb", "load", str(folder))
    assert proc.returncode != 0 and "b.md" in proc.stderr.decode() and "title" in proc.stderr.decode()
