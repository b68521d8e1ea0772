"""`crossdesk traces`: read turns, span trees and SRE statistics from the local span store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "traces",
        help="inspect recorded turns: handoffs, timings, policy decisions",
        description="Read the traces crossdesk keeps in its local span store (telemetry exporter 'local').",
    )
    parser.set_defaults(func=lambda _args: (parser.print_help(), 2)[1])
    actions = parser.add_subparsers(dest="traces_command", metavar="ACTION")

    p_list = actions.add_parser("list", help="recent turns, newest first")
    p_list.add_argument(
        "--since", help="only turns since: a duration (30m, 2h, 7d) or an ISO time (UTC if no zone)"
    )
    p_list.add_argument("--conversation", metavar="ID", help="only turns of this conversation")
    p_list.add_argument(
        "--min-transfers",
        type=int,
        metavar="N",
        help="only turns with at least N transfers (department handoffs incl. reroutes, plus escalations)",
    )
    p_list.add_argument("--status", help="only turns with this status (resolved, partial, needs_human, ...)")
    p_list.add_argument("--limit", type=int, default=50, help="at most this many turns (default 50)")
    p_list.add_argument("--json", action="store_true", help="print JSON")
    p_list.set_defaults(func=_list)

    p_show = actions.add_parser("show", help="one trace as a span tree")
    p_show.add_argument(
        "trace_id", metavar="TRACE_ID", help="the trace id, or enough of its start to be unique"
    )
    p_show.add_argument("--json", action="store_true", help="print JSON")
    p_show.set_defaults(func=_show)

    p_stats = actions.add_parser(
        "stats", help="first-contact resolution, transfers per issue, latencies, SLA"
    )
    p_stats.add_argument("--since", help="only turns since: a duration (30m, 2h, 7d) or an ISO time")
    p_stats.add_argument("--json", action="store_true", help="print JSON")
    p_stats.set_defaults(func=_stats)


def _store() -> Any:
    from orchestrator.config import ConfigError, load_settings
    from orchestrator.errors import InputError
    from traces.query import TraceStore, store_url

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise InputError(str(exc)) from exc
    url = store_url(settings)
    if not TraceStore.exists_at(url):
        return None
    return TraceStore(url)


def _since(args: argparse.Namespace) -> int | None:
    from orchestrator.errors import InputError
    from traces.query import TraceQueryError, parse_since

    if not args.since:
        return None
    try:
        return parse_since(args.since)
    except TraceQueryError as exc:
        raise InputError(str(exc)) from exc


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _list(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError

    if args.min_transfers is not None and args.min_transfers < 0:
        raise InputError("--min-transfers must be 0 or more")
    if args.limit < 1:
        raise InputError("--limit must be at least 1")
    since = _since(args)
    store = _store()
    turns = (
        store.list_turns(
            since_ns=since,
            conversation=args.conversation,
            min_transfers=args.min_transfers,
            status=args.status,
            limit=args.limit,
        )
        if store is not None
        else []
    )
    if args.json:
        _print_json([t.to_json() for t in turns])
        return 0
    if not turns:
        print(
            "no turns recorded that match; turns are recorded while telemetry exporter 'local' is on (the default)"
        )
        return 0
    from traces.query import fmt_ms

    print(
        f"{'TRACE':<32}  {'START (UTC)':<19}  {'CONVERSATION':<16}  {'STATUS':<12}  XFER  R  E  {'FCR':<3}  DURATION"
    )
    for t in turns:
        fcr = "-" if t.fcr is None else ("yes" if t.fcr else "no")
        status = (t.status or "?") + ("!" if t.error else "")
        print(
            f"{t.trace_id:<32}  {t.start:%Y-%m-%d %H:%M:%S}  {(t.conversation_id or '-')[:16]:<16}  "
            f"{status:<12}  {t.transfers:>4}  {t.reroutes}  {t.escalations}  {fcr:<3}  {fmt_ms(t.duration_ms)}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError, NotFoundError
    from traces.query import TraceNotFound, TraceQueryError, build_tree, render_tree

    store = _store()
    if store is None:
        raise NotFoundError("no traces have been recorded yet (the local span store does not exist)")
    try:
        trace_id = store.resolve_trace_id(args.trace_id)
    except TraceNotFound as exc:
        raise NotFoundError(str(exc)) from exc
    except TraceQueryError as exc:
        raise InputError(str(exc)) from exc
    spans = store.get_trace(trace_id)
    roots = build_tree(spans)
    if args.json:
        _print_json({"trace_id": trace_id, "spans": [r.to_json() for r in roots]})
        return 0
    root = next((s for s in spans if s.is_root), None)
    head = f"trace {trace_id}"
    if root is not None:
        from datetime import UTC, datetime

        started = datetime.fromtimestamp(root.start_ns / 1e9, UTC)
        head += f"  conversation {root.conversation_id or '-'}  turn {root.get('crossdesk.turn.id', '-')}"
        head += f"  {started:%Y-%m-%d %H:%M:%S} UTC"
    print(head)
    for line in render_tree(roots):
        print(line)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from traces.query import compute_stats

    since = _since(args)
    store = _store()
    stats = store.stats(since_ns=since) if store is not None else compute_stats([])
    if args.json:
        _print_json(stats)
        return 0
    print(_format_stats(stats))
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ms(value: float | None) -> str:
    from traces.query import fmt_ms

    return "-" if value is None else fmt_ms(value)


def _format_stats(s: dict[str, Any]) -> str:
    if not s["turns"]:
        return "no turns recorded in this period"
    tpi = s["transfers_per_issue"]
    lines = [
        f"turns              {s['turns']}  ({', '.join(f'{k} {v}' for k, v in s['status'].items())})",
        f"issues             {s['issues']}",
        f"first contact      {_pct(s['fcr']['issue_rate'])} of issues, {_pct(s['fcr']['turn_rate'])} of turns",
        f"escalation         {_pct(s['escalation']['turn_rate'])} of turns ({s['escalation']['escalations']} escalations)",
        f"reroutes           {s['reroutes']}",
        f"turn latency       p50 {_ms(s['turn_latency_ms']['p50'])}  p95 {_ms(s['turn_latency_ms']['p95'])}",
        f"transfers/issue    mean {_num(tpi['mean'])}  p95 {_num(tpi['p95'])}",
    ]
    total = sum(tpi["distribution"].values()) or 1
    for n, count in tpi["distribution"].items():
        bar = "#" * max(1, round(30 * count / total))
        lines.append(f"  {n:>3} transfer(s)  {count:>5}  {bar}")
    for kind, info in tpi["by_kind"].items():
        lines.append(f"  {kind:<12} mean {_num(info['mean'])} per issue")
    if s["department_latency_ms"]:
        lines.append("department latency")
        for name, d in s["department_latency_ms"].items():
            lines.append(
                f"  {name:<16} runs {d['runs']:>5}  p50 {_ms(d['p50']):>9}  p95 {_ms(d['p95']):>9}  errors {d['errors']}"
            )
    t = s["takeover"]
    lines.append(
        f"human takeover     {t['count']}  SLA breaches {t['sla_breaches']} ({_pct(t['breach_rate'])})"
        f"  latency p50 {_ms(t['latency_ms']['p50'])}  p95 {_ms(t['latency_ms']['p95'])}"
    )
    return "\n".join(lines)
