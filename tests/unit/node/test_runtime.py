"""How a serving node's garbage collection is set up (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys


def test_a_serving_node_freezes_start_up_and_collects_young_objects_rarely() -> None:
    code = (
        "import gc\n"
        "from bacalao.node.runtime import SERVER_GC_MIDDLE, SERVER_GC_YOUNG, tune_gc_for_serving\n"
        "old = gc.get_threshold()[2]\n"
        "tune_gc_for_serving()\n"
        "assert gc.get_threshold() == (SERVER_GC_YOUNG, SERVER_GC_MIDDLE, old)\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "assert gc.isenabled()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
