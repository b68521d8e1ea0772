"""crossdesk plugin new | check: scaffold a department package, run the conformance kit on a plugin."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugin", help="write and check your own department plugin")
    psub = p.add_subparsers(dest="plugin_command", metavar="SUBCOMMAND")
    new = psub.add_parser("new", help="generate an installable department package crossdesk-NAME")
    new.add_argument("name", metavar="NAME", help="department name: lower-case letters, digits, underscores")
    new.add_argument("--dir", default=".", help="folder to create the package in (default: here)")
    new.add_argument("--description", default="", help="one line saying what the department handles")
    new.set_defaults(func=run_new)
    check = psub.add_parser("check", help="run the conformance kit on an installed plugin")
    check.add_argument("name", metavar="PLUGIN", help="plugin name as `crossdesk plugins list` shows it")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=run_check)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def run_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from orchestrator.errors import InputError
    from plugins.manager import load_plugins
    from plugins.scaffold import Names, ScaffoldError, generate

    installed = load_plugins()
    taken = set(installed.departments) | {p.name for p in installed.plugins}
    try:
        path = generate(args.name, Path(args.dir), description=args.description, taken=taken)
    except ScaffoldError as exc:
        raise InputError(str(exc)) from exc
    names = Names.of(args.name.strip())
    print(f"created {path}")
    print("next:")
    print(f"  pip install -e {path}        # registers {names.name} through its entry point")
    print("  crossdesk plugins list")
    print(f"  pytest {path / 'tests'}      # the conformance kit")
    print(f"then replace the example messages in {path / 'src' / names.package / 'intents.py'}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.errors import NotFoundError
    from plugins.conformance import check_plugin
    from plugins.manager import load_plugins

    installed = load_plugins()
    info = next((p for p in installed.plugins if p.name == args.name), None)
    if info is None:
        names = ", ".join(p.name for p in installed.plugins) or "none"
        raise NotFoundError(f"no plugin named {args.name!r} is installed (installed: {names})")
    if not info.loaded:
        raise NotFoundError(f"plugin {args.name!r} did not load: {info.reason}")
    plugin = installed.manager.get_plugin(info.name)
    report = check_plugin(plugin, name=info.name)
    if args.json:
        emit_json(report.as_dict())
    else:
        print(report.format())
    return 0 if report.passed else 1
