"""crossdesk train: fit the router on your own labelled history (or go back to the plugins' examples)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fit the router on your labelled history; --reset goes back to the plugins' examples",
        description="Fits the router on labelled messages (intents from the labels, departments from the "
        "mapping) and saves it in the crossdesk home; `ask` and `triage` use it from then on. Departments "
        "your history does not mention keep their plugins' examples. See docs/evaluation.md.",
    )
    p.add_argument("--data", metavar="FILE", help="labelled messages: CSV/TSV with a header, or JSON lines")
    p.add_argument(
        "--text-col", default="text", metavar="COL", help="column holding the message (default: text)"
    )
    p.add_argument(
        "--label-col", default="label", metavar="COL", help="column holding the label (default: label)"
    )
    p.add_argument("--mapping", metavar="MAP.json", help="label -> department (same file as crossdesk eval)")
    p.add_argument("--reset", action="store_true", help="forget the trained router")
    p.add_argument("--status", action="store_true", help="say which router is in use")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.config import load_settings
    from orchestrator.errors import InputError

    settings = load_settings()
    if args.reset or args.status:
        if args.data or args.mapping or (args.reset and args.status):
            raise InputError("--reset and --status take no other options")
        return _reset(settings, args) if args.reset else _status(settings, args)
    if not args.data or not args.mapping:
        raise InputError("pass --data FILE and --mapping MAP.json (or --reset, or --status)")

    from orchestrator.eval.data import check_labels, read_labelled, read_mapping
    from orchestrator.nlu import RouterError
    from orchestrator.nlu.trained import check_departments, train
    from plugins.manager import load_plugins

    mapping = read_mapping(args.mapping)
    data = read_labelled(args.data, args.text_col, args.label_col)
    check_labels(data.labels, mapping, args.mapping)
    plugins = load_plugins(disabled=settings.disabled_plugins)
    departments = {label: target.department for label, target in mapping.items()}
    try:
        check_departments([departments[lab] for lab in set(data.labels)], plugins, what=str(args.mapping))
        if len(set(data.labels)) < 2 and len(plugins.departments) < 2:
            raise RouterError(
                "the history has one label only; the router needs at least two to choose between"
            )
        report = train(settings, plugins, data.texts, data.labels, departments)
    except RouterError as exc:
        raise InputError(str(exc)) from exc
    if args.json:
        emit_json(
            {
                "path": str(report.path),
                "examples": report.examples,
                "labels": report.labels,
                "departments_from_history": list(report.departments_from_history),
                "departments_from_plugins": list(report.departments_from_plugins),
                "aliases": report.aliases,
                "router": report.info,
                "seconds": report.seconds,
            }
        )
        return 0
    info = report.info
    print(
        f"trained on {len(data)} messages, {report.labels} labels in {report.seconds} s; saved to {report.path}\n"
        f"  departments from your history: {', '.join(report.departments_from_history)}"
    )
    if report.departments_from_plugins:
        print(f"  departments kept from the plugins' examples: {', '.join(report.departments_from_plugins)}")
    print(
        f"  held-out accuracy while training {info.get('cv_accuracy', 0):.1%} "
        f"(calibration error {info.get('cv_ece', 0):.3f})\n"
        "  `crossdesk ask` and `crossdesk triage` use it from now on; `crossdesk train --reset` goes back"
    )
    return 0


def _reset(settings: Any, args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.nlu.trained import reset

    existed = reset(settings)
    if args.json:
        emit_json({"reset": existed})
    elif existed:
        print("trained router removed; routing uses the plugins' own examples again")
    else:
        print("no trained router to remove; routing already uses the plugins' own examples")
    return 0


def _status(settings: Any, args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.nlu import encoder
    from orchestrator.nlu.router import use_encoder
    from orchestrator.nlu.trained import active_router_kind, trained_path
    from plugins.manager import load_plugins

    plugins = load_plugins(disabled=settings.disabled_plugins)
    kind = active_router_kind(settings, plugins)
    path = trained_path(settings)
    # the sentence encoder only helps the plugins' router (CROSSDESK_ENCODER)
    deep = encoder.NAME if kind != "trained" and use_encoder() else None
    if args.json:
        emit_json({"router": kind, "trained_file": str(path) if path.is_file() else None, "encoder": deep})
    elif kind == "trained":
        print(f"routing with the router trained on your history ({path})")
    elif path.is_file():
        print(
            f"a trained router exists ({path}) but is not in use: its departments differ from the loaded "
            "plugins' or it is from another version; run crossdesk train again"
        )
    else:
        print("routing with the plugins' own examples (no trained router)")
    if deep and not args.json:
        print(f"unsure sub-issues are scored again with the {deep} sentence encoder (CROSSDESK_ENCODER)")
    return 0
