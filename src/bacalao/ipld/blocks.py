"""Where the exporter, the CAR writer and the DAG walk get blocks from.

:class:`BlockGetter` is the one thing they need: ``get(cid) -> bytes``, raising
:class:`~bacalao.errors.BlockNotFound` (naming the CID) when the block is absent. A blockstore, a
CAR file loaded in memory or a peer fetcher can all be one. :class:`DictBlocks` is the in-memory
one, used by tests and by :func:`bacalao.ipld.car.load_car`.

Identity CIDs carry their block inline: :func:`get_block` answers them without asking the getter,
so no store ever has to hold them (Kubo does not put them in CARs either).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from bacalao.errors import BlockNotFound, DecodeError
from bacalao.ipld.cid import CID, IDENTITY


@runtime_checkable
class BlockGetter(Protocol):
    """Anything that returns a block's bytes by CID."""

    def get(self, cid: CID) -> bytes:
        """Return the block named by ``cid``; raise :class:`BlockNotFound` if absent."""
        ...


def identity_data(cid: CID) -> bytes | None:
    """The inline block of an identity CID, or ``None`` for any other CID."""
    if not cid.is_identity:
        return None
    try:
        code, digest = cid.hash_code, cid.digest
    except DecodeError:
        return None
    return digest if code == IDENTITY else None


def get_block(getter: BlockGetter, cid: CID, *, verify: bool = True) -> bytes:
    """Fetch ``cid`` from ``getter`` (identity CIDs inline) and, by default, check its hash.

    A getter whose ``verifies_blocks`` attribute is true checks every block it returns itself
    (a verifying block store, the peer fetcher), so its blocks are not hashed a second time.

    Raises :class:`BlockNotFound` when absent and :class:`~bacalao.errors.IntegrityError` when the
    bytes do not hash to ``cid``.
    """
    inline = identity_data(cid)
    if inline is not None:
        return inline
    data = getter.get(cid)
    if verify and not getattr(getter, "verifies_blocks", False):
        cid.verify(data)
    return data


class DictBlocks:
    """An in-memory block map keyed by multihash (so CIDv0 and CIDv1 of one block are one entry).

    ``put`` verifies the block against its CID unless told not to.
    """

    def __init__(self) -> None:
        self._blocks: dict[bytes, bytes] = {}

    def get(self, cid: CID) -> bytes:
        """Return the block named by ``cid``; raise :class:`BlockNotFound` naming it if absent."""
        inline = identity_data(cid)
        if inline is not None:
            return inline
        try:
            return self._blocks[cid.multihash]
        except KeyError:
            raise BlockNotFound(cid) from None

    def put(self, cid: CID, data: bytes, *, verify: bool = True) -> None:
        """Store ``data`` under ``cid`` (checked against it first unless ``verify=False``)."""
        if verify:
            cid.verify(data)
        self._blocks[cid.multihash] = bytes(data)

    def has(self, cid: CID) -> bool:
        """Whether the block is here (identity CIDs always are)."""
        return identity_data(cid) is not None or cid.multihash in self._blocks

    def delete(self, cid: CID) -> None:
        """Forget a block (no error if absent): handy to make partial DAGs in tests."""
        self._blocks.pop(cid.multihash, None)

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, CID) and self.has(cid)

    def __len__(self) -> int:
        return len(self._blocks)

    def multihashes(self) -> Iterator[bytes]:
        """The multihashes of the stored blocks, in insertion order."""
        return iter(list(self._blocks))
