"""Where a node's blocks live: filesystem and memory stores, pins, gc, CAR import/export.

Start with :class:`Repo`: ``Repo.open(data_dir)`` for a node's on-disk store, ``Repo.memory()``
for tests. The stores alone (:class:`FsBlockStore`, :class:`MemoryBlockStore`) satisfy
``bacalao.ipld.importer.BlockSink`` and ``bacalao.ipld.blocks.BlockGetter``.
"""

from bacalao.blockstore.base import BlockStore
from bacalao.blockstore.fs import FsBlockStore
from bacalao.blockstore.memory import MemoryBlockStore
from bacalao.blockstore.pins import MemoryPinStore, PinStore, SqlitePinStore
from bacalao.blockstore.repo import GcResult, Repo

__all__ = [
    "BlockStore",
    "FsBlockStore",
    "GcResult",
    "MemoryBlockStore",
    "MemoryPinStore",
    "PinStore",
    "Repo",
    "SqlitePinStore",
]
