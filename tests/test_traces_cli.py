"""`crossdesk traces list|show|stats` against a real local store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from traces_synth import clean_env, standard_turns

import orchestrator.cli as cli
from orchestrator.config import Settings
from traces.setup import configure_telemetry


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env(monkeypatch)
    monkeypatch.setenv("CROSSDESK_HOME", str(tmp_path / "home"))  # as conftest does; explicit here
    # only this command group: the others are written elsewhere and tested there
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("traces",))


@pytest.fixture
def ids(tmp_path: Path) -> dict[str, str]:
    tel = configure_telemetry(Settings(home=tmp_path / "home"))
    recorded = standard_turns(tel)
    tel.shutdown()  # flushes the batch processor, as at process exit
    return recorded


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["traces", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table_and_json(ids: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["TRACE", "START", "(UTC)"]
    assert [line.split()[0] for line in lines[1:]] == [
        ids["failed"],
        ids["human"],
        ids["busy"],
        ids["simple"],
    ]
    busy = next(line for line in lines if line.startswith(ids["busy"]))
    assert "conv-a" in busy and "partial" in busy and " 5  1  1  no " in busy

    code, out, _ = run(capsys, "list", "--min-transfers", "2", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["trace_id"] for r in rows] == [ids["human"], ids["busy"]]
    assert rows[1]["reroutes"] == 1 and rows[1]["transfers"] == 5

    code, out, _ = run(
        capsys, "list", "--conversation", "conv-b", "--status", "needs_human", "--since", "1h", "--json"
    )
    assert [r["trace_id"] for r in json.loads(out)] == [ids["human"]]


def test_show_by_prefix(ids: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", ids["busy"][:12])
    assert code == 0
    assert out.splitlines()[0].startswith(f"trace {ids['busy']}  conversation conv-a  turn turn-2")
    assert "billing -> technical (reroute" in out
    assert "compliance -> human (escalation" in out
    assert "allow [EU-GEN-1]" in out

    code, out, _ = run(capsys, "show", ids["simple"], "--json")
    doc = json.loads(out)
    assert doc["trace_id"] == ids["simple"]
    (root,) = doc["spans"]
    assert root["name"] == "invoke_workflow"
    assert [c["name"] for c in root["children"]][:2] == ["check_policy intake", "plan"]


def test_show_errors(ids: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "show", "0123456789abcdef0123456789abcdef")
    assert code == 3
    assert "no trace starts with 0123456789abcdef" in err and "crossdesk traces list" in err
    code, _, err = run(capsys, "show", "turn-1")
    assert code == 2 and "not a trace id" in err


def test_stats(ids: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0
    stats = json.loads(out)
    assert stats["turns"] == 4 and stats["fcr"]["issue_rate"] == 0.5
    assert stats["takeover"]["sla_breaches"] == 1

    code, out, _ = run(capsys, "stats", "--since", "2h")
    assert code == 0
    assert "first contact      50.0% of issues, 25.0% of turns" in out
    assert "escalation         50.0% of turns (2 escalations)" in out
    assert "SLA breaches 1 (50.0%)" in out
    assert "billing" in out and "runs     3" in out


def test_bad_input_and_empty_store(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "list", "--since", "last tuesday")
    assert code == 2 and "30m, 2h, 7d" in err
    code, _, err = run(capsys, "list", "--min-transfers", "-1")
    assert code == 2 and "--min-transfers must be 0 or more" in err

    code, out, _ = run(capsys, "list")
    assert code == 0 and "no turns recorded" in out
    assert not (tmp_path / "home" / "crossdesk.db").exists()  # reading never creates the store
    code, out, _ = run(capsys, "stats")
    assert code == 0 and "no turns recorded" in out
    code, _, err = run(capsys, "show", "abc")
    assert code == 3 and "no traces have been recorded" in err

    code, out, _ = run(capsys)
    assert code == 2 and "list" in out and "stats" in out
