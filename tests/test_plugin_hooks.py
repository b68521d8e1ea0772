"""One test per hook in plugins/hookspecs.py: what the orchestrator does with each hook's answer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from plugins import hookimpl
from plugins.contracts import ActionSpec, Department, DepartmentContext, DepartmentResult, Intent, Task
from plugins.manager import load_plugins

SAFE_DEPOSIT = Intent(
    name="box_access",
    description="Access to a safe deposit box",
    examples=(
        "how do I get into my safe deposit box",
        "book a visit to my safe deposit box",
        "I lost the key to my deposit box",
        "who else may open my safe deposit box",
        "what are the opening hours of the vault",
        "can my daughter access the deposit box for me",
    ),
)


class Vault:
    name = "vault"
    description = "Safe deposit boxes"
    intents: Sequence[Intent] = (SAFE_DEPOSIT,)
    actions: Sequence[ActionSpec] = ()

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult:
        return DepartmentResult(department=self.name, task_id=task.id, status="resolved", reply="Booked.")


class Thin(Vault):
    intents: Sequence[Intent] = (
        SAFE_DEPOSIT.model_copy(update={"examples": ("vault", "vault", "the vault")}),
    )


class Returns:
    """A plugin whose crossdesk_departments returns `value`."""

    def __init__(self, value: Any) -> None:
        self.value = value

    @hookimpl
    def crossdesk_departments(self) -> list[Department]:
        return self.value


def test_crossdesk_departments_hook_registers_valid_departments_and_rejects_the_rest() -> None:
    billing_again = Vault()
    billing_again.name = "billing"
    plugins = load_plugins(
        extra=[
            ("vault", Returns([Vault()])),
            ("dict", Returns({"vault": Vault()})),
            ("thin", Returns([Thin()])),
            ("impostor", Returns([billing_again])),
        ]
    )
    info = {p.name: p for p in plugins.plugins}
    assert info["vault"].loaded and info["vault"].departments == ("vault",)
    assert ("vault", SAFE_DEPOSIT) in plugins.intents()  # the router learns the new intent
    assert plugins.origin["vault"].distribution == "(in-process)"
    assert info["dict"].reason == "plugin 'dict', hook crossdesk_departments: returned dict, expected a list"
    assert "intent vault.box_access has 2 distinct examples, needs at least 5" in info["thin"].reason
    assert info["impostor"].reason == "department 'billing' is already provided by 'billing'"
    assert plugins.departments["billing"].description != "Safe deposit boxes"  # the built-in kept its name


class BrokenKnowledge:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def crossdesk_knowledge_paths(self) -> list[Path]:
        return [self.folder]


def test_crossdesk_knowledge_paths_hook_articles_are_shared_by_every_department(
    crossdesk_home: Path, tmp_path: Path
) -> None:
    from orchestrator.cli import main
    from orchestrator.config import load_settings
    from orchestrator.db import make_engine
    from orchestrator.knowledge.loader import KnowledgeFileError, load_paths
    from orchestrator.knowledge.store import KnowledgeStore

    assert main(["kb", "load", "--plugins"]) == 0
    store = KnowledgeStore(make_engine(load_settings().database_url))
    assert store.count() >= 45  # the built-ins' starter knowledge and the claims plugin's five
    assert store.get("KB-CLM-001") is not None
    everyone = store.search("is skiing covered by my travel insurance", k=3)
    assert everyone[0].id == "KB-CLM-003" and everyone[0].department == "claims"
    assert [h.id for h in store.search("documents for my claim", department="claims", k=1)] == ["KB-CLM-002"]

    # a plugin with a malformed article: nothing of anyone's is loaded, and the error names the file
    folder = tmp_path / "broken-kb"
    folder.mkdir()
    (folder / "bad.md").write_text(
        "---\nid: KB-BAD-1\ntitle: Broken\n---\nno department in the front matter\n"
    )
    before = store.count()
    plugins = load_plugins(extra=[("broken_kb", BrokenKnowledge(folder))])
    with pytest.raises(KnowledgeFileError, match=r"bad\.md.*KB-BAD-1.*department"):
        load_paths(store, plugins.knowledge_paths())
    assert store.count() == before


class Packs:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def crossdesk_policy_paths(self) -> list[Path]:
        return [self.folder]


def test_crossdesk_policy_paths_hook_packs_load_next_to_the_shipped_ones(tmp_path: Path) -> None:
    from orchestrator.config import load_settings
    from plugins.contracts import CustomerView
    from policies.engine import PolicyEngine
    from policies.facts import TurnFacts
    from policies.schema import PackError

    engine = PolicyEngine.from_settings(load_settings())
    assert {"global", "eu", "claims"} <= {p.name for p in engine.packs}
    customer = CustomerView(id="C1", name="Ana", jurisdiction="EU")
    facts = TurnFacts(customer=customer)
    big = engine.check_action(facts, "claims", "schedule_payout", {"claim_id": "CLM-ABC123", "amount": 2400})
    assert not big.allowed and big.rule_id == "claims.payout.authority_cap" and big.needs_human
    small = engine.check_action(facts, "claims", "schedule_payout", {"claim_id": "CLM-ABC123", "amount": 200})
    assert small.allowed

    without = PolicyEngine.from_settings(load_settings(disabled_plugins=("claims",)))
    assert "claims" not in {p.name for p in without.packs}
    assert without.check_action(facts, "claims", "schedule_payout", {"amount": 2400}).allowed

    # a plugin pack with a bad rule fails loudly, naming the file and the rule
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "acme.yaml").write_text(
        "pack: acme\njurisdictions: ['*']\nrules:\n"
        "  - id: acme.oops\n    description: d\n    legal_basis: b\n    effects: [{explode: {}}]\n"
    )
    plugins = load_plugins(extra=[("acme", Packs(folder))])
    with pytest.raises(PackError, match=r"acme\.yaml: rule acme\.oops"):
        PolicyEngine.from_settings(load_settings(), plugin_paths=plugins.policy_paths())
