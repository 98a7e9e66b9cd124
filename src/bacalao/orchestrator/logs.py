"""Streaming an execution's stdout and stderr from the node that runs it.

The orchestrator asks the node for the bytes past what it has already sent (``ExecutionLogs``),
so the same code follows a live execution and replays a finished one. When the node no longer has
the files, the inline output stored with the execution is replayed instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bacalao.errors import BacalaoError, NotFound
from bacalao.models.execution import Execution
from bacalao.models.job import Job
from bacalao.transport import messages as m
from bacalao.transport import subjects

if TYPE_CHECKING:
    from bacalao.orchestrator.service import Orchestrator

POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class LogChunk:
    stream: str  # "stdout" | "stderr"
    data: bytes


def pick_execution(executions: list[Execution], execution_id: str) -> Execution:
    if execution_id:
        for e in executions:
            if e.id == execution_id or e.id.startswith(execution_id):
                return e
        raise NotFound(f"execution {execution_id} not found", hint="see `bacalao job executions`")
    live = [e for e in executions if not e.state.is_discarded] or executions
    if not live:
        raise NotFound("the job has no execution yet", hint="wait for it to be scheduled")
    return live[-1]


async def stream(
    orch: Orchestrator, job: Job, *, execution_id: str = "", follow: bool = False
) -> AsyncIterator[LogChunk]:
    """Yield log chunks; with ``follow``, until the execution ends."""
    while True:
        executions = orch.store.list_executions(job.id)
        if executions or not follow:
            break
        await asyncio.sleep(POLL_S)
    ex = pick_execution(executions, execution_id)
    offsets = {"stdout": 0, "stderr": 0}
    while True:
        reply = await _fetch(orch, ex, offsets)
        if reply is None or not reply.found:
            fresh = orch.store.get_execution(ex.id)
            if fresh.result_cid and not ex.result_cid:
                ex = fresh  # published meanwhile: the node reads the rest from the result
                continue
            ex = fresh
            if ex.is_terminal or not follow:
                for chunk in _stored(ex, offsets):
                    yield chunk
                return
            await asyncio.sleep(POLL_S)
            continue
        for name, text in (("stdout", reply.stdout), ("stderr", reply.stderr)):
            if text:
                data = text.encode("latin-1")
                offsets[name] += len(data)
                yield LogChunk(name, data)
        if reply.done or not follow:
            if reply.done and (reply.stdout or reply.stderr):
                continue  # drain what is left
            return
        if not (reply.stdout or reply.stderr):
            await asyncio.sleep(POLL_S)


async def _fetch(orch: Orchestrator, ex: Execution, offsets: dict[str, int]) -> m.LogsReply | None:
    if not ex.node_id:
        return None
    req = m.ExecutionLogs(
        execution_id=ex.id,
        stdout_offset=offsets["stdout"],
        stderr_offset=offsets["stderr"],
        result_cid=ex.result_cid,
    )
    try:
        env = await orch.bus.request(
            subjects.compute(ex.node_id, subjects.EXECUTION_LOGS),
            req.to_envelope(orch.node_id),
            timeout=5.0,
        )
        return m.LogsReply.from_envelope(env)
    except BacalaoError:
        return None


def _stored(ex: Execution, offsets: dict[str, int]) -> list[LogChunk]:
    out = ex.run_output
    if out is None:
        return []
    chunks = []
    for name, text in (("stdout", out.stdout), ("stderr", out.stderr)):
        data = text.encode()[offsets[name] :]
        if data:
            chunks.append(LogChunk(name, data))
    return chunks
