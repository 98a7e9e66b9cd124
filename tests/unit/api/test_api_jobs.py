"""The job endpoints, with the exact requests Bacalhau's Python SDK sends (reference §3.2-3.3)."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
from tests.support.fake_orchestrator import FakeOrchestrator, run_to_completion, run_to_failure
from tests.unit.api.conftest import docker_job

JOBS = "/api/v1/orchestrator/jobs"
CID = "QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw"
# The keys the SDK's generated models read (reference §3.2 point 5), matched case-sensitively.
JOB_KEYS = {
    "ID", "Name", "Namespace", "Type", "Priority", "Count", "Constraints", "Meta", "Labels",
    "Tasks", "State", "Version", "Revision", "CreateTime", "ModifyTime",
}  # fmt: skip
TASK_KEYS = {"Name", "Engine", "Publisher", "Resources", "Network", "Timeouts"}
EXECUTION_KEYS = {
    "ID", "Namespace", "EvalID", "Name", "NodeID", "JobID", "AllocatedResources", "DesiredState",
    "ComputeState", "PublishedResult", "RunOutput", "PreviousExecution", "NextExecution",
    "FollowupEvalID", "Revision", "CreateTime", "ModifyTime",
}  # fmt: skip
RUN_OUTPUT_KEYS = {"Stdout", "StdoutTruncated", "stderr", "StderrTruncated", "ExitCode", "ErrorMsg"}
HISTORY_KEYS = {"Type", "JobID", "NewRevision", "Event", "Time"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "hint", "retryable"}
    assert "\n" not in body["message"]
    if code:
        assert body["code"] == code
    return body


async def submit(api: httpx.AsyncClient, **overrides: object) -> str:
    response = await api.put(JOBS, json={"Job": docker_job(**overrides)})
    assert response.status_code == 200, response.text
    return response.json()["JobID"]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# -- submit ---------------------------------------------------------------------------------------
async def test_put_job_as_the_sdk_sends_it(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    response = await api.put(JOBS, json={"Job": docker_job()})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"JobID", "EvaluationID", "Warnings"}
    assert body["JobID"].startswith("j-") and body["EvaluationID"]
    assert body["Warnings"] == []
    job = fake.jobs[body["JobID"]]
    assert job.task.engine.params["Image"] == "ubuntu:latest"
    assert job.name == "A Simple Docker Job"


async def test_post_job_lowercase_keys_and_bare_job(api: httpx.AsyncClient) -> None:
    lower = {"job": {"name": "x", "type": "batch", "tasks": [
        {"name": "main", "engine": {"type": "noop"}}]}}  # fmt: skip
    assert (await api.post(JOBS, json=lower)).status_code == 200
    bare = await api.put(JOBS, json=docker_job())
    assert bare.status_code == 200 and bare.json()["JobID"]


async def test_put_job_with_an_id_warns(api: httpx.AsyncClient) -> None:
    body = (await api.put(JOBS, json={"Job": docker_job(ID="j-mine")})).json()
    assert body["JobID"] != "j-mine" and body["Warnings"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"Spec": {}}', "no Job"),
        (b'{"Job": {"Type": "batch", "Tasks": []}}', "Tasks"),
        (
            b'{"Job": {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "docker"},'
            b' "Resources": {"Memory": "12 potatoes"}}]}}',
            "Tasks[0].Resources.Memory",
        ),
        (b'{"Job": {"Typo": 1, "Tasks": []}}', "Typo"),
    ],
)
async def test_put_job_rejects_malformed_bodies(
    api: httpx.AsyncClient, body: bytes, fragment: str
) -> None:
    response = await api.put(JOBS, content=body, headers={"Content-Type": "application/json"})
    err = assert_error(response, 400, None)
    assert fragment in err["message"]


async def test_bodies_over_10_mb_are_refused(api: httpx.AsyncClient) -> None:
    big = b'{"Job": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert_error(await api.put(JOBS, content=big), 413, "too_large")

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(11):
            yield b" " * (1024 * 1024)

    assert_error(await api.put(JOBS, content=chunks()), 413, "too_large")


# -- list -----------------------------------------------------------------------------------------
async def test_list_jobs_as_the_sdk_asks(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    ids = [await submit(api, Name=f"job{i}") for i in range(7)]
    response = await api.get(JOBS + "?limit=5&next_token=&reverse=False&order_by=created_at")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"Items", "NextToken"}
    assert [j["ID"] for j in body["Items"]] == ids[:5]
    assert set(body["Items"][0]) >= JOB_KEYS
    assert set(body["Items"][0]["Tasks"][0]) >= TASK_KEYS
    assert body["Items"][0]["State"] == {"StateType": "Pending"}
    token = body["NextToken"]
    assert base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)) == b"created_at:N:5:5"
    assert "=" not in token
    rest = (await api.get(JOBS, params={"next_token": token, "limit": "1"})).json()
    assert [j["ID"] for j in rest["Items"]] == ids[5:]  # the token's limit wins
    assert rest["NextToken"] == ""


async def test_list_jobs_query_handling(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    await submit(api, Labels={"team": "a"})
    await submit(api, Labels={"team": "b"}, Namespace="other")
    body = (await api.get(JOBS + "?reverse=True&order_by=modified_at&namespace=*")).json()
    assert len(body["Items"]) == 2
    assert fake.last_list_args == {
        "namespace": None, "limit": 100, "offset": 0, "order_by": "modified_at",
        "reverse": True, "labels": None,
    }  # fmt: skip
    await api.get(JOBS + "?namespace=other&labels=team=b&reverse=1")
    assert fake.last_list_args["namespace"] == "other"
    assert fake.last_list_args["labels"] == {"team": "b"}
    assert fake.last_list_args["reverse"] is True
    await api.get(JOBS + "?namespace=&labels=team%3Da,x==y&reverse=")
    assert fake.last_list_args["namespace"] is None
    assert fake.last_list_args["labels"] == {"team": "a", "x": "y"}
    assert fake.last_list_args["reverse"] is False


@pytest.mark.parametrize(
    "query",
    [
        "reverse=maybe",
        "limit=ten",
        "limit=-1",
        "limit=5000",
        "order_by=name",
        "next_token=%%%",
        "next_token=" + base64.urlsafe_b64encode(b"created_at:X:5:5").decode(),
        "labels=region+in+(eu)",
    ],
)
async def test_list_jobs_bad_query(api: httpx.AsyncClient, query: str) -> None:
    assert_error(await api.get(f"{JOBS}?{query}"), 400, "invalid_input")


# -- get / describe -------------------------------------------------------------------------------
async def test_get_job_with_executions_as_the_sdk_asks(
    api: httpx.AsyncClient, fake: FakeOrchestrator
) -> None:
    fake.on_submit = run_to_completion(stdout="Hello World\n", cid=CID)
    job_id = await submit(api)
    await settle()
    body = (await api.get(f"{JOBS}/{job_id}?include=executions&limit=10")).json()
    assert set(body) == {"Job", "Executions"}
    assert body["Job"]["State"]["StateType"] == "Completed"
    assert body["Job"]["CreateTime"] > 10**18  # Unix nanoseconds
    (ex,) = body["Executions"]["Items"]
    assert set(ex) >= EXECUTION_KEYS
    assert set(ex["RunOutput"]) >= RUN_OUTPUT_KEYS
    assert ex["ComputeState"]["StateType"] == 7  # Bacalhau's integer for Completed
    assert ex["DesiredState"]["StateType"] == 2
    assert ex["RunOutput"]["Stdout"] == "Hello World\n"
    assert ex["PublishedResult"] == {"Type": "ipfs", "Params": {"CID": CID}}
    assert ex["AllocatedResources"] == {"Tasks": {"My Main task": {}}}
    plain = (await api.get(f"{JOBS}/{job_id}?include=&limit=10")).json()
    assert set(plain) == {"Job"}
    both = (await api.get(f"{JOBS}/{job_id}", params={"include": "executions,history"})).json()
    assert set(both) == {"Job", "Executions", "History"}
    assert set(both["History"]["Items"][0]) >= HISTORY_KEYS


async def test_get_job_by_prefix_and_errors(api: httpx.AsyncClient) -> None:
    job_id = await submit(api)
    assert (await api.get(f"{JOBS}/{job_id[:10]}")).json()["Job"]["ID"] == job_id
    await submit(api)
    assert_error(await api.get(f"{JOBS}/j-0000"), 400, "invalid_input")  # ambiguous
    body = assert_error(await api.get(f"{JOBS}/j-nope"), 404, "not_found")
    assert "j-nope" in body["message"] and body["hint"]
    assert_error(await api.get(f"{JOBS}/{job_id}?include=everything"), 400)


# -- stop -----------------------------------------------------------------------------------------
async def test_stop_reason_from_query_or_body(
    api: httpx.AsyncClient, fake: FakeOrchestrator
) -> None:
    a, b, c = await submit(api), await submit(api), await submit(api)
    response = await api.request("DELETE", f"{JOBS}/{a}?reason=bye", json={})
    assert response.status_code == 200 and response.json()["EvaluationID"]
    assert fake.stop_reasons[a] == "bye"
    await api.request("DELETE", f"{JOBS}/{b}", json={"reason": "from go"})
    assert fake.stop_reasons[b] == "from go"
    await api.delete(f"{JOBS}/{c}")
    assert fake.stop_reasons[c] == ""
    again = await api.delete(f"{JOBS}/{a}")
    assert again.json() == {"EvaluationID": ""}


async def test_stop_completed_job_is_a_conflict(
    api: httpx.AsyncClient, fake: FakeOrchestrator
) -> None:
    fake.on_submit = run_to_completion()
    job_id = await submit(api)
    await settle()
    assert_error(await api.delete(f"{JOBS}/{job_id}"), 409, "conflict")


# -- executions, history, results ----------------------------------------------------------------
async def test_executions_as_the_sdk_asks(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    job_id = await submit(api)
    first = fake.start(job_id, "n-alpha")
    fake.fail(job_id, "boom", execution_id=first.id)
    second = fake.start(job_id, "n-beta")
    url = f"{JOBS}/{job_id}/executions?namespace=&limit=5&next_token=&reverse=False&order_by="
    body = (await api.get(url)).json()
    assert set(body) == {"Items", "NextToken"}
    assert [e["ID"] for e in body["Items"]] == [first.id, second.id]
    newest = (await api.get(f"{JOBS}/{job_id}/executions?reverse=true&limit=1")).json()
    assert [e["ID"] for e in newest["Items"]] == [second.id]
    by_id = (await api.get(f"{JOBS}/{job_id}/executions?order_by=id")).json()
    assert [e["ID"] for e in by_id["Items"]] == sorted([first.id, second.id])
    assert_error(await api.get(f"{JOBS}/{job_id}/executions?order_by=size"), 400)


async def test_history_as_the_sdk_asks(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    fake.on_submit = run_to_failure(
        "no node fits", hint="lower the memory", rejections={"n-alpha": "not enough memory"}
    )
    job_id = await submit(api)
    await settle()
    url = f"{JOBS}/{job_id}/history?event_type=execution&execution_id=&node_id="
    body = (await api.get(url)).json()
    assert set(body) == {"Items", "NextToken"}
    (rejection,) = body["Items"]
    assert rejection["Type"] == "ExecutionLevel" and rejection["NodeID"] == "n-alpha"
    assert "not enough memory" in rejection["Event"]["Message"]
    assert rejection["Time"].endswith("Z") and "T" in rejection["Time"]
    everything = (await api.get(f"{JOBS}/{job_id}/history")).json()["Items"]
    assert everything[0]["Type"] == "JobLevel"
    assert everything[0]["JobState"] == {"Previous": "Pending", "New": "Pending"}
    assert everything[0]["Comment"] == "Job submitted"
    job_only = (await api.get(f"{JOBS}/{job_id}/history?event_type=job")).json()["Items"]
    assert all(h["Type"] == "JobLevel" for h in job_only)
    by_node = (await api.get(f"{JOBS}/{job_id}/history?node_id=n-beta")).json()["Items"]
    assert by_node == []
    newer = (await api.get(f"{JOBS}/{job_id}/history?since_seq=2")).json()["Items"]
    assert [h["Seq"] for h in newer] == [h["Seq"] for h in everything if h["Seq"] > 2]
    future = (await api.get(f"{JOBS}/{job_id}/history?since=4000000000")).json()["Items"]
    assert future == []
    assert_error(await api.get(f"{JOBS}/{job_id}/history?event_type=node"), 400)


async def test_results(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    job_id = await submit(api)
    assert (await api.get(f"{JOBS}/{job_id}/results")).json() == {"Items": [], "NextToken": ""}
    ex = fake.start(job_id)
    fake.complete(job_id, ex.id, cid=CID)
    body = (await api.get(f"{JOBS}/{job_id}/results")).json()
    assert body == {"Items": [{"Type": "ipfs", "Params": {"CID": CID}}], "NextToken": ""}
    assert_error(await api.get(f"{JOBS}/j-missing/results"), 404)


# -- wait -----------------------------------------------------------------------------------------
async def test_wait_returns_at_once_when_history_is_newer(api: httpx.AsyncClient) -> None:
    job_id = await submit(api)
    body = (await api.get(f"{JOBS}/{job_id}/wait?since=0&timeout=5")).json()
    assert set(body) == {"Seq", "Job", "Executions"}
    assert body["Seq"] >= 1 and body["Job"]["ID"] == job_id


async def test_wait_wakes_on_change_and_times_out(
    api: httpx.AsyncClient, fake: FakeOrchestrator
) -> None:
    job_id = await submit(api)
    seq = (await api.get(f"{JOBS}/{job_id}/wait?since=0")).json()["Seq"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    empty = (await api.get(f"{JOBS}/{job_id}/wait?since={seq}&timeout=0.05")).json()
    assert empty["Seq"] == seq and loop.time() - started >= 0.04

    async def later() -> None:
        await asyncio.sleep(0.05)
        ex = fake.start(job_id)
        fake.complete(job_id, ex.id, cid=CID)

    task = asyncio.create_task(later())
    started = loop.time()
    body = (await api.get(f"{JOBS}/{job_id}/wait?since={seq}&timeout=10")).json()
    await task
    assert body["Seq"] > seq
    assert loop.time() - started < 2  # woken by the change, not by the timeout
    final = (await api.get(f"{JOBS}/{job_id}/wait?since=10000&timeout=10")).json()
    assert final["Job"]["State"]["StateType"] == "Completed"  # terminal: no waiting
    assert final["Executions"][0]["ComputeState"]["StateType"] == 7


async def test_wait_bad_query(api: httpx.AsyncClient) -> None:
    job_id = await submit(api)
    assert_error(await api.get(f"{JOBS}/{job_id}/wait?timeout=soon"), 400)
    assert_error(await api.get(f"{JOBS}/{job_id}/wait?timeout=-1"), 400)
    assert_error(await api.get(f"{JOBS}/{job_id}/wait?since=x"), 400)
    assert_error(await api.get(f"{JOBS}/j-missing/wait"), 404)


# -- logs (HTTP NDJSON) ---------------------------------------------------------------------------
async def test_logs_ndjson(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    fake.on_submit = run_to_completion(stdout="line 1\nline 2\n", stderr="oops\n")
    job_id = await submit(api)
    await settle()
    response = await api.get(f"{JOBS}/{job_id}/logs?follow=true&execution_id=")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines == [{"Type": 1, "Line": "line 1\nline 2\n"}, {"Type": 2, "Line": "oops\n"}]
    assert fake.last_logs_args == {"execution_id": "", "follow": True}


async def test_logs_decode_utf8_split_across_chunks(
    api: httpx.AsyncClient, fake: FakeOrchestrator
) -> None:
    from tests.support.fake_orchestrator import LogChunk

    job_id = await submit(api)
    ex = fake.start(job_id)
    snow = "☃".encode()
    fake.log_chunks[ex.id] = [LogChunk("stdout", snow[:1]), LogChunk("stdout", snow[1:] + b"\xff")]
    lines = [json.loads(x) for x in (await api.get(f"{JOBS}/{job_id}/logs")).text.splitlines()]
    assert "".join(x["Line"] for x in lines) == "☃\ufffd"


async def test_logs_errors_are_statuses(api: httpx.AsyncClient) -> None:
    job_id = await submit(api)
    body = assert_error(await api.get(f"{JOBS}/{job_id}/logs"), 404)  # no execution yet
    assert body["hint"]
    assert_error(await api.get(f"{JOBS}/j-missing/logs"), 404)
    assert_error(await api.get(f"{JOBS}/{job_id}/logs?follow=perhaps"), 400)


async def test_logs_error_mid_stream_is_a_last_line(
    api: httpx.AsyncClient, fake: FakeOrchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.fake_orchestrator import LogChunk

    from bacalao.errors import Unavailable

    job_id = await submit(api)
    fake.start(job_id)

    async def broken(*args: object, **kwargs: object):
        yield LogChunk("stdout", b"partial")
        raise Unavailable("node went away", hint="try again")

    monkeypatch.setattr(fake, "_logs", broken)
    lines = [json.loads(x) for x in (await api.get(f"{JOBS}/{job_id}/logs")).text.splitlines()]
    assert lines[0] == {"Type": 1, "Line": "partial"}
    assert lines[1]["Type"] == 0 and lines[1]["error"]["code"] == "unavailable"
    assert lines[1]["error"]["hint"] == "try again"
