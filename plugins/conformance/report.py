"""What the kit reports: its options, one `Check` per finding and the `ConformanceReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class KitOptions:
    """Thresholds of the kit; docs/plugins.md says what each check measures."""

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
