"""The scheduler: a pure function from (job, its executions, a node snapshot, now) to a plan.

It never reads or writes the jobstore and never talks to a node: the orchestrator service builds
the snapshot, calls :func:`schedule`, and applies the returned :class:`Plan`. Every evaluation
recomputes the whole desired state (level-triggered, like Bacalhau's and Nomad's reconcilers), so
calling it again with the same inputs gives the same plan.

A job has *slots*: one per shard (``Count`` slots for an unsharded batch job). Each slot needs one
completed execution. A failed execution is retried on another node while the slot has attempts
left (:data:`MAX_ATTEMPTS`), unless the failure is the user's (a non-zero exit, a timeout, out of
memory), which no other node would fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bacalao.models.execution import Execution
from bacalao.models.job import Job
from bacalao.models.job_state import ExecutionStateType, JobStateType
from bacalao.orchestrator.selection import (
    NodeSnapshot,
    RankedNode,
    Requirements,
    explain_rejections,
    select,
)

#: Attempts per slot: the first run plus two retries on other nodes.
MAX_ATTEMPTS = 3
#: While queued, re-evaluate this often (seconds).
QUEUE_BACKOFF_S = 1.0
#: How long a shard waits for a busy node that holds its data before running elsewhere
#: (Spark's ``spark.locality.wait``), and how often it looks again meanwhile.
LOCALITY_WAIT_S = 3.0
LOCALITY_RETRY_S = 0.25

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Placement:
    """Run ``slot`` on ``node_id``; ``scores`` say why this node."""

    slot: int
    node_id: str
    scores: dict[str, float]

    def explain(self) -> str:
        parts = ", ".join(f"{k} {v:g}" for k, v in self.scores.items() if v)
        return f"placed on {self.node_id}" + (f" ({parts})" if parts else "")


@dataclass
class Plan:
    """What the orchestrator should do after one evaluation."""

    placements: list[Placement] = field(default_factory=list)
    stops: list[tuple[str, str]] = field(default_factory=list)  # (execution id, reason)
    job_state: JobStateType | None = None
    message: str = ""
    hint: str = ""
    reevaluate_after_s: float | None = None
    rejections: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything :func:`schedule` reads."""

    job: Job
    executions: Sequence[Execution]
    nodes: Sequence[NodeSnapshot]
    now_ns: int
    #: requirements of each slot; len() is the number of slots
    slots: Sequence[Requirements]
    #: executions whose failure no other node would fix (user errors)
    fatal_failures: frozenset[str] = frozenset()


def schedule(snap: Snapshot) -> Plan:
    """Reconcile a job: decide placements, stops and the job's next state."""
    job = snap.job
    plan = Plan()
    active = [e for e in snap.executions if not e.is_terminal]
    if job.is_terminal:
        plan.stops = [(e.id, f"job is {job.state_type.value.lower()}") for e in active]
        return plan

    timeouts = job.task.timeouts.with_defaults(long_running=job.type.is_long_running)
    age_s = (snap.now_ns - job.create_time) / NS
    if timeouts.total_timeout and age_s > timeouts.total_timeout:
        return _fail(
            plan,
            active,
            f"job timed out: still unfinished after TotalTimeout={timeouts.total_timeout}s",
            "raise Timeouts.TotalTimeout, or --timeout on the CLI",
        )

    by_node = {n.node_id: n for n in snap.nodes}
    lost = [e for e in active if e.node_id not in by_node or not by_node[e.node_id].connected]
    for e in lost:
        plan.stops.append((e.id, f"node {e.node_id} is gone"))
    lost_ids = {e.id for e in lost}

    if job.type.value == "ops":
        return _schedule_ops(snap, plan, lost_ids)

    open_slots: list[int] = []
    done = 0
    for slot, _req in enumerate(snap.slots):
        execs = [e for e in snap.executions if e.shard_index == slot]
        if any(e.state is ExecutionStateType.COMPLETED for e in execs):
            done += 1
            continue
        if any(not e.is_terminal and e.id not in lost_ids for e in execs):
            continue
        failed = [e for e in execs if e.state is ExecutionStateType.FAILED or e.id in lost_ids]
        fatal = [e for e in failed if e.id in snap.fatal_failures]
        if fatal:
            return _fail(plan, active, _slot_failure(slot, fatal[-1], len(snap.slots)))
        if len(failed) >= MAX_ATTEMPTS:
            return _fail(
                plan,
                active,
                f"{_slot_name(slot, len(snap.slots))}failed {len(failed)} times; last error: "
                f"{failed[-1].error_message or 'unknown'}",
                "see `bacalao job describe` for each attempt",
            )
        open_slots.append(slot)

    if done == len(snap.slots):
        plan.job_state = JobStateType.COMPLETED
        plan.message = "all executions completed"
        return plan

    nodes = [n for n in snap.nodes if n.node_id]
    deferred = 0
    for slot in open_slots:
        ended = [e for e in snap.executions if e.shard_index == slot and e.is_terminal]
        req = replace(snap.slots[slot], failed_on=frozenset(e.node_id for e in ended))
        ranked, rejected = select(nodes, req)
        if not ranked:
            plan.rejections = rejected
            break
        ready_ns = max([job.create_time, *(e.modify_time for e in ended)])
        best = _delay_for_locality(ranked, req, (snap.now_ns - ready_ns) / NS)
        if best is None:
            deferred += 1
            continue
        plan.placements.append(Placement(slot, best.node.node_id, dict(best.scores)))
        nodes = [_with_load(n, req) if n is best.node else n for n in nodes]
    if deferred:
        plan.reevaluate_after_s = LOCALITY_RETRY_S
        plan.message = f"{deferred} shard(s) waiting up to {LOCALITY_WAIT_S:g}s for a busy holder"

    unplaced = len(open_slots) - len(plan.placements) - deferred
    in_flight = len(active) - len(lost) + len(plan.placements)
    if unplaced:
        waited_s = age_s
        reasons = explain_rejections(plan.rejections)
        if waited_s < timeouts.queue_timeout:
            plan.job_state = JobStateType.QUEUED if not in_flight else JobStateType.RUNNING
            plan.message = f"waiting for a node that can run it: {reasons}"
            plan.reevaluate_after_s = min(QUEUE_BACKOFF_S, timeouts.queue_timeout - waited_s)
            return plan
        return _fail(
            plan,
            active,
            f"no node can run this job: {reasons}",
            "relax the constraints or resources, add nodes, or set Timeouts.QueueTimeout "
            "(--queue-timeout) to wait for capacity",
        )
    if in_flight:
        plan.job_state = JobStateType.RUNNING
    elif deferred:
        plan.job_state = JobStateType.QUEUED
    return plan


def _schedule_ops(snap: Snapshot, plan: Plan, lost_ids: set[str]) -> Plan:
    """Ops jobs run once on every node that can take them, and never retry."""
    execs = snap.executions
    req = snap.slots[0]
    if not execs:
        ranked, rejected = select(snap.nodes, req)
        if not ranked:
            plan.rejections = rejected
            return _fail(plan, [], f"no node can run this job: {explain_rejections(rejected)}")
        plan.placements = [Placement(0, r.node.node_id, dict(r.scores)) for r in ranked]
        plan.job_state = JobStateType.RUNNING
        return plan
    failed = [e for e in execs if e.state is ExecutionStateType.FAILED or e.id in lost_ids]
    if all(e.is_terminal or e.id in lost_ids for e in execs):
        if failed:
            return _fail(plan, [], _slot_failure(0, failed[-1], 1))
        plan.job_state = JobStateType.COMPLETED
        plan.message = "completed on every node"
    return plan


def _delay_for_locality(
    ranked: list[RankedNode], req: Requirements, waited_s: float
) -> RankedNode | None:
    """Spark's delay scheduling: prefer a free node holding the data; while every holder is
    busy, wait up to :data:`LOCALITY_WAIT_S`, then take the best free node (which fetches the
    blocks), or queue on the best node when none is free. ``None`` means: wait."""
    free = [r for r in ranked if _is_free(r.node, req)]
    holders = [r for r in ranked if r.scores.get("locality", 0) > 0]
    if not holders:
        return free[0] if free else ranked[0]
    free_holders = [r for r in holders if r in free]
    if free_holders:
        return free_holders[0]
    if waited_s < LOCALITY_WAIT_S:
        return None
    return free[0] if free else holders[0]


def _is_free(node: NodeSnapshot, req: Requirements) -> bool:
    return (
        node.used_cpu + req.cpu <= node.cpu + 1e-9
        and node.used_memory + req.memory <= node.memory
        and node.used_gpus + req.gpus <= node.gpus
    )


def _with_load(node: NodeSnapshot, req: Requirements) -> NodeSnapshot:
    return replace(
        node,
        used_cpu=node.used_cpu + req.cpu,
        used_memory=node.used_memory + req.memory,
        used_gpus=node.used_gpus + req.gpus,
        running=node.running + 1,
    )


def _slot_name(slot: int, slots: int) -> str:
    return f"shard {slot} " if slots > 1 else ""


def _slot_failure(slot: int, e: Execution, slots: int) -> str:
    where = f" on {e.node_id}" if e.node_id else ""
    return f"{_slot_name(slot, slots)}failed{where}: {e.error_message or 'unknown error'}"


def _fail(plan: Plan, active: Sequence[Execution], message: str, hint: str = "") -> Plan:
    plan.placements = []
    plan.reevaluate_after_s = None
    plan.stops = [(e.id, "job failed") for e in active]
    plan.job_state = JobStateType.FAILED
    plan.message = message
    plan.hint = hint
    return plan
