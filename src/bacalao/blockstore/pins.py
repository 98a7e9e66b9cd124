"""Pins: the roots whose DAG a node promises to keep.

A ``recursive`` pin promises the whole DAG (it was checked complete when pinned). A ``partial``
pin keeps whatever of the DAG is here and tolerates the rest being elsewhere: a merged result or
an aggregate links data that other nodes hold, so its node keeps the directory blocks it made,
not the linked files. Only recursive pins count as data this node *holds*.

:class:`SqlitePinStore` persists them in one SQLite file (WAL, ``synchronous=FULL``): a pin is
one indexed row, so pinning costs the same with 10 pins or 100,000 (the JSON file it replaces
was read and rewritten whole on every change), and other processes on the same data dir wait
on SQLite's lock instead of losing each other's pins. :class:`MemoryPinStore` is the same in
memory. Pins are keyed by the CID string as given: pinning ``Qm…`` and its CIDv1 ``bafy…``
makes two pins over the same blocks.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from bacalao.blockstore.fs import fsync_dir
from bacalao.errors import BacalaoError, DecodeError, Unavailable
from bacalao.ipld.cid import CID

RECURSIVE = "recursive"
PARTIAL = "partial"
KINDS = (RECURSIVE, PARTIAL)


class PinStore(Protocol):
    """The pinned roots, each ``recursive`` or ``partial``."""

    def add(self, cid: CID, kind: str = RECURSIVE) -> bool:
        """Pin ``cid``; ``False`` if it was already pinned (a recursive pin wins over partial)."""
        ...

    def add_many(self, cids: list[CID], kind: str = RECURSIVE) -> None:
        """Pin several roots in one write."""
        ...

    def remove(self, cid: CID) -> bool:
        """Unpin ``cid``; ``False`` if it was not pinned."""
        ...

    def list(self, kind: str | None = None) -> list[CID]:
        """Pinned roots (of one kind, or all), in the order they were first pinned."""
        ...


class MemoryPinStore:
    """Pins in a list, for memory repos."""

    def __init__(self) -> None:
        self._pins: dict[CID, str] = {}
        self._lock = threading.Lock()

    def add(self, cid: CID, kind: str = RECURSIVE) -> bool:
        """Pin ``cid``; ``False`` if already pinned."""
        with self._lock:
            return _merge(self._pins, cid, kind)

    def add_many(self, cids: list[CID], kind: str = RECURSIVE) -> None:
        """Pin several roots."""
        for cid in cids:
            self.add(cid, kind)

    def remove(self, cid: CID) -> bool:
        """Unpin ``cid``; ``False`` if it was not pinned."""
        with self._lock:
            if cid not in self._pins:
                return False
            del self._pins[cid]
            return True

    def list(self, kind: str | None = None) -> list[CID]:
        """Pinned roots, oldest first."""
        with self._lock:
            return [c for c, k in self._pins.items() if kind is None or k == kind]


def _merge(pins: dict, key, kind: str) -> bool:  # type: ignore[no-untyped-def]
    """Add ``key`` with ``kind``; an existing partial pin is upgraded to recursive."""
    if kind not in KINDS:
        raise ValueError(f"unknown pin kind {kind!r}")
    if key in pins and (pins[key] == RECURSIVE or kind == PARTIAL):
        return False
    pins[key] = kind
    return True


#: ``PRAGMA user_version`` of a pin database this code writes and reads.
SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE pins (
    seq  INTEGER PRIMARY KEY,   -- first-pinned order: a new row gets max(seq) + 1
    cid  TEXT NOT NULL UNIQUE,  -- the CID string as given
    kind TEXT NOT NULL CHECK (kind IN ('recursive', 'partial'))
)
"""

# One row per pin; pinning again keeps the row (and its place in the order), except that a
# recursive pin upgrades a partial one. ``rowcount`` is 0 when nothing changed.
_UPSERT = (
    "INSERT INTO pins (cid, kind) VALUES (?, ?) ON CONFLICT (cid) DO UPDATE SET kind ="
    f" excluded.kind WHERE pins.kind = '{PARTIAL}' AND excluded.kind = '{RECURSIVE}'"
)

_CORRUPT_HINT = (
    "restore it from a backup, or move it away to drop every pin (then gc removes all blocks)"
)


class SqlitePinStore:
    """Pins persisted in one SQLite file, shared by threads and processes.

    One connection per store (per process after a fork), used under a lock: pin calls are a
    few statements each, and the lock keeps one thread's transaction from interleaving with
    another's. Writes are ``BEGIN IMMEDIATE`` transactions, so other processes queue on SQLite's
    write lock (up to ``busy_timeout_s``) instead of failing. ``sync=True`` (the default) is
    ``synchronous=FULL``: an acknowledged pin survives a power loss, not only a killed process
    (``sync=False``, for scratch repos, is ``NORMAL``: it survives a killed process only).

    ``legacy_json`` names a ``pins.json`` written by the JSON pin store this replaces: if it is
    there, its pins are merged in (same order, recursive still winning) in the transaction that
    first opens the database, then it is renamed to ``pins.json.migrated``, so it is read once
    and nothing is lost. A corrupt one is a :class:`DecodeError` and stays where it is.

    Every SQLite failure surfaces as a :class:`BacalaoError` naming the file: a corrupt or
    foreign database is a :class:`DecodeError`, a lock held past the timeout or an unwritable
    data dir :class:`Unavailable`.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        sync: bool = True,
        legacy_json: Path | str | None = None,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.legacy_json = Path(legacy_json) if legacy_json is not None else None
        self._synchronous = "FULL" if sync else "NORMAL"
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._close_conn: weakref.finalize | None = None  # type: ignore[type-arg]
        # The rows as last read, decoded: list() answers from them while no connection has
        # written since (PRAGMA data_version says so), and a re-read decodes only new CIDs
        # (decoding a CID costs far more than reading its row). -1: re-read on the next list.
        self._rows: list[tuple[str, CID, str]] = []
        self._rows_version = -1

    # -- the protocol ---------------------------------------------------------------------------
    def add(self, cid: CID, kind: str = RECURSIVE) -> bool:
        """Pin ``cid``; ``False`` if already pinned (a recursive pin upgrades a partial one)."""
        _check_kind(kind)
        with self._write() as conn:
            changed = conn.execute(_UPSERT, (str(cid), kind)).rowcount > 0
        return changed

    def add_many(self, cids: list[CID], kind: str = RECURSIVE) -> None:
        """Pin several roots in one transaction: all of them or, on failure, none."""
        _check_kind(kind)
        if not cids:
            return
        with self._write() as conn:
            conn.executemany(_UPSERT, ((str(cid), kind) for cid in cids))

    def remove(self, cid: CID) -> bool:
        """Unpin ``cid``; ``False`` if it was not pinned."""
        with self._write() as conn:
            removed = conn.execute("DELETE FROM pins WHERE cid = ?", (str(cid),)).rowcount > 0
        return removed

    def list(self, kind: str | None = None) -> list[CID]:
        """Pinned roots (of one kind, or all), in the order they were first pinned."""
        with self._locked() as conn:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._rows_version:
                self._rows = _decode_rows(
                    conn.execute("SELECT cid, kind FROM pins ORDER BY seq").fetchall(),
                    self._rows,
                )
                self._rows_version = version
            rows = self._rows
        return [c for _, c, k in rows if kind is None or k == kind]

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        with self._lock:
            if self._close_conn is not None:
                self._close_conn()
            self._conn = self._close_conn = None
            self._rows, self._rows_version = [], -1

    # -- connection -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._connection()
            except sqlite3.ProgrammingError:
                raise  # a bug here, not a state of the file
            except sqlite3.DatabaseError as e:
                raise _db_error(self.path, e, self._busy_timeout_s) from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._locked() as conn:
            before = conn.total_changes
            with _transaction(conn, self._busy_timeout_s):
                yield conn
            if conn.total_changes != before:
                # PRAGMA data_version moves only for other connections' commits.
                self._rows_version = -1

    def _connection(self) -> sqlite3.Connection:
        """The open connection (called under ``_lock``); the first call sets the file up."""
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self._close_conn is not None:
            # Forked: the parent's connection must be neither used nor closed here.
            self._close_conn.detach()
        created = not self.path.exists()
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout_s,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            timeout = self._busy_timeout_s
            _while_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"), timeout)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            _while_locked(lambda: self._set_up(conn), timeout)
        except BaseException:
            conn.close()
            raise
        if created:
            fsync_dir(self.path.parent)  # the file's name is as durable as the pins in it
        # data_version numbers are per connection: a new one re-reads.
        self._conn, self._pid, self._rows_version = conn, os.getpid(), -1
        self._close_conn = weakref.finalize(self, conn.close)
        return conn

    def _set_up(self, conn: sqlite3.Connection) -> None:
        """Create the table, check the version, import a legacy ``pins.json`` once."""
        legacy = self.legacy_json
        if _schema_version(conn) == SCHEMA_VERSION and not (legacy and legacy.exists()):
            return  # the common case: nothing to write, so no write lock taken
        with _transaction(conn, self._busy_timeout_s):
            version = _schema_version(conn)
            if version == 0:
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise DecodeError(
                        f"pin database {self.path} holds tables that are not bacalao's pins",
                        hint="move it away; bacalao keeps its pins in pins.db in the data dir",
                    )
                conn.execute(_DDL)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise DecodeError(
                    f"pin database {self.path} has schema version {version}; this bacalao"
                    f" reads version {SCHEMA_VERSION}",
                    hint="use the bacalao release that wrote it (or a newer one)",
                )
            imported = _import_legacy(conn, legacy) if legacy is not None else False
        if imported and legacy is not None:
            # After the commit: a crash before this rename only merges the same pins again.
            with contextlib.suppress(FileNotFoundError):
                os.replace(legacy, legacy.with_name(legacy.name + ".migrated"))
                fsync_dir(legacy.parent)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, timeout_s: float = 30.0) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back if the block (or the commit) fails.

    The BEGIN is retried while SQLite reports the file locked without waiting itself (it
    does so for some conflicts, e.g. with a connection still switching the file to WAL).
    """
    _while_locked(lambda: conn.execute("BEGIN IMMEDIATE"), timeout_s)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


def _while_locked(step: Callable[[], object], timeout_s: float) -> None:
    """Run ``step``, again while the file is locked, for up to ``timeout_s``.

    Two processes opening a new pin database at once contend for the switch to WAL and the
    first transaction; SQLite answers some of those lock conflicts at once with "database is
    locked" instead of waiting in its busy handler (to rule out deadlocks), so waiting is done
    here.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
        time.sleep(0.005)


def _schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _import_legacy(conn: sqlite3.Connection, path: Path) -> bool:
    """Merge the pins of a ``pins.json`` (``{"version": 1, "pins": [{"cid", "type"}…]}``)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return False  # another process migrated it a moment ago
    try:
        doc = json.loads(raw)
        pins = [(str(p["cid"]), str(p.get("type", RECURSIVE))) for p in doc["pins"]]
        for cid, kind in pins:
            if kind not in KINDS:
                raise ValueError(f"unknown pin type {kind!r} for {cid}")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise DecodeError(
            f"pin file {path} is corrupt: {e}",
            hint="restore it from a backup, or delete it to drop its pins (then gc removes"
            " their blocks)",
        ) from None
    conn.executemany(_UPSERT, pins)
    return True


def _decode_rows(
    rows: list[tuple[str, str]], previous: list[tuple[str, CID, str]]
) -> list[tuple[str, CID, str]]:
    """Decode the rows' CIDs, reusing those decoded last time (most pins are old pins)."""
    known = {text: cid for text, cid, _ in previous}
    out = []
    for text, kind in rows:
        cid = known.get(text)
        out.append((text, cid if cid is not None else CID.decode(text), kind))
    return out


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown pin kind {kind!r}")


def _db_error(path: Path, e: sqlite3.DatabaseError, timeout_s: float) -> BacalaoError:
    """One line naming the file and what to do, instead of a sqlite3 traceback."""
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return DecodeError(f"pin database {path} is corrupt: {e}", hint=_CORRUPT_HINT)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return Unavailable(
            f"pin database {path} is locked (waited up to {timeout_s:g}s): {e}",
            hint="another bacalao process is writing to this data dir; retry when it is done",
        )
    return Unavailable(
        f"cannot use pin database {path}: {e}",
        hint="check that the data dir is writable and its disk is not full",
        retryable=False,
    )
