"""``AsyncClient`` over ``httpx.MockTransport``: the scenarios of ``test_client_sync.py``, async;
plus the async client against the real app (ASGI) and the fake orchestrator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.support.fake_orchestrator import FakeOrchestrator, run_to_completion
from tests.unit.client.mock_api import JOB, MockAPI, error

from bacalao.api import create_app
from bacalao.client import AsyncClient, LogLine, SubmitResult
from bacalao.errors import BacalaoError, Conflict, NotFound, Unavailable
from bacalao.models import ExecutionStateType, Job, JobStateType, parse_job

JOB_ID = JOB["ID"]
JOBS = "/api/v1/orchestrator/jobs"
SPEC = {"Type": "batch", "Tasks": [{"Name": "main", "Engine": {"Type": "noop"}}]}


@pytest.fixture
def mock() -> MockAPI:
    return MockAPI()


@pytest.fixture
async def client(mock: MockAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient("http://api.test:1234", transport=httpx.MockTransport(mock)) as c:
        yield c


async def test_alive_and_version(client: AsyncClient) -> None:
    assert await client.alive() is True
    assert (await client.version())["GitVersion"] == "v1.4.0"


async def test_submit(client: AsyncClient, mock: MockAPI) -> None:
    job = parse_job(SPEC)
    assert await client.submit(job) == SubmitResult(JOB_ID, "ev-1", [])
    assert mock.last_json() == {"Job": job.to_wire()}


async def test_get_and_describe(client: AsyncClient, mock: MockAPI) -> None:
    job = await client.get_job(JOB_ID)
    assert isinstance(job, Job) and job.state_type is JobStateType.COMPLETED
    described = await client.describe_job(JOB_ID)
    assert mock.last.url.params["include"] == "executions,history"
    assert described.executions[0].state is ExecutionStateType.COMPLETED
    assert described.history[0].time == 1719930421_100000000


async def test_list_stop_and_pages(client: AsyncClient, mock: MockAPI) -> None:
    page = await client.list_jobs(limit=5, reverse=True, labels={"a": "b"})
    assert dict(mock.last.url.params) == {"limit": "5", "reverse": "true", "labels": "a=b"}
    assert page.items[0].id == JOB_ID
    assert await client.stop_job(JOB_ID, "bye") == "ev-2"
    assert mock.last.url.params["reason"] == "bye" and mock.last_json() == {"reason": "bye"}
    assert (await client.executions(JOB_ID)).items[0].node_id == "n-c0f"
    assert (await client.history(JOB_ID, event_type="job")).items[0].event.message == "done"
    assert mock.last.url.params["event_type"] == "job"
    assert (await client.results(JOB_ID)).items[0].type == "ipfs"


async def test_wait_and_wait_for(client: AsyncClient, mock: MockAPI) -> None:
    result = await client.wait(JOB_ID, since=3, timeout=2.5)
    assert dict(mock.last.url.params) == {"since": "3", "timeout": "2.5"}
    assert result.is_terminal and result.seq == 9
    seen = []
    final = await client.wait_for(JOB_ID, on_update=seen.append)
    assert seen == [final]
    running = {**JOB, "State": {"StateType": "Running"}}
    mock.on(
        "GET",
        f"{JOBS}/{JOB_ID}/wait",
        lambda r: httpx.Response(200, json={"Seq": 1, "Job": running}),
    )
    with pytest.raises(BacalaoError) as info:
        await client.wait_for(JOB_ID, timeout=0.01)
    assert info.value.code == "wait_timeout"


async def test_logs_stream(client: AsyncClient, mock: MockAPI) -> None:
    lines = [line async for line in client.logs(JOB_ID, follow=True)]
    assert lines == [
        LogLine("stdout", "Hello "),
        LogLine("stderr", "warn\n"),
        LogLine("stdout", "World\n"),
    ]
    mock.on("GET", f"{JOBS}/{JOB_ID}/logs", lambda r: error(404, "not_found", "no execution"))
    with pytest.raises(NotFound):
        [line async for line in client.logs(JOB_ID)]


async def test_nodes(client: AsyncClient) -> None:
    (node,) = (await client.list_nodes()).items
    assert node.gpus[0].model == "H100"
    assert (await client.get_node("n-c0f")).available.cpu == 6


async def test_errors(client: AsyncClient, mock: MockAPI) -> None:
    mock.on("GET", f"{JOBS}/{JOB_ID}", lambda r: error(409, "conflict", "clash", "wait"))
    with pytest.raises(Conflict) as info:
        await client.get_job(JOB_ID)
    assert (info.value.message, info.value.hint) == ("clash", "wait")


async def test_transport_errors_are_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    async with AsyncClient("http://api.test:9", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(Unavailable) as info:
            await c.list_jobs()
        with pytest.raises(Unavailable):
            [line async for line in c.logs(JOB_ID)]
    assert "connection refused" in info.value.message
    assert "bacalao serve" in (info.value.hint or "")


async def test_really_refused_connection() -> None:
    async with AsyncClient("127.0.0.1:9", timeout=2) as c:
        with pytest.raises(Unavailable, match="cannot reach the bacalao API"):
            await c.alive()


# -- against the real app, over ASGI --------------------------------------------------------------
async def test_round_trip_through_the_app() -> None:
    fake = FakeOrchestrator()
    fake.add_node("n-1")
    fake.on_submit = run_to_completion(
        stdout="hi\n", cid="QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw"
    )
    app = create_app(fake, version="0.1.0")
    transport = httpx.ASGITransport(app=app)
    async with AsyncClient("http://bacalao.test", transport=transport) as c:
        submitted = await c.submit(parse_job(SPEC))
        updates = []
        final = await c.wait_for(submitted.job_id[:10], timeout=5, on_update=updates.append)
        assert final.state == "Completed" and updates[-1] is final
        assert final.job == fake.jobs[submitted.job_id]
        described = await c.describe_job(submitted.job_id)
        assert described.executions == fake.executions[submitted.job_id]
        history = (await c.history(submitted.job_id)).items
        assert [h.seq for h in history] == [h.seq for h in fake.events]
        assert [h.time for h in history] == [h.time for h in fake.events]
        assert [line.text async for line in c.logs(submitted.job_id)] == ["hi\n"]
        (node,) = (await c.list_nodes()).items
        assert node == fake.nodes["n-1"].model_copy(update={"version": "0.1.0"})
        page = await c.list_jobs(limit=1)
        assert page.items[0].id == submitted.job_id and page.next_token == ""
        with pytest.raises(Conflict, match="already completed"):
            await c.stop_job(submitted.job_id)
        with pytest.raises(NotFound, match="j-nope"):
            await c.get_job("j-nope")
