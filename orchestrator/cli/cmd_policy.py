"""crossdesk policy: run the rule packs' test cases, explain which rules fire for a message."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy", help="jurisdiction rule packs: test them, explain a decision")
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")

    test = psub.add_parser("test", help="run the test cases every pack ships (or the named packs)")
    test.add_argument("packs", nargs="*", metavar="PACK", help="pack names, e.g. eu us-ca (default: all)")
    test.add_argument("--json", action="store_true")
    test.set_defaults(func=run_test)

    explain = psub.add_parser("explain", help="show which rules fire for a message, and why")
    who = explain.add_mutually_exclusive_group()
    who.add_argument(
        "--customer", metavar="ID", help="a customer id of the database (jurisdiction, age band, ...)"
    )
    who.add_argument(
        "--jurisdiction", metavar="CODE", help="an anonymous customer's jurisdiction: EU UK US-CA US CN SG"
    )
    explain.add_argument(
        "--facts", metavar="FILE", help="read the facts from a YAML/JSON file instead of a message"
    )
    explain.add_argument("--stage", choices=("plan", "outcome"), help="with --facts: override the stage")
    explain.add_argument(
        "--destination",
        metavar="DEST",
        default="local",
        help='where data would go: "local" or "external:<provider>"',
    )
    explain.add_argument(
        "--repeat-contacts", type=int, default=0, metavar="N", help="earlier contacts about the same issue"
    )
    explain.add_argument("--json", action="store_true")
    explain.add_argument("text", nargs="*", help="the customer's message")
    explain.set_defaults(func=run_explain)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _engine(settings: Any, plugins: Any = None) -> Any:
    from policies.engine import PolicyEngine

    paths = plugins.policy_paths() if plugins is not None else None
    return PolicyEngine.from_settings(settings, plugin_paths=paths)


def run_test(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json
    from orchestrator.config import load_settings
    from policies.packtests import run_pack_tests

    reports = run_pack_tests(_engine(load_settings()), args.packs or None)
    if args.json:
        emit_json({"ok": all(r.ok for r in reports), "packs": [r.as_dict() for r in reports]})
    else:
        for r in reports:
            mark = "ok  " if r.ok else "FAIL"
            passed = sum(c.ok for c in r.cases)
            print(f"{mark} {r.pack:<10} {passed}/{len(r.cases)} cases passed")
            if r.error:
                print(f"     {r.error}")
            for c in r.failed:
                print(f"     case {c.name!r}:")
                for problem in c.problems:
                    print(f"       - {problem}")
            if r.uncovered:
                print(f"     rules no case covers: {', '.join(r.uncovered)}")
    return 0 if all(r.ok for r in reports) else 1


def _facts_from_file(path: str, stage: str | None, destination: str, repeat: int) -> Any:
    from pathlib import Path

    from pydantic import ValidationError

    from orchestrator.errors import InputError
    from policies.facts import facts_from_dict
    from policies.schema import PackError, read_yaml

    try:
        data = read_yaml(Path(path))
    except PackError as exc:
        raise InputError(str(exc)) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: facts are a mapping (jurisdiction, customer, tasks, signals, ...)")
    data = {**data}
    if stage:
        data["stage"] = stage
    if destination != "local":
        data["data_destination"] = destination
    if repeat:
        data["repeat_contacts"] = repeat
    try:
        return facts_from_dict(data)
    except (ValidationError, ValueError) as exc:
        raise InputError(f"{path}: facts are invalid: {exc}") from None


def _facts_from_text(args: argparse.Namespace, text: str) -> tuple[Any, Any, Any]:
    from orchestrator.config import load_settings
    from orchestrator.errors import InputError
    from orchestrator.nlu import Decomposer, Router
    from plugins.manager import load_plugins
    from policies.facts import facts_from_message

    settings = load_settings()
    plugins = load_plugins(disabled=settings.disabled_plugins)
    customer = None
    if args.customer:
        customer = _customer(settings, args.customer)
    router = Router.load_or_fit(plugins.intents(), settings.router_path)
    decomposer = Decomposer(
        router, threshold=settings.confidence_threshold, standalone=plugins.standalone_intents()
    )
    decomposition = decomposer.decompose(text)
    try:
        facts = facts_from_message(
            decomposition,
            customer=customer,
            jurisdiction=args.jurisdiction,
            repeat_contacts=args.repeat_contacts,
            data_destination=args.destination,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return facts, settings, plugins


def _customer(settings: Any, customer_id: str) -> Any:
    from sqlmodel import Session

    from orchestrator.backend.queries import find_customer_view
    from orchestrator.db import create_schema, make_engine
    from orchestrator.errors import NotFoundError

    engine = make_engine(settings.database_url)
    create_schema(engine)
    with Session(engine) as session:
        view = find_customer_view(session, customer_id.strip())
    if view is None:
        raise NotFoundError(
            f"customer {customer_id!r} not found; `crossdesk demo customers` lists the demo customers "
            "(run `crossdesk demo seed` first on a new database)"
        )
    return view


def run_explain(args: argparse.Namespace) -> int:
    from orchestrator.cli.common import emit_json, read_stdin_text
    from orchestrator.config import load_settings
    from orchestrator.errors import InputError

    if args.repeat_contacts < 0:
        raise InputError("--repeat-contacts must be 0 or more")
    if args.destination != "local" and not args.destination.startswith("external:"):
        raise InputError('--destination is "local" or "external:<provider>", e.g. external:openai')
    plugins = None
    if args.facts:
        if args.text:
            raise InputError("give either --facts FILE or a message, not both")
        facts = _facts_from_file(args.facts, args.stage, args.destination, args.repeat_contacts)
        if args.jurisdiction:
            facts = facts.replaced(jurisdiction=args.jurisdiction)
        settings = load_settings()
    else:
        text = " ".join(args.text)
        if not args.text or text == "-":
            if sys.stdin.isatty():
                raise InputError(
                    'no message given; pass it as an argument: crossdesk policy explain --jurisdiction EU "delete my data"'
                )
            text = read_stdin_text()
        if not text.strip():
            raise InputError("the message is empty; give the customer's message as TEXT")
        facts, settings, plugins = _facts_from_text(args, text)
    engine = _engine(settings, plugins)
    decision = engine.check(facts)
    if args.json:
        emit_json(
            {
                "jurisdiction": facts.jurisdiction,
                "customer": facts.customer.model_dump() if facts.customer else None,
                "stage": facts.stage,
                "tasks": [
                    {
                        "id": t.id,
                        "department": t.department,
                        "intent": t.intent,
                        "confidence": t.confidence,
                        "text": t.text,
                    }
                    for t in facts.tasks
                ],
                "signals": facts.signals.model_dump(),
                "wants_human": facts.wants_human,
                "decision": decision.as_dict(),
            }
        )
    else:
        print(render_explain(facts, decision))
    return 0


def render_explain(facts: Any, d: Any) -> str:
    who = (
        f"customer {facts.customer.id} ({facts.customer.age_band}, risk {facts.customer.risk_profile})"
        if facts.customer
        else "anonymous"
    )
    lines = [
        f"jurisdiction {facts.jurisdiction or 'unknown'} · {who} · stage {facts.stage} · packs {', '.join(d.packs)}"
    ]
    for t in facts.tasks:
        lines.append(f"  task {t.id}: {t.department}/{t.intent} ({t.confidence:.2f}) {t.text[:60]!r}")
    raised = [
        k for k, v in facts.signals.model_dump().items() if v is True or (k == "sentiment" and v <= -0.3)
    ]
    if raised or facts.wants_human:
        shown = [f"{k}={getattr(facts.signals, k)}" for k in raised] + (
            ["wants_human"] if facts.wants_human else []
        )
        lines.append(f"  signals: {', '.join(shown)}")
    lines.append(f"effect: {d.effect}")
    if not d.matched:
        lines.append("no rule matched")
    for m in d.matched:
        lines.append(f"  {m.id}  [{m.pack}]  {m.legal_basis}")
        for why in m.why:
            lines.append(f"      because {why}")
    if d.denials:
        lines.append(f"denied: {d.deny_message}")
    if d.human:
        scope = "whole turn" if not d.human.task_ids else f"tasks {', '.join(d.human.task_ids)}"
        lines.append(f"human: {d.human.reason} (SLA {d.human.sla_seconds} s, {scope})")
    for r in d.required_departments:
        lines.append(f"requires {r.department}" + (f"/{r.intent}" if r.intent else "") + f" ({r.rule_id})")
    for dl in d.deadlines:
        lines.append(f"deadline: {dl.days} {'business ' if dl.business else ''}days ({dl.legal_basis})")
    if d.redact:
        lines.append(f"redact: {', '.join(d.redact)}")
    for cap in d.caps:
        lines.append(
            f"cap: {cap.action} up to {cap.max_amount:g}{' ' + cap.currency if cap.currency else ''} ({cap.rule_id})"
        )
    for b in d.blocked_actions:
        lines.append(f"blocked: {b.department}.{b.name}: {b.message}")
    for text in d.disclosures:
        lines.append(f"disclose: {text}")
    if d.retention:
        lines.append(
            f"retention: {d.retention.retention_class}, {d.retention.years:g} years ({d.retention.rule_id})"
        )
    if d.flags:
        lines.append(f"flags: {', '.join(d.flags)}")
    return "\n".join(lines)
