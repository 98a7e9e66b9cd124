"""Block exchange: a node that lacks blocks fetches them from peers by CID, verifying each.

:class:`PeerFetcher` is a :class:`~bacalao.ipld.blocks.BlockGetter` over the node's own store
that, on a miss, asks each peer in turn (``GetBlock`` on the bus), checks the bytes against the
CID, keeps the block in the local store (unpinned: gc may drop it) and counts the bytes it fetched
— the figure ``job describe`` shows per execution. It is used from worker threads (the exporter
is synchronous), so bus requests are sent to the node's event loop and waited on.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Sequence

from bacalao.blockstore.fs import FsBlockStore
from bacalao.blockstore.repo import Repo
from bacalao.errors import BacalaoError, BlockNotFound, IntegrityError
from bacalao.ipld.cid import CID, RAW
from bacalao.transport import Bus, Envelope, subjects
from bacalao.transport import messages as m

FETCH_TIMEOUT_S = 30.0


class PeerFetcher:
    """Local blocks first, then peers; every fetched block verified and counted."""

    #: every block returned was checked against its CID here (the store verifies local reads,
    #: fetched blocks are verified on arrival), so readers need not hash it again
    verifies_blocks = True

    #: blocks fetched by :meth:`prefetch` are held in memory, up to this many bytes, for the
    #: reader that asked (listing a dataset, merging shard outputs: directories and file roots
    #: read once or twice, then never again); past it they are stored like any fetched block
    PREFETCH_MEMORY = 32 << 20

    def __init__(
        self,
        repo: Repo,
        bus: Bus,
        loop: asyncio.AbstractEventLoop,
        *,
        node_id: str,
        peers: Sequence[str] = (),
        verify_local: bool = False,
    ) -> None:
        self.repo = repo
        self.verify_local = verify_local
        self.bus = bus
        self.loop = loop
        self.node_id = node_id
        self.peers = [p for p in peers if p != node_id]
        self.fetched_bytes = 0
        self.fetched_blocks = 0
        self._lock = threading.Lock()
        self._held: dict[CID, bytes] = {}  # prefetched, verified, not stored
        self._held_bytes = 0

    def has(self, cid: CID) -> bool:
        return cid in self._held or self.repo.blocks.has(cid)

    def block_slice(self, cid: CID) -> tuple[str, int, int] | None:
        """Where ``cid``'s bytes sit in a local file (its block file or its slice of an extent),
        for zero-copy export of file leaves.

        Local blocks were verified when they were stored; unless ``verify_local`` is set they
        are not re-hashed on every read (Kubo's ``HashOnRead`` is off by default too). Blocks
        fetched from peers are always verified on arrival.
        """
        if self.verify_local or not isinstance(self.repo.blocks, FsBlockStore):
            return None
        return self.repo.blocks.locate(cid)

    def whole_file(self, cid: CID) -> str | None:
        """A local file holding exactly the bytes of the UnixFS file ``cid`` (a one-chunk file's
        block, or the extent its raw leaves were stored as), which a job's inputs may hard-link
        read-only instead of copying; ``None`` when there is none or local reads are verified."""
        if self.verify_local or not isinstance(self.repo.blocks, FsBlockStore):
            return None
        path = self.repo.blocks.whole_file(cid)
        return None if path is None else str(path)

    def get(self, cid: CID) -> bytes:
        try:
            return self.repo.blocks.get(cid)  # one read: no stat first
        except BlockNotFound:
            pass
        except IntegrityError:
            if not self.peers:
                raise
            self.repo.blocks.delete(cid)  # damaged on disk: fetch it again
        held = self._held.get(cid)
        if held is not None:
            return held
        for peer in self.peers:
            data = self._ask(peer, cid)
            if data is None:
                continue
            cid.verify(data)  # a peer is not trusted: wrong bytes raise IntegrityError
            self._keep(cid, data)
            return data
        raise BlockNotFound(
            cid,
            hint="neither this node nor any peer holds it: add the data to a node first",
        )

    def prefetch(self, cids: Sequence[CID], *, store: bool = False) -> None:
        """Fetch the blocks among ``cids`` this node lacks, asking for all of them at once.

        A hint from a reader about to load them one by one (listing a dataset held by other
        nodes: one round trip each, in turn, otherwise). Each block is verified and counted as
        :meth:`get` does, and held in memory for this fetcher's reads (up to
        :data:`PREFETCH_MEMORY`, then stored), or stored at once with ``store=True`` (blocks
        the node keeps, like the roots an aggregate links); a block no peer gives is left for
        ``get`` to report.
        """
        missing = [c for c in dict.fromkeys(cids) if not self.has(c)]
        if not missing or not self.peers:
            return
        try:
            found = asyncio.run_coroutine_threadsafe(self._request_all(missing), self.loop).result(
                FETCH_TIMEOUT_S * len(self.peers) + 5
            )
        except TimeoutError:
            return
        for cid, data in zip(missing, found, strict=True):
            if data is None:
                continue
            try:
                cid.verify(data)
            except BacalaoError:
                continue  # get asks again and names the bad block
            if store or self._held_bytes + len(data) > self.PREFETCH_MEMORY:
                self._keep(cid, data)
                continue
            self._held[cid] = data
            self._held_bytes += len(data)
            self._count(data)

    def _keep(self, cid: CID, data: bytes) -> None:
        self.repo.blocks.put(cid, data)
        self._count(data)

    def _count(self, data: bytes) -> None:
        with self._lock:
            self.fetched_bytes += len(data)
            self.fetched_blocks += 1

    async def _request_all(self, cids: list[CID]) -> list[bytes | None]:
        return await asyncio.gather(*(self._request_any(c) for c in cids))

    async def _request_any(self, cid: CID) -> bytes | None:
        for peer in self.peers:
            data = await self._request(peer, cid)
            if data is not None:
                return data
        return None

    async def _request(self, peer: str, cid: CID) -> bytes | None:
        try:
            env = await self.bus.request(
                subjects.compute(peer, subjects.GET_BLOCK),
                m.GetBlock(cid=str(cid)).to_envelope(self.node_id),
                timeout=FETCH_TIMEOUT_S,
            )
            reply = m.BlockReply.from_envelope(env)
        except BacalaoError:
            return None
        return base64.b64decode(reply.data) if reply.found else None

    def _ask(self, peer: str, cid: CID) -> bytes | None:
        try:
            return asyncio.run_coroutine_threadsafe(self._request(peer, cid), self.loop).result(
                FETCH_TIMEOUT_S + 5
            )
        except TimeoutError:
            return None


def serve_block(repo: Repo, env: Envelope, node_id: str) -> Envelope:
    """Answer a peer's ``GetBlock`` from the local store only (never forwarded)."""
    req = m.GetBlock.from_envelope(env)
    try:
        cid = CID.decode(req.cid)
        data = repo.blocks.get(cid)
    except BacalaoError:
        return m.BlockReply(found=False).to_envelope(node_id)
    return m.BlockReply(found=True, data=base64.b64encode(data).decode()).to_envelope(node_id)


def held_bytes(repo: Repo, cid: CID) -> int:
    """Bytes of the DAG under ``cid`` present in the local store (missing parts not descended).

    One lookup a block (``size`` for a leaf, ``get`` for a node with links): the orchestrator
    asks every node about every file of a dataset before a sharded job starts.
    """
    from bacalao.ipld.traverse import links_of

    blocks = repo.blocks
    total = 0
    stack = [cid]
    seen: set[CID] = set()
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        try:
            if c.codec == RAW:  # a leaf: its size is all we need
                total += blocks.size(c)
                continue
            data = blocks.get(c, verify=False)
        except BlockNotFound:
            continue
        total += len(data)
        stack.extend(links_of(c, data))
    return total
