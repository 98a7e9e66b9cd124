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

With ``background_checkpoints`` the WAL is copied back into the database file by a thread of its
own (:class:`Checkpointer`) instead of by whichever commit crosses SQLite's 1,000-page mark: that
commit paid for the copy and two fsyncs on the writer's thread. SQLite runs a checkpoint without
Python's GIL, so the copy overlaps the writer's own work on another core. A commit still
checkpoints at :data:`BOUND_PAGES`, which then finds little left to copy and keeps the log bounded.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from bacalao.errors import Unavailable
from bacalao.jobstore._schema import configure, create_schema

_UNSET = object()
log = logging.getLogger(__name__)

#: How often the checkpointer looks for new commits (seconds).
CHECKPOINT_INTERVAL_S = 0.1
#: With background checkpoints, a commit still checkpoints once the log holds this many pages
#: (SQLite's default is 1,000). The checkpointer has copied most of them by then, so that costs
#: little, and it bounds the log: only a checkpoint right after a commit, before the next one
#: begins, lets the next commit start the log over, which a thread of its own rarely catches
#: under a steady stream of commits.
BOUND_PAGES = 4096


class Database:
    """Per-thread connections to one SQLite file, with nested transactions."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str,
        busy_timeout_s: float,
        background_checkpoints: bool = False,
    ) -> None:
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
        #: commits so far (what the checkpointer watches)
        self.commits = 0
        self._background_checkpoints = background_checkpoints
        create_schema(self.conn())
        self._checkpointer = Checkpointer(self) if background_checkpoints else None

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
        if self._background_checkpoints:
            conn.execute(f"PRAGMA wal_autocheckpoint = {BOUND_PAGES}")
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

    def transaction(self, *, savepoint: bool = True) -> Block:
        """Writes inside commit together at the outermost exit; nested blocks are savepoints.

        ``savepoint=False`` runs a nested block straight in the enclosing transaction, for a
        block that checks everything before its first write and whose only write that can fail
        on a constraint is that first one: a rollback would have nothing to undo, and a
        savepoint costs two statements.
        """
        return Block(self, savepoint)

    def close(self) -> None:
        """Close every thread's connection; later calls raise Unavailable."""
        self._closed = True
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()


class Block:
    """One :meth:`Database.transaction` block (a class, not a generator: a store's write enters
    several a job, and a generator's context manager costs several times as much).

    ``__enter__`` gives the connection; ``give=False`` gives None (the store's public blocks).
    """

    __slots__ = ("_db", "_savepoint", "_give", "_conn", "_kind", "_depth", "_mark", "_staged")

    def __init__(self, db: Database, savepoint: bool, give: bool = True) -> None:
        self._db = db
        self._savepoint = savepoint
        self._give = give

    def __enter__(self) -> sqlite3.Connection:
        db = self._db
        conn = self._conn = db.conn()
        local = db._local
        depth = self._depth = local.depth
        if depth and not self._savepoint:
            self._kind = _JOINED
        elif depth:
            self._kind = _SAVEPOINT
            conn.execute(f"SAVEPOINT sp{depth}")
            local.depth = depth + 1
            self._mark, self._staged = len(local.after), len(local.journal)
        else:
            self._kind = _OUTERMOST
            db._write_lock.acquire()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                db._write_lock.release()
                raise
            local.depth = 1
        return conn if self._give else None  # type: ignore[return-value]

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self._kind is _JOINED:
            return
        db, conn, local = self._db, self._conn, self._db._local
        if self._kind is _SAVEPOINT:
            name = f"sp{self._depth}"
            try:
                if kind is not None:
                    del local.after[self._mark :]
                    db._unstage(self._staged)
                    conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            finally:
                local.depth = self._depth
            return
        try:
            self._end_outermost(kind is not None)
        finally:
            db._write_lock.release()

    def _end_outermost(self, failed: bool) -> None:
        db, conn, local = self._db, self._conn, self._db._local
        after: list[Callable[[], None]] = local.after
        local.depth = 0
        if failed:
            after.clear()
            db._end()
            conn.execute("ROLLBACK")
            return
        try:
            conn.execute("COMMIT")
            db.commits += 1
        except BaseException:
            after.clear()
            db._end()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        callbacks = after[:]
        after.clear()
        for callback in callbacks:
            callback()
        db._end()


_JOINED, _SAVEPOINT, _OUTERMOST = "joined", "savepoint", "outermost"


class Checkpointer:
    """Copies committed WAL frames back into the database file on a thread of its own.

    It wakes every :data:`CHECKPOINT_INTERVAL_S` and, when something was committed meanwhile,
    runs a ``PASSIVE`` checkpoint on its own connection: that never blocks the writer or a
    reader, and copies what no reader still needs. A failed checkpoint is logged and tried again
    at the next wake.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._stop = threading.Event()
        #: checkpoints run so far (what the tests watch)
        self.runs = 0
        self._thread = threading.Thread(target=self._run, name="jobstore-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = self._db.conn()  # this thread's own (closed with the others)
        except Unavailable:  # closed before this thread began
            return
        seen = self._db.commits
        while not self._stop.wait(CHECKPOINT_INTERVAL_S):
            if self._db.commits == seen:
                continue
            seen = self._db.commits
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.runs += 1
            except sqlite3.Error as e:
                log.warning("job store checkpoint failed (tried again later): %s", e)

    def stop(self) -> None:
        """Stop the thread; the database closes its connection with the others."""
        self._stop.set()
        self._thread.join()
