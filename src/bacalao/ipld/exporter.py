"""The UnixFS exporter: resolve paths, stat, list, stream files and write trees to disk.

Everything reads blocks through a :class:`~bacalao.ipld.blocks.BlockGetter` and checks each one
against its CID, so what comes out is what the CID names. Basic and HAMT-sharded directories are
both understood; dag-pb File nodes of any depth, legacy ``Raw`` (type 0) nodes and raw-codec
leaves make up files.

Entry types: ``"file"`` (a UnixFS file), ``"raw"`` (a raw-codec block: a file whose bytes are the
block), ``"directory"`` (basic or HAMT) and ``"symlink"``. ``size`` is the file's byte count for
files and raw blocks, the target's length for symlinks, and the cumulative DAG size (the Tsize a
parent link would carry) for directories.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bacalao.errors import InvalidInput, NotFound
from bacalao.ipld.blocks import BlockGetter
from bacalao.ipld.cid import CID
from bacalao.ipld.export_fs import write_tree
from bacalao.ipld.traverse import walk
from bacalao.ipld.unixfs_read import Node, dir_links, file_chunks, find_entry, load

__all__ = ["Entry", "cat", "check_dag", "ls", "resolve", "stat", "write_tree"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One file, directory, symlink or raw block, as ``stat`` and ``ls`` report it."""

    name: str
    cid: CID
    type: str  # "file" | "directory" | "symlink" | "raw"
    size: int


def _entry(name: str, node: Node) -> Entry:
    kind = "directory" if node.kind == "hamt" else node.kind
    return Entry(name, node.cid, kind, node.size)


def resolve(getter: BlockGetter, cid: CID, path: str = "") -> CID:
    """The CID at ``path`` ("a/b/c") under ``cid``, through basic and HAMT directories.

    Empty segments are ignored (so leading, trailing and doubled slashes are fine); ``.`` and
    ``..`` are refused with :class:`InvalidInput`. A missing entry raises :class:`NotFound` naming
    the segment; symlinks are not followed.
    """
    current = cid
    walked: list[str] = []
    for segment in (s for s in path.split("/") if s):
        if segment in (".", ".."):
            raise InvalidInput(f"path {path!r}: {segment!r} segments are not allowed")
        where = "/".join([str(cid), *walked])
        node = load(getter, current)
        if node.kind not in ("directory", "hamt"):
            raise NotFound(
                f"no entry {segment!r} in {where}: it is a {node.kind}, not a directory",
                hint="check the path: only directories have entries",
            )
        link = find_entry(getter, node, segment)
        if link is None:
            raise NotFound(f"no entry {segment!r} in {where}", hint="check the path (ls it)")
        current = link.cid
        walked.append(segment)
    return current


def stat(getter: BlockGetter, cid: CID) -> Entry:
    """The type and size of the node ``cid`` names (its ``name`` is the CID string)."""
    return _entry(str(cid), load(getter, cid))


def cat(getter: BlockGetter, cid: CID) -> Iterator[bytes]:
    """Stream the bytes of the file (or raw block) ``cid``; a directory raises InvalidInput.

    Lazy: blocks are fetched as the iterator advances, so a missing block raises
    :class:`~bacalao.errors.BlockNotFound` (naming it) only once reading reaches it.
    """
    yield from file_chunks(getter, load(getter, cid))


def ls(getter: BlockGetter, cid: CID) -> list[Entry]:
    """The entries of directory ``cid`` (HAMT shards flattened), sorted by name.

    Each entry's root block is fetched to learn its type and size.
    """
    node = load(getter, cid)
    return [_entry(link.name, load(getter, link.cid)) for link in dir_links(getter, node)]


def check_dag(getter: BlockGetter, root: CID) -> None:
    """Walk the whole DAG under ``root`` and check every block against its CID.

    Raises :class:`~bacalao.errors.BlockNotFound` naming the first missing block,
    :class:`~bacalao.errors.IntegrityError` for a corrupt one and
    :class:`~bacalao.errors.DecodeError` for a dag-pb block that does not decode.
    """
    for _ in walk(getter, root):
        pass
