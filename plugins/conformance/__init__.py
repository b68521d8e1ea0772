"""The conformance kit: checks a department plugin against the contract, from the plugin's own tests.

    import crossdesk_claims
    from plugins.conformance import assert_conformant

    def test_conformance(tmp_path):
        assert_conformant(crossdesk_claims, workdir=tmp_path)

`check_plugin` returns a `ConformanceReport` (one `Check` per hook, intent and
behaviour); `assert_conformant` raises with every failure spelled out. The
checks run the real parts: the router is fitted on every installed department,
and the department handles tasks through `orchestrator.dispatch.run_department`
against a freshly seeded SQLite database in `workdir`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from plugins.conformance.behaviour import BAD_INPUTS, check_behaviour
from plugins.conformance.harness import Harness, dispatch_env, seeded_engine
from plugins.conformance.hooks import (
    REQUIRED_HOOKS,
    check_hooks,
    default_name,
    hook_impls,
    hook_specs,
    plugin_set_with,
)
from plugins.conformance.lint import check_actions, check_examples, near_duplicate_groups
from plugins.conformance.overlap import Overlap, measure_overlap, report_overlap
from plugins.conformance.packs import check_policies
from plugins.conformance.report import Check, ConformanceReport, KitOptions
from plugins.manager import PluginSet, load_plugins

__all__ = [
    "BAD_INPUTS",
    "REQUIRED_HOOKS",
    "Check",
    "ConformanceReport",
    "Harness",
    "KitOptions",
    "Overlap",
    "assert_conformant",
    "check_department",
    "check_plugin",
    "dispatch_env",
    "hook_impls",
    "hook_specs",
    "near_duplicate_groups",
    "seeded_engine",
]


def assert_conformant(plugin: Any, **kwargs: Any) -> ConformanceReport:
    """Run `check_plugin` (or take a finished report) and raise AssertionError listing every failure."""
    report = plugin if isinstance(plugin, ConformanceReport) else check_plugin(plugin, **kwargs)
    if not report.passed:
        raise AssertionError(report.format(failures_only=True))
    return report


def check_plugin(
    plugin: Any,
    *,
    name: str | None = None,
    workdir: Path | None = None,
    router_cache: Path | None = None,
    options: KitOptions | None = None,
) -> ConformanceReport:
    """Check a plugin (the module or object registered under ``crossdesk.departments``).

    The plugin is checked next to every other installed department. When it is
    not installed it is registered in-process under `name` (default: the last
    part of its module name); an installed copy of the same departments is
    replaced by the one passed in.
    """
    opts = options or KitOptions()
    plugin_name = name or default_name(plugin)
    report = ConformanceReport(plugin=plugin_name)
    check_hooks(plugin, plugin_name, report)
    if not report.passed:
        return report  # nothing below is meaningful without working hooks
    plugins, ours = plugin_set_with(plugin, plugin_name, report)
    if plugins is None:
        return report
    report.departments = tuple(ours)
    with _workdir(workdir) as wd:
        run_checks(
            plugins, ours, report, workdir=wd, router_cache=router_cache or wd / "router", options=opts
        )
    return report


def check_department(
    department: str,
    plugins: PluginSet | None = None,
    *,
    workdir: Path | None = None,
    router_cache: Path | None = None,
    options: KitOptions | None = None,
) -> ConformanceReport:
    """Check one loaded department by name against the other loaded ones (default: the installed set)."""
    ps = plugins if plugins is not None else load_plugins()
    report = ConformanceReport(plugin=department, departments=(department,))
    if department not in ps.departments:
        loaded = ", ".join(sorted(ps.departments)) or "none"
        report.add(
            "loaded",
            False,
            f"department {department!r} is not loaded (loaded: {loaded}); "
            "run `crossdesk plugins list` to see why",
            department=department,
        )
        return report
    with _workdir(workdir) as wd:
        run_checks(
            ps,
            [department],
            report,
            workdir=wd,
            router_cache=router_cache or wd / "router",
            options=options or KitOptions(),
        )
    return report


def run_checks(
    plugins: PluginSet,
    ours: Sequence[str],
    report: ConformanceReport,
    *,
    workdir: Path,
    router_cache: Path,
    options: KitOptions,
) -> None:
    """Every check after the hooks, for the departments in `ours`, next to the rest of `plugins`."""
    for dep_name in ours:
        dep = plugins.departments[dep_name]
        check_examples(dep, report, options)
        check_actions(dep, report)
    overlap = measure_overlap(plugins, router_cache, options)
    report_overlap(overlap, ours, report, options)
    for plugin_name in dict.fromkeys(plugins.origin[d].name for d in ours):
        check_policies(plugins, plugin_name, report)
    engine = seeded_engine(workdir / "conformance.db", plugins, report, ours)
    try:
        for dep_name in ours:
            check_behaviour(plugins, dep_name, engine, overlap, report, options)
    finally:
        engine.dispose()


@contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="crossdesk-kit-") as tmp:
        yield Path(tmp)
