"""An in-memory orchestrator with the real one's API surface, for API, client and CLI tests.

It implements exactly what ``bacalao.api.deps.OrchestratorAPI`` asks for, with deterministic IDs
and a counting clock, plus helpers that play the compute side (``start``, ``complete``,
``fail``, ``reject``). ``on_submit`` lets a test script what happens to every submitted job, e.g.
``fake.on_submit = run_to_completion(stdout="hi\\n")``; the script runs as a task on the loop
that called ``submit_job`` (the API server's loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from bacalao.errors import Conflict, InvalidInput, NotFound
from bacalao.models import (
    ComputeState,
    DesiredState,
    Event,
    Execution,
    HistoryType,
    Job,
    JobHistory,
    JobState,
    NodeInfo,
    PublishedResult,
    ResourceAmounts,
    RunCommandResult,
    StateChange,
)
from bacalao.models.job_state import DesiredStateType, ExecutionStateType, JobStateType

J = JobStateType
E = ExecutionStateType


@dataclass(frozen=True)
class SubmitResult:
    job_id: str
    evaluation_id: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LogChunk:
    stream: str
    data: bytes


Script = Callable[["FakeOrchestrator", Job], Awaitable[None]]


def run_to_completion(
    *, stdout: str = "", stderr: str = "", cid: str = "", exit_code: int = 0, delay: float = 0.0
) -> Script:
    """A script: every job runs on the first node and completes (after ``delay`` seconds)."""

    async def script(fake: FakeOrchestrator, job: Job) -> None:
        await asyncio.sleep(0)
        ex = fake.start(job.id)
        if delay:
            await asyncio.sleep(delay)
        fake.complete(job.id, ex.id, stdout=stdout, stderr=stderr, cid=cid, exit_code=exit_code)

    return script


def run_to_failure(
    message: str, *, hint: str = "", rejections: dict[str, str] | None = None
) -> Script:
    """A script: nodes reject (with reasons), then the job fails with ``message``."""

    async def script(fake: FakeOrchestrator, job: Job) -> None:
        await asyncio.sleep(0)
        for node_id, reason in (rejections or {}).items():
            fake.reject(job.id, node_id, reason)
        fake.fail(job.id, message, hint=hint)

    return script


class FakeOrchestrator:
    """In-memory jobs, executions, history, logs and nodes."""

    def __init__(self, node_id: str = "n-orchestrator") -> None:
        self.node_id = node_id
        self.jobs: dict[str, Job] = {}
        self.executions: dict[str, list[Execution]] = {}
        self.events: list[JobHistory] = []
        self.log_chunks: dict[str, list[LogChunk]] = {}
        self.nodes: dict[str, NodeInfo] = {}
        self.on_submit: Script | None = None
        self.stop_reasons: dict[str, str] = {}
        self._now = 1_719_930_417_000_000_000
        self._ids = 0
        self._changed: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- providers -------------------------------------------------------------------------------
    def clock(self) -> int:
        self._now += 1_000_000
        return self._now

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        n = self._ids
        return f"{prefix}-{n:08x}-0000-4000-8000-{n:012x}"

    # -- setup helpers ---------------------------------------------------------------------------
    def add_node(self, node_id: str, **fields: object) -> NodeInfo:
        defaults: dict[str, object] = {
            "engines": ["docker", "noop"],
            "publishers": ["ipfs"],
            "storage_sources": ["ipfs"],
            "total": ResourceAmounts(cpu=8, memory=16 << 30, disk=100 << 30),
            "available": ResourceAmounts(cpu=6, memory=12 << 30, disk=90 << 30),
            "labels": {"Architecture": "amd64", "Operating-System": "linux"},
        }
        node = NodeInfo(id=node_id, **{**defaults, **fields})
        self.nodes[node_id] = node
        return node

    def _record(
        self,
        job_id: str,
        message: str,
        *,
        topic: str,
        job_state: tuple[str, str] | None = None,
        execution: Execution | None = None,
        execution_state: tuple[str, str] | None = None,
        node_id: str = "",
        details: dict[str, str] | None = None,
    ) -> None:
        now = self.clock()
        entry = JobHistory(
            seq=len(self.events) + 1,
            type=HistoryType.EXECUTION_LEVEL if execution or node_id else HistoryType.JOB_LEVEL,
            job_id=job_id,
            execution_id=execution.id if execution else "",
            node_id=execution.node_id if execution else node_id,
            job_state=StateChange(previous=job_state[0], new=job_state[1]) if job_state else None,
            execution_state=(
                StateChange(previous=execution_state[0], new=execution_state[1])
                if execution_state
                else None
            ),
            new_revision=self.jobs[job_id].revision,
            event=Event(message=message, topic=topic, timestamp=now, details=details or {}),
            time=now,
        )
        self.events.append(entry)
        event = self._changed.pop(job_id, None)
        if event is not None:
            event.set()

    def set_job_state(self, job_id: str, state: JobStateType, message: str = "") -> Job:
        job = self.jobs[job_id]
        previous = job.state_type
        job = job.model_copy(
            update={
                "state": JobState(state_type=state, message=message),
                "revision": job.revision + 1,
                "modify_time": self.clock(),
            }
        )
        self.jobs[job_id] = job
        self._record(job_id, message, topic="Scheduling", job_state=(previous.value, state.value))
        return job

    def _set_execution(self, job_id: str, execution_id: str, **update: object) -> Execution:
        items = self.executions[job_id]
        for i, ex in enumerate(items):
            if ex.id == execution_id:
                items[i] = ex.model_copy(
                    update={**update, "revision": ex.revision + 1, "modify_time": self.clock()}
                )
                return items[i]
        raise NotFound(f"execution {execution_id} not found")

    def start(self, job_id: str, node_id: str = "") -> Execution:
        node_id = node_id or next(iter(self.nodes), "n-compute")
        ex = Execution(
            id=self.new_id("e"),
            job_id=job_id,
            node_id=node_id,
            desired_state=DesiredState(state_type=DesiredStateType.RUNNING),
            compute_state=ComputeState(state_type=E.RUNNING),
            create_time=self.clock(),
            modify_time=self.clock(),
        )
        self.executions.setdefault(job_id, []).append(ex)
        self.set_job_state(job_id, J.RUNNING)
        self._record(
            job_id,
            f"running on {node_id}",
            topic="Execution",
            execution=ex,
            execution_state=("BidAccepted", "Running"),
        )
        return ex

    def complete(
        self,
        job_id: str,
        execution_id: str,
        *,
        stdout: str = "",
        stderr: str = "",
        cid: str = "",
        exit_code: int = 0,
    ) -> None:
        result = PublishedResult(type="ipfs", params={"CID": cid}) if cid else None
        ex = self._set_execution(
            job_id,
            execution_id,
            compute_state=ComputeState(state_type=E.COMPLETED),
            desired_state=DesiredState(state_type=DesiredStateType.STOPPED, message="completed"),
            published_result=result,
            result_cid=cid,
            run_output=RunCommandResult(stdout=stdout, stderr=stderr, exit_code=exit_code),
        )
        chunks = self.log_chunks.setdefault(execution_id, [])
        if stdout:
            chunks.append(LogChunk("stdout", stdout.encode()))
        if stderr:
            chunks.append(LogChunk("stderr", stderr.encode()))
        self._record(
            job_id,
            "execution completed",
            topic="Execution",
            execution=ex,
            execution_state=("Running", "Completed"),
        )
        self.set_job_state(job_id, J.COMPLETED)

    def reject(self, job_id: str, node_id: str, reason: str) -> None:
        self._record(
            job_id,
            f"node {node_id} rejected: {reason}",
            topic="Scheduling",
            node_id=node_id,
            details={"IsError": "true"},
        )

    def fail(self, job_id: str, message: str, *, hint: str = "", execution_id: str = "") -> None:
        if execution_id:
            ex = self._set_execution(
                job_id,
                execution_id,
                compute_state=ComputeState(state_type=E.FAILED, message=message),
                run_output=RunCommandResult(exit_code=1, error_msg=message),
            )
            self._record(
                job_id,
                message,
                topic="Execution",
                execution=ex,
                execution_state=("Running", "Failed"),
                details={"IsError": "true", **({"Hint": hint} if hint else {})},
            )
        details = {"IsError": "true", **({"Hint": hint} if hint else {})}
        self._record(job_id, message, topic="Scheduling", details=details)
        self.set_job_state(job_id, J.FAILED, message)

    # -- the Orchestrator surface ----------------------------------------------------------------
    async def submit_job(self, job: Job) -> SubmitResult:
        warnings = (
            ["the job ID is assigned by the orchestrator; the given one is ignored"]
            if job.id
            else []
        )
        now = self.clock()
        job = job.with_id(self.new_id("j")).model_copy(
            update={"state": JobState(), "revision": 1, "create_time": now, "modify_time": now}
        )
        self.jobs[job.id] = job
        self.executions[job.id] = []
        self._record(job.id, "Job submitted", topic="Submission", job_state=("Pending", "Pending"))
        if self.on_submit is not None:
            task = asyncio.get_running_loop().create_task(self.on_submit(self, job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return SubmitResult(job.id, self.new_id("ev"), warnings)

    def get_job(self, job_id: str) -> Job:
        if job_id in self.jobs:
            return self.jobs[job_id]
        matches = [j for k, j in self.jobs.items() if job_id and k.startswith(job_id)]
        if len(matches) > 1:
            raise InvalidInput(
                f"job ID prefix {job_id!r} is ambiguous ({len(matches)} jobs)",
                hint="give more characters of the ID",
            )
        if not matches:
            raise NotFound(f"job {job_id} not found", hint="list jobs with `bacalao job list`")
        return matches[0]

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
        self.last_list_args = {
            "namespace": namespace,
            "limit": limit,
            "offset": offset,
            "order_by": order_by,
            "reverse": reverse,
            "labels": labels,
        }
        key = "modify_time" if order_by == "modified_at" else "create_time"
        jobs = [
            j
            for j in self.jobs.values()
            if (namespace is None or j.namespace == namespace)
            and all(j.labels.get(k) == v for k, v in (labels or {}).items())
        ]
        jobs.sort(key=lambda j: (getattr(j, key), j.id), reverse=reverse)
        page = jobs[offset : offset + limit]
        return page, (offset + limit if offset + limit < len(jobs) else None)

    async def stop_job(self, job_id: str, reason: str = "") -> str:
        job = self.get_job(job_id)
        if job.state_type is J.STOPPED:
            return ""
        if job.is_terminal:
            raise Conflict(
                f"job {job.id} already {job.state_type.value.lower()}; there is nothing to stop",
                hint="only pending, queued or running jobs can be stopped",
            )
        self.stop_reasons[job.id] = reason
        self.set_job_state(job.id, J.STOPPED, reason or "stopped by the user")
        return self.new_id("ev")

    def list_executions(self, job_id: str) -> list[Execution]:
        return list(self.executions[self.get_job(job_id).id])

    def history(
        self,
        job_id: str,
        *,
        since_seq: int = 0,
        event_type: str = "all",
        execution_id: str = "",
        node_id: str = "",
    ) -> list[JobHistory]:
        job_id = self.get_job(job_id).id
        items = [h for h in self.events if h.job_id == job_id and h.seq > since_seq]
        if event_type == "job":
            items = [h for h in items if h.type is HistoryType.JOB_LEVEL]
        elif event_type == "execution":
            items = [h for h in items if h.type is HistoryType.EXECUTION_LEVEL]
        if execution_id:
            items = [h for h in items if h.execution_id == execution_id]
        if node_id:
            items = [h for h in items if h.node_id == node_id]
        return items

    def results(self, job_id: str) -> list[PublishedResult]:
        return [
            e.published_result
            for e in self.list_executions(job_id)
            if e.state is E.COMPLETED and e.published_result and e.published_result.type
        ]

    async def wait(self, job_id: str, *, since_seq: int, timeout: float) -> int:
        job_id = self.get_job(job_id).id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            newest = self.history(job_id, since_seq=since_seq)
            if newest:
                return newest[-1].seq
            if self.jobs[job_id].is_terminal or deadline <= loop.time():
                return since_seq
            event = self._changed.setdefault(job_id, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), deadline - loop.time())
            except TimeoutError:
                return since_seq

    async def _logs(self, job_id: str, execution_id: str, follow: bool) -> AsyncIterator[LogChunk]:
        executions = self.executions[job_id]
        if execution_id:
            chosen = [e for e in executions if e.id.startswith(execution_id)]
            if not chosen:
                raise NotFound(f"execution {execution_id} not found")
        elif not executions:
            raise NotFound("the job has no execution yet", hint="wait for it to be scheduled")
        else:
            chosen = executions[-1:]
        for chunk in self.log_chunks.get(chosen[0].id, []):
            await asyncio.sleep(0)
            yield chunk

    def logs(
        self, job_id: str, *, execution_id: str = "", follow: bool = False
    ) -> AsyncIterator[LogChunk]:
        self.last_logs_args = {"execution_id": execution_id, "follow": follow}
        return self._logs(self.get_job(job_id).id, execution_id, follow)

    def list_nodes(self) -> list[NodeInfo]:
        return list(self.nodes.values())

    def get_node(self, node_id: str) -> NodeInfo:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise NotFound(f"node {node_id} not found", hint="see `bacalao node list`") from None
