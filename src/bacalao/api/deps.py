"""What the API needs from the rest of bacalao, declared here by the consumer.

:class:`OrchestratorAPI` is the orchestrator's read/submit surface (the real one is
``bacalao.orchestrator.service.Orchestrator``; tests use an in-memory fake). The handlers reach it,
and the gateway's block getter, through ``request.app.state`` — no module-level singletons.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol

from fastapi import Request

from bacalao.errors import Unavailable

if TYPE_CHECKING:
    from bacalao.ipld.blocks import BlockGetter
    from bacalao.models import Execution, Job, JobHistory, NodeInfo, PublishedResult


class SubmitResultLike(Protocol):
    job_id: str
    evaluation_id: str
    warnings: list[str]


class LogChunkLike(Protocol):
    stream: str  # "stdout" | "stderr"
    data: bytes


class OrchestratorAPI(Protocol):
    """The orchestrator as the API sees it. IDs may be unique short prefixes."""

    node_id: str

    async def submit_job(self, job: Job) -> SubmitResultLike: ...

    async def submit_jobs(self, jobs: list[Job]) -> Sequence[SubmitResultLike]: ...

    async def wait_all(self, job_ids: list[str], *, timeout: float) -> list[Job]: ...

    def get_job(self, job_id: str) -> Job: ...

    def list_jobs(
        self,
        *,
        namespace: str | None = None,
        limit: int = 100,
        offset: int = 0,
        order_by: str = "created_at",
        reverse: bool = False,
        labels: dict[str, str] | None = None,
    ) -> tuple[list[Job], int | None]: ...

    async def stop_job(self, job_id: str, reason: str = "") -> str: ...

    def list_executions(self, job_id: str) -> list[Execution]: ...

    def history(
        self,
        job_id: str,
        *,
        since_seq: int = 0,
        event_type: str = "all",
        execution_id: str = "",
        node_id: str = "",
    ) -> list[JobHistory]: ...

    def results(self, job_id: str) -> list[PublishedResult]: ...

    async def wait(self, job_id: str, *, since_seq: int, timeout: float) -> int: ...

    def logs(
        self, job_id: str, *, execution_id: str = "", follow: bool = False
    ) -> AsyncIterator[LogChunkLike]: ...

    def list_nodes(self) -> list[NodeInfo]: ...

    def get_node(self, node_id: str) -> NodeInfo: ...


async def orchestrator(request: Request) -> OrchestratorAPI:
    """FastAPI dependency: the app's orchestrator (async: a sync dependency would cost a
    thread-pool hop on every request)."""
    return request.app.state.orchestrator


async def blocks(request: Request) -> BlockGetter:
    """FastAPI dependency: the gateway's block getter (503 when this node serves none)."""
    getter = request.app.state.blocks
    if getter is None:
        raise Unavailable(
            "this node has no content store to serve",
            hint="ask a node started with a store (bacalao serve)",
            retryable=False,
        )
    return getter
