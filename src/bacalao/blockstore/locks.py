"""Reader/writer locks that keep garbage collection away from writers.

Writers (add, import, pin) hold the lock *shared* from their first block until the pin that
protects their DAG is written; ``gc`` holds it *exclusive*, so it never sweeps blocks that a
writer is about to pin. :class:`FileRWLock` works across processes (``flock`` on a lock file, one
open file per acquisition, so threads of one process exclude each other too);
:class:`ThreadRWLock` is the in-process equivalent for memory stores.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

try:  # POSIX only; elsewhere the file lock degrades to a no-op.
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]


class RWLock(Protocol):
    """Shared/exclusive lock with context-manager acquisition."""

    def shared(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock shared (many holders at once)."""
        ...

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock exclusively."""
        ...


class FileRWLock:
    """An ``flock``-based shared/exclusive lock on ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _hold(self, mode: int) -> Iterator[None]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # closing the file releases the flock

    def shared(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock shared (blocks while an exclusive holder is in)."""
        return self._hold(fcntl.LOCK_SH if fcntl else 0)

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock exclusively (waits for every shared holder to leave)."""
        return self._hold(fcntl.LOCK_EX if fcntl else 0)


class ThreadRWLock:
    """A writer-fair shared/exclusive lock for one process."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock shared."""
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._waiting_writers)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock exclusively."""
        with self._cond:
            self._waiting_writers += 1
            self._cond.wait_for(lambda: not self._writer and not self._readers)
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
