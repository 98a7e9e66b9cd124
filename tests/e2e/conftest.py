"""Fixtures for the e2e tests that drive ``bacalao serve`` through the CLI, as a user types it.

``serve`` is module-scoped: each test module gets ONE real ``bacalao serve`` subprocess (its own
port and data dir), so the suite pays for one start-up per module, not per test. Tests in a module
must therefore not depend on what other tests left in the job list.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.conftest import require
from tests.support.serve import Serve

#: Engines the e2e server offers (explicit, so a newly added default engine cannot slow it down).
ENGINES = ("docker", "shell", "noop")


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    """A Docker SDK client of the local engine (skip locally, fail in CI when unreachable)."""
    client = None
    try:
        from tests.support.images import docker_sdk_client

        client = docker_sdk_client()
    except Exception as exc:  # no SDK, no daemon, no permission
        require(False, f"docker engine not reachable: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def image(docker_client: Any) -> str:
    """``bacalao-test/busybox:latest``, built here with ``docker import`` (no registry)."""
    from tests.support.images import ensure_busybox_image, find_busybox

    require(find_busybox() is not None, "busybox-static is not installed")
    return ensure_busybox_image(docker_client)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One ``bacalao serve`` (orchestrator + compute node) for the whole module."""
    engines = [arg for name in ENGINES for arg in ("--engine", name)]
    server = Serve(tmp_path_factory.mktemp("serve") / "data", *engines).start()
    try:
        _wait_for_node(server)
        yield server
    finally:
        server.stop()


def _wait_for_node(server: Serve, timeout: float = 30.0) -> None:
    """The API answers before the compute node has registered; wait until it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = server.cli("node", "list", "--output", "json")
        if done.returncode == 0 and json.loads(done.stdout):
            return
        time.sleep(0.2)
    raise RuntimeError(f"no compute node registered in {timeout}s:\n{server.log.read_text()}")


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one ``Error: …`` line of a failed command; asserts there is exactly one, no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def describe(server: Serve, job_id: str) -> dict[str, Any]:
    """``bacalao job describe JOB --output json`` (Bacalhau's shape: Job, Executions, History)."""
    done = server.cli("job", "describe", job_id, "--output", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def job_state(description: dict[str, Any]) -> tuple[str, str]:
    """(StateType, Message) of a described job."""
    state = description["Job"]["State"]
    return state["StateType"], state.get("Message", "")


def executions(description: dict[str, Any]) -> list[dict[str, Any]]:
    """The executions of a described job."""
    return (description.get("Executions") or {}).get("Items") or []


def execution_states(description: dict[str, Any]) -> list[str]:
    """Each execution's state by name (the wire carries Bacalhau's integer codes)."""
    from bacalao.cli.wait import execution_state

    return [execution_state(e) for e in executions(description)]


def eventually(check: Callable[[], Any], timeout: float = 15.0, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy (then return it) or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)
