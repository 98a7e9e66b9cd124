"""A compute node's data services on the bus: block exchange and dataset operations.

Peers ask for blocks (``GetBlock``); the orchestrator asks how much of a DAG is here
(``Locality``), for a dataset's file list to plan shards (``ListFiles``), and for merged results
and aggregates (``BuildTree``). Blocking store work runs in threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bacalao.blockstore.repo import Repo
from bacalao.compute.exchange import PeerFetcher, held_bytes, serve_block
from bacalao.errors import BacalaoError
from bacalao.ipld.cid import CID
from bacalao.ipld.profiles import resolve_profile
from bacalao.transport import Bus, Envelope
from bacalao.transport import messages as m


class DataService:
    """The data-plane handlers of one node, over its repo."""

    def __init__(self, repo: Repo, bus: Bus, *, node_id: str, verify_local: bool = False) -> None:
        self.repo = repo
        self.bus = bus
        self.node_id = node_id
        self.verify_local = verify_local

    def fetcher(self, peers: Sequence[str]) -> PeerFetcher:
        """A block getter over this node's store that fetches what it lacks from ``peers``."""
        return PeerFetcher(
            self.repo,
            self.bus,
            asyncio.get_running_loop(),
            node_id=self.node_id,
            peers=peers,
            verify_local=self.verify_local,
        )

    async def on_get_block(self, env: Envelope) -> Envelope:
        return await asyncio.to_thread(serve_block, self.repo, env, self.node_id)

    async def on_locality(self, env: Envelope) -> Envelope:
        req = m.Locality.from_envelope(env)

        def measure() -> dict[str, int]:
            out = {}
            for text in req.cids:
                try:
                    out[text] = held_bytes(self.repo, CID.decode(text))
                except BacalaoError:
                    out[text] = 0
            return out

        held = await asyncio.to_thread(measure)
        return m.LocalityReply(held=held).to_envelope(self.node_id)

    async def on_list_files(self, env: Envelope) -> Envelope:
        from bacalao.ipld.tree import list_files

        req = m.ListFiles.from_envelope(env)
        getter = self.fetcher(req.peers)
        try:
            files = await asyncio.to_thread(list_files, getter, CID.decode(req.cid), req.glob)
        except BacalaoError as e:
            return m.FilesReply(error=e.message).to_envelope(self.node_id)
        infos = [m.FileInfo(path=f.path, cid=str(f.cid), size=f.size) for f in files]
        return m.FilesReply(files=infos).to_envelope(self.node_id)

    async def on_build_tree(self, env: Envelope) -> Envelope:
        req = m.BuildTree.from_envelope(env)
        getter = self.fetcher(req.peers)
        try:
            cid = await asyncio.to_thread(self._build_tree, getter, req)
        except BacalaoError as e:
            return m.TreeReply(error=e.message, hint=e.hint or "").to_envelope(self.node_id)
        return m.TreeReply(cid=cid).to_envelope(self.node_id)

    def _build_tree(self, getter: PeerFetcher, req: m.BuildTree) -> str:
        from bacalao.ipld.exporter import resolve
        from bacalao.ipld.tree import aggregate, merge_union, prefetch_tree

        profile = resolve_profile(None, 1)
        roots = [(name, CID.decode(cid)) for name, cid in req.roots]
        if req.kind == "union":
            prefetch_tree(getter, [cid for _, cid in roots])  # the shard outputs held by peers
        else:
            # An aggregate links the datasets' roots and reads nothing below them: fetching their
            # trees would copy data (a small file's block is its data) it promises to leave alone.
            # The roots themselves it keeps (they are part of what it made).
            getter.prefetch([cid for _, cid in roots], store=True)
        with self.repo.adding() as sink:
            if req.kind == "union":
                roots = [(n, resolve(getter, c, req.subdir)) for n, c in roots]
                node = merge_union(getter, roots, profile, sink)
            else:
                node = aggregate(getter, roots, profile, sink)
        self.repo.pin_partial(node.cid)  # the linked data may live on other nodes
        return str(node.cid)
