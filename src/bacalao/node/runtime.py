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


#: Allocations between two young collections in a server (CPython's default is 700), and young
#: collections between two of the middle generation (default 10).
SERVER_GC_YOUNG = 50_000
SERVER_GC_MIDDLE = 50


def tune_gc_for_serving() -> None:
    """Garbage collection for a long-running node, once it has started.

    Everything alive after start-up (modules, classes, the app) is frozen out of the collector's
    reach, and the young generations are collected far less often (every 50,000 allocations,
    the middle one every 50 young collections). Nearly everything a job leaves behind sits in a
    bounded cache that is emptied now and then: collected rarely, most of it has died by
    refcount before a collection traces it; collected often, it was traced again and again.
    At 10,000 / 10 the collector took ~95 ms per 1,000 noop jobs in-process (about ten young
    collections of ~5 ms and a middle one of 35-50 ms per round); at 50,000 / 50 it took
    8-45 ms, in one young collection no longer than that middle one. Cyclic garbage waits
    longer for its collection: a few MB at most.
    """
    gc.collect()
    gc.freeze()
    _, _, old = gc.get_threshold()
    gc.set_threshold(SERVER_GC_YOUNG, SERVER_GC_MIDDLE, old)
