"""Policy packs a plugin ships: they load next to everyone else's and their test cases pass."""

from __future__ import annotations

from pathlib import Path

from plugins.conformance.report import ConformanceReport
from plugins.manager import PluginSet


def check_policies(plugins: PluginSet, plugin_name: str, report: ConformanceReport) -> None:
    """The plugin's packs load next to the shipped and other plugins' packs, and their test cases pass."""
    from policies.engine import PolicyEngine
    from policies.packtests import run_pack_tests
    from policies.schema import PackError

    plugin = plugins.manager.get_plugin(plugin_name)
    hook = getattr(plugin, "crossdesk_policy_paths", None)
    roots = [Path(p).resolve() for p in (hook() if hook is not None else [])]
    if not roots:
        report.add("policies", True, f"plugin {plugin_name!r} ships no policy rules")
        return
    try:
        engine = PolicyEngine.load(plugins.policy_paths())
    except PackError as exc:
        report.add("policies", False, f"the policy packs do not load together: {exc}")
        return
    own = [p.name for p in engine.packs if any(p.path.resolve().is_relative_to(r) for r in roots)]
    if not own:
        report.add(
            "policies",
            False,
            f"plugin {plugin_name!r} returns policy paths ({', '.join(map(str, roots))}) without a pack in them; "
            "add a <name>.yaml rule pack or return [] from crossdesk_policy_paths",
        )
        return
    for pack in run_pack_tests(engine, own):
        if pack.ok:
            report.add("policies", True, f"pack {pack.pack}: {len(pack.cases)} test case(s) pass")
            continue
        problems = [pack.error] if pack.error else []
        problems += [f"case {c.name!r}: {'; '.join(c.problems)}" for c in pack.failed[:3]]
        if pack.uncovered:
            problems.append(f"rules without a test case: {', '.join(pack.uncovered)}")
        report.add("policies", False, f"pack {pack.pack}: {'; '.join(problems)}")
