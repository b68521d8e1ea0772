"""crossdesk eval: measure routing, two-issue messages and knowledge retrieval on labelled data."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any


def _labelled_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--half",
        type=int,
        choices=(1, 2),
        help="only the first (1) or second (2) half of every label's messages, in file order "
        "(tune on one half, report on the other)",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="labelled messages: CSV/TSV with a header, or JSON lines",
    )
    p.add_argument(
        "--text-col", default="text", metavar="COL", help="column holding the message (default: text)"
    )
    p.add_argument(
        "--label-col", default="label", metavar="COL", help="column holding the label (default: label)"
    )
    p.add_argument(
        "--mapping",
        required=True,
        metavar="MAP.json",
        help='label -> department: {"label": "billing"} or {"label": {"department": "billing", "alternative": "technical"}}',
    )
    p.add_argument(
        "--untrained", action="store_true", help="use the plugins' router even if `crossdesk train` ran"
    )


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument(
        "--report", metavar="OUT", help="also write the report as OUT.html (or .png with matplotlib)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure routing and retrieval on labelled data (your own or a public set)",
        description="Evaluate crossdesk on labelled data. See docs/evaluation.md.",
    )
    esub = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    routing = esub.add_parser(
        "routing",
        help="department accuracy on single-issue labelled messages",
        description="Decomposes every message as `ask` would and compares its department with the mapping's: "
        "strict and lenient accuracy, per-department precision/recall/F1, confusion matrix, out-of-scope rate, "
        "weakest labels and most confident misses.",
    )
    _labelled_args(routing)
    routing.add_argument(
        "--limit", type=int, metavar="N", help="evaluate N messages drawn across the file (seeded)"
    )
    _output_args(routing)
    routing.set_defaults(func=run_routing)

    multi = esub.add_parser(
        "multi",
        help="two-issue messages built from pairs of labelled messages of different departments",
        description="Joins two messages owned by different departments ('. Also, ', ' and ', ', plus ', a new "
        "line) and reports the share where exactly those two departments get a task.",
    )
    _labelled_args(multi)
    multi.add_argument(
        "--limit", type=int, metavar="N", default=1000, help="messages to build (default: 1000)"
    )
    multi.add_argument("--seed", type=int, default=0, help="for the pairing (default: 0)")
    _output_args(multi)
    multi.set_defaults(func=run_multi)

    kb = esub.add_parser(
        "kb",
        help="knowledge retrieval: recall@5, recall@10 and MRR against gold articles",
        description="Loads the articles into a fresh temporary store (your store is not touched), searches each "
        "task's query and scores the ranking against the task's gold article ids.",
    )
    kb.add_argument(
        "--docs",
        required=True,
        metavar="FILE",
        help="articles: JSON list of {id, title, content} or a folder",
    )
    kb.add_argument(
        "--tasks", required=True, metavar="FILE", help="JSON list of tasks with a query and gold article ids"
    )
    kb.add_argument(
        "--query-field",
        default="user_scenario.instructions",
        help="dotted path of each task's query (default: user_scenario.instructions)",
    )
    kb.add_argument(
        "--gold-field",
        default="required_documents",
        help="field with the gold article ids (default: required_documents)",
    )
    kb.add_argument("--limit", type=int, metavar="N", help="evaluate N tasks drawn across the file (seeded)")
    kb.add_argument(
        "--half",
        choices=("even", "odd"),
        help="only the tasks at even (0, 2, ...) or odd positions of the file: tune on one, check on the other",
    )
    kb.add_argument(
        "--prior-half",
        choices=("even", "odd"),
        help="rank long queries with a usage prior from the articles the other half's tasks needed "
        "(what a log of past cases gives); needs --half set to the other half",
    )
    _output_args(kb)
    kb.set_defaults(func=run_kb)

    scenarios = esub.add_parser(
        "scenarios",
        help="end-to-end conversations with expected outcomes, on a fresh demo database",
        description="Plays scenario conversations (the shipped set, or --file) through the real orchestrator on "
        "a fresh seeded temporary database (yours is not touched) and reports first-contact resolution, "
        "transfers per issue, escalation precision and recall, policy violations in replies and context "
        "lost across turns. Exits non-zero only on errors, not on scores.",
    )
    scenarios.add_argument(
        "--file",
        action="append",
        metavar="F",
        help="scenario YAML file or folder (repeatable; default: shipped set)",
    )
    scenarios.add_argument(
        "--only", action="append", metavar="ID", help="run only these scenario ids (repeatable)"
    )
    scenarios.add_argument("--tag", action="append", metavar="TAG", help="run only scenarios with this tag")
    scenarios.add_argument("--untrained", action="store_true", help="use the plugins' router even if trained")
    scenarios.add_argument("--json", action="store_true", help="print the full report as JSON")
    scenarios.set_defaults(func=run_scenarios, report=None)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _finish(report: dict[str, Any], args: argparse.Namespace, text: str) -> int:
    from orchestrator.cli.common import emit_json

    if args.report:
        from orchestrator.eval.report import write_report

        write_report(report, args.report)
    if args.json:
        emit_json(report)
    else:
        print(text)
        if args.report:
            print(f"report written to {args.report}")
    return 0


def _decomposer(args: argparse.Namespace) -> tuple[Any, str, Any]:
    """(decomposer, router kind, plugins) for the router `ask` would use, with the history's labels."""
    from orchestrator.config import load_settings
    from orchestrator.errors import InputError
    from orchestrator.nlu import Decomposer, RouterError, load_router
    from orchestrator.nlu.trained import active_router_kind, plugins_router
    from plugins.manager import load_plugins

    settings = load_settings()
    plugins = load_plugins(disabled=settings.disabled_plugins)
    if not plugins.departments:
        raise InputError("no department plugins are loaded; run `crossdesk plugins list` to see why")
    try:
        if args.untrained:
            router, kind = plugins_router(settings, plugins), "plugins"
        else:
            router, kind = load_router(settings, plugins, labels=True), active_router_kind(settings, plugins)
    except RouterError as exc:
        raise InputError(str(exc)) from exc
    decomposer = Decomposer(
        router, threshold=settings.confidence_threshold, standalone=plugins.standalone_intents()
    )
    return decomposer, kind, plugins


def _load(args: argparse.Namespace, *, limit: int | None) -> tuple[Any, Any]:
    from orchestrator.eval.data import check_labels, read_labelled, read_mapping

    if args.report:
        from orchestrator.eval.report import check_path

        check_path(args.report)  # fail now, not after a long run
    mapping = read_mapping(args.mapping)
    data = read_labelled(args.data, args.text_col, args.label_col, limit=limit)
    check_labels(data.labels, mapping, args.mapping)
    return data, mapping


def _check_mapped_departments(mapping: Any, labels: list[str], plugins: Any) -> None:
    from orchestrator.errors import InputError
    from orchestrator.nlu import RouterError
    from orchestrator.nlu.trained import check_departments

    try:
        check_departments([mapping[lab].department for lab in set(labels)], plugins, what="the mapping")
    except RouterError as exc:
        raise InputError(str(exc)) from exc


def run_routing(args: argparse.Namespace) -> int:
    from orchestrator.eval.progress import progress
    from orchestrator.eval.routing import evaluate_routing, format_routing

    # halve the whole file, then draw --limit from that half, so the halves never mix
    data, mapping = _load(args, limit=args.limit if args.half is None else None)
    if args.half is not None:
        from orchestrator.eval.data import label_half, sample_indices

        data = label_half(data, args.half)
        if args.limit is not None:
            if args.limit < 1:
                from orchestrator.errors import InputError

                raise InputError(f"--limit must be at least 1, got {args.limit}")
            keep = sample_indices(len(data), args.limit)
            data = replace(
                data,
                texts=[data.texts[i] for i in keep],
                labels=[data.labels[i] for i in keep],
                lines=[data.lines[i] for i in keep],
            )
    decomposer, kind, plugins = _decomposer(args)
    _check_mapped_departments(mapping, data.labels, plugins)
    with progress(len(data), "routing") as advance:
        report = evaluate_routing(decomposer, data, mapping, router_kind=kind, advance=advance)
    return _finish(report, args, format_routing(report))


def run_multi(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError
    from orchestrator.eval.multi import build_pairs, evaluate_multi, format_multi
    from orchestrator.eval.progress import progress

    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    data, mapping = _load(args, limit=None)
    if args.half is not None:
        from orchestrator.eval.data import label_half

        data = label_half(data, args.half)
    decomposer, kind, plugins = _decomposer(args)
    _check_mapped_departments(mapping, data.labels, plugins)
    try:
        pairs = build_pairs(data, mapping, args.limit, seed=args.seed)
    except ValueError as exc:
        raise InputError(f"{args.data}: {exc}") from exc
    with progress(len(pairs), "two-issue messages") as advance:
        report = evaluate_multi(decomposer, pairs, router_kind=kind, advance=advance)
    return _finish(report, args, format_multi(report))


def run_kb(args: argparse.Namespace) -> int:
    from pathlib import Path

    from orchestrator.errors import InputError
    from orchestrator.eval.kb import evaluate_kb, format_kb, read_tasks
    from orchestrator.eval.progress import progress

    if args.report:
        from orchestrator.eval.report import check_path

        check_path(args.report)
    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    docs = Path(args.docs)
    if not docs.exists():
        raise InputError(f"{docs}: no such file or folder of articles")
    if args.prior_half is not None and args.half in (None, args.prior_half):
        other = "odd" if args.prior_half == "even" else "even"
        raise InputError(
            f"--prior-half {args.prior_half} needs --half {other}: the tasks scored must not feed the prior"
        )
    tasks = read_tasks(Path(args.tasks), args.query_field, args.gold_field, limit=args.limit, half=args.half)
    prior_tasks = (
        read_tasks(Path(args.tasks), args.query_field, args.gold_field, half=args.prior_half)
        if args.prior_half is not None
        else []
    )
    with progress(len(tasks), "knowledge queries") as advance:
        report = evaluate_kb(
            docs, tasks, query_field=args.query_field, advance=advance, prior_tasks=prior_tasks
        )
    return _finish(report, args, format_kb(report))


def run_scenarios(args: argparse.Namespace) -> int:
    from pathlib import Path

    from orchestrator.config import load_settings
    from orchestrator.errors import CrossdeskError, InputError
    from orchestrator.eval.progress import progress
    from orchestrator.eval.scenarios import load_scenarios
    from orchestrator.eval.scenarios.metrics import format_report, report
    from orchestrator.eval.scenarios.runner import default_decomposer
    from orchestrator.eval.scenarios.runner import run_scenarios as play_all
    from plugins.manager import load_plugins

    paths = [Path(f) for f in args.file or []]
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such scenario file or folder")
    chosen = load_scenarios(paths or None)
    if args.only:
        missing = sorted(set(args.only) - {s.id for s in chosen})
        if missing:
            raise InputError(
                f"no scenario with id {', '.join(missing)}; the files have {len(chosen)} scenarios"
            )
        chosen = [s for s in chosen if s.id in args.only]
    if args.tag:
        chosen = [s for s in chosen if set(args.tag) & set(s.tags)]
        if not chosen:
            raise InputError(f"no scenario has tag {', '.join(args.tag)}")
    settings = load_settings()
    plugins = load_plugins(disabled=settings.disabled_plugins)
    if not plugins.departments:
        raise CrossdeskError("no department plugins are loaded; run `crossdesk plugins list` to see why")
    decomposer = default_decomposer(settings, plugins, untrained=args.untrained)
    with progress(len(chosen), "scenarios", enabled=len(chosen) >= 20 and sys.stderr.isatty()) as advance:
        results = play_all(chosen, settings, plugins=plugins, decomposer=decomposer, advance=advance)
    rep = report(results, files=[str(p) for p in paths] or ["(shipped set)"])
    _finish(rep, args, format_report(rep))
    broken = [r.scenario.id for r in results if r.error]
    if broken:
        print(f"error: {len(broken)} scenario(s) broke off: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0
