"""Hook checks: required hooks present, decorated, typed as the hookspecs say, returning valid values."""

from __future__ import annotations

import difflib
import inspect
import re
import typing
from pathlib import Path
from typing import Any

from plugins import hookspecs
from plugins.conformance.report import ConformanceReport
from plugins.contracts import Department
from plugins.manager import PluginError, PluginSet, load_plugins, validate_department

REQUIRED_HOOKS = ("crossdesk_departments",)


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


def default_name(plugin: Any) -> str:
    module = getattr(plugin, "__name__", None) or type(plugin).__name__
    return str(module).rsplit(".", 1)[-1].removeprefix("crossdesk_")
