"""A router trained on the user's own labelled history, and the choice of router at start-up.

`crossdesk train` fits the router on (text, label) rows and a mapping from label to
department, and saves it in the crossdesk home. From then on `load_router` returns it
instead of the router learnt from the plugins' examples; `reset` goes back.

Decisions, so every loaded department stays reachable and able to act:

- Departments the history covers are learnt from the history alone (its labels are
  the intents). Departments it never mentions keep their plugins' intents and
  examples, so a plugin installed for a new line of business is still routed to.
- Each label also gets the covering department's own intent that its texts look
  most like (by the plugins' router). Departments and policy rules act on their own
  intent names, so `ask` dispatches with those; `triage` and `eval` report the labels.
- A trained router whose departments differ from the loaded ones (a plugin added,
  removed or disabled since) is set aside with a warning until `crossdesk train` runs
  again: routing to a department that is gone, or never to a new one, is worse than
  routing from the plugins' examples.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.nlu.router import Router, RouterError

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from plugins.manager import PluginSet

log = logging.getLogger(__name__)

TRAINED_FILE = "trained-router.joblib"
_ALIAS_SAMPLE = 200  # texts per label used to pick its department intent


def trained_path(settings: Settings) -> Path:
    # next to, not inside, the router cache folder: that folder is pruned and may be shared
    return settings.home / TRAINED_FILE


@dataclass(frozen=True)
class TrainReport:
    path: Path
    examples: int
    labels: int
    departments_from_history: tuple[str, ...]
    departments_from_plugins: tuple[str, ...]
    aliases: dict[str, str]  # "department.label" -> the department's own intent
    info: dict[str, Any] = field(default_factory=dict)  # the router's training facts
    seconds: float = 0.0


def plugins_router(settings: Settings, plugins: PluginSet) -> Router:
    """The router learnt from the loaded plugins' own examples (cached under the home)."""
    return Router.load_or_fit(plugins.intents(), settings.router_path)


def load_router(settings: Settings, plugins: PluginSet, *, labels: bool = False) -> Router:
    """The trained router if there is a usable one, else the plugins' router.

    `labels=True` keeps the history's labels as intent names (triage, evaluation); by
    default the router speaks the departments' own intents (dispatch).
    """
    path = trained_path(settings)
    if not path.is_file():
        return plugins_router(settings, plugins)
    try:
        router = Router.load(path)
    except RouterError as exc:
        log.warning("ignoring the trained router: %s; using the plugins' examples (run crossdesk train)", exc)
        return plugins_router(settings, plugins)
    trained, loaded = set(router.departments), set(plugins.departments)
    if trained != loaded:
        log.warning(
            "the trained router knows departments %s but %s are loaded; using the plugins' examples "
            "until you run crossdesk train again",
            ", ".join(sorted(trained)),
            ", ".join(sorted(loaded)),
        )
        return plugins_router(settings, plugins)
    return router if labels else router.dispatching()


def active_router_kind(settings: Settings, plugins: PluginSet) -> str:
    """'trained' when load_router would return the trained router, else 'plugins'."""
    path = trained_path(settings)
    if not path.is_file():
        return "plugins"
    try:
        router = Router.load(path)
    except RouterError:
        return "plugins"
    return "trained" if set(router.departments) == set(plugins.departments) else "plugins"


def check_departments(departments: Sequence[str], plugins: PluginSet, *, what: str) -> None:
    """Every department the mapping names must be loaded; a typo would otherwise fail silently."""
    loaded = set(plugins.departments)
    unknown = Counter(d for d in departments if d not in loaded)
    if unknown:
        names = ", ".join(f"{d!r} ({n} label{'s' * (n > 1)})" for d, n in sorted(unknown.items()))
        raise RouterError(
            f"{what} names department(s) {names} that no loaded plugin provides; loaded: "
            f"{', '.join(sorted(loaded))}. Fix the mapping, or install or enable the plugin "
            "(crossdesk plugins list)"
        )


def _aliases(
    base: Router, texts: Sequence[str], labels: Sequence[str], departments: Mapping[str, str]
) -> dict[tuple[str, str], str]:
    """Each label's nearest intent in its own department, by the plugins' router over its texts."""
    import numpy as np

    by_label: dict[str, list[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        if text.strip() and len(by_label.setdefault(label, [])) < _ALIAS_SAMPLE:
            by_label[label].append(text)
    order = list(by_label)
    flat = [t for label in order for t in by_label[label]]
    probs = base.predict_proba(flat)
    columns: dict[str, list[int]] = {}
    for j, (dep, _intent) in enumerate(base.classes):
        columns.setdefault(dep, []).append(j)
    out: dict[tuple[str, str], str] = {}
    start = 0
    for label in order:
        rows = probs[start : start + len(by_label[label])]
        start += len(by_label[label])
        dep = departments[label]
        cols = columns[dep]
        best = cols[int(np.argmax(rows[:, cols].mean(axis=0)))]
        out[(dep, label)] = base.classes[best][1]
    return out


def train(
    settings: Settings,
    plugins: PluginSet,
    texts: Sequence[str],
    labels: Sequence[str],
    departments: Mapping[str, str],
) -> TrainReport:
    """Fit on (text, label) rows with each label's department, then save; the old file stays until then."""
    started = time.perf_counter()
    if not plugins.departments:
        raise RouterError("no department plugins are loaded; nothing to route to")
    check_departments(
        [departments[lab] for lab in set(labels) if lab in departments], plugins, what="the mapping"
    )
    covered = {departments[lab] for lab in labels if lab in departments}
    extra = [(d, i) for d, i in plugins.intents() if d not in covered]
    router = Router.fit_labelled(texts, labels, departments, extra=extra)
    aliases = _aliases(plugins_router(settings, plugins), texts, labels, departments)
    router.aliases.update(aliases)
    path = router.save(trained_path(settings))
    return TrainReport(
        path=path,
        examples=int(router.info.get("examples", 0)),
        labels=len(set(labels)),
        departments_from_history=tuple(sorted(covered)),
        departments_from_plugins=tuple(sorted({d for d, _ in extra})),
        aliases={f"{d}.{c}": i for (d, c), i in sorted(aliases.items())},
        info={k: v for k, v in router.info.items() if k != "cv_reliability"},
        seconds=round(time.perf_counter() - started, 2),
    )


def reset(settings: Settings) -> bool:
    """Forget the trained router; True if there was one."""
    path = trained_path(settings)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    return existed
