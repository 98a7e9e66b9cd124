"""Group commit: the store writes of one loop turn commit in one transaction.

Every coroutine of the orchestrator that writes (a submission, a node's update, a bid's answer,
the evaluation worker) hands its writes to :meth:`GroupCommit.run` as a plain function and awaits
the result. Writes handed over in the same turn of the event loop run together in the next turn,
each in its own savepoint, and commit once: a thousand jobs in flight cost a handful of commits a
turn instead of four each (a commit is most of a small write's cost, ~170 µs here). Each caller
still gets its answer only once its writes are durable, and one write that fails rolls back alone.
This is SQLite's answer to the group commit of Postgres or a Raft log's batched append.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bacalao.jobstore.base import JobStore

log = logging.getLogger(__name__)

T = TypeVar("T")


class GroupCommit:
    """Runs handed-over write functions in batches, one transaction a batch."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._soon = False
        #: batches committed and writes run (what the tests check)
        self.batches = 0
        self.writes = 0

    def run(self, write: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``write()`` in the next batch; the future holds its result once committed, or
        its exception (the commit's, if the batch's commit fails). Writes keep their order.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((write, future))
        if not self._soon:
            self._soon = True
            loop.call_soon(self._flush)
        return future

    def flush(self) -> None:
        """Commit what is pending now: on shutdown."""
        if self._pending:
            self._flush()

    def _flush(self) -> None:
        self._soon = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        done: list[tuple[asyncio.Future[Any], Any]] = []
        alone = len(batch) == 1
        try:
            with self.store.transaction():
                for write, future in batch:
                    try:
                        if alone:  # the transaction is its own: no savepoint to pay for
                            done.append((future, write()))
                            continue
                        with self.store.transaction():
                            done.append((future, write()))
                    except Exception as e:
                        if alone:
                            raise
                        _settle(future, error=e)
        except Exception as e:
            for future, _ in done:
                _settle(future, error=e)
            if alone:
                _settle(batch[0][1], error=e)
            return
        self.batches += 1
        self.writes += len(batch)
        for future, value in done:
            _settle(future, value=value)


def _settle(
    future: asyncio.Future[Any], *, value: Any = None, error: Exception | None = None
) -> None:
    if future.done():  # its caller was cancelled meanwhile: the write stands, nobody waits
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
