"""``/api/v1/orchestrator/jobs``: submit, list, describe, stop, executions, history, results,
logs, and bacalao's long-poll ``wait``.

Shapes are Bacalhau v1's (reference §3): PascalCase keys, jobs via ``dump_job``, executions with
integer states via ``dump_execution``, history with RFC 3339 times via ``dump_history``. Handlers
are thin: parse the query (:mod:`.params`), call the orchestrator, dump. Every ``{job_id}``
accepts a unique short prefix (the orchestrator resolves it).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from bacalao import jsonfast
from bacalao.api import logs as logstream
from bacalao.api.deps import OrchestratorAPI, orchestrator
from bacalao.api.params import (
    PageToken,
    parse_bool,
    parse_choice,
    parse_float,
    parse_int,
    parse_labels,
)
from bacalao.api.responses import JSONResponse
from bacalao.api.schemas import (
    GetJobResponse,
    ListResponse,
    PutJobResponse,
    StopJobResponse,
    WaitResponse,
    errors,
)
from bacalao.errors import InvalidInput
from bacalao.models import Execution, Job, dump_execution, dump_history, dump_job, parse_job

router = APIRouter(prefix="/api/v1/orchestrator/jobs", tags=["jobs"])

Orch = Annotated[OrchestratorAPI, Depends(orchestrator)]
Q = Annotated[str, Query()]

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
MAX_WAIT_S = 60.0
JOB_ORDERS = ("created_at", "modified_at")
EXECUTION_ORDERS = ("modify_time", "create_time", "id", "state")
INCLUDES = ("executions", "history")
EVENT_TYPES = ("all", "job", "execution")

_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["Job"],
                    "properties": {"Job": {"type": "object", "description": "a Bacalhau v1 job"}},
                }
            }
        },
    }
}


def _items(items: list[Any], next_token: str = "") -> dict[str, Any]:
    return {"Items": items, "NextToken": next_token}


def _executions(job: Job, executions: list[Execution]) -> list[dict[str, Any]]:
    return [dump_execution(e, task_name=job.task.name) for e in executions]


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return None
    try:
        return jsonfast.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"request body is not valid JSON: {exc}", hint="send a JSON object"
        ) from None


def _key(data: dict[str, Any], name: str) -> Any:
    """``data[name]`` matched case-insensitively (Go's decoder rule), else None."""
    lowered = name.lower()
    return next((v for k, v in data.items() if isinstance(k, str) and k.lower() == lowered), None)


@router.put(
    "",
    summary="Submit a job",
    response_model=PutJobResponse,
    responses=errors(400, 413),
    openapi_extra=_SUBMIT_BODY,
)
@router.post("", include_in_schema=False)
async def put_job(request: Request, orch: Orch) -> JSONResponse:
    """Submit ``{"Job": {...}}`` (a Bacalhau v1 job; keys in any case); also ``POST``.

    Answers ``{JobID, EvaluationID, Warnings}``. A malformed job is a 400 whose message starts with
    the field path (``Tasks[0].Resources.Memory: invalid size``).
    """
    data = await _json_body(request)
    if data is None:
        raise InvalidInput("the request body is empty", hint='send {"Job": {"Type": "batch", …}}')
    if not isinstance(data, dict):
        raise InvalidInput(
            "the body must be a JSON object with a Job", hint='send {"Job": {"Type": "batch", …}}'
        )
    raw = _key(data, "Job")
    if raw is None and _key(data, "Tasks") is not None:
        raw = data  # a bare job, as `curl -d @job.json` users send it
    if raw is None:
        raise InvalidInput("the body has no Job", hint='send {"Job": {"Type": "batch", …}}')
    result = await orch.submit_job(parse_job(raw))
    return JSONResponse(
        {
            "JobID": result.job_id,
            "EvaluationID": result.evaluation_id,
            "Warnings": list(result.warnings),
        }
    )


MAX_BATCH = 1000


def _batch_list(
    data: Any, key: str, *, what: str, example: str, too_many: str, split: str
) -> list[Any]:
    """The non-empty list at ``key`` of a batch request's body (at most :data:`MAX_BATCH`)."""
    items = _key(data, key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidInput(
            f"the body must be a JSON object with a non-empty {key} list{what}",
            hint=f"send {example}",
        )
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"{len(items)} {too_many}; at most {MAX_BATCH}", hint=split)
    return items


def _parse_each(raws: list[Any]) -> list[Job]:
    jobs = []
    for i, raw in enumerate(raws):
        try:
            jobs.append(parse_job(raw))
        except InvalidInput as err:
            raise err.prefixed(f"Jobs[{i}].") from None
    return jobs


@router.put("/batch", summary="Submit several jobs at once", responses=errors(400, 413))
@router.post("/batch", include_in_schema=False)
async def put_jobs(request: Request, orch: Orch) -> JSONResponse:
    """bacalao's own: ``{"Jobs": [job, …]}`` (up to 1,000), stored in one transaction or not at
    all; a malformed job is a 400 naming its index (``Jobs[3].Tasks[0]…``). Answers
    ``{"Jobs": [{JobID, EvaluationID, Warnings}, …]}`` in the order given. One round trip and
    one commit for many small jobs, as Dask's ``client.map`` does it."""
    raws = _batch_list(
        await _json_body(request), "Jobs", what="",
        example='{"Jobs": [{"Type": "batch", …}, …]}', too_many="jobs in one batch",
        split="split the batch",
    )  # fmt: skip
    results = await orch.submit_jobs(_parse_each(raws))
    return JSONResponse(
        {
            "Jobs": [
                {"JobID": r.job_id, "EvaluationID": r.evaluation_id, "Warnings": list(r.warnings)}
                for r in results
            ]
        }
    )


@router.post("/wait", summary="Wait for several jobs to end", responses=errors(400, 404))
async def wait_jobs(request: Request, orch: Orch) -> JSONResponse:
    """bacalao's own: ``{"JobIDs": [...], "Timeout": seconds}`` answers once every job is
    terminal, or at the timeout (default 30, at most 60): ``{"Jobs": [{ID, State}], "Done"}``
    where ``Done`` says whether all ended. Wait again with the ones still running."""
    data = await _json_body(request)
    example = '{"JobIDs": ["j-…", …], "Timeout": 30}'
    ids = _batch_list(
        data, "JobIDs", what=" of strings", example=example, too_many="job IDs",
        split="wait in parts",
    )  # fmt: skip
    if not all(isinstance(i, str) for i in ids):
        raise InvalidInput(
            "the body must be a JSON object with a non-empty JobIDs list of strings",
            hint=f"send {example}",
        )
    raw_timeout = _key(data, "Timeout")
    seconds = parse_float("" if raw_timeout is None else str(raw_timeout), "Timeout", 30.0,
                          maximum=MAX_WAIT_S)  # fmt: skip
    jobs = await orch.wait_all(ids, timeout=seconds)
    return JSONResponse(
        {
            "Jobs": [{"ID": j.id, "State": j.state.to_wire()} for j in jobs],
            "Done": all(j.is_terminal for j in jobs),
        }
    )


@router.get("", summary="List jobs", response_model=ListResponse, responses=errors(400))
async def list_jobs(
    orch: Orch,
    namespace: Q = "",
    limit: Q = "",
    next_token: Q = "",
    order_by: Q = "",
    reverse: Q = "",
    labels: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
) -> JSONResponse:
    """Jobs, oldest first unless ``reverse``; ``namespace=*`` (or empty) lists every namespace.

    ``order_by`` is ``created_at`` (default) or ``modified_at``; ``labels=k=v,k2=v2`` filters by
    equality. ``NextToken`` is set when more jobs follow; pass it back as ``next_token``.
    """
    if next_token.strip():
        token = PageToken.decode(next_token.strip())
    else:
        token = PageToken(
            parse_choice(order_by, "order_by", JOB_ORDERS, "created_at"),
            parse_bool(reverse, "reverse"),
            parse_int(limit, "limit", DEFAULT_LIST_LIMIT, maximum=MAX_LIST_LIMIT)
            or DEFAULT_LIST_LIMIT,
            0,
        )
    ns = namespace.strip()
    jobs, next_offset = orch.list_jobs(
        namespace=None if ns in ("", "*") else ns,
        limit=token.limit,
        offset=token.offset,
        order_by=token.order_by,
        reverse=token.reverse,
        labels=parse_labels(labels),
    )
    following = ""
    if next_offset is not None:
        following = PageToken(token.order_by, token.reverse, token.limit, next_offset).encode()
    return JSONResponse(_items([dump_job(j) for j in jobs], following))


@router.get(
    "/{job_id}", summary="Describe a job", response_model=GetJobResponse, responses=errors(400, 404)
)
async def get_job(orch: Orch, job_id: str, include: Q = "", limit: Q = "") -> JSONResponse:
    """The job; ``include=executions`` or ``include=history`` (or both, comma-separated) adds them.

    ``limit`` is accepted and ignored, as in Bacalhau.
    """
    wanted = {parse_choice(p, "include", INCLUDES, "") for p in include.split(",")} - {""}
    job = orch.get_job(job_id)
    body: dict[str, Any] = {"Job": dump_job(job)}
    if "history" in wanted:
        body["History"] = _items([dump_history(h) for h in orch.history(job.id)])
    if "executions" in wanted:
        body["Executions"] = _items(_executions(job, orch.list_executions(job.id)))
    return JSONResponse(body)


@router.delete(
    "/{job_id}", summary="Stop a job", response_model=StopJobResponse, responses=errors(404, 409)
)
async def stop_job(request: Request, orch: Orch, job_id: str, reason: Q = "") -> JSONResponse:
    """Stop (cancel) a job; the reason comes from ``?reason=`` (Python SDK) or ``{"reason"}``
    in the JSON body (Go client). ``EvaluationID`` is empty if the job had already stopped;
    stopping a completed or failed job is a 409."""
    if not reason:
        data = await _json_body(request)
        if isinstance(data, dict):
            reason = str(_key(data, "reason") or "")
    evaluation = await orch.stop_job(job_id, reason)
    return JSONResponse({"EvaluationID": evaluation})


@router.get(
    "/{job_id}/executions",
    summary="List a job's executions",
    response_model=ListResponse,
    responses=errors(400, 404),
)
async def job_executions(
    orch: Orch,
    job_id: str,
    namespace: Q = "",
    limit: Q = "",
    next_token: Q = "",
    order_by: Q = "",
    reverse: Q = "",
) -> JSONResponse:
    """Executions (one per shard, node and attempt) with integer states as Bacalhau sends them.

    ``order_by``: ``modify_time`` (default), ``create_time``, ``id`` or ``state``; ``limit`` keeps
    the first N. ``namespace`` and ``next_token`` are accepted and ignored (one page).
    """
    order = parse_choice(order_by, "order_by", EXECUTION_ORDERS, "modify_time")
    descending = parse_bool(reverse, "reverse")
    count = parse_int(limit, "limit", 0)
    job = orch.get_job(job_id)
    keys = {
        "modify_time": lambda e: (e.modify_time, e.create_time, e.id),
        "create_time": lambda e: (e.create_time, e.id),
        "id": lambda e: e.id,
        "state": lambda e: (e.state.value, e.id),
    }
    executions = sorted(orch.list_executions(job.id), key=keys[order], reverse=descending)
    if count:
        executions = executions[:count]
    return JSONResponse(_items(_executions(job, executions)))


@router.get(
    "/{job_id}/history",
    summary="A job's history",
    response_model=ListResponse,
    responses=errors(400, 404),
)
async def job_history(
    orch: Orch,
    job_id: str,
    since: Q = "",
    since_seq: Q = "",
    event_type: Q = "",
    execution_id: Q = "",
    node_id: Q = "",
) -> JSONResponse:
    """State changes and events, oldest first: placements, per-node rejections, failures.

    ``event_type``: ``all`` (default), ``job`` or ``execution``; ``since`` is Unix seconds (as in
    Bacalhau); bacalao's ``since_seq`` returns only entries after that sequence number.
    """
    kind = parse_choice(event_type, "event_type", EVENT_TYPES, "all")
    since_ns = parse_int(since, "since", 0) * 1_000_000_000
    job = orch.get_job(job_id)
    entries = orch.history(
        job.id,
        since_seq=parse_int(since_seq, "since_seq", 0),
        event_type=kind,
        execution_id=execution_id.strip(),
        node_id=node_id.strip(),
    )
    return JSONResponse(_items([dump_history(h) for h in entries if h.time >= since_ns]))


@router.get(
    "/{job_id}/results",
    summary="A job's published results",
    response_model=ListResponse,
    responses=errors(404),
)
async def job_results(orch: Orch, job_id: str) -> JSONResponse:
    """What the job published, e.g. ``{"Type": "ipfs", "Params": {"CID": …}}`` per completed
    execution (a job-level merged result where there is one)."""
    job = orch.get_job(job_id)
    results = [r.to_wire() for r in orch.results(job.id) if r.type]
    return JSONResponse(_items(results))


@router.get(
    "/{job_id}/wait",
    summary="Wait for a job to change (long-poll)",
    response_model=WaitResponse,
    responses=errors(400, 404),
)
async def wait_job(
    orch: Orch, job_id: str, since: Q = "", timeout: Q = "", terminal: Q = ""
) -> JSONResponse:
    """bacalao's own: answers as soon as the job has history newer than ``since`` (a ``Seq``), or
    is terminal, or after ``timeout`` seconds (default 30, at most 60). With ``terminal=true`` it
    answers only once the job is terminal (or at the timeout): one round trip for a caller that
    wants the end and not each step.

    Returns ``{Seq, Job, Executions}``; pass ``Seq`` back as ``since`` to wait for the next
    change. This is how the CLI sees completion within milliseconds instead of a poll interval.
    """
    since_seq = parse_int(since, "since", 0)
    seconds = parse_float(timeout, "timeout", 30.0, maximum=MAX_WAIT_S)
    until_terminal = parse_bool(terminal, "terminal")
    job = orch.get_job(job_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    seq = since_seq
    while True:
        seq = await orch.wait(job.id, since_seq=seq, timeout=max(0.0, deadline - loop.time()))
        job = orch.get_job(job.id)
        if not until_terminal or job.is_terminal or loop.time() >= deadline:
            break
    return JSONResponse(
        {
            "Seq": seq,
            "Job": dump_job(job),
            "Executions": _executions(job, orch.list_executions(job.id)),
        }
    )


router.add_api_route(
    "/{job_id}/logs",
    logstream.http_logs,
    methods=["GET"],
    summary="Stream a job's logs",
    responses=errors(400, 404),
)
router.add_api_websocket_route("/{job_id}/logs", logstream.websocket_logs)
