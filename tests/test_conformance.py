"""The conformance kit: it passes a good department and names what is wrong with a bad one."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from plugins import hookimpl
from plugins.conformance import (
    ConformanceReport,
    KitOptions,
    assert_conformant,
    check_department,
    check_plugin,
    near_duplicate_groups,
)
from plugins.contracts import ActionSpec, Department, DepartmentContext, DepartmentResult, Intent, Task

# --- the near-duplicate lint ----------------------------------------------------------------------


def test_near_duplicates_count_once() -> None:
    groups = near_duplicate_groups(
        [
            "I was charged twice for my coffee",
            "i was charged twice for my coffee!!",  # case and punctuation
            "I was charged twise for my coffee",  # a typo
            "for my coffee I was charged twice",  # the same words reordered
            "I was charged twice for my 3 coffees",  # numbers do not make an example new
            "the coffee shop took the money two times",
            "why did you bill me twice for one coffee",
        ]
    )
    assert [len(g) for g in groups] == [5, 1, 1]
    assert groups[0][0] == "I was charged twice for my coffee"


def test_distinct_paraphrases_stay_distinct() -> None:
    examples = [
        "my suitcase never arrived",
        "the airline lost my bag",
        "where is my luggage",
        "baggage missing after landing",
    ]
    assert len(near_duplicate_groups(examples)) == 4


# --- a department that gets everything right, and one that gets everything wrong --------------------

GIFT_QUESTIONS = (
    "how much is left on my gift card",
    "check the balance of a gift voucher",
    "can I use two gift cards for one order",
    "my gift card code says invalid",
    "does the gift card expire",
    "what shops accept your gift cards",
    "I got a gift voucher for my birthday, how do I redeem it",
    "gift card balance shows zero but I never used it",
    "can I swap a gift card for cash",
    "how do I send a digital gift card to a friend",
    "the gift voucher PIN is scratched off",
    "lost my physical gift card, can you replace it",
    "is there a fee to buy a gift card",
    "can gift cards be used abroad",
    "top up an existing gift card with more value",
    "gift card bought online never arrived by email",
)
# deliberately the same requests billing already owns: the router cannot tell them apart
SECOND_CHARGES = (
    "my card was debited twice for one coffee",
    "the same payment went out two times",
    "I see a duplicate charge for my train ticket",
    "you took the money twice for a single order",
    "two identical payments to the supermarket today",
    "charged double for my gym membership",
    "the shop ran my card twice by mistake",
    "a repeated charge of 20 euros on my statement",
    "billed two times for the same taxi ride",
    "one purchase but two debits on my account",
    "my subscription was taken twice this month",
    "duplicate payment at the restaurant last night",
    "the hotel charged me twice for one night",
    "I paid once but the money left my account twice",
    "double debit for my online order please fix it",
    "same amount charged twice within a minute",
)


class GiftArgs(BaseModel):
    code: str


class Sloppy:
    """Answers everything, breaks on emoji, stalls on long text, and claims billing's requests."""

    name = "sloppy"
    description = "Gift cards, and whatever else comes along"
    intents: Sequence[Intent] = (
        Intent(name="gift_card", description="gift card questions", examples=GIFT_QUESTIONS),
        Intent(name="second_charge", description="duplicate charges", examples=SECOND_CHARGES),
        Intent(
            name="thin",
            description="too few distinct examples",
            examples=tuple(f"gift card number {n} please" for n in range(10))
            + ("gift card please", "the gift card", "a gift card", "gift cards", "my gift card"),
        ),
    )
    actions: Sequence[ActionSpec] = (
        ActionSpec(name="check_gift", description="", args=GiftArgs, run=lambda ctx, args: {}),
    )

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult:
        if any(ord(ch) > 0xFFFF for ch in task.text):
            raise ValueError("cannot handle emoji")
        if len(task.text) > 5000:
            time.sleep(0.6)
        return DepartmentResult(department=self.name, task_id=task.id, status="resolved", reply="All done.")


class SloppyPlugin:
    @hookimpl
    def crossdesk_departments(self) -> list[Department]:
        return [Sloppy()]


@pytest.fixture(scope="module")
def sloppy_report(tmp_path_factory: pytest.TempPathFactory, router_cache: Path) -> ConformanceReport:
    options = KitOptions(time_budget_s=0.4)
    return check_plugin(
        SloppyPlugin(),
        name="sloppy",
        workdir=tmp_path_factory.mktemp("kit"),
        router_cache=router_cache,
        options=options,
    )


def _failed(report: ConformanceReport, name: str, intent: str = "") -> list[str]:
    return [c.message for c in report.named(name) if not c.passed and (not intent or c.intent == intent)]


def test_kit_reports_too_few_distinct_examples(sloppy_report: ConformanceReport) -> None:
    (message,) = _failed(sloppy_report, "examples", "thin")
    assert "sloppy.thin" in message and "needs at least 15" in message and "count once" in message
    assert not _failed(sloppy_report, "examples", "gift_card")


def test_kit_reports_intents_that_collide_with_another_department(sloppy_report: ConformanceReport) -> None:
    (outbound,) = _failed(sloppy_report, "overlap", "second_charge")
    assert "billing.double_charge" in outbound  # it names where the examples went
    assert not _failed(sloppy_report, "overlap", "gift_card")
    taken = [c for c in sloppy_report.named("overlap") if not c.passed and not c.intent]
    assert taken and "billing.double_charge" in taken[0].message


def test_kit_reports_a_department_that_never_says_not_mine(sloppy_report: ConformanceReport) -> None:
    (message,) = _failed(sloppy_report, "foreign")
    assert "sloppy answered not_mine to only 0 of 24" in message and "not_mine" in message
    check = sloppy_report.named("foreign")[0]
    assert check.data["sent"] == 24 and check.data["declined"] == 0


def test_kit_reports_bad_input_and_the_time_budget(sloppy_report: ConformanceReport) -> None:
    (bad,) = _failed(sloppy_report, "bad_input")
    assert "emoji only: ValueError: cannot handle emoji" in bad
    assert "10 KB of text: timed out after 0.4s" in bad
    (slow,) = _failed(sloppy_report, "time_budget")
    assert "took longer than the 0.4s budget" in slow


def test_kit_reports_actions_without_a_description(sloppy_report: ConformanceReport) -> None:
    (message,) = _failed(sloppy_report, "actions")
    assert "sloppy.check_gift" in message and "description is empty" in message


def test_failing_report_raises_with_every_failure(sloppy_report: ConformanceReport) -> None:
    with pytest.raises(AssertionError) as exc:
        assert_conformant(sloppy_report)
    text = str(exc.value)
    for name in ("examples", "overlap", "foreign", "bad_input", "time_budget", "actions"):
        assert f"FAIL {name}" in text
    assert "PASS" not in text  # only the failures, so the author sees what to fix
    assert json.loads(json.dumps(sloppy_report.as_dict()))["passed"] is False


# --- hooks --------------------------------------------------------------------------------------


class NoDepartments:
    @hookimpl
    def crossdesk_knowledge_paths(self) -> list[Path]:
        return []


class WrongTypes:
    @hookimpl
    def crossdesk_departments(self) -> list[Department]:
        return [Sloppy()]

    @hookimpl
    def crossdesk_knowledge_paths(self) -> list[str]:
        return ["no/such/folder"]

    def crossdesk_policy_paths(self) -> list[Path]:  # not decorated: pluggy would never call it
        return []

    @hookimpl(specname="crossdesk_departmnts")
    def typo(self) -> list[Department]:
        return []


def test_kit_requires_the_departments_hook(tmp_path: Path) -> None:
    report = check_plugin(NoDepartments(), name="nodeps", workdir=tmp_path)
    assert not report.passed
    assert any("required hook crossdesk_departments" in c.message for c in report.failures)


def test_kit_checks_hook_annotations_and_decorators(tmp_path: Path) -> None:
    report = check_plugin(WrongTypes(), name="wrong", workdir=tmp_path)
    messages = [c.message for c in report.failures]
    assert any("crossdesk_knowledge_paths" in m and "annotate it as -> list[Path]" in m for m in messages)
    assert any("crossdesk_policy_paths is not decorated with @plugins.hookimpl" in m for m in messages)
    assert any("crossdesk_departmnts" in m and "did you mean crossdesk_departments" in m for m in messages)


# --- real departments -----------------------------------------------------------------------------


def test_installed_claims_plugin_passes_the_kit(tmp_path: Path, router_cache: Path) -> None:
    import crossdesk_claims

    report = assert_conformant(crossdesk_claims, workdir=tmp_path, router_cache=router_cache)
    assert report.departments == ("claims",)
    checks = {c.name for c in report.checks}
    assert checks >= {"hooks", "examples", "actions", "overlap", "policies", "knowledge", "own_intents"}
    assert checks >= {"foreign", "bad_input", "time_budget"}


@pytest.mark.parametrize("department", ["billing", "compliance", "technical"])
def test_builtin_departments_are_robust(department: str, tmp_path: Path, router_cache: Path) -> None:
    """Every built-in survives bad input within its budget and declares well-formed intents and actions."""
    report = check_department(department, workdir=tmp_path, router_cache=router_cache)
    for name in ("examples", "actions", "bad_input", "time_budget"):
        failed = [c.line() for c in report.named(name) if not c.passed]
        assert report.named(name) and not failed, failed


def test_check_department_names_a_department_that_is_not_loaded(tmp_path: Path) -> None:
    report = check_department("nosuch", workdir=tmp_path)
    assert not report.passed
    assert (
        "not loaded" in report.failures[0].message and "crossdesk plugins list" in report.failures[0].message
    )


def test_plugin_check_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.cli import main

    assert main(["plugin", "check", "claims", "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["passed"] is True and out["departments"] == ["claims"]
    assert main(["plugin", "check", "nosuch"]) == 3
    assert "no plugin named 'nosuch'" in capsys.readouterr().err
