"""kill -9 of ``bacalao serve`` with jobs queued and running: after a restart every job ends."""

from __future__ import annotations

import shutil
import time

import pytest
from tests.conftest import require
from tests.support.serve import Serve

from bacalao.client import Client


def shell_job(command: str, **extra) -> dict:
    return {
        "Type": "batch",
        "Count": 1,
        **extra,
        "Tasks": [
            {
                "Name": "t",
                "Engine": {"Type": "shell", "Params": {"Command": command}},
            }
        ],
    }


@pytest.mark.timeout(180)
def test_kill9_with_jobs_queued_and_running_loses_nothing(tmp_path) -> None:
    require(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    server = Serve(tmp_path / "data", "--engine", "shell", "--engine", "noop").start()
    try:
        with Client(server.api) as client:
            running = [client.submit(shell_job("sleep 2; echo finished")).job_id for _ in range(2)]
            queued = client.submit(
                {
                    "Constraints": [{"Key": "zone", "Operator": "=", "Values": ["nowhere"]}],
                    "Tasks": [
                        {
                            "Name": "t",
                            "Engine": {"Type": "noop"},
                            "Timeouts": {"QueueTimeout": 8, "TotalTimeout": 60},
                        }
                    ],
                }
            ).job_id
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                states = {j: client.get_job(j).state_type.value for j in running}
                if all(s == "Running" for s in states.values()):
                    break
                time.sleep(0.1)
            assert client.get_job(queued).state_type.value == "Queued"
        server.kill9()

        server.start()
        with Client(server.api) as client:
            finals = {j: client.wait_for(j, timeout=60).state for j in [*running, queued]}
            assert {finals[j] for j in running} == {"Completed"}, finals
            assert finals[queued] == "Failed"
            for j in running:
                execs = client.executions(j).items
                assert [e.state.value for e in execs] == ["Failed", "Completed"]
                assert "restarted" in execs[0].compute_state.message
                assert execs[1].run_output.stdout == "finished\n"
            assert "zone" in client.get_job(queued).state.message
    finally:
        server.stop()
