"""Files as UnixFS DAGs: fixed-size chunks, raw or dag-pb leaves, Kubo's balanced layout.

This is the importer's hot path. Every chunk costs one sha2-256 over its bytes (plus a few bytes
of framing for dag-pb leaves) and a handful of Python operations; nothing is copied unless a sink
keeps the block. The chunks are read into reusable buffers, and with ``workers > 1`` whole
batches of chunks are hashed on a small thread pool (hashlib releases the GIL) while the DAG is
still assembled in input order on the calling thread, so the CIDs and the order blocks reach the
sink do not depend on the number of workers.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bacalao.errors import DecodeError
from bacalao.ipld.cid import CID, DAG_PB, RAW
from bacalao.ipld.imported import ExtentWriter, ImportedNode, Put, dagpb_cid
from bacalao.ipld.profiles import ImportProfile
from bacalao.ipld.varint import decode as _dec
from bacalao.ipld.varint import encode as _enc

#: Bytes read (and, with workers, hashed by one task) at a time: a whole number of chunks.
BATCH_BYTES = 1 << 20

_sha256 = hashlib.sha256
_MH = b"\x12\x20"
# (cid, tsize, filesize): a link to a child, as the balanced builder keeps it.
Child = tuple[CID, int, int]
LeafFn = Callable[[memoryview], tuple[CID, int, int, "bytes | None"]]
ReadFn = Callable[[memoryview], int]


def pb_leaf_affixes(n: int) -> tuple[bytes, bytes]:
    """The dag-pb framing around an ``n``-byte chunk: PBNode.Data{Type=File, Data, filesize}."""
    head = b"\x08\x02\x12" + _enc(n)
    tail = b"\x18" + _enc(n)
    return b"\x0a" + _enc(len(head) + n + len(tail)) + head, tail


def pb_leaf_chunk(block: bytes | memoryview) -> tuple[int, int] | None:
    """``(offset, length)`` of the chunk inside a dag-pb file leaf as the importer frames it
    (:func:`pb_leaf_affixes`), or ``None`` when ``block`` is not framed exactly so."""
    mv = memoryview(block)
    if len(mv) < 7 or mv[0] != 0x0A:
        return None
    try:
        _, p = _dec(mv, 1)  # past the Data field's length
        if bytes(mv[p : p + 3]) != b"\x08\x02\x12":
            return None
        n, q = _dec(mv, p + 3)  # the chunk's length
    except DecodeError:
        return None
    head, tail = pb_leaf_affixes(n)
    if len(head) != q or len(mv) != q + n + len(tail) or bytes(mv[q + n :]) != tail:
        return None
    if bytes(mv[:q]) != head:
        return None
    return q, n


def leaf_function(profile: ImportProfile, keep: bool) -> LeafFn:
    """``chunk -> (cid, tsize, filesize, block or None)`` for the profile's leaf kind."""
    if profile.raw_leaves:

        def raw_leaf(mv: memoryview) -> tuple[CID, int, int, bytes | None]:
            n = len(mv)
            return CID(1, RAW, _MH + _sha256(mv).digest()), n, n, bytes(mv) if keep else None

        return raw_leaf

    version = profile.cid_version
    size = profile.chunk_size
    full_head, full_tail = pb_leaf_affixes(size)
    full_extra = len(full_head) + len(full_tail)

    def pb_leaf(mv: memoryview) -> tuple[CID, int, int, bytes | None]:
        n = len(mv)
        if n == size:
            head, tail, extra = full_head, full_tail, full_extra
        else:
            head, tail = pb_leaf_affixes(n)
            extra = len(head) + len(tail)
        if keep:
            block: bytes | None = b"".join((head, mv, tail))
            digest = _sha256(block).digest()  # type: ignore[arg-type]
        else:
            block = None
            h = _sha256(head)
            h.update(mv)
            h.update(tail)
            digest = h.digest()
        return CID(version, DAG_PB, _MH + digest), n + extra, n, block

    return pb_leaf


class BalancedBuilder:
    """Kubo's balanced layout (boxo ``importer/balanced``), built incrementally.

    ``levels[h]`` holds the links of the open node of height ``h + 1``. A full node is committed
    only when one more child arrives, so a file of exactly ``max_links`` chunks gets one root,
    and every subtree but the last is full. Memory: at most ``max_links`` links per level.
    """

    def __init__(self, profile: ImportProfile, put: Put | None) -> None:
        self.profile = profile
        self.put = put
        self.max_links = profile.max_links
        self.levels: list[list[Child]] = [[]]

    def add(self, child: Child) -> None:
        """Append the next leaf (in file order)."""
        level = self.levels[0]
        if len(level) < self.max_links:
            level.append(child)
        else:
            self._push(0, child)

    def _push(self, h: int, child: Child) -> None:
        if h == len(self.levels):
            self.levels.append([])
        level = self.levels[h]
        if len(level) == self.max_links:
            self._push(h + 1, self._commit(level))
            level = self.levels[h] = []
        level.append(child)

    def finish(self) -> ImportedNode:
        """Commit the open nodes bottom-up and return the root (a lone leaf is the root)."""
        levels = self.levels
        if len(levels) == 1 and len(levels[0]) <= 1:
            if not levels[0]:
                return empty_file(self.profile, self.put)
            cid, tsize, size = levels[0][0]
            return ImportedNode(cid, tsize, size)
        h = 0
        while True:
            node = self._commit(levels[h])
            if h == len(levels) - 1:
                return ImportedNode(*node)
            self._push(h + 1, node)
            h += 1

    def _commit(self, children: list[Child]) -> Child:
        parts = []
        sizes = bytearray()
        total_size = total_tsize = 0
        for cid, tsize, size in children:
            cb = cid.bytes
            body = b"\x0a" + _enc(len(cb)) + cb + b"\x12\x00\x18" + _enc(tsize)
            parts.append(b"\x12" + _enc(len(body)) + body)
            sizes += b"\x20" + _enc(size)
            total_size += size
            total_tsize += tsize
        data = b"\x08\x02\x18" + _enc(total_size) + sizes
        parts.append(b"\x0a" + _enc(len(data)) + data)
        block = b"".join(parts)
        cid = dagpb_cid(block, self.profile.cid_version)
        if self.put is not None:
            self.put(cid, block)
        return cid, len(block) + total_tsize, total_size


def empty_file(profile: ImportProfile, put: Put | None) -> ImportedNode:
    """An empty input: the empty raw block, or a dag-pb File node with ``filesize`` 0."""
    if profile.raw_leaves:
        cid, block = CID(1, RAW, _MH + _sha256(b"").digest()), b""
    else:
        block = b"\x0a\x04\x08\x02\x18\x00"
        cid = dagpb_cid(block, profile.cid_version)
    if put is not None:
        put(cid, block)
    return ImportedNode(cid, len(block), 0)


class FileImporter:
    """Imports byte sources as UnixFS files under one profile; reuse it for many files.

    ``progress`` is called with the total number of bytes imported so far by this importer.
    Use it as a context manager when ``workers > 1`` so the thread pool is shut down.
    ``extents`` (a sink's ``begin_extent``, see :class:`~bacalao.ipld.imported.ExtentSink`) takes
    each file's leaves instead of ``put`` (ignored for only-hash).
    """

    def __init__(
        self,
        profile: ImportProfile,
        put: Put | None = None,
        *,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
        batch_bytes: int = BATCH_BYTES,
        extents: Callable[..., ExtentWriter] | None = None,
    ) -> None:
        self.profile = profile
        self.put = put
        self.extents = extents if put is not None else None
        self.workers = max(1, int(workers))
        self.progress = progress
        self.total = 0
        cs = profile.chunk_size
        self.batch = max(1, batch_bytes // cs) * cs
        self.leaf = leaf_function(profile, keep=put is not None)
        self._buffers: list[bytearray] = []
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> FileImporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the hashing threads down (if any were started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- sources ------------------------------------------------------------------------------
    def import_view(self, data: memoryview) -> ImportedNode:
        """Import bytes already in memory (no copy unless a sink keeps the blocks)."""

        def body(builder: BalancedBuilder, put_leaf: Put | None) -> None:
            self._chunks(data, builder, put_leaf)
            self._advance(len(data))

        return self._file(body)

    def import_reader(self, read: ReadFn) -> ImportedNode:
        """Import from ``read(buffer) -> n``, which fills ``buffer`` unless the input ends."""

        def body(builder: BalancedBuilder, put_leaf: Put | None) -> None:
            buf = self._take_buffer()
            try:
                view = memoryview(buf)
                n = read(view)
                if n == self.batch and self.workers > 1:
                    self._parallel(read, builder, view[:n], put_leaf)
                else:
                    while n:
                        self._chunks(view[:n], builder, put_leaf)
                        self._advance(n)
                        if n < self.batch:
                            break
                        n = read(view)
            finally:
                self._buffers.append(buf)

        return self._file(body)

    def _file(self, body: Callable[[BalancedBuilder, Put | None], None]) -> ImportedNode:
        """One file: leaves to the sink's extent writer when it has one, else to ``put``."""
        builder = BalancedBuilder(self.profile, self.put)
        ext = (
            self.extents(dagpb_leaves=not self.profile.raw_leaves)
            if self.extents is not None
            else None
        )
        try:
            body(builder, ext.add if ext is not None else self.put)
            root = builder.finish()
        except BaseException:
            if ext is not None:
                ext.abort()
            raise
        if ext is not None:
            ext.finish(root.cid)
        return root

    # -- internals ----------------------------------------------------------------------------
    def _advance(self, n: int) -> None:
        self.total += n
        if self.progress is not None:
            self.progress(self.total)

    def _take_buffer(self) -> bytearray:
        return self._buffers.pop() if self._buffers else bytearray(self.batch)

    def _chunks(self, mv: memoryview, builder: BalancedBuilder, put: Put | None) -> None:
        cs = self.profile.chunk_size
        leaf, add = self.leaf, builder.add
        for off in range(0, len(mv), cs):
            cid, tsize, size, block = leaf(mv[off : off + cs])
            if put is not None:
                put(cid, block)  # type: ignore[arg-type]
            add((cid, tsize, size))

    def _hash_batch(self, mv: memoryview) -> list[tuple[CID, int, int, bytes | None]]:
        cs, leaf = self.profile.chunk_size, self.leaf
        return [leaf(mv[off : off + cs]) for off in range(0, len(mv), cs)]

    def _parallel(
        self, read: ReadFn, builder: BalancedBuilder, first: memoryview, put: Put | None
    ) -> None:
        """Hash batches on the pool; consume results strictly in input order."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="bacalao-hash")
        pool, add = self._pool, builder.add
        depth = 2 * self.workers
        pending: deque[tuple[Future[list[tuple[CID, int, int, bytes | None]]], bytearray | None]]
        pending = deque()
        try:
            pending.append((pool.submit(self._hash_batch, first), None))
            self._advance(len(first))
            eof = False
            while pending:
                while not eof and len(pending) < depth:
                    buf = self._take_buffer()
                    n = read(memoryview(buf))
                    if n:
                        pending.append((pool.submit(self._hash_batch, memoryview(buf)[:n]), buf))
                        self._advance(n)
                    else:
                        self._buffers.append(buf)
                    eof = n < self.batch
                fut, buf = pending.popleft()
                results = fut.result()
                if buf is not None:
                    self._buffers.append(buf)
                for cid, tsize, size, block in results:
                    if put is not None:
                        put(cid, block)  # type: ignore[arg-type]
                    add((cid, tsize, size))
        finally:
            for fut, _buf in pending:
                fut.cancel()
            for fut, buf in pending:
                if not fut.cancelled():
                    fut.exception()  # wait: a running task still reads its buffer
                if buf is not None:
                    self._buffers.append(buf)
