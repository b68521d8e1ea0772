"""The example third-party department (examples/crossdesk-claims), installed as its own package.

Nothing in crossdesk knows about claims: it arrives through its entry point and must become
routable, listed and answered with no change to the orchestrator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main


def test_claims_is_installed_as_its_own_package() -> None:
    (ep,) = [e for e in entry_points(group="crossdesk.departments") if e.name == "claims"]
    assert ep.value == "crossdesk_claims"
    assert ep.dist is not None and ep.dist.name == "crossdesk-claims"


def test_plugins_list_shows_claims_with_its_package(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "list", "--json"]) == 0
    rows = {r["plugin"]: r for r in json.loads(capsys.readouterr().out)}
    claims = rows["claims"]
    assert (
        claims["loaded"]
        and claims["package"] == "crossdesk-claims"
        and claims["module"] == "crossdesk_claims"
    )
    (dep,) = claims["departments"]
    assert dep["name"] == "claims"
    assert {"file_claim", "claim_status", "claim_documents", "claim_payout"} <= set(dep["intents"])
    assert {"billing", "compliance", "technical"} <= set(rows)  # the built-ins are still there


def test_claims_and_billing_answer_one_message_together(orch: Any) -> None:
    out = orch.ask(
        "my suitcase was lost on my flight and I want to claim on my travel insurance, also I was charged twice",
        customer_id="C1001",
    )
    tasks = {t["department"]: t for t in out.record["tasks"]}
    assert set(tasks) == {"claims", "billing"}
    assert tasks["claims"]["intent"] == "file_claim" and tasks["claims"]["status"] == "resolved"
    assert tasks["billing"]["intent"] == "double_charge" and tasks["billing"]["status"] == "resolved"
    assert out.record["counts"]["dispatches"] == 2 and out.record["counts"]["reroutes"] == 0
    (filed,) = tasks["claims"]["actions"]
    assert filed["name"] == "file_claim" and filed["ok"]
    assert filed["result"]["claim_id"] in out.reply
    # the claim is in the shared store, and the answer cites the claims article
    from orchestrator.knowledge.notes import notes_for_customer

    (note,) = notes_for_customer(orch.engine, "C1001", kind="claim")
    assert note.subject == filed["result"]["claim_id"]
    assert "KB-CLM-002" in tasks["claims"]["knowledge"]
    # the claims part comes first, as the customer asked
    assert out.reply.index(filed["result"]["claim_id"]) < out.reply.index("charged twice")


def test_a_follow_up_reaches_the_claim_filed_before(orch: Any) -> None:
    first = orch.ask("the airline lost my luggage, I'd like to file a claim", customer_id="C1002")
    claim_id = first.record["tasks"][0]["actions"][0]["result"]["claim_id"]
    later = orch.ask("what's the status of my insurance claim?", customer_id="C1002")
    (task,) = later.record["tasks"]
    assert (task["department"], task["intent"], task["status"]) == ("claims", "claim_status", "resolved")
    assert claim_id in later.reply


@pytest.mark.parametrize(
    "message",
    [
        "I was charged twice for my coffee this morning",
        "I forgot my password and now the app is locked",
        "please delete all the personal data you hold about me",
        "my card was stolen, block it now",
    ],
)
def test_builtin_requests_do_not_go_to_claims(orch: Any, message: str) -> None:
    out = orch.ask(message, customer_id="C1001")
    departments = [d for t in out.record["tasks"] for d in t["departments_tried"]]
    assert departments and "claims" not in departments


def test_disabled_by_env_claims_is_neither_listed_as_loaded_nor_routed(
    seeded_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CROSSDESK_DISABLE_PLUGINS", "claims")
    assert main(["plugins", "list", "--json"]) == 0
    rows = {r["plugin"]: r for r in json.loads(capsys.readouterr().out)}
    assert not rows["claims"]["loaded"] and "CROSSDESK_DISABLE_PLUGINS" in rows["claims"]["reason"]
    assert rows["billing"]["loaded"]

    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator

    orch = Orchestrator(load_settings())
    try:
        assert "claims" not in orch.plugins.departments
        out = orch.ask(
            "my suitcase was lost on my flight, I want to claim on my travel insurance", customer_id="C1001"
        )
    finally:
        orch.close()
    assert all("claims" not in t["departments_tried"] for t in out.record["tasks"])


def test_disabled_in_crossdesk_toml(seeded_home: Path, tmp_path: Path) -> None:
    (tmp_path / "crossdesk.toml").write_text('[crossdesk]\ndisabled_plugins = ["claims"]\n')
    listed = subprocess.run(
        [sys.executable, "-c", "from orchestrator.cli import run; run()", "plugins", "list"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "claims  (crossdesk-claims 0.1.0, crossdesk_claims)  NOT LOADED: disabled" in listed.stdout
    assert "billing  (crossdesk 0.1.0, plugins.builtin.billing)  loaded" in listed.stdout
