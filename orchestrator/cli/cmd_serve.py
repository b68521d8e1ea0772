"""crossdesk serve: the HTTP API for channels and operators."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP API (channels, operators, auditors)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument(
        "--workers-mode",
        choices=("inline", "broker"),
        default=None,
        help="inline: this process runs turns; broker: queue them for `crossdesk worker` (default: config)",
    )
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.config import ConfigError
    from orchestrator.errors import CrossdeskError

    try:
        return _serve(args)
    except ConfigError as exc:
        raise CrossdeskError(f"cannot start the API: {exc}") from exc


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from orchestrator.config import ConfigError, load_settings
    from orchestrator.service.app import create_app
    from orchestrator.service.config import load_service_settings

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port} is not a port number (1-65535)")
    settings = load_settings()
    svc = load_service_settings(settings, mode=args.workers_mode)
    app = create_app(settings, service=svc)  # bad configuration fails here, before listening
    print(f"crossdesk API ({svc.mode} mode) on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    # uvicorn handles SIGTERM: it stops accepting, lets running requests finish, then shuts down
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=30)
    return 0
