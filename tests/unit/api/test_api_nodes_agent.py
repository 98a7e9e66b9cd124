"""Nodes, agent endpoints, error mapping, the OpenAPI document and the logs WebSocket."""

from __future__ import annotations

import json
import warnings

import httpx
import pytest
from fastapi import FastAPI
from tests.support.fake_orchestrator import FakeOrchestrator, run_to_completion
from tests.unit.api.conftest import VERSION, docker_job
from tests.unit.api.test_api_jobs import JOBS, assert_error

from bacalao.api import create_app
from bacalao.models import GPU, NodeConnectionState

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette nudges towards httpx2
    from starlette.testclient import TestClient

NODES = "/api/v1/orchestrator/nodes"
NODE_STATE_KEYS = {"Info", "Membership", "Connection"}
INFO_KEYS = {"NodeID", "NodeType", "Labels", "ComputeNodeInfo", "BacalhauVersion"}
COMPUTE_KEYS = {
    "ExecutionEngines", "Publishers", "StorageSources", "MaxCapacity", "QueueCapacity",
    "AvailableCapacity", "MaxJobRequirements", "RunningExecutions", "EnqueuedExecutions",
}  # fmt: skip
VERSION_KEYS = {"Major", "Minor", "GitVersion", "GitCommit", "BuildDate", "GOOS", "GOARCH"}


# -- nodes ----------------------------------------------------------------------------------------
async def test_list_nodes_shape(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    body = (await api.get(NODES)).json()
    assert set(body) == {"Nodes", "NextToken"}
    assert [n["Info"]["NodeID"] for n in body["Nodes"]] == ["n-alpha", "n-beta"]
    state = body["Nodes"][0]
    assert set(state) == NODE_STATE_KEYS
    assert set(state["Info"]) >= INFO_KEYS
    assert set(state["Info"]["ComputeNodeInfo"]) >= COMPUTE_KEYS
    assert state["Membership"] == "APPROVED" and state["Connection"] == "CONNECTED"
    assert state["Info"]["NodeType"] == "Compute"
    assert state["Info"]["ComputeNodeInfo"]["MaxCapacity"]["CPU"] == 8
    assert set(state["Info"]["BacalhauVersion"]) == VERSION_KEYS


async def test_list_nodes_filters_and_order(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    fake.add_node("n-gamma", connection=NodeConnectionState.DISCONNECTED)
    names = lambda body: [n["Info"]["NodeID"] for n in body["Nodes"]]  # noqa: E731
    assert names((await api.get(NODES + "?labels=region=eu")).json()) == ["n-alpha"]
    assert names((await api.get(NODES + "?filter-status=connected")).json()) == [
        "n-alpha",
        "n-beta",
    ]
    assert names((await api.get(NODES + "?filter_status=DISCONNECTED")).json()) == ["n-gamma"]
    assert names((await api.get(NODES + "?filter-approval=PENDING")).json()) == []
    assert names((await api.get(NODES + "?order_by=id&reverse=True&limit=1")).json()) == ["n-gamma"]
    assert_error(await api.get(NODES + "?order_by=colour"), 400)


async def test_get_node(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    fake.add_node("n-gpu", gpus=[GPU(index=0, model="H100", memory_mb=81559)])
    body = (await api.get(f"{NODES}/n-gpu")).json()
    assert set(body) == {"Node"}
    assert body["Node"]["Info"]["ComputeNodeInfo"]["MaxCapacity"]["GPUs"] == [
        {"Index": 0, "Name": "H100", "Memory": 81559}
    ]
    assert_error(await api.get(f"{NODES}/n-nope"), 404, "not_found")


# -- agent ----------------------------------------------------------------------------------------
async def test_agent_endpoints(api: httpx.AsyncClient, fake: FakeOrchestrator) -> None:
    assert (await api.get("/api/v1/agent/alive")).json() == {"Status": "OK"}
    version = (await api.get("/api/v1/agent/version")).json()
    assert set(version) == VERSION_KEYS
    assert (version["Major"], version["Minor"], version["GitVersion"]) == ("1", "4", "v1.4.0")
    legacy = (await api.post("/api/v1/version", json={"client_id": "x"})).json()
    assert legacy == {"build_version_info": version}
    livez = await api.get("/api/v1/livez")
    assert livez.text == "OK" and livez.headers["content-type"].startswith("text/plain")
    assert (await api.get("/api/v1/id")).text == fake.node_id
    node = (await api.get("/api/v1/agent/node")).json()
    assert node["Info"]["NodeID"] == fake.node_id and node["Info"]["NodeType"] == "Requester"
    fake.add_node(fake.node_id)  # a hybrid node: it computes too
    node = (await api.get("/api/v1/node_info")).json()
    assert node["Info"]["NodeType"] == "Compute"


# -- errors ---------------------------------------------------------------------------------------
async def test_unknown_routes_and_methods(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/api/v1/nothing"), 404, "not_found")
    assert_error(await api.patch(JOBS), 405, "method_not_allowed")


async def test_unexpected_errors_are_a_500_without_details(fake: FakeOrchestrator) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    fake.list_jobs = explode  # type: ignore[method-assign]
    app = create_app(fake, version=VERSION)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
        body = assert_error(await api.get(JOBS), 500, "internal")
    assert "secret" not in json.dumps(body)


# -- OpenAPI --------------------------------------------------------------------------------------
async def test_openapi_documents_every_endpoint(api: httpx.AsyncClient, app: FastAPI) -> None:
    doc = (await api.get("/openapi.json")).json()
    assert doc["info"]["version"] == VERSION
    operations = [
        (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]
    assert len(operations) >= 18
    for path, method, op in operations:
        assert op.get("summary"), f"{method} {path} has no summary"
        assert op.get("description"), f"{method} {path} has no docstring"
    assert "put" in doc["paths"][JOBS]
    assert "/api/v1/orchestrator/jobs/{job_id}/wait" in doc["paths"]
    assert "/ipfs/{target}" in doc["paths"]
    assert "404" in doc["paths"]["/api/v1/orchestrator/jobs/{job_id}"]["get"]["responses"]


# -- logs over a WebSocket (Bacalhau's Go client) -------------------------------------------------
@pytest.fixture
def sync_api(app: FastAPI) -> TestClient:
    return TestClient(app)


def test_logs_websocket(sync_api: TestClient, fake: FakeOrchestrator) -> None:
    fake.on_submit = run_to_completion(stdout="Hello World\n", stderr="warn\n")
    with sync_api:
        job_id = sync_api.put(JOBS, json={"Job": docker_job()}).json()["JobID"]
        sync_api.get(f"{JOBS}/{job_id}/wait?since=100&timeout=5")  # lets the script finish
        url = f"{JOBS}/{job_id}/logs?follow=true"
        with sync_api.websocket_connect(url) as ws:
            frames = [json.loads(ws.receive_text()), json.loads(ws.receive_text())]
            closing = ws.receive()
    assert frames == [
        {"value": {"Type": 1, "Line": "Hello World\n"}},
        {"value": {"Type": 2, "Line": "warn\n"}},
    ]
    assert closing["type"] == "websocket.close" and closing["code"] == 1000


def test_logs_websocket_error_frame(sync_api: TestClient) -> None:
    with sync_api, sync_api.websocket_connect(f"{JOBS}/j-missing/logs") as ws:
        frame = json.loads(ws.receive_text())
        closing = ws.receive()
    assert frame["value"] == {"Type": 0, "Line": ""}
    assert "j-missing" in frame["error"]
    assert closing["code"] == 1000
