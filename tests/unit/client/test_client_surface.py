"""The SDK's public surface, its import cost, and its wire parsers against the API's dumpers."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bacalao.client
from bacalao.api.wire import node_state
from bacalao.client import TERMINAL_JOB_STATES, error_from_body
from bacalao.client._wire import parse_history, parse_node_state, rfc3339_to_ns
from bacalao.errors import BacalaoError, NotFound
from bacalao.models import (
    GPU,
    Event,
    HistoryType,
    JobHistory,
    JobStateType,
    NodeInfo,
    ResourceAmounts,
    StateChange,
    dump_history,
)
from bacalao.models.parse import ns_to_rfc3339


def test_exported_members() -> None:
    assert sorted(bacalao.client.__all__) == sorted(
        [
            "DEFAULT_API", "ENV_API", "TERMINAL_JOB_STATES", "AsyncClient", "BaseClient",
            "Client", "JobDescription", "LogLine", "Page", "SubmitResult", "WaitResult",
            "error_from_body", "resolve_api",
        ]
    )  # fmt: skip
    for name in bacalao.client.__all__:
        assert getattr(bacalao.client, name) is not None


def test_importing_the_client_does_not_import_the_models_or_the_server() -> None:
    code = (
        "import sys, bacalao.client\n"
        "heavy = [m for m in ('pydantic', 'bacalao.models', 'fastapi', 'bacalao.ipld', 'yaml')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_terminal_states_match_the_models() -> None:
    assert {s.value for s in JobStateType if s.is_terminal} == TERMINAL_JOB_STATES


def test_node_state_round_trip() -> None:
    node = NodeInfo(
        id="n-1",
        labels={"region": "eu", "GPU-0": "H100"},
        engines=["docker", "shell"],
        publishers=["ipfs"],
        storage_sources=["ipfs", "inline"],
        total=ResourceAmounts(cpu=16, memory=64 << 30, disk=1 << 40, gpu=1),
        available=ResourceAmounts(cpu=12, memory=32 << 30, disk=1 << 39, gpu=1),
        gpus=[GPU(index=0, model="H100", vendor="NVIDIA", memory_mb=81559)],
        max_jobs=4,
        running_executions=2,
        address="10.0.0.5:1234",
        version="0.1.0",
        last_seen=1719930417000000000,
    )
    assert parse_node_state(node_state(node)) == node


@pytest.mark.parametrize("ns", [0, 1719930421_100000000, 1719930421_000000001, 1_000_000_000])
def test_rfc3339_round_trip(ns: int) -> None:
    assert rfc3339_to_ns(ns_to_rfc3339(ns)) == ns


def test_rfc3339_offsets_and_junk() -> None:
    assert rfc3339_to_ns("2024-07-02T16:27:01.5+02:00") == 1719930421_500000000
    assert rfc3339_to_ns("yesterday") == 0 and rfc3339_to_ns(None) == 0


def test_history_round_trip() -> None:
    entry = JobHistory(
        seq=7,
        type=HistoryType.EXECUTION_LEVEL,
        job_id="j-1",
        execution_id="e-1",
        node_id="n-1",
        execution_state=StateChange(previous="Running", new="Failed"),
        new_revision=3,
        event=Event(
            message="exit code 2",
            topic="Execution",
            timestamp=1719930421_100000000,
            details={"IsError": "true", "Hint": "check the command"},
        ),  # fmt: skip
        time=1719930421_200000000,
        stimulus_id="s-9",
    )
    assert parse_history(dump_history(entry)) == entry


def test_error_from_body_without_a_known_code() -> None:
    err = error_from_body(404, {"message": "gone"})
    assert isinstance(err, NotFound) and err.message == "gone" and err.http_status == 404
    plain = error_from_body(500, "")
    assert type(plain) is BacalaoError and plain.message == "the API answered HTTP 500"
