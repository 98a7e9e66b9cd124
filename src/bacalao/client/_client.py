"""The blocking client: :class:`Client` sends :class:`~bacalao.client._base.Call` s.

Plain requests to an ``http://`` API go over the stdlib (:mod:`bacalao.client._plain`), so a
command that only asks and prints never imports httpx; streams, ``https``, proxies and a custom
transport use httpx, built on first use.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from bacalao.client import _plain
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
from bacalao.client._types import (
    JobDescription,
    LogLine,
    Page,
    SubmitResult,
    WaitResult,
)

if TYPE_CHECKING:
    import httpx

    from bacalao.models import Execution, Job, JobHistory, NodeInfo, PublishedResult

T = TypeVar("T")


def _describe(exc: httpx.TransportError) -> str:
    import httpx

    return _words(exc, httpx.ConnectError, httpx.TimeoutException)


def _describe_plain(exc: _plain.TransportError) -> str:
    """The words :func:`_describe` has for the same failure under httpx."""
    return _words(exc, _plain.ConnectFailed, _plain.TimedOut)


def _words(exc: Exception, connect: type[Exception], timeout: type[Exception]) -> str:
    """A transport failure in a few words, whichever HTTP stack raised it."""
    if isinstance(exc, connect):
        return "connection refused" if "refused" in str(exc).lower() else f"cannot connect ({exc})"
    if isinstance(exc, timeout):
        return "no answer in time"
    return str(exc) or type(exc).__name__


class Client(BaseClient):
    """A blocking client of a bacalao (or Bacalhau v1) API.

    ``api`` defaults to ``$BACALAO_API`` or ``http://127.0.0.1:1234``. Use as a context manager, or
    call :meth:`close`. ``transport`` replaces httpx's (e.g. ``httpx.MockTransport`` in tests).
    Every method raises a :class:`~bacalao.errors.BacalaoError`: the server's own error, or
    :class:`~bacalao.errors.Unavailable` when the API cannot be reached.
    """

    def __init__(
        self,
        api: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(api, timeout=timeout)
        self._transport = transport
        self._closed = False
        self._plain = (
            _plain.PlainHTTP(self.api, timeout)
            if transport is None and _plain.fits(self.api)
            else None
        )

    @cached_property
    def _http(self) -> httpx.Client:
        """The httpx client (built on first use: plain requests do without it)."""
        if self._closed:  # as httpx says once closed
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        import httpx

        return httpx.Client(
            base_url=self.api,
            timeout=self.timeout,
            transport=self._transport,
            verify=tls_verify(self.api),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._closed = True
        if self._plain is not None:
            self._plain.close()
        if "_http" in self.__dict__:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except _plain.TransportError as exc:
            raise self._unreachable(_describe_plain(exc)) from None
        except Exception as exc:
            httpx = sys.modules.get("httpx")  # none of its errors without it
            if httpx is not None and isinstance(exc, httpx.TransportError):
                raise self._unreachable(_describe(exc)) from None
            raise

    def _send(self, call: Call[T], *, timeout: float | None = None) -> T:
        if self._plain is not None:
            with self._translate():
                status, content = self._plain.request(
                    call.method, call.path, params=call.params, json_body=call.json, timeout=timeout
                )
            return self._read(call, status, content)
        import httpx

        with self._translate():
            response = self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        return self._read(call, response.status_code, response.content)

    @contextlib.contextmanager
    def _stream(self, call: Call[Any], *, follow: bool = False) -> Iterator[httpx.Response]:
        import httpx

        timeout = httpx.Timeout(self.timeout, read=None) if follow else httpx.USE_CLIENT_DEFAULT
        with (
            self._translate(),
            self._http.stream(
                call.method, call.path, params=call.params, timeout=timeout
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise self._error(response.status_code, response.content)
            yield response

    # -- operations ------------------------------------------------------------------------------
    def alive(self) -> bool:
        """Whether the API answers ``/api/v1/agent/alive`` with OK."""
        return self._send(self._alive())

    def version(self) -> dict[str, str]:
        """The server's ``BuildVersionInfo`` (``GitVersion``, ``Major``, ``Minor``…)."""
        return self._send(self._version())

    def submit(self, job: Job | Mapping[str, Any]) -> SubmitResult:
        """Submit a job (a :class:`~bacalao.models.Job` or a Bacalhau-shaped dict)."""
        return self._send(self._submit(job))

    def submit_many(self, jobs: Sequence[Job | Mapping[str, Any]]) -> list[SubmitResult]:
        """Submit many jobs in as few requests as the API allows (1,000 each), in order; each
        request is stored whole or not at all (a bad job is a 400 naming its index)."""
        out: list[SubmitResult] = []
        for part in batches(list(jobs)):
            out += self._send(self._submit_many(part))
        return out

    def wait_all(self, job_ids: Sequence[str], *, timeout: float | None = None) -> dict[str, str]:
        """Wait until every job is terminal; their final states by ID (one long-poll for up to
        1,000 jobs at a time). Raises a retryable ``wait_timeout`` error after ``timeout``."""
        waiting = WaitAll(self, job_ids, timeout, time.monotonic())
        while waiting.pending:
            for call, limit in waiting.round(time.monotonic()):
                waiting.states.update(self._send(call, timeout=limit))
        return waiting.result()

    def get_job(self, job_id: str) -> Job:
        """The job with this ID (or unique ID prefix)."""
        return self._send(self._get_job(job_id))

    def describe_job(self, job_id: str) -> JobDescription:
        """The job with its executions and history, in one request."""
        return self._send(self._describe_job(job_id))

    def list_jobs(
        self,
        *,
        limit: int | None = None,
        next_token: str = "",
        order_by: str = "",
        reverse: bool = False,
        namespace: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> Page[Job]:
        """One page of jobs, oldest first (``reverse`` for newest first); pass the page's
        ``next_token`` back for the next one."""
        call = self._list_jobs(
            limit=limit,
            next_token=next_token,
            order_by=order_by,
            reverse=reverse,
            namespace=namespace,
            labels=labels,
        )
        return self._send(call)

    def stop_job(self, job_id: str, reason: str = "") -> str:
        """Stop a job; returns the evaluation ID ("" if it had already stopped)."""
        return self._send(self._stop_job(job_id, reason))

    def executions(self, job_id: str) -> Page[Execution]:
        """The job's executions."""
        return self._send(self._executions(job_id))

    def history(
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
        return self._send(call)

    def results(self, job_id: str) -> Page[PublishedResult]:
        """The job's published results (``{Type: ipfs, Params: {CID}}`` each)."""
        return self._send(self._results(job_id))

    def wait(
        self, job_id: str, *, since: int = 0, timeout: float = LONG_POLL_S, terminal: bool = False
    ) -> WaitResult:
        """Long-poll once: returns when the job has history newer than ``since``, is terminal, or
        ``timeout`` seconds pass. Feed the result's ``seq`` back as ``since``. With ``terminal``
        the server answers only once the job is terminal (or at the timeout)."""
        call = self._wait(job_id, since=since, timeout=timeout, terminal=terminal)
        return self._send(call, timeout=timeout + self.timeout)

    def wait_for(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        on_update: Callable[[WaitResult], None] | None = None,
    ) -> WaitResult:
        """Wait until the job is terminal, calling ``on_update`` at every change; raises
        a retryable ``wait_timeout`` error after ``timeout`` seconds (the job goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        since = 0
        while True:
            left = LONG_POLL_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise still_running(job_id, timeout)
            # Without on_update nobody looks at the steps: one long-poll until the end.
            result = self.wait(
                job_id, since=since, timeout=min(LONG_POLL_S, left), terminal=on_update is None
            )
            if on_update is not None and (result.seq != since or result.is_terminal):
                on_update(result)
            if result.is_terminal:
                return result
            since = result.seq

    def logs(
        self, job_id: str, *, execution_id: str = "", follow: bool = False
    ) -> Iterator[LogLine]:
        """The output of an execution (the latest by default) as it is written; with ``follow``
        until the execution ends."""
        call = self._logs(job_id, execution_id=execution_id, follow=follow)
        with self._stream(call, follow=follow) as response, self._translate():
            for line in response.iter_lines():
                entry = parse_log_line(line)
                if entry is not None:
                    yield entry

    def list_nodes(self) -> Page[NodeInfo]:
        """The compute nodes the orchestrator knows."""
        return self._send(self._list_nodes())

    def get_node(self, node_id: str) -> NodeInfo:
        """One node."""
        return self._send(self._get_node(node_id))

    def iter_car(self, cid: str, path: str = "") -> Iterator[bytes]:
        """The CARv1 of the DAG at ``cid[/path]`` from the gateway, as raw chunks (unverified:
        see :func:`bacalao.client.results.download`)."""
        with self._stream(self._car(cid, path), follow=True) as response, self._translate():
            yield from response.iter_bytes()
