"""Reading UnixFS out of blocks: node kinds, file byte streams, directory entries, HAMT lookups.

The building blocks of :mod:`bacalao.ipld.exporter`. Every block is fetched through
:func:`~bacalao.ipld.blocks.get_block`, so it is checked against its CID; a DAG read this way is
therefore acyclic. Malformed nodes raise :class:`~bacalao.errors.DecodeError` naming the block.

HAMT-sharded directories (boxo ``hamt``): the key of a name is murmur3 x64_128 ``h1`` (seed 0)
written big-endian; each level consumes ``log2(fanout)`` bits of it, most significant first. A
link named with just the hex bucket index is a sub-shard; one named ``index + name`` is an entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import mmh3

from bacalao.errors import DecodeError, IntegrityError, InvalidInput
from bacalao.ipld import dagpb, unixfs, varint
from bacalao.ipld.blocks import BlockGetter, get_block
from bacalao.ipld.cid import CID, DAG_PB, RAW
from bacalao.ipld.unixfs import DataType

#: kinds of node: a raw-codec block, UnixFS File (or legacy Raw), Directory, HAMT shard, Symlink
KINDS = ("raw", "file", "directory", "hamt", "symlink")
_HEX = frozenset("0123456789abcdefABCDEF")
_HASH_BITS = 64
_MAX_FANOUT = 1 << 12


@dataclass(frozen=True, slots=True)
class Node:
    """A decoded block: its kind, the dag-pb node and UnixFS data (``None`` for raw blocks)."""

    cid: CID
    kind: str
    block: bytes
    pb: dagpb.PBNode | None = None
    fs: unixfs.UnixFSData | None = None

    @property
    def links(self) -> tuple[dagpb.PBLink, ...]:
        return self.pb.links if self.pb is not None else ()

    @property
    def size(self) -> int:
        """File bytes (file/raw), target length (symlink) or cumulative DAG size (directories)."""
        if self.kind == "raw":
            return len(self.block)
        assert self.fs is not None
        if self.kind == "file":
            if self.fs.filesize is not None:
                return self.fs.filesize
            return len(self.fs.data or b"") + sum(self.fs.blocksizes)
        if self.kind == "symlink":
            return len(self.fs.data or b"")
        return len(self.block) + sum(link.tsize for link in self.links)


_TYPE_KINDS = {
    DataType.RAW: "file",
    DataType.FILE: "file",
    DataType.DIRECTORY: "directory",
    DataType.HAMT_SHARD: "hamt",
    DataType.SYMLINK: "symlink",
}


def load(getter: BlockGetter, cid: CID) -> Node:
    """Fetch, verify and decode one block as UnixFS."""
    block = get_block(getter, cid)
    if cid.codec == RAW:
        return Node(cid, "raw", block)
    if cid.codec != DAG_PB:
        raise DecodeError(f"block {cid} is not UnixFS (codec 0x{cid.codec:x})")
    try:
        pb = dagpb.decode(block)
        if pb.data is None:
            raise DecodeError("dag-pb node has no UnixFS Data")
        fs = unixfs.decode(pb.data)
    except DecodeError as e:
        raise DecodeError(f"block {cid}: {e.message}", hint=e.hint) from None
    kind = _TYPE_KINDS.get(fs.type)
    if kind is None:
        raise DecodeError(f"block {cid}: unsupported UnixFS type {fs.type.name}")
    return Node(cid, kind, block, pb, fs)


# -- files ---------------------------------------------------------------------------------------


def file_chunks(getter: BlockGetter, root: Node) -> Iterator[bytes]:
    """Stream a file's bytes (raw block, or a File DAG of any depth, read depth-first).

    A declared ``filesize`` that the blocks do not add up to raises :class:`IntegrityError`.
    """
    for part in file_parts(getter, root, slices=False):
        assert isinstance(part, bytes)
        yield part


#: A slice of a local file holding part of a UnixFS file's bytes: (path, offset, length).
FileSlice = tuple[str, int, int]


def file_parts(
    getter: BlockGetter, root: Node, *, slices: bool = True
) -> Iterator[bytes | FileSlice]:
    """A file's bytes in order, as chunks or — for leaves the getter has in local files (its
    optional ``block_slice(cid) -> (path, offset, length) | None``, or ``block_file(cid) ->
    path | None`` for whole block files) — as slices of those files, so a caller can copy them
    without reading them into Python (``os.copy_file_range``).

    A getter that offers either vouches for those files (they were verified when stored); every
    other block is loaded and verified as usual. A declared ``filesize`` that the parts do not
    add up to raises :class:`IntegrityError`. ``slices=False`` loads every block through the
    getter (verified), whatever it offers: bytes only.
    """
    if root.kind == "raw":
        yield root.block
        return
    if root.kind != "file":
        raise InvalidInput(f"{root.cid} is a {_kind_word(root.kind)}, not a file")
    assert root.fs is not None
    expected = root.fs.filesize
    local = getattr(getter, "block_slice", None) or getattr(getter, "block_file", None)
    if not slices:
        local = None
    total = 0
    stack: list[Node | CID] = [root]
    while stack:
        item = stack.pop()
        part: bytes | FileSlice | None = None
        if isinstance(item, CID) and local is not None:
            part = _leaf_slice(item, local(item))
        if part is None:
            node = item if isinstance(item, Node) else load(getter, item)
            if node.kind == "raw":
                part = node.block
            elif node.kind == "file":
                assert node.fs is not None
                part = node.fs.data or b""
                stack.extend(link.cid for link in reversed(node.links))
            else:
                raise DecodeError(
                    f"file {root.cid}: block {node.cid} is a {node.kind}, not file data"
                )
        size = len(part) if isinstance(part, bytes) else part[2]
        if not size:
            continue
        total += size
        if expected is not None and total > expected:
            raise IntegrityError(f"file {root.cid} holds more than its declared {expected} bytes")
        yield part
    if expected is not None and total != expected:
        raise IntegrityError(f"file {root.cid} holds {total} bytes, not its declared {expected}")


def _leaf_slice(cid: CID, where: str | FileSlice | None) -> FileSlice | None:
    """Where a leaf's file bytes sit locally, or None to load it normally.

    ``where`` is the block's own file, or the slice of a file holding the block's bytes. A raw
    leaf is all data. A dag-pb leaf as Kubo writes it starts ``0a L 08 02 12 N`` (Data first, so
    no links; UnixFS File with its Data field next): the N bytes after that header. Anything
    else — an internal node, another layout — is loaded and decoded the usual way.
    """
    if where is None:
        return None
    if not isinstance(where, str):
        if cid.codec == RAW:
            return where
        if where[1] != 0:
            return None
        where = where[0]
    path = where
    try:
        if cid.codec == RAW:
            return (path, 0, os.stat(path).st_size)
        if cid.codec != DAG_PB:
            return None
        with open(path, "rb") as f:
            head = f.read(32)
            block_size = os.fstat(f.fileno()).st_size
    except OSError:
        return None
    try:
        if head[:1] != b"\x0a":
            return None
        data_len, i = varint.decode(head, 1)
        if i + data_len != block_size:  # links after the Data field: not a leaf
            return None
        if head[i : i + 3] not in (b"\x08\x02\x12", b"\x08\x00\x12"):
            return None
        length, start = varint.decode(head, i + 3)
    except DecodeError:
        return None
    return (path, start, length)


# -- directories ---------------------------------------------------------------------------------


def _kind_word(kind: str) -> str:
    return "directory" if kind == "hamt" else kind


def _hamt_geometry(node: Node) -> tuple[int, int]:
    """``(bits per level, hex prefix width)`` of a HAMT shard."""
    fs = node.fs
    assert fs is not None
    if fs.hash_type != unixfs.HAMT_HASH_MURMUR3:
        raise DecodeError(f"HAMT {node.cid}: unsupported hash function {fs.hash_type}")
    fanout = fs.fanout or 0
    if fanout < 2 or fanout > _MAX_FANOUT or fanout & (fanout - 1):
        raise DecodeError(f"HAMT {node.cid}: invalid fanout {fanout}")
    return fanout.bit_length() - 1, len(f"{fanout - 1:X}")


def _split_hamt_name(node: Node, name: str, width: int) -> tuple[int, str]:
    prefix = name[:width]
    if len(prefix) != width or not _HEX.issuperset(prefix):
        raise DecodeError(f"HAMT {node.cid}: bad link name {name!r}")
    return int(prefix, 16), name[width:]


def _load_shard(getter: BlockGetter, cid: CID, parent: Node) -> Node:
    child = load(getter, cid)
    if child.kind != "hamt":
        raise DecodeError(f"HAMT {parent.cid}: sub-shard {cid} is a {child.kind}")
    return child


def hamt_key(name: str) -> int:
    """The 64-bit HAMT key of an entry name (murmur3 x64_128 h1, seed 0, as big-endian)."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate typed by a user: it names nothing stored
        raw = name.encode("utf-8", "surrogatepass")
    return mmh3.hash64(raw, 0, True, False)[0]


def hamt_find(getter: BlockGetter, shard: Node, name: str) -> dagpb.PBLink | None:
    """Look ``name`` up in a HAMT by its hash; the entry's link (named ``name``) or ``None``."""
    key = hamt_key(name)
    bits, width = _hamt_geometry(shard)
    depth = 0
    node = shard
    while True:
        if (depth + 1) * bits > _HASH_BITS:
            raise DecodeError(f"HAMT {shard.cid}: sharded directory too deep")
        index = (key >> (_HASH_BITS - (depth + 1) * bits)) & ((1 << bits) - 1)
        for link in node.links:
            bucket, rest = _split_hamt_name(node, link.name, width)
            if bucket != index:
                continue
            if rest == "":
                node = _load_shard(getter, link.cid, node)
                if _hamt_geometry(node) != (bits, width):
                    raise DecodeError(f"HAMT {node.cid}: fanout differs from its parent's")
                depth += 1
                break
            return dagpb.PBLink(link.cid, rest, link.tsize) if rest == name else None
        else:
            return None


def _hamt_links(getter: BlockGetter, shard: Node) -> Iterator[dagpb.PBLink]:
    bits, width = _hamt_geometry(shard)
    max_depth = _HASH_BITS // bits
    seen: set[CID] = set()
    stack: list[tuple[Node, int]] = [(shard, 0)]
    while stack:
        node, depth = stack.pop()
        subs = []
        for link in node.links:
            _bucket, rest = _split_hamt_name(node, link.name, width)
            if rest:
                yield dagpb.PBLink(link.cid, rest, link.tsize)
                continue
            # A well-formed HAMT never holds one sub-shard twice; refusing it bounds the walk.
            if depth + 1 >= max_depth or link.cid in seen:
                raise DecodeError(f"HAMT {shard.cid}: malformed sub-shard {link.cid}")
            seen.add(link.cid)
            sub = _load_shard(getter, link.cid, node)
            if _hamt_geometry(sub) != (bits, width):
                raise DecodeError(f"HAMT {sub.cid}: fanout differs from its parent's")
            subs.append((sub, depth + 1))
        stack.extend(reversed(subs))


def dir_links(getter: BlockGetter, node: Node) -> list[dagpb.PBLink]:
    """A directory's entries as links named by entry name, HAMT flattened, sorted by name.

    Duplicate names raise :class:`DecodeError`; a non-directory raises :class:`InvalidInput`.
    """
    if node.kind == "directory":
        links = list(node.links)
    elif node.kind == "hamt":
        links = list(_hamt_links(getter, node))
    else:
        raise InvalidInput(f"{node.cid} is a {node.kind}, not a directory")
    links.sort(key=lambda link: link.name.encode("utf-8", "surrogateescape"))
    for a, b in zip(links, links[1:], strict=False):
        if a.name == b.name:
            raise DecodeError(f"directory {node.cid} has two entries named {a.name!r}")
    return links


def find_entry(getter: BlockGetter, node: Node, name: str) -> dagpb.PBLink | None:
    """The link of entry ``name`` in a directory node (basic or HAMT), or ``None``."""
    if node.kind == "directory":
        return next((link for link in node.links if link.name == name), None)
    if node.kind == "hamt":
        return hamt_find(getter, node, name)
    raise InvalidInput(f"{node.cid} is a {node.kind}, not a directory")
