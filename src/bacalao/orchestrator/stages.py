"""The stages of a sharded job: plan the shards, run them (the scheduler), merge, reduce.

:class:`Stages` holds what the orchestrator knows of each sharded job — its shard plan, where the
shards' bytes are, the merged result — and the asynchronous steps that ask nodes for it. Every
outcome is written to the job's history first (``ShardPlan`` and ``Merge`` events), so a
restarted orchestrator picks up where it was.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from bacalao.errors import BacalaoError
from bacalao.models.execution import Execution
from bacalao.models.job import Job
from bacalao.models.job_state import ExecutionStateType as ES
from bacalao.models.job_state import JobStateType
from bacalao.models.publisher import PublishedResult
from bacalao.orchestrator.scheduler import Plan
from bacalao.orchestrator.selection import Requirements
from bacalao.orchestrator.sharding import (
    MERGE_TOPIC,
    PLAN_TOPIC,
    ShardFile,
    ShardPlan,
    shard_inputs,
    sharded_input,
    split,
)
from bacalao.transport import messages as m
from bacalao.transport import subjects

if TYPE_CHECKING:
    from bacalao.orchestrator.service import Orchestrator

log = logging.getLogger(__name__)
REQUEST_TIMEOUT_S = 120.0


class Stages:
    """Shard plans, locality and merged results of sharded jobs."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch
        self.plans: dict[str, ShardPlan] = {}
        self.merged: dict[str, str] = {}
        self._busy: set[tuple[str, str]] = set()

    # -- reading what is known ------------------------------------------------------------------
    def plan_of(self, job: Job) -> ShardPlan | None:
        """The job's shard plan: in memory, else from its history (after a restart)."""
        if job.id in self.plans:
            return self.plans[job.id]
        plan = None
        for h in self.orch.store.events(job.id):
            if h.event.topic == PLAN_TOPIC and "plan" in h.event.details:
                plan = ShardPlan.from_json(h.event.details["plan"])
            elif h.event.topic == MERGE_TOPIC and "cid" in h.event.details:
                self.merged[job.id] = h.event.details["cid"]
        if plan is not None:
            self.plans[job.id] = plan
            self.orch.spawn(self._refresh_locality(job, plan))
        return plan

    def merged_of(self, job: Job) -> str | None:
        return self.merged.get(job.id)

    def results(self, job: Job) -> list[PublishedResult]:
        """A completed sharded job's result: the reduce stage's, else the merged CID."""
        shards = self.plan_of(job)
        if shards is None or job.state_type is not JobStateType.COMPLETED:
            return []
        if job.reduce is not None:
            reduce = [
                e
                for e in self.orch.store.list_executions(job.id)
                if e.shard_index == len(shards.shards) and e.state is ES.COMPLETED
            ]
            return [e.published_result for e in reduce[-1:] if e.published_result]
        merged = self.merged_of(job)
        return [PublishedResult(Type="ipfs", Params={"CID": merged})] if merged else []

    def after_all_slots(
        self, job: Job, shards: ShardPlan, executions: list[Execution], plan: Plan
    ) -> Plan:
        """Every slot done (the scheduler says Completed): merge the shard outputs, then (if
        any) run the reduce stage; the job stays Running meanwhile."""
        n = len(shards.shards)
        if self.merged_of(job) is None:
            done = {
                e.shard_index: (e.shard_index, e.result_cid, e.node_id)
                for e in executions
                if e.state is ES.COMPLETED and e.shard_index < n
            }
            self.start_merge(job, [done[i] for i in range(n)])
            plan.job_state = JobStateType.RUNNING
            plan.message = f"merging {n} shard outputs"
            return plan
        if job.reduce is not None and not any(
            e.shard_index == n and e.state is ES.COMPLETED for e in executions
        ):
            plan.job_state = JobStateType.RUNNING  # the reduce slot appears at the next pass
            self.orch.enqueue(job.id)
        return plan

    def slots(self, job: Job, plan: ShardPlan, base: Requirements) -> list[Requirements]:
        """One slot per shard, plus the reduce slot once the shards are merged."""
        out = [
            replace(base, input_cids=shard.cids, input_bytes=shard.size) for shard in plan.shards
        ]
        if job.reduce is not None and job.id in self.merged:
            res = job.reduce.resources
            out.append(
                Requirements(
                    engine=job.reduce.engine.type,
                    cpu=res.cpu_cores,
                    memory=res.memory_bytes,
                    gpus=res.gpu_count,
                    constraints=tuple(job.constraints),
                )
            )
        return out

    def held(self, job_id: str) -> dict[str, dict[str, int]]:
        plan = self.plans.get(job_id)
        return plan.locality if plan else {}

    def ask_for(self, job: Job, slot: int) -> tuple[Job, list[dict] | None, list[str]]:
        """What the execution of ``slot`` is sent: the job (or its reduce stage), its inputs,
        and the peers to fetch missing blocks from (holders first)."""
        plan = self.plans[job.id]
        if slot < len(plan.shards):
            shard = plan.shards[slot]
            return job, shard_inputs(job, shard), self._peers(plan, shard.cids)
        reduce_job = job.model_copy(update={"tasks": [job.reduce]})
        inputs = [{"Source": {"Type": "ipfs", "Params": {"CID": self.merged[job.id]}}}]
        return reduce_job, inputs, self._peers(plan, ())

    def _peers(self, plan: ShardPlan, cids: tuple[str, ...]) -> list[str]:
        nodes = [n.node_id for n in self.orch.nodes.snapshot(self.orch.clock()) if n.connected]
        return sorted(nodes, key=lambda n: -sum(plan.locality.get(n, {}).get(c, 0) for c in cids))

    # -- asynchronous steps ----------------------------------------------------------------------
    def start_planning(self, job: Job) -> None:
        key = (job.id, "plan")
        if key not in self._busy:
            self._busy.add(key)
            self.orch.spawn(self._plan(job, key))

    async def _plan(self, job: Job, key: tuple[str, str]) -> None:
        try:
            src = sharded_input(job)
            root = src.source.params["CID"]
            files = await self._list(root, job.sharding.glob)  # type: ignore[union-attr]
            if not files:
                self._fail(
                    job,
                    f"no file of {root} matches the shard glob {job.sharding.glob or '*'!r}",
                    "check --shard-glob",
                )  # type: ignore[union-attr]
                return
            plan = ShardPlan(root, split(files, job.sharding))  # type: ignore[arg-type]
            plan.locality = await self._locality([f.cid for f in files])
            sizes = ", ".join(f"{s.index}: {len(s.files)} files/{s.size} B" for s in plan.shards)
            self.orch.store.append_event(
                job.id,
                f"split {len(files)} files of {root} into {len(plan.shards)} shards ({sizes})",
                topic=PLAN_TOPIC,
                details={"plan": plan.to_json()},
            )
            self.plans[job.id] = plan
        except BacalaoError as e:
            self._fail(job, f"cannot plan the shards: {e.message}", e.hint or "")
        finally:
            self._busy.discard(key)
        self.orch.enqueue(job.id)

    async def _refresh_locality(self, job: Job, plan: ShardPlan) -> None:
        plan.locality = await self._locality([c for s in plan.shards for c in s.cids])
        self.orch.enqueue(job.id)

    def start_merge(self, job: Job, results: list[tuple[int, str, str]]) -> None:
        """``results``: (shard index, result CID, node id) of every shard."""
        key = (job.id, "merge")
        if key not in self._busy:
            self._busy.add(key)
            self.orch.spawn(self._merge(job, results, key))

    async def _merge(self, job: Job, results: list[tuple[int, str, str]], key) -> None:  # type: ignore[no-untyped-def]
        layout = job.sharding.merge.value  # type: ignore[union-attr]
        width = max(4, len(str(len(results) - 1)))
        if layout == "union":
            roots = [(f"shard {i}", cid) for i, cid, _ in results]
        else:
            roots = [(f"shard-{i:0{width}d}", cid) for i, cid, _ in results]
        nodes = [n for _, _, n in results]
        target = max(set(nodes), key=nodes.count)
        req = m.BuildTree(
            kind=layout,
            roots=roots,
            subdir="outputs" if layout == "union" else "",
            peers=sorted(set(nodes) - {target}) + self._peers(self.plans[job.id], ()),
        )
        try:
            reply = await self._request(target, subjects.BUILD_TREE, req, m.TreeReply)
            if reply.error:
                self._fail(job, f"merging the shard outputs failed: {reply.error}", reply.hint)
                return
            self.orch.store.append_event(
                job.id,
                f"merged {len(results)} shard outputs ({layout}) into {reply.cid} on {target}",
                topic=MERGE_TOPIC,
                details={"cid": reply.cid, "node": target, "layout": layout},
            )
            self.merged[job.id] = reply.cid
        except BacalaoError as e:
            log.warning("merge of %s failed, will retry: %s", job.id, e)
            self.orch.enqueue(job.id, delay=1.0)
        finally:
            self._busy.discard(key)
        self.orch.enqueue(job.id)

    # -- talking to nodes ------------------------------------------------------------------------
    async def _list(self, root: str, glob: str) -> list[ShardFile]:
        snapshot = [n for n in self.orch.nodes.snapshot(self.orch.clock()) if n.connected]
        if not snapshot:
            raise BacalaoError("no compute node to read the dataset", hint="start a node")
        holders = sorted(snapshot, key=lambda n: -n.held.get(root, 0))
        peers = [n.node_id for n in holders]
        last = "no node answered"
        for node in holders:
            req = m.ListFiles(cid=root, glob=glob, peers=peers)
            try:
                reply = await self._request(node.node_id, subjects.LIST_FILES, req, m.FilesReply)
            except BacalaoError as e:
                last = e.message
                continue
            if reply.error:
                last = reply.error
                continue
            return [ShardFile(f.path, f.cid, f.size) for f in reply.files]
        raise BacalaoError(last, hint="add the dataset to a node (bacalao data add --node)")

    async def _locality(self, cids: list[str]) -> dict[str, dict[str, int]]:
        """Every connected node's held bytes of each CID, all nodes asked at once."""
        nodes = [n.node_id for n in self.orch.nodes.snapshot(self.orch.clock()) if n.connected]
        msg = m.Locality(cids=cids)
        replies = await asyncio.gather(
            *(self._request(n, subjects.LOCALITY, msg, m.LocalityReply) for n in nodes),
            return_exceptions=True,
        )
        out: dict[str, dict[str, int]] = {}
        for node_id, reply in zip(nodes, replies, strict=True):
            if isinstance(reply, BacalaoError):
                continue  # an unreachable node holds nothing we can use
            if isinstance(reply, BaseException):
                raise reply
            out[node_id] = {c: n for c, n in reply.held.items() if n}
        return out

    async def _request(self, node_id: str, method: str, msg: m.Message, reply_type):  # type: ignore[no-untyped-def]
        env = await self.orch.bus.request(
            subjects.compute(node_id, method),
            msg.to_envelope(self.orch.node_id),
            timeout=REQUEST_TIMEOUT_S,
        )
        return reply_type.from_envelope(env)

    def _fail(self, job: Job, message: str, hint: str = "") -> None:
        current = self.orch.store.get_job(job.id)
        if current.is_terminal:
            return
        text = message + (f" (hint: {hint})" if hint else "")
        self.orch.store.update_job_state(job.id, JobStateType.FAILED, text)
        self.orch.touch(job.id)
