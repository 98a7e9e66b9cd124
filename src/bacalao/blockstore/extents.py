"""Whole-file extents: a file's raw leaves kept as one contiguous file of the block store.

A file imported with raw leaves (CIDv1, ``unixfs-v1-2025``) is a run of chunks whose blocks *are*
the file's bytes, in order. Instead of one block file per chunk, the store can keep those bytes
once, as the file itself::

    <root>/extents/<XY>/<FKEY>.data     the file's bytes; FKEY = key of the file's root CID
    <root>/<XY>/<KEY>.ref               one per leaf: a symlink whose target (never followed)
                                        reads ``OFFSET+LENGTH@FKEY``, or ``pb:OFFSET+LENGTH@FKEY``
                                        for a dag-pb leaf (``kubo-v0``)

Reading a leaf is then a ``pread`` of its slice, still hashed against the leaf's CID by ``get``.
A dag-pb leaf is its chunk inside a framing that depends on the chunk's length alone
(:func:`~bacalao.ipld.filedag.pb_leaf_affixes`): the extent keeps the chunk, a read puts the
framing back around it before hashing.
What this buys is the whole file as one inode: a compute node hands it to a job as a hard link
(read-only inside the sandbox) instead of copying every byte out of the block files.

Invariants:

* An extent is immutable (mode 0444, written under a temp name and renamed into place) and
  holds exactly the bytes of the file named by FKEY: the importer writes the very chunks it
  hashed, in file order.
* A ref points at an extent that was in place before the ref was made. A leaf that already has
  a ref keeps it (the first writer wins: two files sharing a chunk both stay readable); a leaf
  already stored as a block file keeps its file as well.
* gc removes refs like blocks, then every extent no ref points at
  (:meth:`~bacalao.blockstore.fs.FsBlockStore.sweep_extents`). A hard link held by a running
  job keeps that job's bytes alive whatever gc does.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from bacalao.blockstore.base import multihash_key
from bacalao.errors import BlockNotFound, IntegrityError
from bacalao.ipld.filedag import pb_leaf_affixes, pb_leaf_chunk

if TYPE_CHECKING:
    from bacalao.blockstore.fs import BlockBatch, FsBlockStore
    from bacalao.ipld.cid import CID

EXTENTS_DIR = "extents"
REF_SUFFIX = ".ref"
EXTENT_SUFFIX = ".data"


DAGPB_PREFIX = "pb:"
#: Consecutive leaves are written to an extent together, this many bytes a call (kubo-v0's
#: 256 KiB leaves one by one cost a pwrite and a write-back request each).
WRITE_BYTES = 1 << 20
WRITE_PARTS = 256  # well under IOV_MAX (1024) for pwritev, whatever the chunk size


class Ref(NamedTuple):
    """A decoded ref: the leaf's chunk is ``length`` bytes at ``offset`` of extent ``name``;
    ``dagpb`` when the leaf is that chunk in its dag-pb framing."""

    name: str
    offset: int
    length: int
    dagpb: bool = False

    @property
    def block_size(self) -> int:
        if not self.dagpb:
            return self.length
        head, tail = pb_leaf_affixes(self.length)
        return len(head) + self.length + len(tail)


def encode_ref(name: str, offset: int, length: int, *, dagpb: bool = False) -> str:
    """The symlink target of a leaf's ref: ``OFFSET+LENGTH@NAME`` (``pb:`` first for dag-pb)."""
    return f"{DAGPB_PREFIX if dagpb else ''}{offset}+{length}@{name}"


def read_ref(ref: Path | str) -> Ref | None:
    """The ref at ``ref`` decoded, or ``None`` if there is none."""
    try:
        return decode_ref(os.readlink(ref))
    except OSError:  # absent, or not a symlink
        return None


def decode_ref(target: str) -> Ref | None:
    """A ref's target decoded, or ``None`` if it is not one."""
    dagpb = target.startswith(DAGPB_PREFIX)
    if dagpb:
        target = target[len(DAGPB_PREFIX) :]
    where, sep, name = target.partition("@")
    offset, plus, length = where.partition("+")
    if not (sep and plus and name and offset.isdigit() and length.isdigit()):
        return None
    if "/" in name or name.startswith("."):
        return None
    return Ref(name, int(offset), int(length), dagpb)


def read_slice(store: FsBlockStore, cid: CID, ref: Ref | None) -> tuple[bytes, str]:
    """The bytes of ``cid`` from its slice of an extent (not hashed here), given its decoded
    ``ref``, and the extent's path (a dag-pb leaf's framing put back around its chunk).

    ``BlockNotFound`` when there is no ref or no extent; ``IntegrityError`` when the extent is
    shorter than the ref says.
    """
    if ref is None:
        raise BlockNotFound(cid)
    name, offset, length, dagpb = ref
    extent = store.extent_path(name)
    try:
        fd = os.open(extent, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise BlockNotFound(cid) from None
    try:
        data = os.pread(fd, length, offset)
    finally:
        os.close(fd)
    if len(data) != length:
        raise IntegrityError(
            f"block {cid} is corrupt on disk: extent {extent} is shorter than its ref says",
            hint=f"delete {extent} and add or import the data again",
        )
    if dagpb:
        head, tail = pb_leaf_affixes(length)
        data = b"".join((head, data, tail))
    return data, str(extent)


def sweep_extents(store: FsBlockStore) -> tuple[int, int]:
    """Remove every extent of ``store`` that no ref points at; ``(extents, bytes)`` removed.

    For gc, with writers excluded: an extent being written has no ref yet.
    """
    top = store.root / EXTENTS_DIR
    if not top.is_dir():
        return 0, 0
    live = set()
    for _mh, ref in store._iter_entries((REF_SUFFIX,)):
        decoded = read_ref(ref)
        if decoded is not None:
            live.add(decoded.name)
    count = total = 0
    for shard in sorted(top.iterdir()):
        if not shard.is_dir() or shard.name.startswith("."):
            continue
        for path in sorted(shard.glob(f"*{EXTENT_SUFFIX}")):
            if path.name.startswith(".") or path.name[: -len(EXTENT_SUFFIX)] in live:
                continue
            with contextlib.suppress(FileNotFoundError):
                size = path.stat().st_size
                path.unlink()
                count += 1
                total += size
    return count, total


class ExtentWriter:
    """One file's leaves, written in order into one new extent of a batch's store.

    Made by :meth:`BlockBatch.begin_extent` for each file the importer reads; it calls
    :meth:`add` for every leaf (instead of ``put``), then :meth:`finish` with the file's root, or
    :meth:`abort` when the import fails. A file of one chunk becomes that chunk's ordinary block
    file (it already is the whole file); an empty file never reaches the writer. The bytes are
    written and the refs made on the batch's writer threads, as block files are.

    With ``dagpb_leaves`` each leaf is a dag-pb File node (``kubo-v0``): the extent gets its
    chunk, the ref says ``pb:``.
    """

    def __init__(
        self, batch: BlockBatch, store: FsBlockStore, *, dagpb_leaves: bool = False
    ) -> None:
        from bacalao.blockstore import fs

        self._fs = fs
        self._batch = batch
        self._store = store
        self._dagpb = dagpb_leaves
        self._leaves: list[tuple[CID, int, int]] = []
        self._size = 0
        self._fd: int | None = None
        self._tmp: Path | None = None
        self._writes: list[Future[None]] = []
        # leaves not yet handed to a writer: written together, one pwritev per WRITE_BYTES
        self._pending: list[bytes | memoryview] = []
        self._pending_at = 0
        self._pending_bytes = 0
        self._first: tuple[CID, bytes] | None = None

    def add(self, cid: CID, data: bytes) -> None:
        """Append the next leaf (in file order); the write may finish on a writer thread.

        The first leaf is only held: a file of one chunk (most of a job's result: stdout,
        stderr, exitCode) becomes an ordinary block put, with no extent file and no writer
        thread.
        """
        if self._first is None and not self._leaves:
            self._first = (cid, data)
            return
        if self._first is not None:
            first, self._first = self._first, None
            self._append(*first)
        self._append(cid, data)

    def _append(self, cid: CID, data: bytes) -> None:
        if self._dagpb:
            found = pb_leaf_chunk(data)
            if found is None:  # the importer frames every leaf so: a bug, not bad input
                raise ValueError(f"leaf {cid} is not a dag-pb File leaf as the importer makes it")
            start, n = found
            data = memoryview(data)[start : start + n]  # type: ignore[assignment]
        if self._fd is None:
            self._tmp = self._store.extent_tmp_path()
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            self._fd = os.open(self._tmp, flags, 0o644)
        self._leaves.append((cid, self._size, len(data)))
        if not self._pending:
            self._pending_at = self._size
        self._pending.append(data)
        self._pending_bytes += len(data)
        self._size += len(data)
        if self._pending_bytes >= WRITE_BYTES or len(self._pending) >= WRITE_PARTS:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        parts, at = self._pending, self._pending_at
        self._pending, self._pending_bytes = [], 0
        self._writes.append(self._batch.submit(self._write_at, self._fd, parts, at))

    def finish(self, root: CID) -> None:
        """Put the extent in place (or the lone chunk's block file), then the leaves' refs."""
        if self._first is not None:
            first, self._first = self._first, None
            self._batch.put(*first)
            return
        if self._fd is None:
            return
        try:
            self._flush_pending()
            self._wait()
        except BaseException:
            self.abort()
            raise
        os.close(self._fd)
        self._fd = None
        tmp, self._tmp = self._tmp, None
        assert tmp is not None
        if len(self._leaves) == 1 and not self._dagpb:  # the extent is the leaf's block
            self._place(tmp, self._store.path_for(self._leaves[0][0]), self._size, mode=None)
            return
        name = multihash_key(root.multihash)
        # the extent is in place before any ref points at it
        self._place(tmp, self._store.extent_path(name), self._size, mode=0o444)
        for cid, offset, length in self._leaves:
            ref = self._store.ref_path(cid)
            self._batch.written(ref_dir=ref.parent)
            target = encode_ref(name, offset, length, dagpb=self._dagpb)
            self._batch.submit(self._link, ref, target)

    def abort(self) -> None:
        """Drop what was written (the import failed); safe to call twice."""
        self._first = None
        self._pending, self._pending_bytes = [], 0
        with contextlib.suppress(BaseException):
            self._wait()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None

    def _wait(self) -> None:
        writes, self._writes = self._writes, []
        for fut in writes:
            fut.result()

    def _write_at(self, fd: int, parts: list[bytes | memoryview], offset: int) -> None:
        views = [memoryview(p).cast("B") for p in parts]
        total = sum(len(v) for v in views)
        at = offset
        while views:
            n = os.pwritev(fd, views, at)
            at += n
            while views and n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            if views and n:
                views[0] = views[0][n:]
        if self._store.sync:  # start the write-back at once, as for block files
            self._fs.start_writeback(fd, offset, total)

    def _place(self, tmp: Path, path: Path, size: int, *, mode: int | None) -> None:
        """Rename ``tmp`` to ``path`` unless the same bytes are there already."""
        if self._fs.block_present(path, size):
            os.unlink(tmp)
        else:
            if mode is not None:
                os.chmod(tmp, mode)
            self._store.ensure_dir(path.parent)
            os.replace(tmp, path)
        self._batch.written(path)

    def _link(self, ref: Path, target: str) -> None:
        """Make the ref, unless the leaf has one already (the first writer wins)."""
        self._store.ensure_dir(ref.parent)
        # symlink(2) creates the name atomically or fails: no temp name and rename needed (one
        # metadata operation per leaf instead of two), and a racing writer's ref stays.
        with contextlib.suppress(FileExistsError):
            os.symlink(target, ref)
