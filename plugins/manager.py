"""Discover, validate and hold the department plugins."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel

from plugins import hookspecs
from plugins.contracts import ActionSpec, Department, Intent

log = logging.getLogger(__name__)

DISABLE_ENV = "CROSSDESK_DISABLE_PLUGINS"
MIN_EXAMPLES = 5  # the router needs a few examples per intent; built-ins ship at least 15


class PluginError(Exception):
    """A plugin could not be loaded or is invalid. The message names plugin, hook and field."""


@dataclass(frozen=True)
class PluginInfo:
    name: str  # entry-point name
    value: str  # module path the entry point points at
    distribution: str  # the installed package it came from
    version: str
    loaded: bool
    reason: str = ""  # why it did not load
    departments: tuple[str, ...] = ()


@dataclass
class PluginSet:
    """The loaded departments plus what happened to every discovered plugin."""

    manager: pluggy.PluginManager
    departments: dict[str, Department] = field(default_factory=dict)
    origin: dict[str, PluginInfo] = field(default_factory=dict)  # department -> plugin
    plugins: list[PluginInfo] = field(default_factory=list)

    def knowledge_paths(self) -> list[Path]:
        return [Path(p) for paths in self.manager.hook.crossdesk_knowledge_paths() for p in paths]

    def policy_paths(self) -> list[Path]:
        return [Path(p) for paths in self.manager.hook.crossdesk_policy_paths() for p in paths]

    def intents(self) -> list[tuple[str, Intent]]:
        return [(name, intent) for name, dep in self.departments.items() for intent in dep.intents]

    def standalone_intents(self) -> frozenset[tuple[str, str]]:
        """(department, intent) of every intent that is a request of its own (`Intent.standalone`)."""
        return frozenset((d, i.name) for d, i in self.intents() if i.standalone)

    def action(self, department: str, name: str) -> ActionSpec | None:
        dep = self.departments.get(department)
        if dep is None:
            return None
        return next((a for a in dep.actions if a.name == name), None)


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def disabled_names(extra: tuple[str, ...] = ()) -> set[str]:
    env = os.environ.get(DISABLE_ENV, "")
    return {n.strip() for n in env.split(",") if n.strip()} | set(extra)


def validate_department(plugin: str, dep: Any) -> None:
    """Raise PluginError naming plugin, hook and field when `dep` breaks the Department contract."""
    where = f"plugin {plugin!r}, hook crossdesk_departments"
    for attr in ("name", "description", "intents", "actions", "handle"):
        if not hasattr(dep, attr):
            raise PluginError(f"{where}: department object lacks {attr!r}")
    if not isinstance(dep.name, str) or not dep.name.isidentifier() or dep.name != dep.name.lower():
        raise PluginError(f"{where}: name {dep.name!r} must be a lower-case identifier")
    if not callable(dep.handle):
        raise PluginError(f"{where}: {dep.name}.handle is not callable")
    if not dep.intents:
        raise PluginError(f"{where}: department {dep.name!r} declares no intents")
    seen: set[str] = set()
    for intent in dep.intents:
        if not isinstance(intent, Intent):
            raise PluginError(f"{where}: {dep.name}.intents holds {type(intent).__name__}, not Intent")
        if intent.name in seen:
            raise PluginError(f"{where}: intent {dep.name}.{intent.name} is declared twice")
        seen.add(intent.name)
        distinct = {e.strip().lower() for e in intent.examples if e.strip()}
        if len(distinct) < MIN_EXAMPLES:
            raise PluginError(
                f"{where}: intent {dep.name}.{intent.name} has {len(distinct)} distinct examples, "
                f"needs at least {MIN_EXAMPLES}"
            )
    for action in dep.actions:
        if not isinstance(action, ActionSpec):
            raise PluginError(f"{where}: {dep.name}.actions holds {type(action).__name__}, not ActionSpec")
        if not (isinstance(action.args, type) and issubclass(action.args, BaseModel)):
            raise PluginError(f"{where}: action {dep.name}.{action.name} args must be a pydantic model")


def _register(pm: pluggy.PluginManager, name: str, obj: Any) -> None:
    pm.register(obj, name=name)
    pm.check_pending()  # an implementation of a hook we do not specify is a typo: fail loudly


def load_plugins(*, disabled: tuple[str, ...] = (), extra: list[tuple[str, Any]] | None = None) -> PluginSet:
    """Load every plugin in the entry-point group, skipping disabled ones.

    A plugin that fails to import or to validate is recorded with its reason and
    skipped; the others still load. `extra` registers in-process plugins (tests).
    """
    pm = new_manager()
    result = PluginSet(manager=pm)
    off = disabled_names(disabled)
    candidates: list[tuple[str, str, str, str, Any]] = []
    for ep in entry_points(group=hookspecs.ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        version = ep.dist.version if ep.dist is not None else "?"
        candidates.append((ep.name, ep.value, dist, version, ep))
    for name, obj in extra or []:
        candidates.append((name, getattr(obj, "__name__", repr(obj)), "(in-process)", "", obj))

    for name, value, dist, version, source in candidates:
        info = PluginInfo(name, value, dist, version, loaded=False)
        if name in off:
            result.plugins.append(replace(info, reason=f"disabled by config or {DISABLE_ENV}"))
            continue
        try:
            obj = source.load() if hasattr(source, "load") and hasattr(source, "group") else source
            _register(pm, name, obj)
            deps = _departments_of(pm, name, obj)
        except Exception as exc:  # a broken plugin must not take the others down
            if pm.is_registered(pm.get_plugin(name)):
                pm.unregister(name=name)
            reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            log.warning("plugin %s not loaded: %s", name, reason)
            result.plugins.append(replace(info, reason=reason))
            continue
        clash = [d.name for d in deps if d.name in result.departments]
        if clash:
            pm.unregister(name=name)
            reason = f"department {clash[0]!r} is already provided by {result.origin[clash[0]].name!r}"
            log.warning("plugin %s not loaded: %s", name, reason)
            result.plugins.append(replace(info, reason=reason))
            continue
        info = replace(info, loaded=True, departments=tuple(d.name for d in deps))
        result.plugins.append(info)
        for dep in deps:
            result.departments[dep.name] = dep
            result.origin[dep.name] = info
    return result


def _departments_of(pm: pluggy.PluginManager, name: str, obj: Any) -> list[Department]:
    impl = getattr(obj, "crossdesk_departments", None)
    if impl is None:
        if not pm.get_hookcallers(obj):
            # registered but implements nothing we call: a missing @hookimpl or a misspelt hook name
            raise PluginError(
                f"plugin {name!r} implements none of crossdesk's hooks; a department plugin needs "
                "`@hookimpl def crossdesk_departments() -> list[Department]` (see docs/plugins.md)"
            )
        return []  # a plugin may ship only knowledge or policy packs
    deps = impl()
    if not isinstance(deps, list | tuple):
        raise PluginError(
            f"plugin {name!r}, hook crossdesk_departments: returned {type(deps).__name__}, expected a list"
        )
    for dep in deps:
        validate_department(name, dep)
    return list(deps)
