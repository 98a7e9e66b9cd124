"""Datasets across the cluster: where a CID's bytes are, and aggregates of datasets.

The orchestrator's side of ``bacalao data where`` and ``bacalao data aggregate``. Like the sharding
stages it only talks to compute nodes over the bus — ``GetBlock`` for the root block (and a HAMT
directory's shard blocks), ``Locality`` for how many bytes of a DAG each node holds, ``BuildTree``
kind ``aggregate`` to link datasets into one directory on one node — and never reads a node's
store itself, so it works the same when the nodes live in other processes.

Bytes held are what the node's store has of the DAG (blocks counted once); a part is *complete*
when a node holds as many bytes as the links above it record (``Tsize``). A directory root is
complete on a node when its own block and every top-level entry are.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bacalao.errors import (
    BacalaoError,
    BlockNotFound,
    DecodeError,
    InvalidInput,
    NotFound,
    Unavailable,
)
from bacalao.ipld.cid import CID
from bacalao.transport import messages as m
from bacalao.transport import subjects

if TYPE_CHECKING:
    from bacalao.orchestrator.service import Orchestrator

REQUEST_TIMEOUT_S = 60.0
BLOCK_TIMEOUT_S = 30.0
ROOT_PATH = "/"


@dataclass(frozen=True)
class Holding:
    """How much of one part of a dataset one node holds."""

    node_id: str
    path: str  # "/" for the root, "/name" for a top-level entry
    cid: str
    bytes: int
    total: int
    complete: bool

    def to_wire(self) -> dict:
        return {
            "Node": self.node_id,
            "Path": self.path,
            "CID": self.cid,
            "Bytes": self.bytes,
            "Total": self.total,
            "Complete": self.complete,
        }


@dataclass(frozen=True)
class Part:
    """The root or one top-level entry of a dataset, with its DAG size."""

    path: str
    cid: str
    total: int


@dataclass
class Placement:
    """The answer of :meth:`Datasets.where`."""

    cid: str
    kind: str  # raw | file | directory | hamt | symlink
    parts: list[Part]
    holdings: list[Holding] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.parts[0].total

    def to_wire(self) -> dict:
        return {
            "CID": self.cid,
            "Type": "directory" if self.kind == "hamt" else self.kind,
            "Total": self.total,
            "Items": [h.to_wire() for h in self.holdings],
        }


class Datasets:
    """Where datasets are and how to aggregate them, asked of the nodes over the bus."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch

    # -- nodes ----------------------------------------------------------------------------------
    def connected(self) -> list[str]:
        """Connected compute nodes, sorted by ID."""
        now = self.orch.clock()
        return [n.node_id for n in self.orch.nodes.snapshot(now) if n.connected]

    def resolve_node(self, prefix: str) -> str:
        """The connected node whose ID is ``prefix`` or starts with it (it must be unique)."""
        nodes = self.connected()
        if prefix in nodes:
            return prefix
        matches = [n for n in nodes if n.startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(
                f"no connected compute node {prefix!r}",
                hint="list the nodes with `bacalao node list`",
            )
        raise InvalidInput(
            f"node prefix {prefix!r} is ambiguous: {', '.join(matches)}",
            hint="give more characters of the node ID",
        )

    def _by_holding(self, cids: Sequence[str]) -> list[str]:
        """Connected nodes, those that reported holding most of ``cids`` first."""
        now = self.orch.clock()
        snap = [n for n in self.orch.nodes.snapshot(now) if n.connected]
        snap.sort(key=lambda n: (-sum(n.held.get(c, 0) for c in cids), n.node_id))
        return [n.node_id for n in snap]

    # -- where ----------------------------------------------------------------------------------
    async def where(self, cid_text: str) -> Placement:
        """Which nodes hold which part of ``cid``: the root and each top-level entry."""
        cid = _parse_cid(cid_text)
        nodes = self._by_holding([str(cid)])
        if not nodes:
            raise Unavailable("no compute node is connected", hint="start a node (bacalao serve)")
        parts, kind = await asyncio.to_thread(self._parts, cid, nodes, asyncio.get_running_loop())
        cids = [p.cid for p in parts]
        replies = await asyncio.gather(*(self._locality(n, cids) for n in nodes))
        placement = Placement(str(cid), kind, parts)
        for node, held in sorted(zip(nodes, replies, strict=True)):
            if held is None:
                continue
            entries_complete = all(held.get(p.cid, 0) >= p.total for p in parts[1:])
            for i, part in enumerate(parts):
                got = held.get(part.cid, 0)
                if not got:
                    continue
                is_dir_root = i == 0 and len(parts) > 1
                complete = entries_complete if is_dir_root else got >= part.total
                placement.holdings.append(
                    Holding(node, part.path, part.cid, got, part.total, complete)
                )
        if not placement.holdings:
            raise NotFound(f"no connected node holds {cid}", hint=ADD_HINT)
        return placement

    def _parts(
        self, cid: CID, nodes: list[str], loop: asyncio.AbstractEventLoop
    ) -> tuple[list[Part], str]:
        """The root and top-level entries with their DAG sizes (in a worker thread: the
        UnixFS reader is synchronous; blocks come from the nodes over the bus)."""
        from bacalao.ipld.unixfs_read import dir_links, load

        getter = _BusBlocks(self, nodes, loop)
        try:
            root = load(getter, cid)
        except BlockNotFound:
            raise NotFound(f"no connected node holds {cid}", hint=ADD_HINT) from None
        total = len(root.block) + sum(link.tsize for link in root.links)
        parts = [Part(ROOT_PATH, str(cid), total)]
        if root.kind in ("directory", "hamt"):
            for link in dir_links(getter, root):
                parts.append(Part(ROOT_PATH + link.name, str(link.cid), link.tsize))
        return parts, root.kind

    async def _locality(self, node: str, cids: list[str]) -> dict[str, int] | None:
        try:
            reply = await self._request(node, subjects.LOCALITY, m.Locality(cids=cids))
            return m.LocalityReply.from_envelope(reply).held
        except BacalaoError:
            return None  # a node that does not answer holds nothing we can use

    async def block(self, cid: CID, nodes: Sequence[str]) -> bytes:
        """One block from the first node in ``nodes`` that has it, checked against its CID."""
        for node in nodes:
            try:
                env = await self._request(
                    node, subjects.GET_BLOCK, m.GetBlock(cid=str(cid)), BLOCK_TIMEOUT_S
                )
                reply = m.BlockReply.from_envelope(env)
            except BacalaoError:
                continue
            if reply.found:
                data = base64.b64decode(reply.data)
                cid.verify(data)  # a node is not trusted
                return data
        raise BlockNotFound(cid, hint=ADD_HINT)

    # -- aggregate ------------------------------------------------------------------------------
    async def aggregate(
        self, cids: Sequence[str], names: Sequence[str] = (), node: str = ""
    ) -> tuple[str, str]:
        """One directory linking every dataset under its name, built (and pinned) on ``node``
        — by default the node that holds most of them. Only directory blocks move: the node
        fetches the roots it lacks from their holders. Returns (new CID, node ID)."""
        roots = aggregate_roots(cids, names)
        target = self.resolve_node(node) if node else ""
        holders = self._by_holding([c for _, c in roots])
        if not holders:
            raise Unavailable("no compute node is connected", hint="start a node (bacalao serve)")
        target = target or holders[0]
        req = m.BuildTree(kind="aggregate", roots=roots, peers=[n for n in holders if n != target])
        reply = m.TreeReply.from_envelope(await self._request(target, subjects.BUILD_TREE, req))
        if reply.error:
            raise BacalaoError(
                f"aggregating on {target} failed: {reply.error}",
                code="aggregate_failed",
                http_status=422,
                hint=reply.hint or ADD_HINT,
            )
        return reply.cid, target

    async def _request(
        self, node: str, method: str, msg: m.Message, timeout: float = REQUEST_TIMEOUT_S
    ):  # type: ignore[no-untyped-def]
        return await self.orch.bus.request(
            subjects.compute(node, method), msg.to_envelope(self.orch.node_id), timeout=timeout
        )


ADD_HINT = "add the data to a node first (bacalao data add PATH --node NODE)"


def _parse_cid(text: str) -> CID:
    try:
        return CID.decode(text.strip())
    except DecodeError as e:
        raise InvalidInput(
            f"invalid CID {text!r}: {e.message}", hint="a CID looks like Qm… or bafy…"
        ) from None


def aggregate_roots(cids: Sequence[str], names: Sequence[str]) -> list[tuple[str, str]]:
    """(name, CID) of every dataset to link; names default to the CIDs themselves."""
    if not cids:
        raise InvalidInput("aggregate needs at least one CID", hint="bacalao data aggregate CID…")
    if names and len(names) != len(cids):
        raise InvalidInput(
            f"{len(names)} names for {len(cids)} CIDs",
            hint="give one --name per CID, in the same order, or none",
        )
    parsed = [str(_parse_cid(c)) for c in cids]
    chosen = list(names) if names else parsed
    seen: set[str] = set()
    for name in chosen:
        if not name or "/" in name or name in (".", ".."):
            raise InvalidInput(f"invalid name {name!r}", hint="a name is one path segment")
        if name in seen:
            raise InvalidInput(f"two datasets are named {name!r}", hint="give each its own --name")
        seen.add(name)
    return list(zip(chosen, parsed, strict=True))


class _BusBlocks:
    """A synchronous block getter (for the UnixFS reader in a worker thread) over the bus."""

    def __init__(
        self, datasets: Datasets, nodes: list[str], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.datasets = datasets
        self.nodes = nodes
        self.loop = loop

    def get(self, cid: CID) -> bytes:
        future = asyncio.run_coroutine_threadsafe(self.datasets.block(cid, self.nodes), self.loop)
        return future.result(BLOCK_TIMEOUT_S * max(len(self.nodes), 1) + 5)
