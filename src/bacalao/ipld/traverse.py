"""The one DAG walk: Kubo's ``dag export`` order, reused for CARs, pinning, GC marking and fetching.

Depth-first pre-order from the root, each node's links in their stored order, every block once
(the first time it is seen, keyed by CID). dag-pb links are followed, raw blocks are leaves,
DAG-CBOR links (tag 42) are followed in encoded order, and blocks of any other codec are treated
as leaves. Identity CIDs are walked through (their links followed) but flagged so that writers can
leave them out, as Kubo does.

The walk is iterative — a deep or wide DAG costs a stack of pending CIDs, not Python recursion —
and holds one block at a time plus the set of CIDs already seen.
"""

from __future__ import annotations

from collections.abc import Iterator

from bacalao.errors import DecodeError
from bacalao.ipld import dagcbor, dagpb
from bacalao.ipld.blocks import BlockGetter, get_block, identity_data
from bacalao.ipld.cid import CID, DAG_CBOR, DAG_PB


def links_of(cid: CID, block: bytes) -> list[CID]:
    """The child CIDs of a block, in stored order; a :class:`DecodeError` names the block."""
    try:
        if cid.codec == DAG_PB:
            return [link.cid for link in dagpb.decode(block).links]
        if cid.codec == DAG_CBOR:
            return dagcbor.links(block)
    except DecodeError as e:
        raise DecodeError(f"block {cid}: {e.message}", hint=e.hint) from None
    return []


def walk(
    getter: BlockGetter, root: CID, *, verify: bool = True
) -> Iterator[tuple[CID, bytes, bool]]:
    """Yield ``(cid, block, is_identity)`` in ``dag export`` order, identity CIDs included.

    Raises :class:`~bacalao.errors.BlockNotFound` for a missing block and
    :class:`~bacalao.errors.IntegrityError` for one that does not match its CID.
    """
    seen: set[CID] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        block = get_block(getter, cid, verify=verify)
        yield cid, block, identity_data(cid) is not None
        stack.extend(reversed(links_of(cid, block)))


def iter_dag(getter: BlockGetter, root: CID, *, verify: bool = True) -> Iterator[tuple[CID, bytes]]:
    """Yield ``(cid, block)`` for every non-identity block under ``root``, in ``dag export`` order.

    This is exactly the block sequence :func:`bacalao.ipld.car.write_car` writes. Every block is
    checked against its CID unless ``verify=False``.
    """
    for cid, block, inline in walk(getter, root, verify=verify):
        if not inline:
            yield cid, block
