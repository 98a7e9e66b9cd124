"""An in-memory :class:`~bacalao.blockstore.base.BlockStore` for tests and devstack nodes."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from bacalao.blockstore.base import cid_for_multihash, identity_digest
from bacalao.errors import BlockNotFound, IntegrityError
from bacalao.ipld.cid import CID


class MemoryBlockStore:
    """Blocks in a dict keyed by multihash, with the same contract as the filesystem store.

    ``get`` re-verifies the hash like the filesystem store does, so tests that corrupt a block
    (:meth:`corrupt`) see the same :class:`IntegrityError`.
    """

    def __init__(self) -> None:
        self._blocks: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def put(self, cid: CID, data: bytes) -> None:
        """Store ``data`` under ``cid`` (idempotent; identity CIDs are not stored)."""
        if cid.is_identity:
            return
        with self._lock:
            self._blocks.setdefault(cid.multihash, bytes(data))

    def put_many(self, blocks: Iterable[tuple[CID, bytes]]) -> None:
        """Store each ``(cid, data)`` pair."""
        for cid, data in blocks:
            self.put(cid, data)

    def get(self, cid: CID, *, verify: bool = True) -> bytes:
        """The verified bytes of ``cid`` (``verify=False`` skips the hash)."""
        inline = identity_digest(cid)
        if inline is not None:
            return inline
        try:
            data = self._blocks[cid.multihash]
        except KeyError:
            raise BlockNotFound(cid) from None
        if not verify:
            return data
        try:
            cid.verify(data)
        except IntegrityError:
            raise IntegrityError(
                f"block {cid} is corrupt in the memory store",
                hint="delete it and add or import the data again",
            ) from None
        return data

    def has(self, cid: CID) -> bool:
        """Whether the block is here."""
        return cid.is_identity or cid.multihash in self._blocks

    def size(self, cid: CID) -> int:
        """The block's length in bytes."""
        inline = identity_digest(cid)
        if inline is not None:
            return len(inline)
        try:
            return len(self._blocks[cid.multihash])
        except KeyError:
            raise BlockNotFound(cid) from None

    def delete(self, cid: CID) -> bool:
        """Remove the block; ``True`` if it was there."""
        if cid.is_identity:
            return False
        with self._lock:
            return self._blocks.pop(cid.multihash, None) is not None

    def iter_cids(self) -> Iterator[CID]:
        """Every stored block as a CIDv1 ``raw`` CID."""
        with self._lock:
            keys = list(self._blocks)
        for mh in keys:
            yield cid_for_multihash(mh)

    def __len__(self) -> int:
        return len(self._blocks)

    def corrupt(self, cid: CID, data: bytes) -> None:
        """Test helper: replace a block's bytes without checking them."""
        self._blocks[cid.multihash] = data
