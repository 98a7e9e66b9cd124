"""Types shared by the importer's modules: the result of an import and where blocks go."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bacalao.ipld.cid import CID, DAG_PB

#: ``put(cid, block)``: the bound ``sink.put`` (or None for --only-hash).
Put = Callable[[CID, bytes], None]


class BlockSink(Protocol):
    """Where the importer writes blocks; each block is put after all of its children."""

    def put(self, cid: CID, data: bytes) -> None: ...


class ExtentWriter(Protocol):
    """Takes one file's leaves, in file order, instead of ``put`` (see :class:`ExtentSink`)."""

    def add(self, cid: CID, data: bytes) -> None: ...

    def finish(self, root: CID) -> None: ...

    def abort(self) -> None: ...


class ExtentSink(Protocol):
    """A sink that may keep a file's chunks as one contiguous file (its *extent*).

    When the sink has ``begin_extent``, the importer asks it for an :class:`ExtentWriter` per
    file, hands it every leaf block (``add``, in order, instead of ``put``) and then
    ``finish(root)`` once the file's root is known (after the root and its interior nodes were
    put), or ``abort()`` if the import fails. ``dagpb_leaves`` says the leaves are dag-pb File
    nodes (``kubo-v0``) rather than raw blocks: the extent then holds the chunks without their
    framing, which is the same for every chunk of a length. The CIDs do not change.
    """

    def begin_extent(self, *, dagpb_leaves: bool = False) -> ExtentWriter: ...


@dataclass(frozen=True)
class ImportedNode:
    """The root of an imported DAG.

    ``tsize`` is the cumulative size of the DAG (serialized bytes of every block in it, what a
    parent link records as Tsize); ``size`` is the content: a file's bytes, or the sum of the
    file bytes under a directory (symlinks count 0).
    """

    cid: CID
    tsize: int
    size: int


def dagpb_cid(block: bytes, version: int) -> CID:
    """The sha2-256 CID of a dag-pb block (CIDv0 or CIDv1)."""
    return CID(version, DAG_PB, b"\x12\x20" + hashlib.sha256(block).digest())
