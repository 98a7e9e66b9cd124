"""A canned API for client tests: an ``httpx.MockTransport`` handler that records requests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

JOB = {
    "ID": "j-df836f6a-6920-44e4-9683-27f6ec1921e2",
    "Name": "A Simple Docker Job",
    "Namespace": "default",
    "Type": "batch",
    "Priority": 0,
    "Count": 1,
    "Constraints": [],
    "Meta": {},
    "Labels": {},
    "Tasks": [
        {
            "Name": "main",
            "Engine": {"Type": "docker", "Params": {"Image": "ubuntu:latest"}},
            "Publisher": {"Type": "ipfs"},
            "Resources": {},
            "Network": {"Type": "None"},
            "Timeouts": {"TotalTimeout": 1800},
        }
    ],
    "State": {"StateType": "Completed"},
    "Version": 0,
    "Revision": 4,
    "CreateTime": 1719930417160015000,
    "ModifyTime": 1719930421000000000,
}
EXECUTION = {
    "ID": "e-6c2",
    "Namespace": "default",
    "EvalID": "ev-1",
    "Name": "",
    "NodeID": "n-c0f",
    "JobID": JOB["ID"],
    "AllocatedResources": {"Tasks": {"main": {"CPU": 0.5, "Memory": 1073741824}}},
    "DesiredState": {"StateType": 2, "Message": "execution completed"},
    "ComputeState": {"StateType": 7},
    "PublishedResult": {
        "Type": "ipfs",
        "Params": {"CID": "QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw"},
    },
    "RunOutput": {
        "Stdout": "Hello World\n",
        "StdoutTruncated": False,
        "stderr": "",
        "StderrTruncated": False,
        "ExitCode": 0,
        "ErrorMsg": "",
    },
    "PreviousExecution": "",
    "NextExecution": "",
    "FollowupEvalID": "",
    "Revision": 5,
    "CreateTime": 1719930417300000000,
    "ModifyTime": 1719930421000000000,
}
HISTORY = {
    "Type": "ExecutionLevel",
    "JobID": JOB["ID"],
    "NodeID": "n-c0f",
    "ExecutionID": "e-6c2",
    "ExecutionState": {"Previous": 5, "New": 7},
    "NewRevision": 5,
    "Comment": "done",
    "Event": {"Message": "done", "Topic": "Execution", "Timestamp": "0001-01-01T00:00:00Z"},
    "Time": "2024-07-02T14:27:01.1Z",
}
NODE = {
    "Info": {
        "NodeID": "n-c0f",
        "NodeType": "Compute",
        "Labels": {"Architecture": "amd64"},
        "ComputeNodeInfo": {
            "ExecutionEngines": ["docker", "wasm"],
            "Publishers": ["ipfs"],
            "StorageSources": ["ipfs"],
            "MaxCapacity": {
                "CPU": 8,
                "Memory": 16000000000,
                "GPUs": [{"Index": 0, "Name": "H100"}],
            },
            "QueueCapacity": {},
            "AvailableCapacity": {"CPU": 6},
            "MaxJobRequirements": {},
            "RunningExecutions": 1,
            "EnqueuedExecutions": 0,
        },
        "BacalhauVersion": {"Major": "1", "Minor": "4", "GitVersion": "v1.4.0"},
    },
    "Membership": "APPROVED",
    "Connection": "CONNECTED",
}

Handler = Callable[[httpx.Request], httpx.Response]


def ok(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def error(status: int, code: str, message: str, hint: str | None = None) -> httpx.Response:
    body = {"code": code, "message": message, "hint": hint, "retryable": status == 503}
    return httpx.Response(status, json=body)


class MockAPI:
    """Routes ``(METHOD, path)`` to canned answers and records every request it saw."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], Handler] = {}
        jobs = "/api/v1/orchestrator/jobs"
        job = f"{jobs}/{JOB['ID']}"
        self.on("GET", "/api/v1/agent/alive", lambda r: ok({"Status": "OK"}))
        self.on("GET", "/api/v1/agent/version", lambda r: ok({"GitVersion": "v1.4.0"}))
        self.on(
            "PUT",
            jobs,
            lambda r: ok({"JobID": JOB["ID"], "EvaluationID": "ev-1", "Warnings": None}),
        )
        self.on("GET", jobs, lambda r: ok({"Items": [JOB], "NextToken": "Y3JlYXRlZF9hdDpOOjE6MQ"}))
        self.on(
            "GET",
            job,
            lambda r: ok(
                {
                    "Job": JOB,
                    "Executions": {"Items": [EXECUTION], "NextToken": ""},
                    "History": {"Items": [HISTORY], "NextToken": ""},
                }
            ),
        )
        self.on("DELETE", job, lambda r: ok({"EvaluationID": "ev-2"}))
        self.on("GET", f"{job}/executions", lambda r: ok({"Items": [EXECUTION], "NextToken": ""}))
        self.on("GET", f"{job}/history", lambda r: ok({"Items": [HISTORY], "NextToken": ""}))
        self.on(
            "GET",
            f"{job}/results",
            lambda r: ok({"Items": [EXECUTION["PublishedResult"]], "NextToken": ""}),
        )
        self.on(
            "GET", f"{job}/wait", lambda r: ok({"Seq": 9, "Job": JOB, "Executions": [EXECUTION]})
        )
        logs = (
            b'{"Type": 1, "Line": "Hello "}\n\n{"Type": 2, "Line": "warn\\n"}\n'
            b'{"Type": 1, "Line": "World\\n"}\n'
        )
        self.on(
            "GET",
            f"{job}/logs",
            lambda r: httpx.Response(
                200, content=logs, headers={"Content-Type": "application/x-ndjson"}
            ),
        )
        self.on(
            "GET", "/api/v1/orchestrator/nodes", lambda r: ok({"Nodes": [NODE], "NextToken": ""})
        )
        self.on("GET", "/api/v1/orchestrator/nodes/n-c0f", lambda r: ok({"Node": NODE}))

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return error(404, "not_found", f"no route {request.method} {request.url.path}")
        return handler(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content) if self.last.content else None
