"""How a node's event loop is made: uvloop where it is installed, else asyncio's own."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory (a dependency on Linux), or None for asyncio's default loop.

    uvloop runs the orchestrator's and the compute node's callbacks, tasks and sockets in C:
    a trivial job's round trip through the embedded stack costs about a fifth less.
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the node's event loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


#: Allocations between two young collections in a server (CPython's default is 700).
SERVER_GC_YOUNG = 10_000


def tune_gc_for_serving() -> None:
    """Garbage collection for a long-running node, once it has started.

    Everything alive after start-up (modules, classes, the app) is frozen out of the collector's
    reach, and young collections run every 10,000 allocations instead of 700, so fewer of the
    objects of jobs in flight outlive a young collection and are traced again and again in the
    old generations. At a few hundred jobs a second the collector took 0.2-0.35 ms a job (full
    collections of a few hundred ms); with this, about a third of that. Memory held by cyclic
    garbage waits a little longer for its collection.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(SERVER_GC_YOUNG, middle, old)
