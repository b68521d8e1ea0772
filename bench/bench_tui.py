"""Console responsiveness under load: time from a key press to the screen showing its effect.

Seeds a fresh demo database, starts the simulator in the console's process (as
`crossdesk tui --simulate` does) at --rate messages per second, lets the queue
fill, then drives the console headless with Textual's Pilot:

  move   down/up in the queue: until the frame that shows the new cursor row
  open   enter on a conversation: until it is loaded (database read in a worker) and drawn
  switch 1 from the metrics screen: until the queue's screen (an open conversation) is drawn again

Keys go in the way the terminal driver hands them over; a frame is one call
of the app's display step (in a terminal it writes the update, headless it
does everything but the write). Target (issue 5): the console stays
responsive with the simulator at 20 messages per second.

    .venv/bin/python bench/bench_tui.py [--rate 20] [--moves 200] [--opens 30] [--warmup 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from traces.query import percentile


def prepare(home: Path) -> None:
    from orchestrator.backend.seed import seed_demo
    from orchestrator.db import create_schema, make_engine
    from orchestrator.knowledge.loader import load_paths
    from orchestrator.knowledge.store import KnowledgeStore
    from plugins.manager import load_plugins

    os.environ["CROSSDESK_HOME"] = str(home)
    engine = make_engine(f"sqlite:///{home / 'crossdesk.db'}")
    create_schema(engine)
    seed_demo(engine)
    load_paths(KnowledgeStore(engine), load_plugins().knowledge_paths())
    engine.dispose()


class Frames:
    """Timestamps of the frames the app draws."""

    def __init__(self, app: Any) -> None:
        self.times: list[float] = []
        self.drawn = asyncio.Event()
        draw = app._display

        def display(screen: Any, renderable: Any) -> None:
            draw(screen, renderable)
            if renderable is not None:
                self.times.append(time.perf_counter())
                self.drawn.set()

        app._display = display

    async def after(self, moment: float, timeout: float = 30.0) -> float:
        """The time of the first frame drawn after `moment`."""
        deadline = time.perf_counter() + timeout
        while True:
            later = [t for t in self.times[-50:] if t >= moment]
            if later:
                return later[0]
            self.drawn.clear()
            await asyncio.wait_for(self.drawn.wait(), max(0.001, deadline - time.perf_counter()))


class Marks:
    """When each awaited change happened: the cursor moved, a conversation was drawn, a screen came back."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.changed = asyncio.Event()

    def add(self, *_: Any) -> None:
        self.times.append(time.perf_counter())
        self.changed.set()

    async def next_after(self, count: int, timeout: float = 30.0) -> float:
        deadline = time.perf_counter() + timeout
        while len(self.times) <= count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.001, deadline - time.perf_counter()))
        return self.times[count]


def instrument(marks: Marks) -> None:
    """Mark the moments the timed changes reach the widgets (the next frame then shows them)."""
    from tui.screens.base import ConsoleScreen
    from tui.screens.conversation import ConversationScreen

    show = ConversationScreen._show

    def shown(self: Any, detail: Any) -> None:
        show(self, detail)
        marks.add()

    ConversationScreen._show = shown  # type: ignore[method-assign]
    resume = ConsoleScreen.on_screen_resume

    def resumed(self: Any) -> None:
        resume(self)
        marks.add()

    ConsoleScreen.on_screen_resume = resumed  # type: ignore[method-assign]


async def press(app: Any, key: str) -> None:
    """Hand the app a key the way the terminal driver does (Pilot.press would also wait for idle)."""
    from textual import events

    char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)
    await asyncio.sleep(0)


async def timed(app: Any, frames: Frames, marks: Marks, key: str) -> float:
    """Milliseconds from handing over `key` to the first frame drawn after its effect."""
    count = len(marks.times)
    t0 = time.perf_counter()
    await press(app, key)
    changed = await marks.next_after(count)
    drawn = await frames.after(changed)
    return (drawn - t0) * 1000


async def wait(check: Any, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("gave up waiting")
        await asyncio.sleep(0.02)


async def drive(app: Any, args: argparse.Namespace) -> dict[str, Any]:
    marks = Marks()  # created in the event loop: its asyncio.Event belongs there
    instrument(marks)
    async with app.run_test(size=(100, 30)):
        try:
            return await timings(app, args, marks)
        except BaseException:
            traceback.print_exc()  # the app's shutdown error would hide it
            raise


async def timings(app: Any, args: argparse.Namespace, marks: Marks) -> dict[str, Any]:
    from textual.widgets import DataTable

    from tui.screens.conversation import ConversationScreen
    from tui.screens.queue import QueueScreen

    samples: dict[str, list[float]] = {"move": [], "open": [], "switch": []}
    frames = Frames(app)
    await wait(lambda: app.simulator is not None, timeout=180)
    print(f"simulator running at {args.rate:g}/s; warming up {args.warmup:g} s", file=sys.stderr)
    await asyncio.sleep(args.warmup)
    queue = app.screen
    assert isinstance(queue, QueueScreen)
    table = queue.query_one(DataTable)
    app.watch(table, "cursor_coordinate", marks.add, init=False)
    await wait(lambda: table.row_count >= 14)

    key = "down"
    for _ in range(args.moves):
        # wander up and down the top rows (the cursor follows its conversation when rows move)
        if table.cursor_row <= 0:
            key = "down"
        elif table.cursor_row >= min(12, table.row_count - 1):
            key = "up"
        samples["move"].append(await timed(app, frames, marks, key))
        await asyncio.sleep(0.02)  # a person does not type faster than this

    for _ in range(args.opens):
        samples["open"].append(await timed(app, frames, marks, "enter"))
        await wait(lambda: isinstance(app.screen, ConversationScreen))
        await press(app, "3")  # metrics, then back to the queue
        await wait(lambda: app.screen is not queue and not isinstance(app.screen, ConversationScreen))
        samples["switch"].append(await timed(app, frames, marks, "1"))
        await wait(lambda: isinstance(app.screen, ConversationScreen))
        await press(app, "escape")
        await wait(lambda: app.screen is queue)
        await press(app, "down")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # let the last key settle: one still queued at shutdown finds no screen
    stats = app.simulator.stats()
    return {
        "rate": args.rate,
        "simulated": {
            "sent": stats.sent,
            "failed": stats.failed,
            "skipped": stats.skipped,
            "achieved_rate": round(stats.rate, 2),
            "needs_human": stats.needs_human,
        },
        "queue_rows": table.row_count,
        **{name: summary(values) for name, values in samples.items()},
    }


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50) or 0.0, 2),
        "p99_ms": round(percentile(values, 99) or 0.0, 2),
        "max_ms": round(max(values), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="simulated messages per second")
    parser.add_argument("--moves", type=int, default=200, help="cursor moves to time")
    parser.add_argument(
        "--opens", type=int, default=30, help="conversation opens (and screen switches) to time"
    )
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds of simulated traffic before timing"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="crossdesk-bench-tui-") as tmp:
        home = Path(tmp)
        prepare(home)
        from orchestrator.config import load_settings
        from tui.app import CrossdeskApp
        from tui.desk import Desk

        desk = Desk(load_settings(), "bench")
        try:
            app = CrossdeskApp(desk, simulate_rate=args.rate, cursor_blink=False)
            result = asyncio.run(drive(app, args))
        finally:
            desk.close()

    if args.json:
        print(json.dumps(result))
        return 0
    sim = result["simulated"]
    print(
        f"simulator: {sim['sent']} messages at {sim['achieved_rate']:.1f}/s (target {args.rate:g}/s), "
        f"{sim['skipped']} skipped, {sim['failed']} failed, {sim['needs_human']} for a person; "
        f"queue shows {result['queue_rows']} conversations"
    )
    print(f"{'action':<8} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for name in ("move", "open", "switch"):
        r = result[name]
        print(f"{name:<8} {r['n']:>5} {r['p50_ms']:>9.2f} {r['p99_ms']:>9.2f} {r['max_ms']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
