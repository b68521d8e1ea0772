"""crossdesk-claims: travel insurance and purchase protection claims as a crossdesk department.

An example of a third-party department. It is found through the
``crossdesk.departments`` entry point in its pyproject.toml and ships its own
knowledge articles and policy rules through the hooks below.
"""

from __future__ import annotations

from pathlib import Path

from plugins import hookimpl
from plugins.contracts import Department

from crossdesk_claims.department import ClaimsDepartment

HERE = Path(__file__).parent


@hookimpl
def crossdesk_departments() -> list[Department]:
    return [ClaimsDepartment()]


@hookimpl
def crossdesk_knowledge_paths() -> list[Path]:
    return [HERE / "knowledge"]


@hookimpl
def crossdesk_policy_paths() -> list[Path]:
    return [HERE / "policies"]
