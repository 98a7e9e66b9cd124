"""The :class:`BlockStore` contract shared by every store, and the flatfs key scheme.

A block store maps a CID to the bytes it names. Stores key blocks by **multihash**, as Kubo does:
the CIDv0 ``Qm…`` and the CIDv1 ``bafy…`` of the same dag-pb bytes name one stored block. So
:meth:`BlockStore.iter_cids` cannot know each block's codec; like Kubo's ``refs local`` it yields
CIDv1 ``raw`` CIDs whose multihash is the stored one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from bacalao.errors import DecodeError
from bacalao.ipld.cid import CID, RAW, parse_multihash


@runtime_checkable
class BlockStore(Protocol):
    """Where a node keeps blocks. Satisfies ``importer.BlockSink`` and ``blocks.BlockGetter``.

    Invariants every implementation keeps:

    * ``get`` returns bytes that hash to the CID, or raises ``BlockNotFound`` (absent) or
      ``IntegrityError`` naming the CID (stored bytes are corrupt). Never wrong bytes.
    * ``put`` is idempotent and atomic: a reader sees the whole block or no block.
    * Identity CIDs are answered from the CID itself and never stored.
    """

    def put(self, cid: CID, data: bytes) -> None:
        """Store ``data`` under ``cid``. The caller vouches that the bytes match the CID."""
        ...

    def put_many(self, blocks: Iterable[tuple[CID, bytes]]) -> None:
        """Store several blocks; may be faster than ``put`` one by one."""
        ...

    def get(self, cid: CID, *, verify: bool = True) -> bytes:
        """The bytes of ``cid``, checked against it unless the caller just wrote them itself."""
        ...

    def has(self, cid: CID) -> bool:
        """Whether the block is here (identity CIDs always are)."""
        ...

    def size(self, cid: CID) -> int:
        """The block's length in bytes; ``BlockNotFound`` if absent."""
        ...

    def delete(self, cid: CID) -> bool:
        """Remove the block; ``True`` if it was there."""
        ...

    def iter_cids(self) -> Iterator[CID]:
        """Every stored block, as a CIDv1 ``raw`` over its multihash (identity CIDs excluded)."""
        ...


def multihash_key(multihash: bytes) -> str:
    """Kubo's datastore key for a multihash: RFC 4648 base32, upper case, no padding."""
    return base64.b32encode(multihash).decode("ascii").rstrip("=")


def key_to_multihash(key: str) -> bytes | None:
    """Invert :func:`multihash_key`; ``None`` if ``key`` is not a valid multihash key."""
    try:
        mh = base64.b32decode(key + "=" * (-len(key) % 8))
        parse_multihash(mh)
    except (ValueError, DecodeError):  # a malformed name is simply not a block
        return None
    return mh


def cid_for_multihash(multihash: bytes) -> CID:
    """The CID a store reports for a stored multihash (CIDv1 ``raw``)."""
    return CID.v1(RAW, multihash)


def identity_digest(cid: CID) -> bytes | None:
    """The inline bytes of an identity CID, or ``None`` for any other hash function."""
    if not cid.is_identity:
        return None
    return parse_multihash(cid.multihash)[1]
