"""Long-running processes freeze what start-up loaded, so full collections stay short."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
from orchestrator.runtime import freeze_startup_heap

loaded = [[i] for i in range(200_000)]  # what a router and plugins leave behind
gc.set_threshold(700, 10, 10)  # CPython's defaults
freeze_startup_heap()
young = gc.get_threshold()[0]
frozen = gc.get_freeze_count()
walked = len(gc.get_objects())  # what a full collection now goes through
gc.unfreeze()

class Cycle:
    pass

gc.freeze()
a, b = Cycle(), Cycle()
a.other, b.other = b, a  # garbage made after the freeze is still collected
del a, b
print(frozen >= len(loaded), walked < len(loaded) // 4, gc.collect() >= 2, young >= 10_000)
"""


def test_frozen_start_up_objects_are_skipped_by_full_collections_and_new_cycles_still_go() -> None:
    # and young objects are collected less often than CPython's default of every 700 allocations
    # a process of its own: freezing the test runner's heap would outlive the test
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True", "True"], out.stderr
