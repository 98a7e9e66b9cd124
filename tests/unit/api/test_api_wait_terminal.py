"""``GET /jobs/{id}/wait?terminal=true``: one long-poll until the job ends, not one per step."""

from __future__ import annotations

import asyncio

import httpx
from tests.support.fake_orchestrator import FakeOrchestrator

JOBS = "/api/v1/orchestrator/jobs"
CID = "QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw"
JOB = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]}


async def submit(api: httpx.AsyncClient) -> str:
    response = await api.put(JOBS, json={"Job": JOB})
    assert response.status_code == 200, response.text
    return response.json()["JobID"]


async def test_terminal_wait_sleeps_through_steps_until_the_end(
    api: httpx.AsyncClient, fake: FakeOrchestrator
) -> None:
    job_id = await submit(api)

    async def steps() -> None:
        await asyncio.sleep(0.05)
        ex = fake.start(job_id)  # a change that would end a plain wait
        await asyncio.sleep(0.05)
        fake.complete(job_id, ex.id, cid=CID)

    task = asyncio.create_task(steps())
    body = (await api.get(f"{JOBS}/{job_id}/wait?since=0&timeout=10&terminal=true")).json()
    await task
    assert body["Job"]["State"]["StateType"] == "Completed"
    assert body["Executions"][0]["ComputeState"]["StateType"] == 7


async def test_terminal_wait_still_honours_the_timeout(api: httpx.AsyncClient) -> None:
    job_id = await submit(api)
    loop = asyncio.get_running_loop()
    started = loop.time()
    body = (await api.get(f"{JOBS}/{job_id}/wait?timeout=0.1&terminal=true")).json()
    assert 0.09 <= loop.time() - started < 5
    assert body["Job"]["State"]["StateType"] != "Completed"


async def test_terminal_flag_must_be_a_boolean(api: httpx.AsyncClient) -> None:
    job_id = await submit(api)
    response = await api.get(f"{JOBS}/{job_id}/wait?terminal=maybe")
    assert response.status_code == 400
    assert "terminal" in response.json()["message"]
