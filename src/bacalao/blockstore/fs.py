"""A flatfs-like block store on the local filesystem.

Layout (the same as Kubo's default ``flatfs`` with ``next-to-last/2`` sharding, so names are stable
and a Kubo ``blocks/`` directory reads the same)::

    <root>/SHARDING                     "/repo/flatfs/shard/v1/next-to-last/2"
    <root>/<XY>/<KEY>.data              KEY = base32(multihash), XY = KEY[-3:-1]

Writes are atomic: the bytes go to a temp file in the shard directory, are fsynced, then renamed
over the final name, so a reader (or a crash) never sees half a block. Two writers of the same
block (threads or processes) both write identical bytes and the last rename wins, which is
harmless. Every ``get`` hashes the bytes and refuses a corrupt file with an error naming the CID.

A file added with raw leaves is kept whole instead, as an *extent* (``<root>/extents/…``), each of
its leaves a ``<KEY>.ref`` pointing at its slice: see :mod:`bacalao.blockstore.extents`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bacalao.blockstore.base import (
    cid_for_multihash,
    identity_digest,
    key_to_multihash,
    multihash_key,
)
from bacalao.blockstore.extents import (
    EXTENT_SUFFIX,
    EXTENTS_DIR,
    REF_SUFFIX,
    ExtentWriter,
    read_ref,
    read_slice,
    sweep_extents,
)
from bacalao.errors import BlockNotFound, IntegrityError
from bacalao.ipld.cid import CID, RAW

#: ``(path, offset, length)``: where a block's bytes sit in a local file.
Location = tuple[str, int, int]

SHARDING = "/repo/flatfs/shard/v1/next-to-last/2\n"
_SUFFIX = ".data"
TMP_PREFIX = ".tmp-"
_counter = itertools.count()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_filesystem(path: Path) -> None:
    """Flush every dirty file and directory entry of the filesystem holding ``path``.

    One ``syncfs(2)`` makes a whole batch durable for the cost of writing it back, instead of one
    fsync per file and per directory; where ``syncfs`` is missing, ``sync(2)`` does the same for
    every filesystem.
    """
    fn = _syncfs()
    if fn is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if fn(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


@functools.lru_cache(maxsize=1 << 15)
def _key_of(multihash: bytes) -> str:
    """:func:`multihash_key`, remembered: base32 in Python costs more than the stat it names."""
    return multihash_key(multihash)


def start_writeback(fd: int, offset: int = 0, length: int = 0) -> None:
    """Ask the kernel to start writing ``fd``'s dirty pages now (all of them, or ``length``
    bytes from ``offset``), without waiting for them (``sync_file_range(SYNC_FILE_RANGE_WRITE)``),
    so a later sync finds little left to do."""
    fn = _sync_file_range()
    if fn is not None:
        fn(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE


@functools.cache
def _sync_file_range() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return fn  # type: ignore[no-any-return]


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).syncfs  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def write_atomic(path: Path, data: bytes | memoryview, *, sync: bool = True) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync and rename."""
    tmp = _write_tmp(path, data, sync=sync)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    if sync:
        fsync_dir(path.parent)


def tmp_name(path: Path) -> Path:
    """A temp name beside ``path`` (gc sweeps leftovers): unique across processes and threads."""
    # pid + thread + counter: unique across the processes and threads writing this directory.
    tag = f"{os.getpid()}-{threading.get_ident()}-{next(_counter)}"
    return path.with_name(f"{TMP_PREFIX}{path.name}.{tag}")


def _write_tmp(
    path: Path, data: bytes | memoryview, *, sync: bool, writeback: bool = False
) -> Path:
    tmp = tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
            elif writeback:
                f.flush()
                start_writeback(f.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class FsBlockStore:
    """Blocks as files under ``root`` (normally ``<data-dir>/blocks``).

    ``sync=False`` skips fsync (faster; a crash may then lose recent blocks, never corrupt them
    silently: a torn file fails its hash check on read and is rewritten by the next ``put``).
    """

    def __init__(self, root: Path | str, *, sync: bool = True, shard: bool = True) -> None:
        self.root = Path(root)
        self.sync = sync
        self.shard = shard
        self._dirs: set[Path] = set()  # shard directories known to exist (mkdir is not free)
        self._prefix = str(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / "SHARDING"
        if shard and not marker.exists():
            write_atomic(marker, SHARDING.encode(), sync=sync)

    # -- paths ----------------------------------------------------------------------------------
    def path_for(self, cid: CID) -> Path:
        """The file that holds ``cid``'s block (whether or not it exists)."""
        return Path(self._base(cid) + _SUFFIX)

    def ref_path(self, cid: CID) -> Path:
        """The ref that places ``cid``'s block inside an extent (whether or not it exists)."""
        return Path(self._base(cid) + REF_SUFFIX)

    def _base(self, cid: CID) -> str:
        """The block's path without its suffix, as a string: lookups (locality, gc, listing
        the files of a dataset) make thousands of them, and pathlib costs more than the stat."""
        key = _key_of(cid.multihash)
        if not self.shard:  # flat: staging areas, where a few files live briefly
            return f"{self._prefix}/{key}"
        return f"{self._prefix}/{key[-3:-1]}/{key}"

    def extent_path(self, name: str) -> Path:
        """The extent named ``name`` (the key of the file's root CID)."""
        return self.root / EXTENTS_DIR / name[-3:-1] / f"{name}{EXTENT_SUFFIX}"

    def extent_tmp_path(self) -> Path:
        """A fresh temp name for an extent being written (gc sweeps leftovers)."""
        directory = self.root / EXTENTS_DIR
        self.ensure_dir(directory)
        return tmp_name(directory / "extent")

    def ensure_dir(self, directory: Path) -> None:
        """Create a shard directory once (gc never removes them, so the cache stays true)."""
        if directory not in self._dirs:
            directory.mkdir(parents=True, exist_ok=True)
            self._dirs.add(directory)

    def write_file(
        self, path: Path, data: bytes | memoryview, *, sync: bool, writeback: bool = False
    ) -> None:
        """Atomically place ``data`` at ``path`` (temp file, optional fsync, rename);
        ``writeback`` starts writing it to disk without waiting (a batch syncs later)."""
        self.ensure_dir(path.parent)
        try:
            tmp = _write_tmp(path, data, sync=sync, writeback=writeback)
        except FileNotFoundError:  # the shard directory was removed behind our back
            self._dirs.discard(path.parent)
            self.ensure_dir(path.parent)
            tmp = _write_tmp(path, data, sync=sync, writeback=writeback)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise

    def move_in(self, src: Path, cid: CID) -> Path:
        """Rename an already written (and verified) file into place as ``cid``'s block."""
        dest = self.path_for(cid)
        self.ensure_dir(dest.parent)
        os.replace(src, dest)
        return dest

    # -- writes ---------------------------------------------------------------------------------
    def put(self, cid: CID, data: bytes) -> None:
        """Store ``data`` under ``cid``: atomic, idempotent, safe with concurrent writers."""
        if cid.is_identity:
            return
        path = self.path_for(cid)
        if block_present(path, len(data)):
            return
        self.write_file(path, data, sync=self.sync)
        if self.sync:
            fsync_dir(path.parent)

    def put_many(self, blocks: Iterable[tuple[CID, bytes]]) -> None:
        """Store several blocks, made durable together at the end (see :meth:`batch`)."""
        with self.batch() as batch:
            for cid, data in blocks:
                batch.put(cid, data)

    def batch(self) -> BlockBatch:
        """A sink whose puts are each atomic at once and durable together when it closes."""
        return BlockBatch(self)

    def delete(self, cid: CID) -> bool:
        """Remove the block (its file and its ref); ``True`` if it was there.

        An extent stays until :meth:`sweep_extents` finds no ref pointing at it.
        """
        if cid.is_identity:
            return False
        found = False
        base = self._base(cid)
        for path in (base + _SUFFIX, base + REF_SUFFIX):
            try:
                os.unlink(path)
                found = True
            except (FileNotFoundError, NotADirectoryError):
                pass
        return found

    # -- reads ----------------------------------------------------------------------------------
    def get(self, cid: CID, *, verify: bool = True) -> bytes:
        """The bytes of ``cid``, hashed and checked; ``BlockNotFound`` or ``IntegrityError``.

        ``verify=False`` skips the hash for callers that just wrote the block themselves.
        """
        inline = identity_digest(cid)
        if inline is not None:
            return inline
        base = self._base(cid)
        path = base + _SUFFIX
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            data, path = read_slice(self, cid, read_ref(base + REF_SUFFIX))
        if not verify:
            return data
        try:
            cid.verify(data)
        except IntegrityError as e:
            if "does not match" not in e.message:  # e.g. an unsupported hash function
                raise
            raise IntegrityError(
                f"block {cid} is corrupt on disk: {path} does not hash to its CID",
                hint=f"delete {path} and add or import the data again",
            ) from None
        return data

    def has(self, cid: CID) -> bool:
        """Whether the block is stored (identity CIDs always are)."""
        if cid.is_identity:
            return True
        base = self._base(cid)
        if os.path.isfile(base + _SUFFIX):
            return True
        ref = read_ref(base + REF_SUFFIX)
        return ref is not None and self.extent_path(ref[0]).is_file()

    def size(self, cid: CID) -> int:
        """The block's length in bytes."""
        inline = identity_digest(cid)
        if inline is not None:
            return len(inline)
        base = self._base(cid)
        try:
            return os.stat(base + _SUFFIX).st_size
        except (FileNotFoundError, NotADirectoryError):
            ref = read_ref(base + REF_SUFFIX)
            if ref is None:
                raise BlockNotFound(cid) from None
            return ref.block_size

    def locate(self, cid: CID) -> Location | None:
        """Where ``cid``'s bytes sit in a local file: its block file, or its slice of an extent.

        ``None`` when the block is not here. Nothing is read or verified: the caller vouches
        for local files (they were verified when stored) or hashes what it reads.
        """
        base = self._base(cid)
        try:
            return base + _SUFFIX, 0, os.stat(base + _SUFFIX).st_size
        except (FileNotFoundError, NotADirectoryError):
            pass
        ref = read_ref(base + REF_SUFFIX)
        if ref is None or ref.dagpb:  # a dag-pb leaf's framing is in no file
            return None
        return str(self.extent_path(ref.name)), ref.offset, ref.length

    def whole_file(self, cid: CID) -> Path | None:
        """A local file holding exactly the bytes of the UnixFS file ``cid``, if there is one.

        That is a raw block's own file (a one-chunk file), or the extent written when the file
        was added with raw leaves. Callers check its size against the file's and may hard-link
        it, read-only: neither is ever written in place.
        """
        if cid.is_identity:
            return None
        if cid.codec == RAW:
            path = self.path_for(cid)
        else:
            path = self.extent_path(multihash_key(cid.multihash))
        return path if path.is_file() else None

    def iter_cids(self) -> Iterator[CID]:
        """Every stored block (block files and extent refs), as a CIDv1 ``raw`` CID."""
        last = None
        for mh, _path in self._iter_entries((_SUFFIX, REF_SUFFIX)):
            if mh != last:  # a block with both a file and a ref is listed once
                yield cid_for_multihash(mh)
            last = mh

    def sweep_extents(self) -> tuple[int, int]:
        """Remove every extent no ref points at; ``(extents, bytes)`` removed (gc, no writers)."""
        return sweep_extents(self)

    def iter_files(self) -> Iterator[tuple[bytes, Path]]:
        """``(multihash, path)`` of every block file (temp files and foreign names skipped)."""
        return self._iter_entries((_SUFFIX,))

    def _iter_entries(self, suffixes: tuple[str, ...]) -> Iterator[tuple[bytes, Path]]:
        if not self.shard:
            shard_names = [""]
        else:
            with os.scandir(self.root) as shards:
                shard_names = sorted(e.name for e in shards if e.is_dir() and len(e.name) == 2)
        for shard in shard_names:
            try:
                with os.scandir(self.root / shard) as entries:
                    names = sorted(e.name for e in entries)
            except FileNotFoundError:
                continue
            for name in names:
                if name.startswith("."):
                    continue
                key, dot, suffix = name.rpartition(".")
                if not dot or f".{suffix}" not in suffixes:
                    continue
                mh = key_to_multihash(key)
                if mh is not None:
                    yield mh, self.root / shard / name

    def iter_tmp_files(self) -> Iterator[Path]:
        """Leftover temp files (from writers killed mid-write)."""
        yield from self.root.glob(f"{TMP_PREFIX}*")
        for shard in self.root.iterdir():
            if shard.is_dir():
                yield from shard.glob(f"{TMP_PREFIX}*")


def block_present(path: Path, size: int) -> bool:
    """Whether a block file of ``size`` bytes is already at ``path``."""
    # A file of the wrong size is a torn write from a crash with sync off: write it again.
    try:
        return path.stat().st_size == size
    except (FileNotFoundError, NotADirectoryError):
        return False


class BlockBatch:
    """Puts into an :class:`FsBlockStore` that become durable together when the batch closes.

    Each put is atomic at once (temp file, rename) but is not fsynced; ``close`` makes the whole
    batch durable with one filesystem sync. Callers write the pin that protects the blocks only
    after ``close``, so a crash can leave unpinned blocks (gc removes them) but never a pin over
    blocks that were lost. A block torn by a crash has the wrong size or hash: ``put`` rewrites
    the first, ``get`` refuses the second.
    """

    #: up to this many files, ``close`` fsyncs them one by one: a filesystem-wide sync would also
    #: flush unrelated dirty data (a job's freshly written inputs, say) and cost far more
    SMALL_BATCH = 64

    #: writes in flight at most (each holds its block: 64 × 1 MiB at worst)
    MAX_IN_FLIGHT = 64

    #: the first puts of a batch are written by the caller: a job's result is a handful of tiny
    #: blocks, for which starting writer threads would cost more than the writes themselves
    INLINE_PUTS = 16
    INLINE_BYTES = 64 * 1024

    def __init__(self, store: FsBlockStore, *, writers: int = 2) -> None:
        self._store = store
        self._paths: list[Path] = []
        self._written = False
        self._writers = writers
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: deque[Future[None]] = deque()
        self._puts = 0
        self._refs = 0  # extent refs made: they count towards SMALL_BATCH
        self._ref_dirs: set[Path] = set()

    def put(self, cid: CID, data: bytes) -> None:
        """Store one block (atomic once the batch closes or fails, durable once it closes).

        The file is written on a small pool of writer threads, so the caller (the importer,
        hashing the next chunks) does not wait for the filesystem; at most
        :data:`MAX_IN_FLIGHT` writes are pending, and a failed write fails a later ``put`` or
        ``close``.
        """
        if cid.is_identity:
            return
        path = self._store.path_for(cid)
        self._written = True
        self._puts += 1
        inline = self._pool is None and self._puts <= self.INLINE_PUTS
        if self._writers <= 0 or (inline and len(data) <= self.INLINE_BYTES):
            self._write(path, data)
            return
        self.submit(self._write, path, data)

    def submit(self, fn: Callable[..., None], *args: object) -> Future[None]:
        """Run ``fn(*args)`` on a writer thread (at once when the batch has none), keeping at
        most :data:`MAX_IN_FLIGHT` writes pending; a failed write fails a later call."""
        if self._writers <= 0:
            done: Future[None] = Future()
            fn(*args)
            done.set_result(None)
            return done
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._writers, thread_name_prefix="bacalao-put")
        while len(self._in_flight) >= self.MAX_IN_FLIGHT or (
            self._in_flight and self._in_flight[0].done()
        ):
            self._in_flight.popleft().result()  # re-raises a failed write here
        fut = self._pool.submit(fn, *args)
        self._in_flight.append(fut)
        return fut

    def _write(self, path: Path, data: bytes) -> None:
        # A block already in place is not synced again: it was written by a batch that syncs it
        # before it pins anything over it (a job's empty stderr, its exitCode "0", an empty
        # outputs/ are the same blocks job after job).
        if not block_present(path, len(data)):
            self._store.write_file(path, data, sync=False, writeback=self._store.sync)
            if len(self._paths) <= self.SMALL_BATCH:
                self._paths.append(path)  # list.append is atomic: writer threads call this

    # -- extents (see bacalao.blockstore.extents) -------------------------------------------------
    def begin_extent(self, *, dagpb_leaves: bool = False) -> ExtentWriter:
        """A writer for the leaves of the next file, its chunks kept whole as one extent."""
        return ExtentWriter(self, self._store, dagpb_leaves=dagpb_leaves)

    def written(self, path: Path | None = None, *, ref_dir: Path | None = None) -> None:
        """Record a file (an extent, a block) or a ref's directory this batch must make durable."""
        self._written = True
        if path is not None and len(self._paths) <= self.SMALL_BATCH:
            self._paths.append(path)
        if ref_dir is not None:
            self._refs += 1
            self._ref_dirs.add(ref_dir)

    def _drain(self) -> None:
        try:
            while self._in_flight:
                self._in_flight.popleft().result()
        finally:
            for fut in self._in_flight:
                fut.cancel()
            self._in_flight.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def close(self) -> None:
        """Wait for every write, then make the batch durable (when the store syncs)."""
        self._drain()
        if self._written and self._store.sync:
            if len(self._paths) + self._refs <= self.SMALL_BATCH:
                for path in self._paths:
                    _fsync_file(path)
                for parent in {p.parent for p in self._paths} | self._ref_dirs:
                    fsync_dir(parent)
            else:
                sync_filesystem(self._store.root)
        self._written = False
        self._paths = []
        self._refs = 0
        self._ref_dirs = set()

    def __enter__(self) -> BlockBatch:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the caller's error is the one to report
            self._drain()
