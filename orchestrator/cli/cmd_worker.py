"""crossdesk worker: answer the messages the API queued on the broker (service broker mode)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="answer queued messages from the broker (run several)")
    p.add_argument("--threads", type=int, default=4, help="turns run at once by this worker (default 4)")
    p.add_argument("--name", default=None, help="consumer name (default: host-pid-random)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.config import ConfigError
    from orchestrator.errors import CrossdeskError

    try:
        return _work(args)
    except ConfigError as exc:
        raise CrossdeskError(f"cannot start the worker: {exc}") from exc


def _work(args: argparse.Namespace) -> int:
    import logging

    from orchestrator.config import ConfigError, load_settings
    from orchestrator.runtime import Orchestrator, freeze_startup_heap
    from orchestrator.service.app import check_database_url
    from orchestrator.service.config import load_service_settings
    from orchestrator.service.worker import Worker

    if args.threads < 1:
        raise ConfigError("--threads must be at least 1")
    logging.getLogger("orchestrator.service").setLevel(logging.INFO)
    settings = load_settings()
    svc = load_service_settings(settings, mode="broker")
    check_database_url(settings.database_url)
    orch = Orchestrator(settings)
    freeze_startup_heap()
    try:
        worker = Worker(orch, svc, name=args.name, threads=args.threads)
        worker.install_signals()
        print(f"crossdesk worker {worker.name} serving {svc.redis_url}", flush=True)
        return worker.run()
    finally:
        orch.close()
