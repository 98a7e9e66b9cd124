"""``PUT /jobs/batch`` and ``POST /jobs/wait`` against the real embedded stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bacalao.api import create_app
from bacalao.node.config import NodeConfig
from bacalao.node.stack import Stack, start_stack

JOBS = "/api/v1/orchestrator/jobs"
NOOP = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]}


@pytest.fixture
async def stack(tmp_path) -> AsyncIterator[Stack]:  # type: ignore[no-untyped-def]
    s = await start_stack(NodeConfig(data_dir=tmp_path, engines=["noop"], max_cpu=2))
    yield s
    await s.stop()


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stack.orchestrator, blocks=stack.blocks, version="test")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bacalao") as client:
        yield client


def _stored_jobs(stack: Stack) -> int:
    assert stack.orchestrator is not None
    return len(stack.orchestrator.store.list_jobs(limit=10_000))


async def test_a_batch_runs_every_job_and_one_wait_sees_them_end(api: httpx.AsyncClient) -> None:
    jobs = [{**NOOP, "Labels": {"i": str(i)}} for i in range(40)]
    response = await api.put(f"{JOBS}/batch", json={"Jobs": jobs})
    assert response.status_code == 200, response.text
    ids = [r["JobID"] for r in response.json()["Jobs"]]
    assert len(set(ids)) == 40
    done = {}
    for _ in range(20):
        body = (await api.post(f"{JOBS}/wait", json={"JobIDs": ids, "Timeout": 10})).json()
        done = {j["ID"]: j["State"]["StateType"] for j in body["Jobs"]}
        if body["Done"]:
            break
    assert list(done) == ids
    assert set(done.values()) == {"Completed"}
    # submitted in the order given: the labels say so
    for i, job_id in enumerate(ids):
        job = (await api.get(f"{JOBS}/{job_id}")).json()["Job"]
        assert job["Labels"] == {"i": str(i)}


async def test_one_bad_job_stores_none_and_names_its_index(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    bad = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}, "Resource": {}}]}
    response = await api.put(f"{JOBS}/batch", json={"Jobs": [NOOP, bad, NOOP]})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Jobs[1].Tasks[0]")
    unknown_engine = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "nope"}}]}
    response = await api.put(f"{JOBS}/batch", json={"Jobs": [NOOP, unknown_engine]})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Jobs[1].Tasks[0].Engine.Type")
    assert _stored_jobs(stack) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"Jobs": []}, {"Jobs": "x"}, {"Jobs": [NOOP] * 1001}, [NOOP]],
    ids=["no-jobs", "empty", "not-a-list", "too-many", "bare-list"],
)
async def test_malformed_batches_are_400s(api: httpx.AsyncClient, stack: Stack, body) -> None:  # type: ignore[no-untyped-def]
    response = await api.put(f"{JOBS}/batch", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    assert _stored_jobs(stack) == 0


async def test_wait_rejects_bad_bodies_and_unknown_jobs(api: httpx.AsyncClient) -> None:
    for body in ({}, {"JobIDs": []}, {"JobIDs": [1]}, {"JobIDs": ["j-x"], "Timeout": "soon"}):
        response = await api.post(f"{JOBS}/wait", json=body)
        assert response.status_code == 400, body
    response = await api.post(f"{JOBS}/wait", json={"JobIDs": ["j-nope"], "Timeout": 1})
    assert response.status_code == 404


async def test_wait_answers_at_the_timeout_with_what_still_runs(api: httpx.AsyncClient) -> None:
    sleepy = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "noop",
              "Params": {"Sleep": 30}}}]}  # fmt: skip
    ids = [
        r["JobID"] for r in (await api.put(f"{JOBS}/batch", json={"Jobs": [sleepy]})).json()["Jobs"]
    ]
    body = (await api.post(f"{JOBS}/wait", json={"JobIDs": ids, "Timeout": 0.2})).json()
    assert body["Done"] is False
    assert body["Jobs"][0]["State"]["StateType"] != "Completed"
    await api.delete(f"{JOBS}/{ids[0]}")


async def test_the_sdk_submits_many_and_waits_for_all(stack: Stack) -> None:
    from bacalao.client import AsyncClient

    app = create_app(stack.orchestrator, blocks=stack.blocks, version="test")
    transport = httpx.ASGITransport(app=app)
    async with AsyncClient("http://bacalao", transport=transport) as client:
        failing = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "noop",
                   "Params": {"ExitCode": 3}}}]}  # fmt: skip
        results = await client.submit_many([NOOP] * 5 + [failing])
        ids = [r.job_id for r in results]
        states = await client.wait_all(ids + ids[:1], timeout=60)
    assert list(states) == ids
    assert list(states.values()) == ["Completed"] * 5 + ["Failed"]


def test_the_blocking_client_against_a_real_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.serve import Serve

    from bacalao.client import Client

    server = Serve(tmp_path / "data", "--engine", "noop").start()
    try:
        with Client(server.api) as client:
            # jobs submitted before the compute node registers just queue: no wait needed
            ids = [r.job_id for r in client.submit_many([NOOP] * 3)]
            assert client.wait_all(ids, timeout=60) == dict.fromkeys(ids, "Completed")
    finally:
        server.stop()


async def test_a_stream_of_batches_is_accepted_first_then_run(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches that keep coming are stored before any is evaluated (the API answers without
    waiting behind placements), and the wait is bounded: with the stream never pausing, the
    worker starts once BURST_MAX_WAIT_S has passed."""
    from bacalao.models.parse import parse_job
    from bacalao.orchestrator import bursts

    monkeypatch.setattr(bursts, "BURST_QUIET_S", 60.0)  # the stream never counts as paused
    monkeypatch.setattr(bursts, "BURST_MAX_WAIT_S", 0.5)
    orch = stack.orchestrator
    assert orch is not None
    ids = []
    for _ in range(3):
        ids += [r.job_id for r in await orch.submit_jobs([parse_job(NOOP) for _ in range(5)])]
    states = {orch.get_job(j).state_type.value for j in ids}
    assert states == {"Pending"}
    # a lone job is still placed in its own submission's transaction, burst or not
    lone = await orch.submit_job(parse_job(NOOP))
    assert orch.get_job(lone.job_id).state_type.value != "Pending"
    jobs = await orch.wait_all(ids + [lone.job_id], timeout=30)
    assert {j.state_type.value for j in jobs} == {"Completed"}
