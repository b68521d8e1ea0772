"""crossdesk demo: the demo fintech's data and a scripted tour of the pipeline."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="seed the demo fintech and run example conversations")
    dsub = p.add_subparsers(dest="demo_command", metavar="SUBCOMMAND")
    seed = dsub.add_parser("seed", help="create the demo customers, accounts and transactions")
    seed.add_argument("--force", action="store_true", help="replace existing demo data")
    seed.set_defaults(func=run_seed)
    cust = dsub.add_parser("customers", help="list demo customers")
    cust.add_argument("--jurisdiction")
    cust.add_argument("--json", action="store_true")
    cust.set_defaults(func=run_customers)
    tour = dsub.add_parser(
        "run", help="seed if needed, load the starter knowledge and run example conversations"
    )
    tour.add_argument("--file", help="YAML file of conversations (default: the shipped examples)")
    tour.add_argument("--json", action="store_true")
    tour.set_defaults(func=run_tour)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _engine() -> Any:
    from orchestrator.config import load_settings
    from orchestrator.db import create_schema, make_engine

    engine = make_engine(load_settings().database_url)
    create_schema(engine)
    return engine


def run_seed(args: argparse.Namespace) -> int:
    from orchestrator.backend.seed import seed_demo

    report = seed_demo(_engine(), force=args.force)
    print(report.summary() if hasattr(report, "summary") else report)
    return 0


def run_customers(args: argparse.Namespace) -> int:
    from sqlmodel import Session, select

    from orchestrator.backend.models import Customer
    from orchestrator.cli.common import emit_json

    with Session(_engine()) as session:
        query = select(Customer).order_by(Customer.id)
        if args.jurisdiction:
            query = query.where(Customer.jurisdiction == args.jurisdiction.upper())
        rows = session.exec(query).all()
    if args.json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return 0
    if not rows:
        print("no customers; run `crossdesk demo seed`")
        return 1
    for c in rows:
        flags = ",".join(x for x in [c.vulnerability, "servicemember" if c.servicemember else ""] if x)
        print(
            f"{c.id:<8} {c.jurisdiction:<6} {c.age_band:<6} {c.risk_profile:<7} kyc:{c.kyc_status:<9} {c.name} {flags}"
        )
    return 0


def run_tour(args: argparse.Namespace) -> int:
    from pathlib import Path

    import yaml

    from orchestrator.backend.seed import seed_demo
    from orchestrator.cli.common import emit_json, orchestrator
    from orchestrator.cli.render import render_turn
    from orchestrator.errors import InputError
    from orchestrator.knowledge.loader import load_paths

    path = (
        Path(args.file) if args.file else Path(__file__).resolve().parent.parent / "demo_conversations.yaml"
    )
    try:
        conversations = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read conversations ({exc})") from exc
    orch = orchestrator()
    try:
        seed_demo(orch.engine)
        if orch.knowledge.count() == 0:
            load_paths(orch.knowledge, orch.plugins.knowledge_paths())
        out = []
        for conv in conversations:
            conversation_id = None
            if not args.json:
                print(f"\n═══ {conv['title']} ═══")
            for message in conv["messages"]:
                outcome = orch.ask(
                    message,
                    conversation_id=conversation_id,
                    customer_id=conv.get("customer"),
                    jurisdiction=conv.get("jurisdiction"),
                )
                conversation_id = outcome.conversation_id
                if args.json:
                    out.append({"title": conv["title"], "message": message, **outcome.as_json()})
                else:
                    print(f"\ncustomer> {message}\n")
                    print(render_turn(outcome.reply, outcome.record))
        if args.json:
            emit_json(out)
    finally:
        orch.close()
    return 0
