"""Hook specifications for crossdesk plugins.

A plugin is a module (or object) registered under the ``crossdesk.departments``
entry-point group; the built-in departments use the same group. Implement any
subset of the hooks below with ``@plugins.hookimpl``.
"""

from __future__ import annotations

from pathlib import Path

import pluggy

from plugins.contracts import Department

PROJECT = "crossdesk"
ENTRY_POINT_GROUP = "crossdesk.departments"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def crossdesk_departments() -> list[Department]:
    """Return the departments this plugin provides.

    Called once when plugins load. Not firstresult: the lists of all plugins are
    concatenated. Department names must be unique across all plugins.
    """
    raise NotImplementedError


@hookspec
def crossdesk_knowledge_paths() -> list[Path]:
    """Return folders or files of knowledge articles (markdown or JSON) this plugin ships.

    Called by ``crossdesk kb load --plugins`` and on first run. Not firstresult:
    all paths are loaded. Return ``[]`` when the plugin ships none.
    """
    raise NotImplementedError


@hookspec
def crossdesk_policy_paths() -> list[Path]:
    """Return folders or files of policy rule packs this plugin ships.

    Called when the policy engine loads its packs. Not firstresult: every pack is
    loaded next to the shipped ones. Return ``[]`` when the plugin ships none.
    """
    raise NotImplementedError
