"""Regenerate the console screenshots in this folder (queue, conversation, traces, metrics,
knowledge, departments) as PNG files.

Builds a fresh demo database, runs simulated customers' messages through the
real Orchestrator, takes one conversation over as the operator alice, then
drives `crossdesk tui` headless at 100x30 and converts Textual's SVG
screenshots to PNG with cairosvg (`pip install -e '.[docs]'`; needs the cairo
library, e.g. `apt-get install libcairo2`).

    .venv/bin/python docs/screenshots/render.py [--out docs/screenshots] [--svg]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIZE = (100, 30)
MESSAGES = 36  # simulated ones, besides the scripted conversations below
PACE_S = 1.5
# the queue is shown as it looks this long after the last message
LOOK_LATER = timedelta(seconds=32)


def build(home: Path) -> dict[str, str]:
    """The demo database with traffic in it; returns the conversations the screenshots open."""
    os.environ["CROSSDESK_HOME"] = str(home)
    from orchestrator import takeover
    from orchestrator.backend.seed import seed_demo
    from orchestrator.config import load_settings
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import load_paths
    from orchestrator.knowledge.store import KnowledgeStore
    from orchestrator.runtime import Orchestrator
    from plugins.manager import load_plugins
    from tui.simulator import MessageFactory, demo_customers

    engine = make_engine(load_settings().database_url)
    create_schema(engine)
    seed_demo(engine)
    load_paths(KnowledgeStore(engine), load_plugins().knowledge_paths())
    engine.dispose()

    orch = Orchestrator(load_settings())
    try:
        factory = MessageFactory(demo_customers(orch.reader), seed=2024, follow_up=0.15)
        for _ in range(MESSAGES):
            time.sleep(PACE_S)  # spread over time, so the metrics' sparklines have a shape
            planned = factory.next()
            out = orch.ask(
                planned.text, conversation_id=planned.conversation_id, customer_id=planned.customer_id
            )
            factory.remember(out.conversation_id, planned.customer_id)
        multi = orch.ask(
            "My card keeps getting declined at the shop, and I'd like a copy of all the data you hold about me",
            customer_id="C1001",
        ).conversation_id
        held = orch.ask(
            "I want to talk to a person please. My new card still hasn't arrived after two weeks",
            customer_id="C1002",
        ).conversation_id
        time.sleep(4)  # alice takes it over a few seconds later
        takeover.claim(orch, held, "alice")
        takeover.reply(
            orch,
            held,
            "Hi Oliver, I'm Alice from the cards team. Your card was posted on Monday; I've ordered a "
            "replacement with tracking and waived the fee.",
            operator="alice",
        )
        orch.telemetry.force_flush()
    finally:
        orch.close()
    return {"multi": multi, "held": held}


async def shoot(out: Path, ids: dict[str, str], keep_svg: bool) -> list[Path]:
    from textual.widgets import DataTable, Markdown, Static

    from orchestrator.config import load_settings
    from tui.app import CrossdeskApp
    from tui.data import utcnow
    from tui.desk import Desk
    from tui.screens.conversation import ConversationScreen
    from tui.screens.traces import TracesScreen
    from tui.widgets.waterfall import WaterfallTable

    # the queue is shown a little later than the rest, when unclaimed waits are past their SLA
    looked: dict[str, Any] = {"at": utcnow() + LOOK_LATER}
    desk = Desk(load_settings(), "alice")
    app = CrossdeskApp(desk, refresh_s=None, cursor_blink=False, clock=lambda: looked["at"] or utcnow())
    written: list[Path] = []

    async def until(check: Callable[[], Any], what: str) -> None:
        for _ in range(600):
            if check():
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the console never showed {what}")

    async def open_conversation(pilot: Any, conversation_id: str) -> None:
        await pilot.press("1")
        table = app.screen.query_one(DataTable)
        keys = [str(r.key.value) for r in table.ordered_rows]
        table.move_cursor(row=keys.index(conversation_id))
        await pilot.press("enter")
        await until(
            lambda: isinstance(app.screen, ConversationScreen) and app.screen.detail is not None,
            "the conversation",
        )

    async def save(pilot: Any, name: str) -> None:
        await pilot.pause(0.3)
        svg = app.export_screenshot(title="crossdesk tui")
        written.append(to_png(svg, out / f"{name}.png"))
        if keep_svg:
            (out / f"{name}.svg").write_text(svg, encoding="utf-8")

    steps: list[tuple[str, Callable[[Any], Awaitable[None]]]] = []

    async def queue(pilot: Any) -> None:
        await until(lambda: app.screen.query_one(DataTable).row_count > 10, "the queue")

    async def conversation(pilot: Any) -> None:
        looked["at"] = None
        await open_conversation(pilot, ids["held"])

    async def traces(pilot: Any) -> None:
        await pilot.press("escape")
        await open_conversation(pilot, ids["multi"])
        await pilot.press("t")
        await until(
            lambda: isinstance(app.screen, TracesScreen) and app.screen.query_one(WaterfallTable).row_count,
            "the waterfall",
        )
        await pilot.press("w", "down", "down", "down", "down")

    async def metrics(pilot: Any) -> None:
        await pilot.press("3", "w", "w", "w")  # 15 min -> 1 h -> 24 h -> 1 min: the traffic just sent
        await until(
            lambda: "Last 1 min" in str(app.screen.query_one("#metrics-head", Static).content), "the metrics"
        )

    async def knowledge(pilot: Any) -> None:
        await pilot.press("4", "slash", *"card declined abroad", "enter")
        await until(lambda: app.screen.query_one("#kb-article", Markdown).children, "an article")

    async def departments(pilot: Any) -> None:
        await pilot.press("5", "down")
        await until(lambda: app.screen.query_one("#dept-list", DataTable).row_count >= 4, "the departments")

    steps = [
        ("queue", queue),
        ("conversation", conversation),
        ("traces", traces),
        ("metrics", metrics),
        ("knowledge", knowledge),
        ("departments", departments),
    ]
    try:
        async with app.run_test(size=SIZE) as pilot:
            for name, step in steps:
                await step(pilot)
                await save(pilot, name)
    finally:
        desk.close()
    return written


def to_png(svg: str, path: Path) -> Path:
    """Textual's SVG names Fira Code (a web font); use the monospace font cairo can find here."""
    import cairosvg

    svg = re.sub(
        r'font-family:\s*"?Fira Code"?(, monospace)?', "font-family: DejaVu Sans Mono, monospace", svg
    )
    cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(path), output_width=1400)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the PNG files")
    parser.add_argument("--svg", action="store_true", help="keep the SVG screenshots as well")
    args = parser.parse_args()
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError) as exc:
        print(
            f"error: cairosvg is not usable ({exc}); pip install -e '.[docs]' and install libcairo2",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crossdesk-screenshots-") as tmp:
        ids = build(Path(tmp))
        written = asyncio.run(shoot(args.out, ids, args.svg))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
