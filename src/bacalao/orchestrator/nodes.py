"""The orchestrator's view of its compute nodes: info, liveness, load and held data."""

from __future__ import annotations

from dataclasses import dataclass, field

from bacalao.errors import NotFound
from bacalao.models.node import NodeConnectionState, NodeInfo
from bacalao.orchestrator.selection import NodeSnapshot, Requirements

NS = 1_000_000_000


@dataclass
class Load:
    """What a node was promised: executions placed there and not finished, with running sums."""

    items: dict[str, Requirements] = field(default_factory=dict)
    cpu: float = 0.0
    memory: int = 0
    gpus: int = 0

    def add(self, execution_id: str, req: Requirements) -> None:
        if execution_id not in self.items:
            self.items[execution_id] = req
            self.cpu += req.cpu
            self.memory += req.memory
            self.gpus += req.gpus

    def drop(self, execution_id: str) -> None:
        req = self.items.pop(execution_id, None)
        if req is not None:
            self.cpu -= req.cpu
            self.memory -= req.memory
            self.gpus -= req.gpus

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class NodeEntry:
    info: NodeInfo
    last_seen_ns: int
    held: dict[str, int] = field(default_factory=dict)
    load: Load = field(default_factory=Load)


class NodeRegistry:
    """Nodes that registered, with the last time each was heard from."""

    def __init__(self, *, heartbeat_timeout_s: float = 30.0) -> None:
        self.heartbeat_timeout_ns = int(heartbeat_timeout_s * NS)
        self._nodes: dict[str, NodeEntry] = {}
        self._orphan_load: dict[str, Load] = {}

    def register(self, info: NodeInfo, held: dict[str, int], now_ns: int) -> None:
        entry = self._nodes.get(info.id)
        if entry is None:
            load = self._orphan_load.pop(info.id, None) or Load()
            self._nodes[info.id] = NodeEntry(info, now_ns, dict(held), load)
        else:
            entry.info, entry.held, entry.last_seen_ns = info, dict(held), now_ns

    def heard_from(self, node_id: str, now_ns: int) -> bool:
        entry = self._nodes.get(node_id)
        if entry is None:
            return False
        entry.last_seen_ns = now_ns
        return True

    def connected(self, node_id: str, now_ns: int) -> bool:
        entry = self._nodes.get(node_id)
        return entry is not None and now_ns - entry.last_seen_ns <= self.heartbeat_timeout_ns

    def add_load(self, node_id: str, execution_id: str, req: Requirements) -> None:
        entry = self._nodes.get(node_id)
        target = entry.load if entry else self._orphan_load.setdefault(node_id, Load())
        target.add(execution_id, req)

    def drop_load(self, node_id: str, execution_id: str) -> None:
        entry = self._nodes.get(node_id)
        if entry is not None:
            entry.load.drop(execution_id)
        if node_id in self._orphan_load:
            self._orphan_load[node_id].drop(execution_id)

    def held_bytes(self, cid: str) -> int:
        return max((e.held.get(cid, 0) for e in self._nodes.values()), default=0)

    def snapshot(
        self, now_ns: int, *, held: dict[str, dict[str, int]] | None = None
    ) -> list[NodeSnapshot]:
        """Every node as the scheduler sees it; ``held`` adds per-CID locality (node -> cid ->
        bytes) learnt for one job to what the nodes reported of their roots."""
        out = []
        for nid, e in sorted(self._nodes.items()):
            total = e.info.total
            out.append(
                NodeSnapshot(
                    node_id=nid,
                    engines=frozenset(e.info.engines),
                    labels=dict(e.info.labels),
                    cpu=total.cpu,
                    memory=total.memory,
                    gpus=total.gpu,
                    used_cpu=e.load.cpu,
                    used_memory=e.load.memory,
                    used_gpus=e.load.gpus,
                    running=len(e.load),
                    connected=now_ns - e.last_seen_ns <= self.heartbeat_timeout_ns,
                    held={**e.held, **(held or {}).get(nid, {})},
                )
            )
        return out

    def infos(self, now_ns: int) -> list[NodeInfo]:
        return [self._info(e, now_ns) for _, e in sorted(self._nodes.items())]

    def get(self, node_id: str, now_ns: int) -> NodeInfo:
        matches = [e for nid, e in self._nodes.items() if nid.startswith(node_id)]
        if len(matches) != 1:
            raise NotFound(f"node {node_id} not found", hint="list nodes with `bacalao node list`")
        return self._info(matches[0], now_ns)

    def _info(self, e: NodeEntry, now_ns: int) -> NodeInfo:
        state = (
            NodeConnectionState.CONNECTED
            if now_ns - e.last_seen_ns <= self.heartbeat_timeout_ns
            else NodeConnectionState.DISCONNECTED
        )
        return e.info.model_copy(
            update={
                "connection": state,
                "last_seen": e.last_seen_ns,
                "running_executions": len(e.load),
            }
        )
