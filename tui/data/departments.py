"""The loaded departments: intents, actions and the package each came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IntentView:
    name: str
    description: str
    examples: int


@dataclass(frozen=True)
class DepartmentView:
    name: str
    description: str
    intents: tuple[IntentView, ...]
    actions: tuple[str, ...]
    plugin: str  # entry-point name
    module: str  # what the entry point points at
    package: str  # the installed distribution it came from
    version: str
    builtin: bool


@dataclass(frozen=True)
class PluginProblem:
    name: str
    package: str
    reason: str


@dataclass(frozen=True)
class DepartmentsView:
    departments: tuple[DepartmentView, ...]
    problems: tuple[PluginProblem, ...]


def departments(plugins: Any) -> DepartmentsView:
    """The loaded departments with their intents and origin, and plugins that failed to load."""
    out = []
    for name, dep in sorted(plugins.departments.items()):
        info = plugins.origin.get(name)
        out.append(
            DepartmentView(
                name=name,
                description=str(dep.description),
                intents=tuple(IntentView(i.name, i.description, len(i.examples)) for i in dep.intents),
                actions=tuple(a.name for a in dep.actions),
                plugin=info.name if info else name,
                module=info.value if info else "",
                package=info.distribution if info else "?",
                version=info.version if info else "?",
                builtin=bool(info and info.value.startswith("plugins.builtin")),
            )
        )
    problems = tuple(PluginProblem(p.name, p.distribution, p.reason) for p in plugins.plugins if not p.loaded)
    return DepartmentsView(tuple(out), problems)
