"""A misbehaving department loses only its own sub-issue; a broken plugin only itself.

Three in-process departments misbehave in different ways (raise, hang past the budget, return
garbage); each shares a message with a billing sub-issue, which must still be answered.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from plugins import hookimpl
from plugins.contracts import ActionSpec, Department, DepartmentContext, DepartmentResult, Intent, Task

PARCEL = Intent(
    name="track_parcel",
    description="Where a parcel sent through the parcel locker service is",
    examples=(
        "where is my parcel",
        "track my parcel PK-1234 please",
        "the parcel locker says my package is not there",
        "my parcel has been stuck in the locker network for days",
        "has my parcel been delivered to the locker yet",
        "parcel tracking shows no updates",
        "which locker is my parcel in",
        "the courier says the parcel was dropped at a locker but I can't find it",
    ),
)
VOUCHER = Intent(
    name="voucher_balance",
    description="Balance of a shopping voucher",
    examples=(
        "what's the balance on my shopping voucher",
        "how much is left on my voucher",
        "check my voucher balance",
        "my shopping voucher shows a wrong balance",
        "voucher balance please",
        "did my voucher get topped up with the bonus",
        "how many euros are still on my shopping voucher",
    ),
)
REWARDS = Intent(
    name="reward_points",
    description="Reward points collected with purchases",
    examples=(
        "how many reward points do I have",
        "my reward points did not go up after shopping",
        "redeem my reward points",
        "reward points balance",
        "when do reward points expire",
        "I should have earned double reward points this week",
        "transfer my reward points to my partner",
    ),
)


class Exploding:
    name = "parcels"
    description = "Parcel locker deliveries"
    intents: Sequence[Intent] = (PARCEL,)
    actions: Sequence[ActionSpec] = ()

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult:
        ctx.notes.add("parcel_lookup", "looked up the parcel before failing", subject="PK-1234")
        raise RuntimeError("parcel service exploded")


class Hanging:
    """Sleeps past its budget, then writes: nothing it writes may be committed."""

    name = "vouchers"
    description = "Shopping vouchers"
    intents: Sequence[Intent] = (VOUCHER,)
    actions: Sequence[ActionSpec] = ()

    def __init__(self) -> None:
        self.sleep_s = 1.5
        self.finished = threading.Event()
        self.act_error: str | None = None

    def handle(self, task: Task, ctx: DepartmentContext) -> DepartmentResult:
        self.finished.wait(self.sleep_s)  # wait without holding a database lock
        ctx.notes.add("voucher_check", "written after the budget ran out", subject="VOUCHER-1")
        # flushing takes the write lock, which the run keeps until it commits or rolls back: a
        # reader that gets the lock afterwards sees the outcome, not a race
        ctx.db.flush()
        try:
            ctx.act("no_such_action")
        except Exception as exc:  # the dispatcher refuses actions of an abandoned run
            self.act_error = type(exc).__name__
        self.finished.set()
        return DepartmentResult(
            department=self.name, task_id=task.id, status="resolved", reply="Your voucher holds EUR 20."
        )


class Garbage:
    name = "rewards"
    description = "Reward points"
    intents: Sequence[Intent] = (REWARDS,)
    actions: Sequence[ActionSpec] = ()

    def handle(self, task: Task, ctx: DepartmentContext) -> Any:
        ctx.notes.add("reward_points", "written by a department that returns garbage", subject="RP-1")
        return "you have 120 points"


@pytest.fixture
def misbehaving() -> Iterator[types.SimpleNamespace]:
    departments = types.SimpleNamespace(exploding=Exploding(), hanging=Hanging(), garbage=Garbage())

    class Plugin:
        @hookimpl
        def crossdesk_departments(self) -> list[Department]:
            return [departments.exploding, departments.hanging, departments.garbage]

    departments.plugin = Plugin()
    yield departments
    departments.hanging.finished.set()  # never leave a sleeping thread behind


def orchestrator(plugin: Any, **settings: Any) -> Any:
    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator
    from plugins.manager import load_plugins

    return Orchestrator(load_settings(**settings), plugins=load_plugins(extra=[("misbehaving", plugin)]))


def notes_of_kind(engine: Any, kind: str) -> list[Any]:
    from orchestrator.knowledge.models import CaseNoteRow

    # a session begins with the write lock, so this waits until any open run's transaction has ended
    with Session(engine) as session:
        return list(session.exec(select(CaseNoteRow).where(CaseNoteRow.kind == kind)))


def tasks_by_department(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["department"]: t for t in record["tasks"]}


def test_a_department_that_raises_loses_only_its_sub_issue(
    seeded_home: Path, misbehaving: Any, caplog: pytest.LogCaptureFixture
) -> None:
    orch = orchestrator(misbehaving.plugin)
    try:
        with caplog.at_level(logging.WARNING, logger="orchestrator.dispatch"):
            out = orch.ask(
                "where is my parcel PK-1234? also I was charged twice for my coffee", customer_id="C1001"
            )
        tasks = tasks_by_department(out.record)
        assert tasks["parcels"]["status"] == "needs_human"
        assert tasks["parcels"]["error"] == "RuntimeError: parcel service exploded"
        assert tasks["billing"]["status"] == "resolved" and tasks["billing"]["error"] is None
        assert out.record["status"] == "needs_human"
        assert "parcels: RuntimeError: parcel service exploded" in out.record["handoff"]["reason"]
        assert "refunded" in out.reply  # the billing part is answered ...
        assert "where is my parcel" in out.reply  # ... and the customer is told who takes the rest
        assert any("department parcels failed" in r.getMessage() for r in caplog.records)
        assert notes_of_kind(orch.engine, "parcel_lookup") == []  # its write was rolled back
    finally:
        orch.close()


def test_a_department_that_returns_garbage_loses_only_its_sub_issue(
    seeded_home: Path, misbehaving: Any
) -> None:
    orch = orchestrator(misbehaving.plugin)
    try:
        out = orch.ask(
            "how many reward points do I have, and I was charged twice for my coffee", customer_id="C1001"
        )
        tasks = tasks_by_department(out.record)
        assert tasks["rewards"]["status"] == "needs_human"
        assert tasks["rewards"]["error"] == "invalid output: handle() returned str, expected DepartmentResult"
        assert tasks["billing"]["status"] == "resolved"
        assert notes_of_kind(orch.engine, "reward_points") == []
    finally:
        orch.close()


def test_a_department_that_hangs_is_abandoned_and_never_commits(seeded_home: Path, misbehaving: Any) -> None:
    hanging = misbehaving.hanging
    orch = orchestrator(misbehaving.plugin, department_timeout_s=0.5)
    try:
        out = orch.ask(
            "what's the balance on my shopping voucher, and I was charged twice for my coffee",
            customer_id="C1001",
        )
        assert not hanging.finished.is_set()  # the turn did not wait for it
        tasks = tasks_by_department(out.record)
        assert tasks["vouchers"]["status"] == "needs_human"
        assert tasks["vouchers"]["error"] == "timed out after 0.5s"
        assert tasks["billing"]["status"] == "resolved"
        # the abandoned run wakes up, writes a note, tries an action and returns a valid result ...
        assert hanging.finished.wait(10)
        assert hanging.act_error == "_Abandoned"
        # ... and none of it is committed
        assert notes_of_kind(orch.engine, "voucher_check") == []
    finally:
        orch.close()


def test_the_same_department_within_its_budget_does_commit(seeded_home: Path, misbehaving: Any) -> None:
    """The control for the test above: the write path works, so the absence there is the rollback."""
    hanging = misbehaving.hanging
    hanging.sleep_s = 0.05
    orch = orchestrator(misbehaving.plugin, department_timeout_s=10)
    try:
        out = orch.ask("what's the balance on my shopping voucher", customer_id="C1001")
        (task,) = out.record["tasks"]
        assert (task["department"], task["status"]) == ("vouchers", "resolved")
        assert [n.subject for n in notes_of_kind(orch.engine, "voucher_check")] == ["VOUCHER-1"]
    finally:
        orch.close()


# --- plugins that do not load ------------------------------------------------------------------------


def test_plugin_without_hooks_or_with_a_misspelt_hook_is_not_loaded(seeded_home: Path) -> None:
    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator
    from plugins.manager import load_plugins

    hookless = types.ModuleType("hookless")
    misspelt = types.ModuleType("misspelt")

    @hookimpl
    def crossdesk_department() -> list[Department]:
        return []

    misspelt.crossdesk_department = crossdesk_department  # type: ignore[attr-defined]
    plugins = load_plugins(extra=[("hookless", hookless), ("misspelt", misspelt)])
    reasons = {p.name: p.reason for p in plugins.plugins if not p.loaded}
    assert "implements none of crossdesk's hooks" in reasons["hookless"]
    assert "crossdesk_department" in reasons["misspelt"]
    assert {"billing", "claims"} <= set(plugins.departments)  # the others load
    orch = Orchestrator(load_settings(), plugins=plugins)
    try:
        out = orch.ask("I was charged twice for my coffee", customer_id="C1001")
    finally:
        orch.close()
    assert out.record["tasks"][0]["status"] == "resolved"


@pytest.fixture
def broken_distribution(tmp_path: Path) -> Path:
    """An installed distribution whose entry points are broken in three ways."""
    site = tmp_path / "site"
    info = site / "crossdesk_broken-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crossdesk-broken\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(
        "[crossdesk.departments]\n"
        "missing = crossdesk_broken_missing\n"
        "hookless = crossdesk_broken_hookless\n"
        "raising = crossdesk_broken_raising\n"
    )
    (site / "crossdesk_broken_hookless.py").write_text('"""A plugin that forgot its hooks."""\n')
    (site / "crossdesk_broken_raising.py").write_text(
        "from plugins import hookimpl\n\n\n@hookimpl\ndef crossdesk_departments():\n"
        "    raise RuntimeError('database for parcels unreachable')\n"
    )
    return site


def test_plugins_list_shows_why_a_plugin_did_not_load(broken_distribution: Path, seeded_home: Path) -> None:
    env = {
        "PYTHONPATH": str(broken_distribution),
        "CROSSDESK_HOME": str(seeded_home),
        "PATH": "/usr/bin:/bin",
    }
    cmd = [sys.executable, "-c", "from orchestrator.cli import run; run()", "plugins", "list"]
    listed = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    rows = {r["plugin"]: r for r in json.loads(listed.stdout)}
    assert rows["missing"]["package"] == "crossdesk-broken" and not rows["missing"]["loaded"]
    assert rows["missing"]["reason"] == "ModuleNotFoundError: No module named 'crossdesk_broken_missing'"
    assert "implements none of crossdesk's hooks" in rows["hookless"]["reason"]
    assert rows["raising"]["reason"] == "RuntimeError: database for parcels unreachable"
    assert all(rows[n]["loaded"] for n in ("billing", "compliance", "technical", "claims"))

    readable = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert "missing  (crossdesk-broken 0.3, crossdesk_broken_missing)  NOT LOADED: ModuleNotFoundError" in (
        readable.stdout
    )
    # disabled by name, the broken plugins are skipped before they are imported
    quiet = subprocess.run(
        [*cmd, "--json"],
        capture_output=True,
        text=True,
        env={**env, "CROSSDESK_DISABLE_PLUGINS": "missing,hookless,raising"},
        timeout=60,
    )
    rows = {r["plugin"]: r for r in json.loads(quiet.stdout)}
    assert all("disabled" in rows[n]["reason"] for n in ("missing", "hookless", "raising"))
    assert "plugin missing not loaded" not in quiet.stderr  # no import was attempted, nothing logged
    assert "plugin missing not loaded" in listed.stderr
