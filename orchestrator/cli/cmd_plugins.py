"""crossdesk plugins list: discovered departments, their intents and where they came from."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="inspect department plugins")
    psub = p.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND")
    lst = psub.add_parser("list", help="list discovered plugins, their departments and intents")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=run_list)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def run_list(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.config import load_settings
    from plugins.manager import load_plugins

    settings = load_settings()
    ps = load_plugins(disabled=settings.disabled_plugins)
    rows: list[dict[str, Any]] = []
    for info in ps.plugins:
        deps = [ps.departments[d] for d in info.departments]
        rows.append(
            {
                "plugin": info.name,
                "module": info.value,
                "package": info.distribution,
                "version": info.version,
                "loaded": info.loaded,
                "reason": info.reason or None,
                "departments": [
                    {
                        "name": d.name,
                        "description": d.description,
                        "intents": [i.name for i in d.intents],
                        "actions": [a.name for a in d.actions],
                    }
                    for d in deps
                ],
            }
        )
    if args.json:
        emit_json(rows)
        return 0
    for row in rows:
        state = "loaded" if row["loaded"] else f"NOT LOADED: {row['reason']}"
        print(f"{row['plugin']}  ({row['package']} {row['version']}, {row['module']})  {state}")
        for d in row["departments"]:
            print(f"  department {d['name']}: {d['description']}")
            print(f"    intents: {', '.join(d['intents'])}")
            if d["actions"]:
                print(f"    actions: {', '.join(d['actions'])}")
    return 0 if any(r["loaded"] for r in rows) else 1
