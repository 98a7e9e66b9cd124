"""UnixFS directories and symlinks, and the basic-vs-HAMT decision of Kubo >= 0.40.

A basic directory is ``PBNode{Links: sorted bytewise by name, Data: 08 01}``. It becomes a HAMT
(:mod:`bacalao.ipld.hamt`) when the profile's size estimate is strictly greater than its
threshold (boxo ``io/directory.go`` since commit 6707376), or when ``dir_max_links`` > 0 and the
directory has more entries than that:

* ``links``: Σ len(name) + len(cid bytes) over the entries (Kubo's default);
* ``block``: the exact size of the basic directory block (IPIP-499, ``unixfs-v1-2025``).

An import only ever adds entries, so deciding on the final set is what Kubo's incremental
``AddChild`` checks end up with.
"""

from __future__ import annotations

from collections.abc import Iterable

from bacalao.errors import InvalidInput
from bacalao.ipld.hamt import build_hamt, link_bytes
from bacalao.ipld.imported import BlockSink, ImportedNode, dagpb_cid
from bacalao.ipld.profiles import ImportProfile
from bacalao.ipld.varint import encode as _enc

_DIR_DATA = b"\x0a\x02\x08\x01"  # PBNode.Data = UnixFS{Type: Directory}


def _name_bytes(name: str | bytes) -> bytes:
    return name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")


def links_estimate(entries: Iterable[tuple[bytes, ImportedNode]]) -> int:
    """Kubo's ``links`` size estimate: Σ len(name) + len(cid bytes)."""
    return sum(len(name) + len(node.cid.bytes) for name, node in entries)


def build_directory(
    entries: Iterable[tuple[str | bytes, ImportedNode]],
    profile: ImportProfile,
    sink: BlockSink | None = None,
) -> ImportedNode:
    """The directory (basic or HAMT, as the profile decides) holding ``entries``.

    Names are str (encoded UTF-8) or raw bytes; they must be unique, non-empty and contain no
    ``/``. Blocks go to ``sink`` children first (the entries' own blocks are the caller's).
    """
    items = sorted(((_name_bytes(name), node) for name, node in entries), key=lambda e: e[0])
    for i, (name, _node) in enumerate(items):
        if not name or b"/" in name:
            raise InvalidInput(f"invalid directory entry name {name!r}")
        if i and items[i - 1][0] == name:
            raise InvalidInput(f"duplicate directory entry name {name!r}")
    links = [link_bytes(name, node.cid, node.tsize) for name, node in items]
    if profile.hamt_estimation == "links":
        estimate = links_estimate(items)
    else:
        estimate = len(_DIR_DATA) + sum(len(link) for link in links)
    put = None if sink is None else sink.put
    over_links = 0 < profile.dir_max_links < len(items)
    if estimate > profile.hamt_threshold or over_links:
        return build_hamt(
            items, fanout=profile.hamt_fanout, cid_version=profile.cid_version, put=put
        )
    block = b"".join(links) + _DIR_DATA
    cid = dagpb_cid(block, profile.cid_version)
    if put is not None:
        put(cid, block)
    tsize = len(block) + sum(node.tsize for _name, node in items)
    return ImportedNode(cid, tsize, sum(node.size for _name, node in items))


def build_symlink(
    target: str | bytes, profile: ImportProfile, sink: BlockSink | None = None
) -> ImportedNode:
    """A UnixFS symlink node: ``Data{Type: Symlink, Data: target}`` (size 0)."""
    t = _name_bytes(target)
    data = b"\x08\x04\x12" + _enc(len(t)) + t
    block = b"\x0a" + _enc(len(data)) + data
    cid = dagpb_cid(block, profile.cid_version)
    if sink is not None:
        sink.put(cid, block)
    return ImportedNode(cid, len(block), 0)
