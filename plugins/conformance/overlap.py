"""How much a department's intents overlap the others', measured with the real router on held-out examples."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from plugins.conformance.report import ConformanceReport, KitOptions
from plugins.contracts import Intent
from plugins.manager import PluginSet


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


def measure_overlap(plugins: PluginSet, cache_dir: Path, options: KitOptions) -> Overlap:
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
