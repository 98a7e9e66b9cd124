"""A node's local store: blocks, pins and the rules that keep them consistent.

:class:`Repo` composes a :class:`~bacalao.blockstore.base.BlockStore`, a
:class:`~bacalao.blockstore.pins.PinStore` and a reader/writer lock. On disk (:meth:`Repo.open`)::

    <data-dir>/blocks/      flatfs-like block files (see fs.py)
    <data-dir>/pins.db      pinned roots, recursive or partial (SQLite, WAL; see pins.py)
    <data-dir>/staging/     CAR imports in progress (one directory each)
    <data-dir>/repo.lock    writers hold it shared, gc exclusive

Invariants:

* A pinned root's DAG is complete in ``blocks``: ``pin`` walks it first; ``add`` and
  ``import_car`` pin only after every block is stored (and fsynced).
* A failed CAR import changes nothing: blocks are staged and verified first, then moved into
  ``blocks`` and pinned only when the whole CAR read cleanly and every root's DAG is complete.
* ``gc`` removes exactly the blocks no pinned root reaches, and never races a writer.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from bacalao.blockstore.base import BlockStore, cid_for_multihash
from bacalao.blockstore.fs import FsBlockStore, block_present, sync_filesystem
from bacalao.blockstore.locks import FileRWLock, RWLock, ThreadRWLock
from bacalao.blockstore.memory import MemoryBlockStore
from bacalao.blockstore.pins import PARTIAL, RECURSIVE, MemoryPinStore, PinStore, SqlitePinStore
from bacalao.errors import BlockNotFound, IntegrityError, InvalidInput, NotFound
from bacalao.ipld.cid import CID, RAW

if TYPE_CHECKING:
    from bacalao.ipld.blocks import BlockGetter
    from bacalao.ipld.importer import ImportedNode
    from bacalao.ipld.profiles import ImportProfile

#: Kubo's ``dag import`` refuses blocks over 2 MiB unless ``--allow-big-block``: peers won't
#: exchange them.
MAX_BLOCK_SIZE = 2 * 1024 * 1024
_staging_ids = itertools.count()


@dataclass(frozen=True)
class GcResult:
    """What :meth:`Repo.gc` removed."""

    removed: list[CID] = field(default_factory=list)
    bytes: int = 0

    @property
    def count(self) -> int:
        """How many blocks were removed."""
        return len(self.removed)


class Repo:
    """Blocks + pins + lock: what ``bacalao data …`` and a compute node work against."""

    def __init__(
        self,
        blocks: BlockStore,
        pins: PinStore,
        lock: RWLock,
        *,
        staging_dir: Path | None = None,
    ) -> None:
        self.blocks = blocks
        self.pin_store = pins
        self.lock = lock
        self.staging_dir = staging_dir

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: Path | str, *, sync: bool = True, create: bool = True) -> Repo:
        """Open the repo under ``data_dir``, creating it unless ``create=False``.

        With ``create=False`` (read-only commands) a missing data dir is a :class:`NotFound`.
        """
        root = Path(data_dir).expanduser()
        if not create and not (root / "blocks").is_dir():
            raise NotFound(
                f"no bacalao data in {root}",
                hint="add or import data first (bacalao data add PATH), or pass --data-dir /"
                " set BACALAO_DATA_DIR to the data dir you used",
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InvalidInput(
                f"cannot create data dir {root}: {e.strerror}",
                hint="pass a writable --data-dir or set BACALAO_DATA_DIR",
            ) from None
        if not root.is_dir():
            raise InvalidInput(
                f"data dir {root} is not a directory",
                hint="pass --data-dir pointing at a directory",
            )
        return cls(
            FsBlockStore(root / "blocks", sync=sync),
            SqlitePinStore(root / "pins.db", sync=sync, legacy_json=root / "pins.json"),
            FileRWLock(root / "repo.lock"),
            staging_dir=root / "staging",
        )

    @classmethod
    def memory(cls) -> Repo:
        """A repo that lives in memory (tests, devstack)."""
        return cls(MemoryBlockStore(), MemoryPinStore(), ThreadRWLock())

    # -- adding ---------------------------------------------------------------------------------
    def add_path(
        self,
        path: Path | str,
        profile: ImportProfile,
        *,
        hidden: bool = False,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
        pin: bool = True,
    ) -> ImportedNode:
        """Import a file or directory into the store and pin its root (like ``ipfs add``)."""
        from bacalao.ipld.importer import import_path

        return self._imported(
            lambda sink: import_path(
                path, profile, sink, hidden=hidden, workers=workers, progress=progress
            ),
            pin=pin,
        )

    def add_entries(
        self,
        entries: list[tuple[str, Any]],
        profile: ImportProfile,
        *,
        hidden: bool = False,
    ) -> ImportedNode:
        """Import a directory of named entries (bytes, paths or lists of entries; see
        :func:`~bacalao.ipld.importer.import_entries`) and pin its root."""
        from bacalao.ipld.importer import import_entries

        return self._imported(
            lambda sink: import_entries(entries, profile, sink, hidden=hidden), pin=True
        )

    def add_bytes(self, data: bytes, profile: ImportProfile, *, pin: bool = True) -> ImportedNode:
        """Import ``data`` as one file and pin its root."""
        from bacalao.ipld.importer import import_bytes

        return self._imported(lambda sink: import_bytes(data, profile, sink), pin=pin)

    def add_stream(
        self,
        stream: BinaryIO,
        profile: ImportProfile,
        *,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
        pin: bool = True,
    ) -> ImportedNode:
        """Import everything left in ``stream`` as one file and pin its root."""
        from bacalao.ipld.importer import import_stream

        return self._imported(
            lambda sink: import_stream(stream, profile, sink, workers=workers, progress=progress),
            pin=pin,
        )

    def _imported(self, build: Callable[[BlockStore], ImportedNode], *, pin: bool) -> ImportedNode:
        """``build(sink)`` with gc held off and the blocks made durable, then its root pinned."""
        with self.lock.shared(), self._sink() as sink:
            node = build(sink)
        if pin:
            self._pin_trusted([node.cid])
        return node

    def reader(self) -> BlockGetter:
        """A getter for consumers that hash every block themselves (exporter, ``write_car``).

        It skips the store's own check, so each block is hashed once instead of twice.
        """
        return _TrustingView(self.blocks)

    @contextlib.contextmanager
    def adding(self) -> Iterator[BlockStore]:
        """A sink for blocks a caller builds itself (merged trees, aggregates): gc waits while it
        is open. Pin the root with :meth:`pin_trusted` after the block is stored."""
        with self.lock.shared(), self._sink() as sink:
            yield sink

    def pin_trusted(self, cid: CID) -> None:
        """Pin a root whose DAG the caller knows is complete (it just stored it)."""
        self._pin_trusted([cid])

    def pin_partial(self, cid: CID) -> None:
        """Keep what is here of ``cid``'s DAG, the rest being held by other nodes (a merged
        result or an aggregate: this node made the directory blocks, not the linked data)."""
        self.pin_store.add(cid, PARTIAL)

    @contextlib.contextmanager
    def _sink(self) -> Iterator[BlockStore]:
        if isinstance(self.blocks, FsBlockStore):
            with self.blocks.batch() as batch:
                yield batch  # type: ignore[misc]
        else:
            yield self.blocks

    # -- CAR ------------------------------------------------------------------------------------
    def import_car(
        self,
        stream: BinaryIO,
        *,
        pin_roots: bool = True,
        allow_big_block: bool = False,
    ) -> list[CID]:
        """Store every block of a CAR (v1 or v2) and pin its roots, or change nothing at all.

        Raises ``DecodeError`` (malformed or truncated CAR), ``IntegrityError`` (a block does not
        match its CID, or a root's DAG is incomplete while ``pin_roots``) or ``InvalidInput``
        (a block over 2 MiB without ``allow_big_block``). Returns the header's roots.
        """
        from bacalao.ipld.car import CarReader

        with self.lock.shared(), self._staging() as staged:
            reader = CarReader(stream)
            roots = list(reader.header.roots)
            for cid, block in reader:
                if len(block) > MAX_BLOCK_SIZE and not allow_big_block:
                    raise InvalidInput(
                        f"block {cid} is {len(block)} bytes, over the {MAX_BLOCK_SIZE} byte limit",
                        hint="peers will not exchange it; pass --allow-big-block to import anyway",
                    )
                staged.put(cid, block)
            if pin_roots:
                overlay = _Overlay(staged, self.blocks)
                for root in roots:
                    _check_complete(overlay, root, what="the CAR")
            added = _commit(staged, self.blocks)
            try:
                if pin_roots:
                    self.pin_store.add_many(roots)
            except BaseException:
                for cid in added:
                    self.blocks.delete(cid)
                raise
        return roots

    def export_car(self, root: CID, out: BinaryIO) -> int:
        """Write ``root``'s DAG as a CARv1 in ``dag export`` order; returns the bytes written."""
        from bacalao.ipld.car import write_car

        return write_car(self.reader(), root, out)

    @contextlib.contextmanager
    def _staging(self) -> Iterator[BlockStore]:
        if self.staging_dir is None or not isinstance(self.blocks, FsBlockStore):
            yield MemoryBlockStore()
            return
        name = f"{os.getpid()}-{threading.get_ident()}-{next(_staging_ids)}"
        where = self.staging_dir / name
        try:
            # Flat and unsynced: staged files are renamed into blocks/ (then synced) or dropped.
            yield FsBlockStore(where, sync=False, shard=False)
        finally:
            shutil.rmtree(where, ignore_errors=True)

    # -- pins -----------------------------------------------------------------------------------
    def pin(self, cid: CID) -> bool:
        """Pin ``cid`` recursively once its whole DAG is here; ``False`` if already pinned."""
        with self.lock.shared():
            _check_complete(self.blocks, cid, what="this store")
            return self.pin_store.add(cid)

    def _pin_trusted(self, cids: list[CID]) -> None:
        self.pin_store.add_many(cids)

    def unpin(self, cid: CID) -> None:
        """Remove a pin (its blocks stay until ``gc``); ``NotFound`` if ``cid`` is not pinned."""
        if not self.pin_store.remove(cid):
            raise NotFound(
                f"{cid} is not pinned",
                hint="list the pinned roots with `bacalao data pins`",
            )

    def pins(self) -> list[CID]:
        """Every pinned root (recursive and partial), oldest first."""
        return self.pin_store.list()

    def roots(self) -> list[CID]:
        """The roots this node holds completely (its recursive pins), for the orchestrator."""
        return self.pin_store.list(RECURSIVE)

    # -- garbage collection ---------------------------------------------------------------------
    def gc(self) -> GcResult:
        """Delete every block that no pinned root reaches; waits for writers to finish."""
        with self.lock.exclusive():
            live = self._mark()
            removed: list[CID] = []
            total = 0
            for cid in list(self.blocks.iter_cids()):
                if cid.multihash in live:
                    continue
                size = self.blocks.size(cid)
                if self.blocks.delete(cid):
                    removed.append(cid)
                    total += size
            if isinstance(self.blocks, FsBlockStore):
                self.blocks.sweep_extents()  # the removed refs' bytes, counted above
            self._sweep_leftovers()
        return GcResult(removed, total)

    def _mark(self) -> set[bytes]:
        """The multihashes every pinned root reaches.

        The same walk as ``iter_dag``, except that raw blocks are never read (they have no
        links) and nothing is re-hashed: marking must not cost a read of the whole store.
        """
        from bacalao.ipld.traverse import links_of

        live: set[bytes] = set()
        seen: set[CID] = set()
        # (cid, under a partial pin): a partial pin's missing blocks are held elsewhere, so the
        # walk stops there instead of aborting; a recursive pin's must all be here
        stack = [(c, True) for c in self.pin_store.list(PARTIAL)]
        stack += [(c, False) for c in self.pin_store.list(RECURSIVE)]
        while stack:
            cid, partial = stack.pop()
            if cid in seen:
                continue
            if partial and not self.blocks.has(cid):
                continue
            seen.add(cid)
            live.add(cid.multihash)
            if cid.codec == RAW:
                continue
            stack.extend((c, partial) for c in links_of(cid, _get_unverified(self.blocks, cid)))
        return live

    def _sweep_leftovers(self) -> None:
        # Under the exclusive lock no writer is active: any staging dir or temp file is debris
        # from a killed process.
        if self.staging_dir is not None and self.staging_dir.exists():
            shutil.rmtree(self.staging_dir, ignore_errors=True)
        if isinstance(self.blocks, FsBlockStore):
            for tmp in list(self.blocks.iter_tmp_files()):
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


def _get_unverified(store: BlockStore, cid: CID) -> bytes:
    return store.get(cid, verify=False)


class _TrustingView:
    """``get`` without the store's hash check (the caller verifies)."""

    def __init__(self, store: BlockStore) -> None:
        self._store = store

    def get(self, cid: CID) -> bytes:
        return self._store.get(cid, verify=False)


class _Overlay:
    """Reads staged blocks first, then the store (for the completeness check of an import)."""

    def __init__(self, first: BlockStore, second: BlockStore) -> None:
        self._first = first
        self._second = second

    def get(self, cid: CID) -> bytes:
        try:
            # Staged blocks were hashed as the CAR was read.
            return _get_unverified(self._first, cid)
        except BlockNotFound:
            return self._second.get(cid)


def _check_complete(getter: object, root: CID, *, what: str) -> None:
    from bacalao.ipld.traverse import iter_dag

    try:
        for _ in iter_dag(getter, root, verify=False):  # type: ignore[arg-type]
            pass
    except BlockNotFound as e:
        raise IntegrityError(
            f"the DAG of {root} is incomplete in {what}: block {e.cid} is missing",
            hint="import the missing blocks first (bacalao data import), or import a partial"
            " CAR with --no-pin",
        ) from None


def _commit(staged: BlockStore, target: BlockStore) -> list[CID]:
    """Move staged blocks into ``target``; returns those that were new (for a rollback)."""
    added: list[CID] = []
    try:
        if isinstance(staged, FsBlockStore) and isinstance(target, FsBlockStore):
            for mh, src in list(staged.iter_files()):
                cid = cid_for_multihash(mh)
                if block_present(target.path_for(cid), src.stat().st_size):
                    continue
                target.move_in(src, cid)
                added.append(cid)
            if added and target.sync:
                sync_filesystem(target.root)  # every new block durable before the pin is written
        else:
            for cid in list(staged.iter_cids()):
                if not target.has(cid):
                    target.put(cid, staged.get(cid))
                    added.append(cid)
    except BaseException:
        for cid in added:
            target.delete(cid)
        raise
    return added
