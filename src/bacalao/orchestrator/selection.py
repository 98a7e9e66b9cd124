"""Node selection: feasibility filters, then a chain of rankers, every decision explained.

Nomad's shape: each filter is a one-concern predicate that returns the reason a node cannot take
the work (or None), and each ranker adds a named score. A :class:`RankedNode` keeps every stage's
score, so ``job describe`` can say why a node was picked and why every other node was not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bacalao.models.constraint import Constraint

#: A node may be promised this much more work than it has, counting its queue (Bacalhau: 1.5).
OVERSUBSCRIPTION = 1.5


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """What the orchestrator knows of one compute node at planning time."""

    node_id: str
    engines: frozenset[str]
    labels: dict[str, str]
    cpu: float
    memory: int
    gpus: int
    used_cpu: float = 0.0
    used_memory: int = 0
    used_gpus: int = 0
    running: int = 0
    connected: bool = True
    #: root CID -> bytes of it this node holds (data locality)
    held: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Requirements:
    """What one execution needs from a node (derived from the job's task)."""

    engine: str
    cpu: float = 0.0
    memory: int = 0
    gpus: int = 0
    constraints: tuple[Constraint, ...] = ()
    input_cids: tuple[str, ...] = ()
    input_bytes: int = 0
    #: nodes where this shard already failed (retries go elsewhere first)
    failed_on: frozenset[str] = frozenset()


@dataclass
class RankedNode:
    node: NodeSnapshot
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(self.scores.values())


Filter = Callable[[NodeSnapshot, Requirements], str | None]
Ranker = Callable[[NodeSnapshot, Requirements], float]


def connected(node: NodeSnapshot, req: Requirements) -> str | None:
    return None if node.connected else "node is disconnected (no recent heartbeat)"


def engine_supported(node: NodeSnapshot, req: Requirements) -> str | None:
    if req.engine in node.engines:
        return None
    have = ", ".join(sorted(node.engines)) or "none"
    return f"does not support engine {req.engine!r} (supports: {have})"


def label_constraints(node: NodeSnapshot, req: Requirements) -> str | None:
    for c in req.constraints:
        if not c.is_soft and not c.matches(node.labels):
            return f"labels do not satisfy {c}"
    return None


def total_capacity(node: NodeSnapshot, req: Requirements) -> str | None:
    if req.cpu > node.cpu + 1e-9:
        return f"needs {req.cpu:g} CPU, node has {node.cpu:g} in total"
    if req.memory > node.memory:
        return f"needs {_mib(req.memory)} memory, node has {_mib(node.memory)} in total"
    if req.gpus > node.gpus:
        return f"needs {req.gpus} GPU, node has {node.gpus}"
    return None


def not_oversubscribed(node: NodeSnapshot, req: Requirements) -> str | None:
    if node.used_cpu + req.cpu > node.cpu * OVERSUBSCRIPTION + 1e-9:
        return f"busy: {node.used_cpu:g} of {node.cpu:g} CPU already promised"
    if node.used_memory + req.memory > node.memory * OVERSUBSCRIPTION:
        return f"busy: {_mib(node.used_memory)} of {_mib(node.memory)} memory already promised"
    return None


FILTERS: tuple[Filter, ...] = (
    connected,
    engine_supported,
    label_constraints,
    total_capacity,
    not_oversubscribed,
)


def locality(node: NodeSnapshot, req: Requirements) -> float:
    """Up to 100 points for holding the input bytes locally."""
    if not req.input_cids:
        return 0.0
    held = sum(node.held.get(c, 0) for c in req.input_cids)
    if req.input_bytes <= 0:
        return 100.0 if held else 0.0
    return 100.0 * min(held, req.input_bytes) / req.input_bytes


def available_capacity(node: NodeSnapshot, req: Requirements) -> float:
    """Up to 40 points for free CPU and memory after placing the work."""
    cpu_free = max(node.cpu - node.used_cpu - req.cpu, 0.0) / node.cpu if node.cpu else 0.0
    mem_free = (
        max(node.memory - node.used_memory - req.memory, 0) / node.memory if node.memory else 0.0
    )
    return 20.0 * cpu_free + 20.0 * mem_free


def load_spread(node: NodeSnapshot, req: Requirements) -> float:
    """Prefer idle nodes: -5 per execution already running there."""
    return -5.0 * node.running


def preferences(node: NodeSnapshot, req: Requirements) -> float:
    """+10 for each soft (``favour_``) constraint the node's labels satisfy."""
    return 10.0 * sum(1 for c in req.constraints if c.is_soft and c.matches(node.labels))


def fresh_node(node: NodeSnapshot, req: Requirements) -> float:
    """A retry prefers a node where this work has not failed before."""
    return -30.0 if node.node_id in req.failed_on else 0.0


RANKERS: dict[str, Ranker] = {
    "locality": locality,
    "capacity": available_capacity,
    "spread": load_spread,
    "preference": preferences,
    "retry": fresh_node,
}


def select(
    nodes: Sequence[NodeSnapshot],
    req: Requirements,
    *,
    filters: Sequence[Filter] = FILTERS,
    rankers: dict[str, Ranker] = RANKERS,
) -> tuple[list[RankedNode], dict[str, str]]:
    """Rank the feasible nodes (best first) and give every rejected node its reason."""
    ranked: list[RankedNode] = []
    rejected: dict[str, str] = {}
    for node in nodes:
        reason = next((r for f in filters if (r := f(node, req)) is not None), None)
        if reason is not None:
            rejected[node.node_id] = reason
            continue
        ranked.append(RankedNode(node, {name: fn(node, req) for name, fn in rankers.items()}))
    ranked.sort(key=lambda r: (-r.score, r.node.node_id))
    return ranked, rejected


def explain_rejections(rejected: dict[str, str]) -> str:
    """One readable line per rejected node, for job events and ``job describe``."""
    if not rejected:
        return "no compute node has joined the cluster"
    return "; ".join(f"{nid}: {why}" for nid, why in sorted(rejected.items()))


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"
