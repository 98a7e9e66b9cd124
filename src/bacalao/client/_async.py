"""The asyncio client: :class:`AsyncClient` sends :class:`~bacalao.client._base.Call` s with
httpx. Same operations, names and errors as :class:`~bacalao.client.Client`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from bacalao.client._base import (
    LONG_POLL_S,
    BaseClient,
    Call,
    WaitAll,
    batches,
    parse_log_line,
    still_running,
    tls_verify,
)
from bacalao.client._client import _describe
from bacalao.client._types import (
    JobDescription,
    LogLine,
    Page,
    SubmitResult,
    WaitResult,
)

if TYPE_CHECKING:
    from bacalao.models import Execution, Job, JobHistory, NodeInfo, PublishedResult

T = TypeVar("T")


class AsyncClient(BaseClient):
    """An asyncio client of a bacalao (or Bacalhau v1) API; see :class:`~bacalao.client.Client`.

    Use ``async with AsyncClient() as client:`` or ``await client.aclose()``.
    """

    def __init__(
        self,
        api: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(api, timeout=timeout)
        self._http = httpx.AsyncClient(
            base_url=self.api, timeout=timeout, transport=transport, verify=tls_verify(self.api)
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- sending ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as exc:
            raise self._unreachable(_describe(exc)) from None

    async def _send(self, call: Call[T], *, timeout: float | None = None) -> T:
        with self._translate():
            response = await self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        return self._read(call, response.status_code, response.content)

    @contextlib.asynccontextmanager
    async def _stream(
        self, call: Call[Any], *, follow: bool = False
    ) -> AsyncIterator[httpx.Response]:
        timeout = httpx.Timeout(self.timeout, read=None) if follow else httpx.USE_CLIENT_DEFAULT
        with self._translate():
            async with self._http.stream(
                call.method, call.path, params=call.params, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._error(response.status_code, response.content)
                yield response

    # -- operations ------------------------------------------------------------------------------
    async def alive(self) -> bool:
        """Whether the API answers ``/api/v1/agent/alive`` with OK."""
        return await self._send(self._alive())

    async def version(self) -> dict[str, str]:
        """The server's ``BuildVersionInfo``."""
        return await self._send(self._version())

    async def submit(self, job: Job | Mapping[str, Any]) -> SubmitResult:
        """Submit a job (a :class:`~bacalao.models.Job` or a Bacalhau-shaped dict)."""
        return await self._send(self._submit(job))

    async def submit_many(self, jobs: Sequence[Job | Mapping[str, Any]]) -> list[SubmitResult]:
        """Submit many jobs in as few requests as the API allows (1,000 each), in order; each
        request is stored whole or not at all (a bad job is a 400 naming its index)."""
        out: list[SubmitResult] = []
        for part in batches(list(jobs)):
            out += await self._send(self._submit_many(part))
        return out

    async def wait_all(
        self, job_ids: Sequence[str], *, timeout: float | None = None
    ) -> dict[str, str]:
        """Wait until every job is terminal; their final states by ID (one long-poll for up to
        1,000 jobs at a time). Raises a retryable ``wait_timeout`` error after ``timeout``."""
        import asyncio

        loop = asyncio.get_running_loop()
        waiting = WaitAll(self, job_ids, timeout, loop.time())
        while waiting.pending:
            for call, limit in waiting.round(loop.time()):
                waiting.states.update(await self._send(call, timeout=limit))
        return waiting.result()

    async def get_job(self, job_id: str) -> Job:
        """The job with this ID (or unique ID prefix)."""
        return await self._send(self._get_job(job_id))

    async def describe_job(self, job_id: str) -> JobDescription:
        """The job with its executions and history, in one request."""
        return await self._send(self._describe_job(job_id))

    async def list_jobs(
        self,
        *,
        limit: int | None = None,
        next_token: str = "",
        order_by: str = "",
        reverse: bool = False,
        namespace: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> Page[Job]:
        """One page of jobs; pass the page's ``next_token`` back for the next one."""
        call = self._list_jobs(
            limit=limit,
            next_token=next_token,
            order_by=order_by,
            reverse=reverse,
            namespace=namespace,
            labels=labels,
        )
        return await self._send(call)

    async def stop_job(self, job_id: str, reason: str = "") -> str:
        """Stop a job; returns the evaluation ID ("" if it had already stopped)."""
        return await self._send(self._stop_job(job_id, reason))

    async def executions(self, job_id: str) -> Page[Execution]:
        """The job's executions."""
        return await self._send(self._executions(job_id))

    async def history(
        self,
        job_id: str,
        *,
        event_type: str = "all",
        execution_id: str = "",
        node_id: str = "",
        since_seq: int = 0,
    ) -> Page[JobHistory]:
        """The job's history (``event_type``: all, job or execution), oldest first."""
        call = self._history(
            job_id,
            event_type=event_type,
            execution_id=execution_id,
            node_id=node_id,
            since_seq=since_seq,
        )
        return await self._send(call)

    async def results(self, job_id: str) -> Page[PublishedResult]:
        """The job's published results."""
        return await self._send(self._results(job_id))

    async def wait(
        self, job_id: str, *, since: int = 0, timeout: float = LONG_POLL_S, terminal: bool = False
    ) -> WaitResult:
        """Long-poll once (see :meth:`Client.wait <bacalao.client.Client.wait>`)."""
        call = self._wait(job_id, since=since, timeout=timeout, terminal=terminal)
        return await self._send(call, timeout=timeout + self.timeout)

    async def wait_for(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_update: Callable[[WaitResult], None] | None = None,
    ) -> WaitResult:
        """Wait until the job is terminal, calling ``on_update`` at every change."""
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        since = 0
        while True:
            left = LONG_POLL_S if deadline is None else deadline - loop.time()
            if left <= 0:
                raise still_running(job_id, timeout)
            result = await self.wait(
                job_id, since=since, timeout=min(LONG_POLL_S, left), terminal=on_update is None
            )
            if on_update is not None and (result.seq != since or result.is_terminal):
                on_update(result)
            if result.is_terminal:
                return result
            since = result.seq

    async def logs(
        self, job_id: str, *, execution_id: str = "", follow: bool = False
    ) -> AsyncIterator[LogLine]:
        """The output of an execution as it is written; with ``follow`` until it ends."""
        call = self._logs(job_id, execution_id=execution_id, follow=follow)
        async with self._stream(call, follow=follow) as response:
            with self._translate():
                async for line in response.aiter_lines():
                    entry = parse_log_line(line)
                    if entry is not None:
                        yield entry

    async def list_nodes(self) -> Page[NodeInfo]:
        """The compute nodes the orchestrator knows."""
        return await self._send(self._list_nodes())

    async def get_node(self, node_id: str) -> NodeInfo:
        """One node."""
        return await self._send(self._get_node(node_id))

    async def iter_car(self, cid: str, path: str = "") -> AsyncIterator[bytes]:
        """The CARv1 of the DAG at ``cid[/path]`` from the gateway, as raw chunks (unverified)."""
        async with self._stream(self._car(cid, path), follow=True) as response:
            with self._translate():
                async for chunk in response.aiter_bytes():
                    yield chunk
