"""One SQLite file shared by threads: a connection per thread, one writer at a time.

Reads run on the calling thread's own connection without locks (WAL readers never block the
writer). Writes take a process-wide lock and a ``BEGIN IMMEDIATE`` transaction, so writers in this
process queue on the lock instead of sleeping in SQLite's busy handler; other processes wait up to
``busy_timeout``. Nested :meth:`Database.transaction` blocks are savepoints: an inner failure rolls
back the inner block only. :meth:`Database.on_commit` runs a callback once the outermost block has
committed (and never if the block it was registered in rolls back): how in-memory views of the
stored rows stay exactly what was committed. :meth:`Database.stage` keeps what the open
transaction wrote under a key, for reads inside that transaction; a savepoint that rolls back
takes its own staged values back with it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bacalao.errors import Unavailable
from bacalao.jobstore._schema import configure, create_schema

_UNSET = object()


class Database:
    """Per-thread connections to one SQLite file, with nested transactions."""

    def __init__(self, path: str | Path, *, synchronous: str, busy_timeout_s: float) -> None:
        if str(path) == ":memory:":
            raise ValueError("the job store needs a file: every thread opens its own connection")
        if synchronous.upper() not in ("FULL", "EXTRA", "NORMAL"):
            raise ValueError(f"unsupported synchronous level {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        create_schema(self.conn())

    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection (opened and configured on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise Unavailable("the job store is closed")
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_ms / 1000
        )
        configure(conn, synchronous=self._synchronous, busy_timeout_ms=self._busy_ms)
        with self._conns_lock:
            self._conns.append(conn)
        self._local.conn = conn
        self._local.depth = 0
        self._local.after = []
        self._local.dirty = set()
        self._local.staged = {}
        self._local.journal = []  # (key, the value staged before) for savepoint rollbacks
        return conn

    def is_dirty(self, key: str) -> bool:
        """Whether this thread's open transaction wrote ``key``: a view of what was committed
        must not answer for it until the transaction ends."""
        return key in getattr(self._local, "dirty", ())

    def stage(self, key: str, value: object) -> None:
        """Keep ``value`` as what this thread's open transaction wrote under ``key`` (and mark
        ``key`` dirty); dropped when the transaction ends, taken back by a savepoint's
        rollback. Outside a transaction, nothing is kept."""
        if not self.in_transaction():
            return
        staged = self._local.staged
        self._local.journal.append((key, staged.get(key, _UNSET)))
        staged[key] = value
        self._local.dirty.add(key)

    def staged(self, key: str) -> object | None:
        """What this thread's open transaction staged under ``key``, or None."""
        return getattr(self._local, "staged", {}).get(key)

    def _unstage(self, mark: int) -> None:
        journal, staged = self._local.journal, self._local.staged
        while len(journal) > mark:
            key, before = journal.pop()
            if before is _UNSET:
                staged.pop(key, None)
            else:
                staged[key] = before

    def _end(self) -> None:
        self._local.dirty.clear()
        self._local.staged.clear()
        self._local.journal.clear()

    def in_transaction(self) -> bool:
        """True inside a :meth:`transaction` block on this thread."""
        return bool(getattr(self._local, "depth", 0))

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current transaction commits; dropped if its block rolls
        back. Outside a transaction it runs at once."""
        if not self.in_transaction():
            callback()
            return
        self._local.after.append(callback)

    @contextmanager
    def transaction(self, *, savepoint: bool = True) -> Iterator[sqlite3.Connection]:
        """Writes inside commit together at the outermost exit; nested blocks are savepoints.

        ``savepoint=False`` runs a nested block straight in the enclosing transaction, for a
        block that checks everything before its first write and whose only write that can fail
        on a constraint is that first one: a rollback would have nothing to undo, and a
        savepoint costs two statements.
        """
        conn = self.conn()
        depth = self._local.depth
        after: list[Callable[[], None]] = self._local.after
        if depth and not savepoint:
            yield conn
            return
        if depth:
            name = f"sp{depth}"
            conn.execute(f"SAVEPOINT {name}")
            self._local.depth = depth + 1
            mark, staged_mark = len(after), len(self._local.journal)
            try:
                yield conn
            except BaseException:
                del after[mark:]
                self._unstage(staged_mark)
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._local.depth = depth
            return
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            try:
                yield conn
            except BaseException:
                self._local.depth = 0
                after.clear()
                self._end()
                conn.execute("ROLLBACK")
                raise
            self._local.depth = 0
            try:
                conn.execute("COMMIT")
            except BaseException:
                after.clear()
                self._end()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            callbacks = after[:]
            after.clear()
            for callback in callbacks:
                callback()
            self._end()

    def close(self) -> None:
        """Close every thread's connection; later calls raise Unavailable."""
        self._closed = True
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
