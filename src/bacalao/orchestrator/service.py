"""The orchestrator: accepts jobs, evaluates them, talks to compute nodes, records everything.

The thin effectful shell around :func:`~.scheduler.schedule`. Every change is written to the
jobstore first (state + a readable event), then acted on. Evaluations are queued per job and
de-duplicated; any news about a job (submission, a node's update, a stop, a timer) re-evaluates it,
so the scheduler always reconciles from the stored truth — which is also how a restart resumes.

All jobstore calls are short synchronous calls made on the event-loop thread, so a read followed
by a write is never interleaved with another coroutine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bacalao.errors import BacalaoError, Conflict, InvalidInput
from bacalao.executors.registry import ExecutorRegistry
from bacalao.jobstore.base import JobStore
from bacalao.models.event import JobHistory
from bacalao.models.execution import Execution
from bacalao.models.job import Job
from bacalao.models.job_state import DesiredStateType, ExecutionStateType, JobStateType
from bacalao.models.node import NodeInfo
from bacalao.models.publisher import PublishedResult
from bacalao.orchestrator import logs as logstream
from bacalao.orchestrator.bursts import BatchStream
from bacalao.orchestrator.commits import GroupCommit
from bacalao.orchestrator.news import BidAccepted, Held, News, progress
from bacalao.orchestrator.nodes import NodeRegistry
from bacalao.orchestrator.scheduler import Plan, Snapshot, schedule
from bacalao.orchestrator.selection import Requirements
from bacalao.orchestrator.stages import Stages
from bacalao.transport import Bus, Envelope, subjects
from bacalao.transport import messages as m

log = logging.getLogger(__name__)

ES = ExecutionStateType
Clock = Callable[[], int]
IdSource = Callable[[str], str]
#: Jobs the evaluation worker takes off its queue for one group commit at most (~0.5 ms each:
#: the loop, and the API on it, is never held up for long).
EVALUATIONS_PER_BATCH = 64
#: How long an execution's start, which nobody waits for, is held to be written with its next
#: news, which is often its end (see :mod:`.news`).
HOLD_S = 0.005
#: The same for a bid's acceptance. Any news from the node implies it, and the node's start comes
#: many loop turns after its answer when many jobs are placed at once; written on its own after
#: this, for an execution the node queues.
BID_HOLD_S = 1.0


@dataclass(frozen=True)
class SubmitResult:
    job_id: str
    evaluation_id: str
    warnings: list[str] = field(default_factory=list)


LogChunk = logstream.LogChunk


class Orchestrator:
    """One orchestrator on a bus, over a jobstore."""

    def __init__(
        self,
        store: JobStore,
        bus: Bus,
        *,
        node_id: str,
        clock: Clock,
        ids: IdSource,
        validators: ExecutorRegistry | None = None,
        heartbeat_timeout_s: float = 30.0,
        bid_timeout_s: float = 10.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.node_id = node_id
        self.clock = clock
        self.ids = ids
        self.validators = validators
        self.nodes = NodeRegistry(heartbeat_timeout_s=heartbeat_timeout_s)
        self.stages = Stages(self)
        self.commits = GroupCommit(store)
        self.bid_timeout_s = bid_timeout_s
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._changed: dict[str, asyncio.Event] = {}
        #: news of executions held to be written with their next (see :mod:`.news`)
        self._held = Held(lambda eid, news: self.spawn(self._write_news(eid, news)))
        self._tasks: set[asyncio.Task] = set()
        self._subs: list = []
        self._worker: asyncio.Task | None = None
        self._batches = BatchStream()  # batch submissions are accepted before evaluated

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen for node messages and start the evaluation worker.

        Call :meth:`resume` once the compute nodes had their chance to register (the stack does
        it after starting its own nodes), so recovered jobs are not judged against an empty
        cluster.
        """
        routes = {
            subjects.orchestrator(self.node_id, subjects.ON_EXECUTION_UPDATE): self._on_update,
            subjects.management(self.node_id, subjects.REGISTER_NODE): self._on_register,
            subjects.heartbeat(self.node_id): self._on_heartbeat,
        }
        for subject, handler in routes.items():
            self._subs.append(await self.bus.subscribe(subject, handler))
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        for eid, news in self._held.take_all().items():  # held news is not left behind
            self.commits.run(partial(self._apply_news, eid, news))
        self.commits.flush()
        if self._worker:
            self._worker.cancel()
        for t in list(self._tasks):
            t.cancel()

    def resume(self) -> None:
        """After a restart: executions the nodes may have lost are failed, then re-evaluated.

        Nodes re-register when they come back; an execution whose node does not know it any more
        (a node restarted with the orchestrator, the embedded case) cannot be resumed.
        """
        for ex in self.store.in_progress_executions():
            self.store.update_execution(
                ex.id,
                new_state=ES.FAILED,
                message="lost: the orchestrator restarted while it was in flight",
                stimulus_id="recover",
            )
        for job in self.store.in_progress_jobs():
            self.enqueue(job.id)

    # -- the API surface ------------------------------------------------------------------------
    async def submit_job(self, job: Job) -> SubmitResult:
        """Validate, normalise and store a job; its evaluation starts at once."""
        return (await self.submit_jobs([job]))[0]

    async def submit_jobs(self, jobs: list[Job]) -> list[SubmitResult]:
        """Submit several jobs at once: all are stored in one transaction, or none is.

        An invalid job fails the whole batch with its index in the message (``Jobs[3].…``) when
        there is more than one. This is how a client hands over many small jobs (Dask's
        ``client.map``) without a round trip and a commit for each.
        """
        prepared: list[tuple[Job, list[str]]] = []
        for i, job in enumerate(jobs):
            try:
                prepared.append(self._prepare(job))
            except InvalidInput as err:
                if len(jobs) == 1:
                    raise
                raise err.prefixed(f"Jobs[{i}].") from None

        def store() -> list[Job]:
            stored = [self.store.create_job(job, stimulus_id="submit") for job, _ in prepared]
            if len(stored) == 1:
                # A lone job is placed in its own submission's transaction: no wait for the
                # evaluation worker's turn. A batch goes to the worker, so the answer to the
                # client does not wait for a thousand placements.
                self._evaluate_logged(stored[0].id)
            return stored

        stored = await self.commits.run(store)
        results = []
        if len(stored) > 1:
            self._batches.batch_stored()
        for job, (_, warnings) in zip(stored, prepared, strict=True):
            if len(stored) > 1:
                self.enqueue(job.id)
            results.append(SubmitResult(job.id, self.ids("ev"), warnings))
        return results

    def _prepare(self, job: Job) -> tuple[Job, list[str]]:
        """The job as it will be stored (its ID assigned, its engine params checked)."""
        warnings: list[str] = []
        if job.id:
            warnings.append("the job ID is assigned by the orchestrator; the given one is ignored")
        task = job.task
        if self.validators is not None:
            self._validate_engine(task.engine.type, task.engine.params)
        job = job.with_id(self.ids("j")).model_copy(
            update={"meta": {**job.meta, "bacalao.org/requester.id": self.node_id}}
        )
        return job, warnings

    def _validate_engine(self, engine_type: str, params: dict) -> None:
        """The engine's own params check, its message prefixed with the spec's field path."""
        assert self.validators is not None
        try:
            self.validators.validate(engine_type, params)
        except InvalidInput as err:
            field = "Params" if self.validators.has(engine_type) else "Type"
            raise err.prefixed(f"Tasks[0].Engine.{field}: ") from None

    async def wait_all(self, job_ids: list[str], *, timeout: float) -> list[Job]:
        """Wait until every job is terminal, or the timeout; the jobs as they are then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        jobs = [self.store.get_job(j) for j in job_ids]  # unknown IDs fail before any wait
        for job in jobs:
            seq = 0
            while not self.store.get_job(job.id).is_terminal:
                left = deadline - loop.time()
                if left <= 0:
                    break
                seq = await self.wait(job.id, since_seq=seq, timeout=left)
        return [self.store.get_job(job.id) for job in jobs]

    def get_job(self, job_id: str) -> Job:
        return self.store.get_job(job_id)

    def list_jobs(
        self,
        *,
        namespace: str | None = None,
        limit: int = 100,
        offset: int = 0,
        order_by: str = "created_at",
        reverse: bool = False,
        labels: dict[str, str] | None = None,
    ) -> tuple[list[Job], int | None]:
        order = {"created_at": "create_time", "modified_at": "modify_time"}.get(order_by, order_by)
        jobs = self.store.list_jobs(
            namespace=namespace,
            labels=labels,
            limit=limit + 1,
            offset=offset,
            order_by=order,
            reverse=reverse,
        )
        more = len(jobs) > limit
        return jobs[:limit], (offset + limit if more else None)

    async def stop_job(self, job_id: str, reason: str = "") -> str:
        job = self.store.get_job(job_id)
        state = job.state_type
        if state is JobStateType.STOPPED:
            return ""
        if state.is_terminal:
            raise Conflict(
                f"job {job.id} already {state.value.lower()}; there is nothing to stop",
                hint="only pending, queued or running jobs can be stopped",
            )
        self.store.update_job_state(
            job.id, JobStateType.STOPPED, reason or "stopped by the user", stimulus_id="stop"
        )
        self.touch(job.id)
        self.enqueue(job.id)
        return self.ids("ev")

    def list_executions(self, job_id: str) -> list[Execution]:
        return self.store.list_executions(self.store.get_job(job_id).id)

    def history(
        self,
        job_id: str,
        *,
        since_seq: int = 0,
        event_type: str = "all",
        execution_id: str = "",
        node_id: str = "",
    ) -> list[JobHistory]:
        items = self.store.events(self.store.get_job(job_id).id, since_seq)
        if event_type == "job":
            items = [h for h in items if not h.execution_id]
        elif event_type == "execution":
            items = [h for h in items if h.execution_id]
        if execution_id:
            items = [h for h in items if h.execution_id == execution_id]
        if node_id:
            items = [h for h in items if h.node_id == node_id]
        return items

    def results(self, job_id: str) -> list[PublishedResult]:
        """The job's result: the merged (or reduced) CID of a sharded job, else every completed
        execution's published result."""
        job = self.store.get_job(job_id)
        if job.sharding is not None:
            return self.stages.results(job)
        return [
            e.published_result
            for e in self.list_executions(job_id)
            if e.state is ES.COMPLETED and e.published_result and e.published_result.type
        ]

    async def wait(self, job_id: str, *, since_seq: int, timeout: float) -> int:
        """Long-poll: the newest history seq once it passes ``since_seq``, or at the timeout."""
        job_id = self.store.get_job(job_id).id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed.setdefault(job_id, asyncio.Event())
            newest = self.store.last_seq(job_id)
            if newest > since_seq:
                return newest
            if self.store.get_job(job_id).is_terminal:
                self._changed.pop(job_id, None)  # nothing will touch it again
                return since_seq
            left = deadline - loop.time()
            if left <= 0:
                return since_seq
            try:
                await asyncio.wait_for(event.wait(), left)
            except TimeoutError:
                return since_seq

    def logs(
        self, job_id: str, *, execution_id: str = "", follow: bool = False
    ) -> AsyncIterator[LogChunk]:
        job = self.store.get_job(job_id)
        return logstream.stream(self, job, execution_id=execution_id, follow=follow)

    def list_nodes(self) -> list[NodeInfo]:
        return self.nodes.infos(self.clock())

    def get_node(self, node_id: str) -> NodeInfo:
        return self.nodes.get(node_id, self.clock())

    # -- evaluation -----------------------------------------------------------------------------
    def enqueue(self, job_id: str, delay: float = 0.0) -> None:
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.enqueue, job_id)
            return
        if job_id not in self._queued:
            self._queued.add(job_id)
            self._queue.put_nowait(job_id)

    def touch(self, job_id: str) -> None:
        event = self._changed.pop(job_id, None)
        if event is not None:
            event.set()

    async def _work(self) -> None:
        while True:
            if self._queue.empty():
                self._batches.drained()
            batch = [await self._queue.get()]
            await self._batches.paused()
            while len(batch) < EVALUATIONS_PER_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [j for j in batch if j in self._queued]  # the rest were evaluated meanwhile
            if not batch:
                continue
            try:
                await self.commits.run(partial(self._evaluate_all, batch))
            except Exception:
                log.exception("committing %d evaluations failed", len(batch))
                for job_id in batch:
                    self.enqueue(job_id, delay=1.0)

    def _evaluate_all(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self._evaluate_queued(job_id)

    def _evaluate_queued(self, job_id: str) -> None:
        """Evaluate a queued job now and take it off the queue (the worker then skips it)."""
        if job_id not in self._queued:
            return  # evaluated meanwhile
        self._queued.discard(job_id)
        self._evaluate_logged(job_id)

    def _evaluate_logged(self, job_id: str) -> None:
        """Evaluate in a transaction (a savepoint inside the caller's); a failure, the commit's
        included, is logged and the job evaluated again a second later."""
        try:
            with self.store.transaction():
                self.evaluate(job_id)
        except Exception:
            log.exception("evaluating job %s failed", job_id)
            self.enqueue(job_id, delay=1.0)

    def evaluate(self, job_id: str) -> Plan | None:
        """Reconcile one job from the store and apply the plan."""
        job = self.store.get_job(job_id)
        shards = None
        if job.sharding is not None and not job.is_terminal:
            shards = self.stages.plan_of(job)
            if shards is None:
                self.stages.start_planning(job)
                return None
        executions = self.store.list_executions(job.id)
        now = self.clock()
        slots = self._slots(job)
        if shards is not None:
            slots = self.stages.slots(job, shards, slots[0])
        fatal = frozenset(e.id for e in executions if e.state is ES.FAILED and not e.retryable)
        nodes = self.nodes.snapshot(now, held=self.stages.held(job.id))
        plan = schedule(Snapshot(job, executions, nodes, now, slots, fatal))
        if shards is not None and plan.job_state is JobStateType.COMPLETED:
            plan = self.stages.after_all_slots(job, shards, executions, plan)
        self._apply(job, plan, slots)
        return plan

    def _slots(self, job: Job) -> list[Requirements]:
        task = job.task
        res = task.resources
        cids = tuple(
            s.source.params.get("CID", "").split("/")[0]
            for s in task.input_sources
            if s.source.type == "ipfs"
        )
        req = Requirements(
            engine=task.engine.type,
            cpu=res.cpu_cores if res else 0.0,
            memory=res.memory_bytes if res else 0,
            gpus=res.gpu_count if res else 0,
            constraints=tuple(job.constraints),
            input_cids=cids,
            input_bytes=sum(self.nodes.held_bytes(c) for c in cids),
        )
        return [req] * max(job.count, 1 if job.type.value == "ops" else 0)

    def _apply(self, job: Job, plan: Plan, slots: list[Requirements]) -> None:
        asks: list[Execution] = []
        # inside _evaluate_logged's savepoint (or outermost when evaluate() is called alone)
        with self.store.transaction(savepoint=False):
            for p in plan.placements:
                # Born asking for its bid: one write and one history entry, not two.
                ex = Execution(
                    ID=self.ids("e"),
                    Namespace=job.namespace,
                    JobID=job.id,
                    NodeID=p.node_id,
                    ShardIndex=p.slot,
                    DesiredState={"StateType": DesiredStateType.RUNNING},
                    ComputeState={
                        "StateType": ES.ASK_FOR_BID,
                        "Message": f"asking {p.node_id} for a bid",
                    },
                )
                asks.append(
                    self.store.create_execution(ex, message=f"{p.explain()}; asking for a bid")
                )
                self.nodes.add_load(p.node_id, ex.id, slots[p.slot])
            for eid, reason in plan.stops:
                self.store.update_execution(
                    eid, desired_state=DesiredStateType.STOPPED, message=reason
                )
            if plan.job_state is not None and plan.job_state is not job.state_type:
                message = plan.message + (f" (hint: {plan.hint})" if plan.hint else "")
                self.store.update_job_state(job.id, plan.job_state, message or plan.job_state)
        for ex in asks:
            if job.sharding is not None:
                ask_job, inputs, peers = self.stages.ask_for(job, ex.shard_index)
            else:
                ask_job, inputs, peers = job, None, []
            self.spawn_after_commit(partial(self._ask_for_bid, ask_job, ex, inputs, peers))
        for eid, reason in plan.stops:
            self.spawn_after_commit(partial(self._cancel, eid, reason))
        if plan.reevaluate_after_s:
            self.enqueue(job.id, delay=plan.reevaluate_after_s)
        self.touch(job.id)

    def spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def spawn_after_commit(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start ``make()`` once the current transaction has committed, never if it rolls
        back: a node is only told about executions the store holds."""
        self.store.on_commit(lambda: self.spawn(make()))

    # -- talking to compute nodes ----------------------------------------------------------------
    async def _ask_for_bid(
        self, job: Job, ex: Execution, inputs: list[dict] | None, peers: list[str]
    ) -> None:
        ask = m.AskForBid.for_job(
            job,
            execution_id=ex.id,
            shard_index=ex.shard_index,
            inputs=inputs,
            peers=peers,
        )
        try:
            env = await self.bus.request(
                subjects.compute(ex.node_id, subjects.ASK_FOR_BID),
                ask.to_envelope(self.node_id),
                timeout=self.bid_timeout_s,
            )
            reply = m.BidReply.from_envelope(env)
        except BacalaoError as e:
            reply = m.BidReply(accepted=False, reason=f"node unreachable: {e.message}")
        if reply.accepted:  # changes nothing anyone waits for: it rides with the node's news
            self._held.hold(ex.id, BidAccepted(ex.node_id), BID_HOLD_S)
            return
        await self.commits.run(partial(self._record_decline, ex, reply))

    def _record_decline(self, ex: Execution, reply: m.BidReply) -> None:
        current = self.store.get_execution(ex.id)
        if current.state is not ES.ASK_FOR_BID:
            return  # the node's own updates overtook the reply, or it was cancelled meanwhile
        self._finish(current, ES.FAILED, f"{ex.node_id} declined: {reply.reason}", True)
        self.touch(ex.job_id)

    async def _cancel(self, execution_id: str, reason: str) -> None:
        ex = self.store.get_execution(execution_id)
        if ex.is_terminal:
            return
        # A node that cannot be reached runs nothing any more: cancelled either way.
        with contextlib.suppress(BacalaoError):
            await self.bus.request(
                subjects.compute(ex.node_id, subjects.CANCEL_EXECUTION),
                m.CancelExecution(execution_id=ex.id, reason=reason).to_envelope(self.node_id),
                timeout=self.bid_timeout_s,
            )
        ex = self.store.get_execution(execution_id)
        if not ex.is_terminal:
            self._finish(ex, ES.CANCELLED, reason, True)
            self.enqueue(ex.job_id)

    def _finish(self, ex: Execution, state: ES, message: str, retryable: bool, **fields) -> None:  # type: ignore[no-untyped-def]
        """End ``ex`` (``fields``: what else the store writes, ``via`` included)."""
        self.store.update_execution(
            ex.id, new_state=state, message=message, retryable=retryable, **fields
        )
        self.nodes.drop_load(ex.node_id, ex.id)
        self.enqueue(ex.job_id)
        self.touch(ex.job_id)

    async def _on_update(self, env: Envelope) -> None:
        u = m.ExecutionUpdate.from_envelope(env)
        self.nodes.heard_from(u.node_id, self.clock())
        if u.state == ES.RUNNING.value:  # rides with the next write, often "completed"
            self._held.hold(u.execution_id, u, HOLD_S)
            return
        await self._write_news(u.execution_id, [*self._held.take(u.execution_id), u])

    async def _write_news(self, execution_id: str, news: list[News]) -> None:
        await self.commits.run(partial(self._apply_news, execution_id, news))

    def _apply_news(self, execution_id: str, news: list[News]) -> None:
        """Write what the execution's news (in order) does to it, in one row write."""
        try:
            ex = self.store.get_execution(execution_id)
        except BacalaoError:
            return
        done = progress(ex.state, ex.node_id, news)
        u = done.final
        if u is None:
            if done.steps:
                (state, message), via = done.steps[-1], done.steps[:-1]
                self.store.update_execution(ex.id, new_state=state, message=message, via=via)
                self.touch(ex.job_id)
            return
        new = ES(u.state)
        fields: dict[str, Any] = {"via": done.steps}
        if u.run_output is not None:
            fields["run_output"] = u.run_output
        if u.metering is not None:
            fields["metering"] = u.metering
        if u.result_cid:
            fields["result_cid"] = u.result_cid
            fields["published_result"] = PublishedResult(Type="ipfs", Params={"CID": u.result_cid})
        message = u.message or {ES.COMPLETED: "completed", ES.CANCELLED: "cancelled"}.get(new, "")
        self._finish(ex, new, message, u.retryable, **fields)
        # Reconcile the job (_finish queued it) now, in this update's transaction, rather than
        # one loop turn and one commit later: the end of an execution is most often its job's.
        self._evaluate_queued(ex.job_id)

    async def _on_register(self, env: Envelope) -> Envelope:
        msg = m.RegisterNode.from_envelope(env)
        known = self.nodes.connected(msg.node.id, self.clock())
        self.nodes.register(msg.node, msg.held, self.clock())
        if not known:
            for job in self.store.in_progress_jobs():
                if job.state_type is JobStateType.QUEUED:
                    self.enqueue(job.id)
        return m.Ack().to_envelope(self.node_id)

    async def _on_heartbeat(self, env: Envelope) -> None:
        msg = m.Heartbeat.from_envelope(env)
        self.nodes.heard_from(msg.node_id, self.clock())
