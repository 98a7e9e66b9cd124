"""The client's I/O-free half: where the API is, how each request looks, what each answer means.

:class:`BaseClient` builds a :class:`Call` (method, path, query, body and how to parse the answer)
for every operation and turns responses into values or errors; :class:`~bacalao.client.Client`
and :class:`~bacalao.client.AsyncClient` only send. Errors in an answer's body
(``{code, message, hint, retryable}``) are re-raised as the matching
:class:`~bacalao.errors.BacalaoError` subclass with the server's message and hint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

from bacalao.client import _wire
from bacalao.client._types import (
    STREAMS,
    TERMINAL_JOB_STATES,
    JobDescription,
    LogLine,
    Page,
    SubmitResult,
    WaitResult,
)
from bacalao.errors import (
    BacalaoError,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    Unavailable,
)

if TYPE_CHECKING:
    from bacalao.models import Execution, Job, JobHistory, NodeInfo, PublishedResult

T = TypeVar("T")

ENV_API = "BACALAO_API"
DEFAULT_API = "http://127.0.0.1:1234"
API_HINT = "is `bacalao serve` running? set BACALAO_API (or --api) to its address"
JOBS = "/api/v1/orchestrator/jobs"
NODES = "/api/v1/orchestrator/nodes"
DEFAULT_TIMEOUT_S = 30.0
LONG_POLL_S = 30.0
"""How long one ``wait`` request may hang on the server (the server caps it at 60 s)."""


def resolve_api(api: str | None = None) -> str:
    """The API's base URL: ``api``, else ``$BACALAO_API``, else ``http://127.0.0.1:1234``.

    A bare ``host:port`` gets ``http://``; a trailing slash is dropped.
    """
    url = (api or os.environ.get(ENV_API) or DEFAULT_API).strip()
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def tls_verify(api: str) -> Any:
    """httpx's ``verify`` for a client of ``api``.

    A plain ``http://`` API never speaks TLS (every request is relative to it and redirects are not
    followed), yet httpx loads the whole CA bundle when a client is built: ~50 ms of every CLI
    command. Such clients get a context that trusts no CA instead, so an ``https`` request could
    only fail verification, never pass unverified. ``https://`` APIs get httpx's default.
    """
    if not api.lower().startswith("http://"):
        return True
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _identity(data: Any) -> Any:
    return data


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request, described without doing it, and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T] = _identity
    params: list[tuple[str, str]] | None = None
    json: Any = None


def _error_classes() -> dict[str, type[BacalaoError]]:
    """Every loaded BacalaoError subclass by ``code`` (the most general class wins a tie)."""
    found: dict[str, type[BacalaoError]] = {}
    pending: list[type[BacalaoError]] = [BacalaoError]
    while pending:
        cls = pending.pop(0)
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


_BY_STATUS: dict[int, type[BacalaoError]] = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    422: IntegrityError,
    503: Unavailable,
}


def error_from_body(status: int, body: Any) -> BacalaoError:
    """The BacalaoError an error answer stands for (``body``: parsed JSON, or raw text)."""
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        code = str(body.get("code") or "")
        cls = _error_classes().get(code) or _BY_STATUS.get(status, BacalaoError)
        message, hint = body["message"], body.get("hint") or None
        retryable = body.get("retryable")
    else:
        cls = _BY_STATUS.get(status, BacalaoError)
        text = body if isinstance(body, str) else json.dumps(body)
        first = (text or "").strip().splitlines()[0][:200] if (text or "").strip() else ""
        message = f"the API answered HTTP {status}" + (f": {first}" if first else "")
        code, hint, retryable = cls.code, None, None
    err = cls.__new__(cls)
    BacalaoError.__init__(
        err,
        message,
        hint=hint,
        code=code or None,
        retryable=bool(retryable) if retryable is not None else None,
        http_status=status,
    )
    return err


def _params(**values: Any) -> list[tuple[str, str]]:
    """Query pairs; None and "" are left out, lists repeat the key, bools are true/false."""
    out: list[tuple[str, str]] = []
    for key, value in values.items():
        if value is None or value == "":
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            out.append(
                (key, ("true" if item else "false") if isinstance(item, bool) else str(item))
            )
    return out


def _job_path(job_id: str, suffix: str = "") -> str:
    if not job_id.strip():
        raise InvalidInput("job ID is empty", hint="give a job ID (or a unique prefix of it)")
    return f"{JOBS}/{quote(job_id.strip(), safe='')}{suffix}"


def _page(key: str, parse: Callable[[dict[str, Any]], T]) -> Callable[[Any], Page[T]]:
    def read(data: Any) -> Page[T]:
        return Page(list(data.get(key) or []), str(data.get("NextToken") or ""), parse)

    return read


def _job_body(job: Job | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(job, Mapping):
        return {"Job": dict(job)}
    return {"Job": job.to_wire()}


def parse_log_line(line: str) -> LogLine | None:
    """One NDJSON line of the logs stream -> a :class:`LogLine` (None for blank lines);
    an in-stream error line raises its BacalaoError."""
    if not line.strip():
        return None
    data = json.loads(line)
    if data.get("error"):
        raise error_from_body(500, data["error"])
    return LogLine(STREAMS.get(int(data.get("Type") or 1), "stdout"), str(data.get("Line") or ""))


#: jobs per batch request (the API's limit)
BATCH = 1000


def batches(items: list[T], size: int = BATCH) -> list[list[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def still_running(job_id: str, timeout: float | None) -> BacalaoError:
    """The error of a wait that ran out of time (the job itself goes on)."""
    return BacalaoError(
        f"job {job_id} is still running after {timeout or 0:g}s of waiting",
        code="wait_timeout",
        retryable=True,
        http_status=504,
        hint=f"it keeps running; check it with `bacalao job describe {job_id}`",
    )


class WaitAll:
    """The I/O-free part of ``wait_all``, for both clients: the long-polls of each round (one
    per 1,000 jobs not yet terminal) until every job is, or the deadline passes."""

    def __init__(
        self, client: BaseClient, job_ids: Sequence[str], timeout: float | None, now: float
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.job_ids = list(dict.fromkeys(job_ids))
        self.deadline = None if timeout is None else now + timeout
        #: the newest state of each job, as the long-polls answered
        self.states: dict[str, str] = {}

    @property
    def pending(self) -> list[str]:
        return [j for j in self.job_ids if self.states.get(j) not in TERMINAL_JOB_STATES]

    def round(self, now: float) -> list[tuple[Call[dict[str, str]], float]]:
        """The next round's calls, each with its HTTP timeout; ``wait_timeout`` when the
        deadline has passed with jobs still running."""
        pending = self.pending
        left = LONG_POLL_S if self.deadline is None else self.deadline - now
        if left <= 0:
            raise still_running(pending[0], self.timeout)
        wait = min(LONG_POLL_S, left)
        limit = wait + self.client.timeout
        return [(self.client._wait_all(part, timeout=wait), limit) for part in batches(pending)]

    def result(self) -> dict[str, str]:
        return {j: self.states[j] for j in self.job_ids}


class BaseClient:
    """Configuration and the I/O-free request/response logic shared by both clients."""

    def __init__(self, api: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.api = resolve_api(api)
        self.timeout = timeout

    # -- answers ---------------------------------------------------------------------------------
    def _read(self, call: Call[T], status: int, content: bytes) -> T:
        """Decode an answer: the parsed value, or the error it carries."""
        if status >= 400:
            raise self._error(status, content)
        try:
            data = json.loads(content) if content else None
        except ValueError:
            raise BacalaoError(
                f"the API at {self.api} sent a malformed answer to {call.method} {call.path}",
                code="protocol",
                hint="is BACALAO_API pointing at a bacalao (or Bacalhau) API?",
            ) from None
        return call.parse(data)

    def _error(self, status: int, content: bytes) -> BacalaoError:
        try:
            body: Any = json.loads(content) if content else ""
        except ValueError:
            body = content.decode("utf-8", "replace")
        return error_from_body(status, body)

    def _unreachable(self, what: str) -> Unavailable:
        return Unavailable(f"cannot reach the bacalao API at {self.api}: {what}", hint=API_HINT)

    # -- calls -----------------------------------------------------------------------------------
    def _alive(self) -> Call[bool]:
        return Call("GET", "/api/v1/agent/alive", lambda d: (d or {}).get("Status") == "OK")

    def _version(self) -> Call[dict[str, str]]:
        return Call("GET", "/api/v1/agent/version")

    def _submit(self, job: Job | Mapping[str, Any]) -> Call[SubmitResult]:
        def read(d: Any) -> SubmitResult:
            return SubmitResult(
                d["JobID"], d.get("EvaluationID", ""), list(d.get("Warnings") or [])
            )

        return Call("PUT", JOBS, read, json=_job_body(job))

    def _submit_many(self, jobs: list[Job | Mapping[str, Any]]) -> Call[list[SubmitResult]]:
        def read(d: Any) -> list[SubmitResult]:
            return [
                SubmitResult(r["JobID"], r.get("EvaluationID", ""), list(r.get("Warnings") or []))
                for r in d["Jobs"]
            ]

        body = {"Jobs": [_job_body(job)["Job"] for job in jobs]}
        return Call("PUT", JOBS + "/batch", read, json=body)

    def _wait_all(self, job_ids: list[str], *, timeout: float) -> Call[dict[str, str]]:
        def read(d: Any) -> dict[str, str]:
            return {j["ID"]: str((j.get("State") or {}).get("StateType", "")) for j in d["Jobs"]}

        body = {"JobIDs": job_ids, "Timeout": timeout}
        return Call("POST", JOBS + "/wait", read, json=body)

    def _get_job(self, job_id: str) -> Call[Job]:
        return Call("GET", _job_path(job_id), lambda d: _wire.parse_job(d["Job"]))

    def _describe_job(self, job_id: str) -> Call[JobDescription]:
        params = _params(include="executions,history")
        return Call("GET", _job_path(job_id), JobDescription, params=params)

    def _list_jobs(
        self,
        *,
        limit: int | None,
        next_token: str,
        order_by: str,
        reverse: bool,
        namespace: str,
        labels: Mapping[str, str] | None,
    ) -> Call[Page[Job]]:
        selector = ",".join(f"{k}={v}" for k, v in (labels or {}).items())
        params = _params(
            limit=limit,
            next_token=next_token,
            order_by=order_by,
            reverse=reverse or None,
            namespace=namespace,
            labels=selector,
        )
        return Call("GET", JOBS, _page("Items", _wire.parse_job), params=params)

    def _stop_job(self, job_id: str, reason: str) -> Call[str]:
        return Call(
            "DELETE",
            _job_path(job_id),
            lambda d: str((d or {}).get("EvaluationID") or ""),
            params=_params(reason=reason),
            json={"reason": reason} if reason else None,
        )

    def _executions(self, job_id: str) -> Call[Page[Execution]]:
        return Call("GET", _job_path(job_id, "/executions"), _page("Items", _wire.parse_execution))

    def _history(
        self, job_id: str, *, event_type: str, execution_id: str, node_id: str, since_seq: int
    ) -> Call[Page[JobHistory]]:
        params = _params(
            event_type=event_type if event_type != "all" else "",
            execution_id=execution_id,
            node_id=node_id,
            since_seq=since_seq or None,
        )
        return Call(
            "GET", _job_path(job_id, "/history"), _page("Items", _wire.parse_history), params=params
        )

    def _results(self, job_id: str) -> Call[Page[PublishedResult]]:
        return Call("GET", _job_path(job_id, "/results"), _page("Items", _wire.parse_result))

    def _wait(
        self, job_id: str, *, since: int, timeout: float, terminal: bool = False
    ) -> Call[WaitResult]:
        params = _params(since=since, timeout=f"{timeout:g}", terminal=terminal or None)
        return Call("GET", _job_path(job_id, "/wait"), WaitResult, params=params)

    def _logs(self, job_id: str, *, execution_id: str, follow: bool) -> Call[None]:
        params = _params(execution_id=execution_id, follow=follow or None)
        return Call("GET", _job_path(job_id, "/logs"), params=params)

    def _list_nodes(self) -> Call[Page[NodeInfo]]:
        return Call("GET", NODES, _page("Nodes", _wire.parse_node_state))

    def _get_node(self, node_id: str) -> Call[NodeInfo]:
        path = f"{NODES}/{quote(node_id.strip(), safe='')}"
        return Call("GET", path, lambda d: _wire.parse_node_state(d["Node"]))

    def _car(self, cid: str, path: str) -> Call[None]:
        target = f"/ipfs/{quote(cid.strip(), safe='')}"
        if path.strip("/"):
            target += "/" + quote(path.strip("/"))
        return Call("GET", target, params=_params(format="car"))
