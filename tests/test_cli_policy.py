"""`crossdesk policy test|explain` and `crossdesk audit verify|export` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session

from orchestrator.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- policy test


def test_policy_test_runs_every_shipped_pack(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", "test")
    assert code == 0
    for pack in ("global", "eu", "uk", "us", "us-ca", "cn", "sg"):
        assert f"ok   {pack}" in out


def test_policy_test_one_pack_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "policy", "test", "cn", "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert [p["pack"] for p in data["packs"]] == ["cn"]
    assert data["packs"][0]["cases"] == data["packs"][0]["passed"] > 0


def test_policy_test_unknown_pack(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "policy", "test", "mars")
    assert code == 2
    assert "no pack named mars" in err and "us-ca" in err


def test_policy_test_reports_failing_and_uncovered_rules_of_configured_packs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    packs = tmp_path / "house_packs"
    (packs / "tests").mkdir(parents=True)
    (packs / "house.yaml").write_text(
        "pack: house\njurisdictions: [SG]\nrules:\n"
        "  - {id: house.flag, description: d, legal_basis: t, when: wants_human, effects: [{record: {flag: asked}}]}\n"
        "  - {id: house.silent, description: d, legal_basis: t, when: 'repeat_contacts > 5', effects: [allow]}\n",
        encoding="utf-8",
    )
    (packs / "tests" / "house.yaml").write_text(
        "pack: house\ncases:\n"
        "  - name: asks for a person\n"
        "    facts: {jurisdiction: SG, wants_human: true}\n"
        "    expect: {rules: [house.flag], flags: [something_else]}\n",
        encoding="utf-8",
    )
    # the working directory's crossdesk.toml adds the folder to the shipped packs
    (tmp_path / "crossdesk.toml").write_text(f'[policies]\npaths = ["{packs}"]\n', encoding="utf-8")
    code, out, _ = run(capsys, "policy", "test")
    assert code == 1
    assert "FAIL house" in out and "flag something_else not set" in out
    assert "rules no case covers: house.silent" in out
    assert "ok   global" in out


def test_policy_test_with_a_malformed_pack(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pack: bad\njurisdictions: [EU]\nrules:\n"
        "  - {id: bad.rule, description: d, legal_basis: t, effects: [{require_human: {sla_seconds: 5}}]}\n",
        encoding="utf-8",
    )
    (tmp_path / "crossdesk.toml").write_text(f'[policies]\npaths = ["{bad}"]\n', encoding="utf-8")
    code, _, err = run(capsys, "policy", "test")
    assert code == 2
    assert f"{bad}: rule bad.rule: field effects[0].require_human.reason" in err


# ---------------------------------------------------------------- policy explain


@pytest.mark.parametrize(
    ("jurisdiction", "rule", "extra"),
    [
        ("EU", "eu.gdpr.erasure", "deadline: 30 days"),
        ("CN", "cn.pipl.erasure_freeze", "retain_but_freeze"),
        ("US-CA", "usca.ccpa.deletion", "deadline: 45 days"),
    ],
)
def test_explain_an_erasure_request_per_jurisdiction(
    capsys: pytest.CaptureFixture[str], jurisdiction: str, rule: str, extra: str
) -> None:
    code, out, _ = run(
        capsys, "policy", "explain", "--jurisdiction", jurisdiction, "Please delete all my personal data."
    )
    assert code == 0
    assert "compliance/data_erasure" in out
    assert rule in out and 'because task.intent == "data_erasure"' in out
    assert extra in out


def test_explain_json_for_a_structuring_question(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "policy",
        "explain",
        "--jurisdiction",
        "UK",
        "--json",
        "How can I split 15000 into smaller transfers so it stays under the reporting limit?",
    )
    data = json.loads(out)
    assert code == 0 and data["jurisdiction"] == "UK"
    decision = data["decision"]
    assert decision["effect"] == "deny"
    assert "global.aml.structuring" in [m["id"] for m in decision["matched"]]
    assert {"compliance_review", "recorded_conversation"} <= set(decision["flags"])


def test_explain_for_a_demo_customer_aged_80(capsys: pytest.CaptureFixture[str], seeded_home: Path) -> None:
    code, out, _ = run(
        capsys, "policy", "explain", "--customer", "C1003", "I want a refund for the double charge"
    )
    assert code == 0
    assert "jurisdiction US" in out and "80+" in out
    assert "us.elder.offer_human" in out and "flags: " in out and "offer_human" in out


def test_explain_from_a_facts_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    facts = tmp_path / "facts.yaml"
    facts.write_text(
        "customer: {jurisdiction: CN}\ntasks: [{department: technical, intent: app_error}]\n",
        encoding="utf-8",
    )
    code, out, _ = run(
        capsys, "policy", "explain", "--facts", str(facts), "--destination", "external:openai", "--json"
    )
    decision = json.loads(out)["decision"]
    assert code == 0 and decision["effect"] == "deny" and decision["destination_denied"] is True


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["policy", "explain", "--jurisdiction", "EU", "   "], 2, "the message is empty"),
        (["policy", "explain", "--facts", "nowhere.yaml"], 2, "nowhere.yaml: no such file"),
        (["policy", "explain", "--destination", "openai", "hello"], 2, "--destination is"),
        (["policy", "explain", "--customer", "C404", "hello"], 3, "customer 'C404' not found"),
    ],
)
def test_explain_bad_input(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    got, _, err = run(capsys, *argv)
    assert got == code
    assert message in err


def test_explain_invalid_facts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    facts = tmp_path / "facts.yaml"
    facts.write_text("signals: {sentimnet: -0.9}\n", encoding="utf-8")
    code, _, err = run(capsys, "policy", "explain", "--facts", str(facts))
    assert code == 2 and "unknown signal(s) ['sentimnet']" in err


# ---------------------------------------------------------------- audit


def _append_records(n: int) -> None:
    from orchestrator.config import load_settings
    from orchestrator.db import create_schema, make_engine
    from policies import audit

    engine = make_engine(load_settings().database_url)
    create_schema(engine)
    with Session(engine) as s:
        for i in range(1, n + 1):
            audit.append(
                s,
                "policy_decision",
                actor="policy",
                payload={"effect": "allow", "turn": i},
                conversation_id="conv-1" if i % 2 else "conv-2",
            )
        s.commit()
    engine.dispose()


def _tamper(statement: str) -> None:
    from orchestrator.config import load_settings
    from orchestrator.db import make_engine

    engine = make_engine(load_settings().database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


def test_audit_verify_and_tampering(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and "audit log intact: 0 records" in out
    _append_records(4)
    code, out, _ = run(capsys, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["checked"] == 4
    _tamper("UPDATE audit_record SET kind = 'action' WHERE id = 3")
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 1 and "BROKEN at record 3" in out
    code, out, _ = run(capsys, "audit", "verify", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["first_broken_id"] == 3


def test_audit_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _append_records(5)
    code, out, _ = run(capsys, "audit", "export", "--conversation", "conv-2")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in lines] == [2, 4]
    assert lines[0]["payload"] == {"effect": "allow", "turn": 2}
    target = tmp_path / "audit.jsonl"
    code, _, err = run(capsys, "audit", "export", "--since", "2000-01-01T00:00:00Z", "--out", str(target))
    assert code == 0 and "wrote 5 audit records" in err
    assert len(target.read_text(encoding="utf-8").splitlines()) == 5
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".audit.jsonl")] == []
    code, out, _ = run(capsys, "audit", "export", "--since", "2999-01-01")
    assert code == 0 and out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "export", "--since", "last tuesday"], "is not an ISO date"),
        (["audit", "export", "--out", "missing/folder/out.jsonl"], "does not exist"),
    ],
)
def test_audit_export_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_the_installed_command_runs_pack_tests() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from orchestrator.cli import main; sys.exit(main())",
            "policy",
            "test",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
