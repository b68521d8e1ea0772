"""The `crossdesk` command.

Each sub-command lives in its own module with `register(subparsers)`; modules
import only argparse at top level so `crossdesk --help` stays fast, and do
their heavy imports inside the handler.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from orchestrator import __version__

# module name per command group, in the order `--help` lists them
COMMAND_MODULES = (
    "ask",
    "chat",
    "triage",
    "train",
    "eval",
    "plugins",
    "plugin",
    "kb",
    "demo",
    "traces",
    "policy",
    "audit",
    "queue",
    "takeover",
    "reply",
    "release",
    "tui",
    "serve",
    "worker",
)
# commands registered by another command's module (imported once, for the first of them listed)
REGISTERED_BY = {"takeover": "queue", "reply": "queue", "release": "queue"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossdesk",
        description="Multi-agent customer service for regulated, cross-border businesses.",
    )
    parser.add_argument("--version", action="version", version=f"crossdesk {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    registered: set[str] = set()
    for name in COMMAND_MODULES:
        module_name = REGISTERED_BY.get(name, name)
        if module_name in registered:
            continue
        registered.add(module_name)
        module = importlib.import_module(f"orchestrator.cli.cmd_{module_name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from orchestrator.config import ConfigError
    from orchestrator.errors import CrossdeskError
    from orchestrator.nlu.router import RouterError

    try:
        return int(args.func(args) or 0)
    except CrossdeskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ConfigError, RouterError) as exc:  # a setting or a model file to fix, not a bug
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): not an error worth a traceback
        sys.stderr.close()
        return 0
    except Exception as exc:
        if os.environ.get("CROSSDESK_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in crossdesk; rerun with CROSSDESK_DEBUG=1 for the traceback and report it.",
            file=sys.stderr,
        )
        return 1


def run() -> None:
    sys.exit(main())
