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

import difflib
import inspect
import random
import re
import statistics
import tempfile
import time
import typing
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from plugins import hookspecs
from plugins.contracts import Department, DepartmentResult, Intent, Task
from plugins.manager import PluginError, PluginSet, load_plugins, validate_department

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

REQUIRED_HOOKS = ("crossdesk_departments",)
BAD_INPUTS: tuple[tuple[str, str], ...] = (
    ("empty text", ""),
    ("whitespace only", " \n\t "),
    ("10 KB of text", ("my order " * 1200)[:10_240]),
    ("emoji only", "😡😡💸💳❓"),
    ("control characters", "help\x00\x07\x1b[31m with\x7f this\u202e please"),
    ("mixed scripts", "你好, necesito ayuda — can you help? 🙏"),
    ("a lone surrogate-free symbol soup", "%%% $$$ ### @@@ !!! ???"),
)


@dataclass(frozen=True)
class KitOptions:
    """Thresholds of the kit. The defaults are what the built-in departments meet."""

    min_examples: int = 15  # distinct examples per intent after folding near-duplicates
    near_duplicate: float = 0.8  # word-set Jaccard at or above which two examples count once
    near_duplicate_chars: float = 0.92  # character similarity at or above which two examples count once
    max_overlap: float = 0.25  # share of an intent's held-out examples the router may send elsewhere
    folds: int = 3  # cross-validation folds for the overlap measure (1: score on the training data)
    samples_per_intent: int = 2  # own examples handled per intent
    foreign_samples: int = 24  # examples of other departments sent to this one
    min_not_mine: float = 0.9  # share of foreign examples that must come back not_mine
    time_budget_s: float = 5.0  # per department run
    seed: int = 20250601


@dataclass(frozen=True)
class Check:
    """One check's outcome. `message` names the department, intent and what to fix when it failed."""

    name: str
    passed: bool
    message: str
    department: str = ""
    intent: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        where = ".".join(p for p in (self.department, self.intent) if p)
        mark = "PASS" if self.passed else "FAIL"
        return f"{mark} {self.name}{f' [{where}]' if where else ''}: {self.message}"


@dataclass
class ConformanceReport:
    plugin: str
    departments: tuple[str, ...] = ()
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def named(self, name: str) -> list[Check]:
        return [c for c in self.checks if c.name == name]

    def add(self, name: str, passed: bool, message: str, **kw: Any) -> Check:
        check = Check(name, passed, message, **kw)
        self.checks.append(check)
        return check

    def format(self, *, failures_only: bool = False) -> str:
        shown = self.failures if failures_only else self.checks
        head = f"conformance of plugin {self.plugin!r} ({', '.join(self.departments) or 'no departments'}): "
        head += "passed" if self.passed else f"{len(self.failures)} of {len(self.checks)} checks failed"
        return "\n".join([head, *("  " + c.line() for c in shown)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "departments": list(self.departments),
            "passed": self.passed,
            "checks": [
                {
                    "name": c.name,
                    "passed": c.passed,
                    "department": c.department,
                    "intent": c.intent,
                    "message": c.message,
                    "data": c.data,
                }
                for c in self.checks
            ],
        }


# --- entry points ------------------------------------------------------------------------------


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
    plugin_name = name or _default_name(plugin)
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
    for dep_name in ours:
        dep = plugins.departments[dep_name]
        check_examples(dep, report, options)
        check_actions(dep, report)
    overlap = measure_overlap(plugins, ours, router_cache, options)
    report_overlap(overlap, ours, report, options)
    for plugin_name in dict.fromkeys(plugins.origin[d].name for d in ours):
        check_policies(plugins, plugin_name, report)
    engine = seeded_engine(workdir / "conformance.db", plugins, report, ours)
    try:
        for dep_name in ours:
            check_behaviour(plugins, dep_name, engine, overlap, report, options)
    finally:
        engine.dispose()


# --- hooks -------------------------------------------------------------------------------------


def hook_specs() -> dict[str, Any]:
    """The hook specifications in plugins.hookspecs, by name."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {n: f for n, f in inspect.getmembers(hookspecs) if callable(f) and hasattr(f, marker)}


def hook_impls(plugin: Any) -> dict[str, Any]:
    """The functions of `plugin` that are, or look like they were meant to be, hook implementations."""
    marker = f"{hookspecs.PROJECT}_impl"
    found: dict[str, Any] = {}
    for attr in dir(plugin):
        if attr.startswith("__"):
            continue
        try:
            value = getattr(plugin, attr)
        except Exception:
            continue
        if not callable(value):
            continue
        opts = getattr(value, marker, None)
        if isinstance(opts, dict):
            found[opts.get("specname") or attr] = value
        elif attr.startswith(f"{hookspecs.PROJECT}_"):
            found[attr] = value  # unmarked: pluggy would silently ignore it, so we report it
    return found


def check_hooks(plugin: Any, plugin_name: str, report: ConformanceReport) -> None:
    specs = hook_specs()
    impls = hook_impls(plugin)
    marker = f"{hookspecs.PROJECT}_impl"
    for hook in REQUIRED_HOOKS:
        if hook not in impls:
            report.add(
                "hooks",
                False,
                f"plugin {plugin_name!r} does not implement the required hook {hook}(); "
                f"add `@hookimpl def {hook}() -> {_annotation_text(specs[hook])}` (see docs/plugins.md)",
            )
    for hook, impl in sorted(impls.items()):
        if hook not in specs:
            close = difflib.get_close_matches(hook, specs, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            report.add(
                "hooks",
                False,
                f"plugin {plugin_name!r} implements {hook}(), which is not a crossdesk hook{hint}",
            )
            continue
        if not hasattr(impl, marker):
            report.add(
                "hooks",
                False,
                f"{plugin_name}.{hook} is not decorated with @plugins.hookimpl, so it would never be called",
            )
            continue
        problem = _signature_problem(impl, specs[hook])
        if problem:
            report.add("hooks", False, f"{plugin_name}.{hook}: {problem}")
            continue
        try:
            value = impl()
        except Exception as exc:
            report.add(
                "hooks",
                False,
                f"{plugin_name}.{hook}() raised {type(exc).__name__}: {exc}; a hook must not raise",
            )
            continue
        problem = _return_problem(hook, value, plugin_name)
        report.add(
            "hooks",
            problem is None,
            problem or f"{hook}() is typed as in plugins.hookspecs and returned a valid value",
        )


def _signature_problem(impl: Any, spec: Any) -> str | None:
    spec_params = set(inspect.signature(spec).parameters)
    extra = [p for p in inspect.signature(impl).parameters if p not in spec_params]
    if extra:
        return f"takes {', '.join(extra)}, which the hookspec does not pass; remove them"
    want = _resolved_return(spec)
    got = _resolved_return(impl)
    if got is inspect.Signature.empty:
        return f"has no return annotation; annotate it as -> {_annotation_text(spec)}"
    if _same_type(got, want):
        return None
    return (
        f"returns {_type_text(got)}, but the hookspec says {_annotation_text(spec)}; "
        f"annotate it as -> {_annotation_text(spec)}"
    )


def _resolved_return(fn: Any) -> Any:
    try:
        return typing.get_type_hints(fn).get("return", inspect.Signature.empty)
    except Exception:
        # an annotation that only resolves under TYPE_CHECKING: compare its text instead
        return inspect.signature(fn).return_annotation


def _same_type(got: Any, want: Any) -> bool:
    if got == want:
        return True
    if isinstance(got, str) or isinstance(want, str):
        return _type_text(got) == _type_text(want)
    if typing.get_origin(got) is list and typing.get_origin(want) is list:
        (g,), (w,) = typing.get_args(got) or (None,), typing.get_args(want) or (None,)
        # a concrete department class where the spec says the Department protocol
        return w is Department and isinstance(g, type)
    return False


def _type_text(tp: Any) -> str:
    text = tp if isinstance(tp, str) else getattr(tp, "__name__", None) if isinstance(tp, type) else repr(tp)
    text = re.sub(r"\b(typing|pathlib|plugins\.contracts)\.", "", str(text))
    return text.replace("List[", "list[").replace(" ", "")


def _annotation_text(spec: Any) -> str:
    return _type_text(_resolved_return(spec))


def _return_problem(hook: str, value: Any, plugin_name: str) -> str | None:
    if not isinstance(value, list):
        return f"{hook}() returned {type(value).__name__}; return a list (an empty one when there is nothing)"
    if hook == "crossdesk_departments":
        if not value:
            return f"{hook}() returned no departments; return at least one"
        for dep in value:
            try:
                validate_department(plugin_name, dep)
            except PluginError as exc:
                return str(exc)
            if not isinstance(dep, Department):
                return f"{dep!r} does not implement the Department protocol (plugins.contracts.Department)"
        return None
    for item in value:
        if not isinstance(item, str | Path):
            return f"{hook}() returned a {type(item).__name__}; return pathlib.Path objects"
        if not Path(item).exists():
            return (
                f"{hook}() returned {item}, which does not exist; ship the files as package data "
                "and build the path from Path(__file__).parent"
            )
    return None


# --- loading the plugin next to the installed ones -----------------------------------------------


def plugin_set_with(
    plugin: Any, plugin_name: str, report: ConformanceReport
) -> tuple[PluginSet | None, list[str]]:
    """The installed plugins with `plugin` among them; (None, []) when it does not load."""
    module = getattr(plugin, "__name__", None)
    ours = [d.name for d in plugin.crossdesk_departments()]
    installed = load_plugins()
    if any(i.loaded and i.value == module and set(i.departments) == set(ours) for i in installed.plugins):
        return installed, ours
    # an installed copy (another version, another module) of the same departments steps aside
    replaced = tuple(i.name for i in installed.plugins if set(i.departments) & set(ours))
    register_as = plugin_name if plugin_name not in replaced else f"{plugin_name}-under-test"
    plugins = load_plugins(disabled=replaced, extra=[(register_as, plugin)])
    info = next(i for i in plugins.plugins if i.name == register_as)
    if not info.loaded:
        report.add("loaded", False, f"plugin {plugin_name!r} did not load: {info.reason}")
        return None, []
    report.add("loaded", True, f"loads next to {len(plugins.departments) - len(ours)} installed departments")
    return plugins, ours


def _default_name(plugin: Any) -> str:
    module = getattr(plugin, "__name__", None) or type(plugin).__name__
    return str(module).rsplit(".", 1)[-1].removeprefix("crossdesk_")


@contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="crossdesk-kit-") as tmp:
        yield Path(tmp)


# --- intents and actions -------------------------------------------------------------------------


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\d+", "0", text)
    return " ".join(re.findall(r"\w+", text))


def near_duplicate_groups(examples: Sequence[str], options: KitOptions | None = None) -> list[list[str]]:
    """Group examples that say the same thing (same words, reordered words, a typo apart)."""
    opts = options or KitOptions()
    groups: list[tuple[str, set[str], list[str]]] = []
    for example in examples:
        norm = _normalise(example)
        words = set(norm.split())
        if not norm:
            continue
        for key, key_words, members in groups:
            union = words | key_words
            jaccard = len(words & key_words) / len(union) if union else 1.0
            if (
                norm == key
                or jaccard >= opts.near_duplicate
                or difflib.SequenceMatcher(None, norm, key).ratio() >= opts.near_duplicate_chars
            ):
                members.append(example)
                break
        else:
            groups.append((norm, words, [example]))
    return [members for _, _, members in groups]


def check_examples(dep: Department, report: ConformanceReport, options: KitOptions) -> None:
    for intent in dep.intents:
        groups = near_duplicate_groups(intent.examples, options)
        distinct = len(groups)
        dupes = [g for g in groups if len(g) > 1]
        shown = "; ".join(" ~ ".join(repr(e) for e in g[:2]) for g in dupes[:3])
        if distinct >= options.min_examples:
            msg = f"{distinct} distinct examples"
            if dupes:
                msg += f" ({len(intent.examples) - distinct} near-duplicates folded, e.g. {shown})"
            report.add(
                "examples", True, msg, department=dep.name, intent=intent.name, data={"distinct": distinct}
            )
            continue
        msg = (
            f"intent {dep.name}.{intent.name} has {distinct} distinct examples, needs at least "
            f"{options.min_examples}: write {options.min_examples - distinct} more, varied in wording, length "
            "and tone, as customers really write"
        )
        if dupes:
            msg += f"; these count once: {shown}"
        report.add(
            "examples", False, msg, department=dep.name, intent=intent.name, data={"distinct": distinct}
        )


def check_actions(dep: Department, report: ConformanceReport) -> None:
    names = Counter(a.name for a in dep.actions)
    for action in dep.actions:
        where = f"action {dep.name}.{action.name}"
        problems = []
        if names[action.name] > 1:
            problems.append("the name is declared twice; action names must be unique in a department")
        if not action.description.strip():
            problems.append("the description is empty; say what the action changes")
        if not (isinstance(action.args, type) and issubclass(action.args, BaseModel)):
            problems.append("args is not a pydantic model class")
        else:
            untyped = [n for n, f in action.args.model_fields.items() if f.annotation in (Any, None)]
            if untyped:
                problems.append(f"argument(s) {', '.join(untyped)} have no type; annotate them")
            try:
                schema = action.args.model_json_schema()
            except Exception as exc:
                problems.append(
                    f"args has no JSON schema ({type(exc).__name__}: {exc}); use JSON-able field types"
                )
                schema = {}
        if not callable(action.run):
            problems.append("run is not callable")
        elif len(inspect.signature(action.run).parameters) != 2:
            problems.append("run must take exactly (ctx, args)")
        if problems:
            report.add("actions", False, f"{where}: {'; '.join(problems)}", department=dep.name)
        else:
            fields = ", ".join(schema.get("properties", {})) or "no arguments"
            report.add("actions", True, f"{where}: typed ({fields})", department=dep.name)
    if not dep.actions:
        report.add("actions", True, "declares no actions (answers from knowledge only)", department=dep.name)


# --- router overlap ------------------------------------------------------------------------------


@dataclass
class Overlap:
    """Held-out router predictions for every example of every loaded intent."""

    # (department, intent, text) -> (predicted department, predicted intent, probability)
    predictions: dict[tuple[str, str, str], tuple[str, str, float]] = field(default_factory=dict)
    folds: int = 1

    def outbound(self, dep: str, intent: str) -> tuple[float, Counter[str]]:
        """Share of `dep.intent`'s examples the router sends to another department, and where."""
        rows = [p for (d, i, _), p in self.predictions.items() if d == dep and i == intent]
        away = Counter(f"{p[0]}.{p[1]}" for p in rows if p[0] != dep)
        return (sum(away.values()) / len(rows) if rows else 0.0), away

    def inbound(self, dep: str) -> dict[tuple[str, str], float]:
        """Per foreign intent, the share of its examples the router sends to `dep`."""
        totals: Counter[tuple[str, str]] = Counter()
        taken: Counter[tuple[str, str]] = Counter()
        for (d, i, _), p in self.predictions.items():
            if d == dep:
                continue
            totals[(d, i)] += 1
            if p[0] == dep:
                taken[(d, i)] += 1
        return {k: taken[k] / totals[k] for k in totals}


def measure_overlap(plugins: PluginSet, ours: Sequence[str], cache_dir: Path, options: KitOptions) -> Overlap:
    """Fit the real router k times on all loaded intents, each time holding one fold out, and predict it."""
    from orchestrator.nlu.router import Router

    intents = plugins.intents()
    folds = max(1, options.folds)
    result = Overlap(folds=folds)
    for k in range(folds):
        train: list[tuple[str, Intent]] = []
        held: list[tuple[str, str, str]] = []
        for dep, intent in intents:
            keep = [e for j, e in enumerate(intent.examples) if folds == 1 or j % folds != k]
            held += [
                (dep, intent.name, e) for j, e in enumerate(intent.examples) if folds == 1 or j % folds == k
            ]
            train.append((dep, intent.model_copy(update={"examples": tuple(keep)})))
        router = Router.load_or_fit(train, cache_dir)
        predicted = router.predict([text for _, _, text in held])
        for key, ranked in zip(held, predicted, strict=True):
            best = ranked[0] if ranked else ("", "", 0.0)
            result.predictions[key] = (str(best[0]), str(best[1]), float(best[2]))
    return result


def report_overlap(
    overlap: Overlap, ours: Sequence[str], report: ConformanceReport, options: KitOptions
) -> None:
    how = f"{overlap.folds}-fold held-out" if overlap.folds > 1 else "training-set"
    for dep in ours:
        intents = sorted({i for (d, i, _) in overlap.predictions if d == dep})
        for intent in intents:
            share, away = overlap.outbound(dep, intent)
            where = ", ".join(f"{k} ({n})" for k, n in away.most_common(3))
            if share <= options.max_overlap:
                msg = f"router sends {share:.0%} of its examples ({how}) to other departments"
                report.add(
                    "overlap",
                    True,
                    msg + (f": {where}" if where else ""),
                    department=dep,
                    intent=intent,
                    data={"share": share, "to": dict(away)},
                )
            else:
                report.add(
                    "overlap",
                    False,
                    f"the router sends {share:.0%} of {dep}.{intent}'s examples ({how}) to other departments "
                    f"(limit {options.max_overlap:.0%}): {where}; make its examples say what only {dep} does, "
                    "or leave those requests to the department that already owns them",
                    department=dep,
                    intent=intent,
                    data={"share": share, "to": dict(away)},
                )
        taken = {k: v for k, v in overlap.inbound(dep).items() if v > options.max_overlap}
        if taken:
            worst = ", ".join(
                f"{d}.{i} ({v:.0%})" for (d, i), v in sorted(taken.items(), key=lambda kv: -kv[1])[:4]
            )
            report.add(
                "overlap",
                False,
                f"{dep} takes over other departments' intents: the router sends these to {dep}: {worst} "
                f"(limit {options.max_overlap:.0%}); narrow {dep}'s examples so they stop matching those requests",
                department=dep,
                data={"taken": {f"{d}.{i}": v for (d, i), v in taken.items()}},
            )
        else:
            report.add(
                "overlap",
                True,
                f"no other department loses more than {options.max_overlap:.0%} of an intent to {dep}",
                department=dep,
            )


# --- policy packs --------------------------------------------------------------------------------


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


# --- behaviour against a seeded database ---------------------------------------------------------


def seeded_engine(
    path: Path, plugins: PluginSet, report: ConformanceReport | None = None, ours: Sequence[str] = ()
) -> Engine:
    """A fresh database with the demo data seeded and every plugin's knowledge loaded.

    With a report, the knowledge of the plugins providing `ours` is checked too; without one a
    knowledge file that does not load raises.
    """
    from orchestrator.backend.seed import seed_demo
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import KnowledgeFileError, load_paths, read_articles
    from orchestrator.knowledge.store import KnowledgeStore

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    seed_demo(engine)
    store = KnowledgeStore(engine)
    try:
        load_paths(store, plugins.knowledge_paths())
    except KnowledgeFileError as exc:
        if report is None:
            raise
        report.add("knowledge", False, f"the installed plugins' knowledge does not load together: {exc}")
        return engine
    if report is None:
        return engine
    for plugin_name in dict.fromkeys(plugins.origin[d].name for d in ours):
        hook = getattr(plugins.manager.get_plugin(plugin_name), "crossdesk_knowledge_paths", None)
        articles = [a for _, a in read_articles(hook() if hook is not None else [])]
        if not articles:
            report.add(
                "knowledge",
                True,
                f"plugin {plugin_name!r} ships no articles (its departments can "
                "still search the shared ones)",
            )
            continue
        lost = [
            a.id
            for a in articles
            if a.id not in {h.id for h in store.search(a.title, department=a.department, k=5)}
        ]
        report.add(
            "knowledge",
            not lost,
            f"plugin {plugin_name!r}: {len(articles)} article(s) load and are found by their titles"
            if not lost
            else f"plugin {plugin_name!r}: a search for the title of {', '.join(lost[:3])} does not find it; "
            "give each article a title that says what it answers",
        )
    return engine


def policy_guard(plugins: PluginSet) -> Any:
    """An action guard backed by the policy engine with the shipped and every plugin's packs, or None
    when the packs do not load (the `policies` check reports that)."""
    from policies.engine import PolicyEngine
    from policies.facts import TurnFacts
    from policies.schema import PackError

    try:
        engine = PolicyEngine.load(plugins.policy_paths())
    except PackError:
        return None

    def guard(ctx: Any, spec: Any, args: BaseModel) -> tuple[bool, str | None, str]:
        facts = TurnFacts(customer=ctx.customer, jurisdiction=ctx.jurisdiction)
        verdict = engine.check_action(
            facts,
            ctx.department.name,
            spec.name,
            args.model_dump(mode="json"),
            money_movement=spec.money_movement,
        )
        return verdict.allowed, verdict.rule_id, verdict.message

    return guard


def dispatch_env(engine: Engine, plugins: PluginSet, *, timeout_s: float) -> Any:
    """What the orchestrator hands every department run: database, knowledge store, policy guard."""
    from orchestrator.dispatch import DispatchEnv
    from orchestrator.knowledge.store import KnowledgeStore

    return DispatchEnv(
        engine=engine,
        plugins=plugins,
        knowledge=KnowledgeStore(engine),
        timeout_s=timeout_s,
        action_guard=policy_guard(plugins),
    )


class Harness:
    """A seeded database and the real dispatcher, for a plugin's own behaviour tests.

    with Harness.for_plugin(crossdesk_claims, tmp_path) as h:
        result = h.run("claims", "my suitcase was lost", intent="file_claim", customer_id="C1001")
        assert h.notes("C1001", kind="claim")
    """

    def __init__(self, plugins: PluginSet, workdir: Path, *, timeout_s: float = 5.0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.plugins = plugins
        self.engine = seeded_engine(workdir / "harness.db", plugins)
        self.env = dispatch_env(self.engine, plugins, timeout_s=timeout_s)
        self._turns = 0

    @classmethod
    def for_plugin(
        cls, plugin: Any, workdir: Path, *, name: str | None = None, timeout_s: float = 5.0
    ) -> Harness:
        report = ConformanceReport(plugin=name or _default_name(plugin))
        plugins, _ = plugin_set_with(plugin, report.plugin, report)
        if plugins is None:
            raise AssertionError(report.format(failures_only=True))
        return cls(plugins, workdir, timeout_s=timeout_s)

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def customer(self, customer_id: str) -> Any:
        from sqlmodel import Session

        from orchestrator.backend.queries import customer_view, get_customer

        with Session(self.engine) as session:
            row = get_customer(session, customer_id)
            if row is None:
                raise KeyError(f"no customer {customer_id!r} in the demo data")
            return customer_view(row)

    def run(
        self,
        department: str,
        text: str,
        *,
        intent: str,
        customer_id: str | None = None,
        conversation_id: str = "harness",
        confidence: float = 0.9,
    ) -> DepartmentResult:
        """Dispatch one task exactly as a turn would (own transaction, time budget, policy guard)."""
        from orchestrator.dispatch import run_department

        self._turns += 1
        customer = self.customer(customer_id) if customer_id else None
        task = Task(
            id=f"h{self._turns}",
            text=text,
            span=(0, len(text)),
            department=department,
            intent=intent,
            confidence=confidence,
            entities=_entities(text),
        )
        return run_department(
            self.env,
            department,
            task,
            conversation_id=conversation_id,
            turn_id=f"harness-{self._turns}",
            customer=customer,
            jurisdiction=customer.jurisdiction if customer is not None else "EU",
        )

    def notes(self, customer_id: str, *, kind: str | None = None) -> list[Any]:
        """Committed case notes about a customer, newest first."""
        from orchestrator.knowledge.notes import notes_for_customer

        return notes_for_customer(self.engine, customer_id, kind=kind)

    def close(self) -> None:
        self.engine.dispose()


def _customers(engine: Engine) -> list[Any]:
    from sqlmodel import Session, select

    from orchestrator.backend.models import Customer
    from orchestrator.backend.queries import customer_view

    with Session(engine) as session:
        rows = session.exec(select(Customer).order_by(Customer.id)).all()
        by_juris: dict[str, Any] = {}
        for row in rows:
            by_juris.setdefault(row.jurisdiction, customer_view(row))
    return list(by_juris.values())


def _entities(text: str) -> Any:
    """The entities the real decomposer would attach; none when it cannot extract them."""
    from orchestrator.nlu.entities import extract
    from plugins.contracts import Entities

    try:
        return extract(text)
    except Exception:  # the department is under test here, not the extractor
        return Entities()


@dataclass
class _Run:
    label: str
    task: Task
    customer: str
    result: DepartmentResult
    seconds: float


def check_behaviour(
    plugins: PluginSet,
    dep_name: str,
    engine: Engine,
    overlap: Overlap,
    report: ConformanceReport,
    options: KitOptions,
) -> None:
    from orchestrator.dispatch import run_department

    env = dispatch_env(engine, plugins, timeout_s=options.time_budget_s)
    dep = plugins.departments[dep_name]
    customers = _customers(engine) or [None]
    rng = random.Random(f"{options.seed}:{dep_name}")
    runs: list[_Run] = []
    counter = 0

    def run(label: str, text: str, intent: str, confidence: float, customer: Any) -> _Run:
        nonlocal counter
        counter += 1
        task = Task(
            id=f"kit-{counter}",
            text=text,
            span=(0, len(text)),
            department=dep_name,
            intent=intent,
            confidence=confidence,
            entities=_entities(text),
        )
        started = time.perf_counter()
        result = run_department(
            env,
            dep_name,
            task,
            conversation_id=f"kit-{dep_name}",
            turn_id=f"kit-turn-{counter}",
            customer=customer,
            jurisdiction=customer.jurisdiction if customer is not None else "EU",
        )
        done = _Run(
            label,
            task,
            customer.id if customer is not None else "anonymous",
            result,
            time.perf_counter() - started,
        )
        runs.append(done)
        return done

    # own intents: a signed-in customer (rotating jurisdictions) and an anonymous one
    for n, intent in enumerate(dep.intents):
        sample = rng.sample(list(intent.examples), min(options.samples_per_intent, len(intent.examples)))
        failures = []
        for m, text in enumerate(sample):
            customer = customers[(n + m) % len(customers)]
            for who in (customer, None):
                r = run("own", text, intent.name, 0.9, who)
                problem = _own_problem(r)
                if problem:
                    failures.append(problem)
        report.add(
            "own_intents",
            not failures,
            "; ".join(failures[:3])
            if failures
            else f"handled {len(sample) * 2} of its own examples (signed in and anonymous) without declining",
            department=dep_name,
            intent=intent.name,
        )

    # foreign examples: ones the router clearly gives to their own department, sent here as a misroute
    clear = [
        (d, i, text)
        for (d, i, text), p in overlap.predictions.items()
        if d != dep_name and p[0] == d and d in plugins.departments
    ]
    by_intent: dict[tuple[str, str], list[str]] = {}
    for d, i, text in clear:
        by_intent.setdefault((d, i), []).append(text)
    keys = sorted(by_intent)
    rng.shuffle(keys)
    picked = [(k, rng.choice(by_intent[k])) for k in keys[: options.foreign_samples]]
    declined, wrong = 0, []
    for n, ((d, i), text) in enumerate(picked):
        own_intent = dep.intents[n % len(dep.intents)].name
        r = run("foreign", text, own_intent, 0.5, customers[n % len(customers)])
        if r.result.status == "not_mine" and r.result.error is None:
            declined += 1
        else:
            wrong.append(f"{text!r} (a {d}.{i} example) came back {r.result.status}{_err(r.result)}")
    if picked:
        share = declined / len(picked)
        ok = share >= options.min_not_mine
        msg = (
            f"answered not_mine to {declined} of {len(picked)} other departments' examples"
            if ok
            else f"{dep_name} answered not_mine to only {declined} of {len(picked)} examples of other departments "
            f"(needs {options.min_not_mine:.0%}); e.g. {'; '.join(wrong[:3])}. When a task is not about "
            f"{dep_name}, return status 'not_mine' (with `suggest` when you know the owner)"
        )
        report.add(
            "foreign",
            ok,
            msg,
            department=dep_name,
            data={"declined": declined, "sent": len(picked), "wrong": wrong},
        )
    else:
        report.add(
            "foreign", True, "no other department is installed to borrow examples from", department=dep_name
        )

    # bad input must never raise, hang or produce invalid output
    bad = []
    for label, text in BAD_INPUTS:
        r = run("bad", text, dep.intents[0].name, 0.5, customers[0])
        if r.result.error is not None:
            bad.append(f"{label}: {r.result.error}")
    report.add(
        "bad_input",
        not bad,
        "; ".join(bad) + " — handle() must return a DepartmentResult for any text (not_mine or needs_info "
        "when it cannot tell)"
        if bad
        else f"survived {len(BAD_INPUTS)} kinds of bad input",
        department=dep_name,
    )

    # the time budget: every run, measured around the real dispatch
    durations = [r.seconds for r in runs]
    slow = [
        r for r in runs if r.seconds > options.time_budget_s or (r.result.error or "").startswith("timed out")
    ]
    summary = f"max {max(durations):.3f}s, median {statistics.median(durations):.3f}s over {len(runs)} runs"
    report.add(
        "time_budget",
        not slow,
        f"{summary} (budget {options.time_budget_s:g}s)"
        if not slow
        else f"{len(slow)} run(s) took longer than the {options.time_budget_s:g}s budget, e.g. {slow[0].task.text[:60]!r}; "
        f"{summary}. Move slow work out of handle() or cache it",
        department=dep_name,
        data={"max_s": max(durations), "median_s": statistics.median(durations), "runs": len(runs)},
    )


def _own_problem(r: _Run) -> str | None:
    res = r.result
    if res.error is not None:
        return f"{r.task.text!r} ({r.customer}) failed: {res.error}; handle() must return a result, not raise"
    if res.status == "not_mine":
        return (
            f"{r.task.text!r} ({r.customer}) came back not_mine although it is an example of {r.task.intent}; "
            "make handle() accept what its own intents describe"
        )
    if res.status == "needs_info" and not (res.question or res.reply).strip():
        return f"{r.task.text!r} ({r.customer}) needs_info without a question; set `question`"
    return None


def _err(result: DepartmentResult) -> str:
    return f" ({result.error})" if result.error else ""
