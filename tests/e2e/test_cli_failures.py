"""What a user sees when a job cannot run or a command is wrong, against a real ``bacalao serve``.

Each failure is one ``Error: …`` line (plus a ``Hint:``), never a traceback, with the right exit
code (1: the job failed or the API said no; 2: the input was malformed and nothing was sent or
stored) and the right final state in ``job describe``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import describe, error_line, execution_states, job_state
from tests.support.serve import Serve

from bacalao.client import Client

pytestmark = pytest.mark.timeout(120)

SUBMITTED = re.compile(r"Job (j-[0-9a-f-]+) submitted")


def job_count(serve: Serve) -> int:
    """How many jobs the server holds (through the SDK: this is a check, not the user's step)."""
    with Client(serve.api) as client:
        return len(client.list_jobs(limit=1000).raw)


def node_id(serve: Serve) -> str:
    done = serve.cli("node", "list", "--output", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]["Info"]["NodeID"]


# -- no node satisfies the constraints ------------------------------------------------------------


@pytest.mark.docker
def test_no_node_satisfies_constraints_names_each_node_and_why(serve: Serve, image: str) -> None:
    node = node_id(serve)
    run = serve.cli("docker", "run", "-s", "region=mars", image, "--", "true")
    assert run.returncode == 1, run.stderr
    line = error_line(run)
    job_id = SUBMITTED.search(run.stderr).group(1)  # type: ignore[union-attr]
    assert f"job {job_id} failed: no node can run this job" in line, line
    assert f"{node}: labels do not satisfy region=mars" in line, line
    assert "Hint: relax the constraints" in run.stderr
    assert run.stdout == ""

    description = describe(serve, job_id)
    state, message = job_state(description)
    assert state == "Failed" and f"{node}: labels do not satisfy region=mars" in message
    assert execution_states(description) == []  # nothing was ever placed

    table = serve.cli("job", "describe", job_id)
    assert table.returncode == 0, table.stderr
    assert re.search(rf"State:\s+Failed: no node can run this job: {node}: labels", table.stdout)
    assert "Constraints: region = mars" in table.stdout


@pytest.mark.docker
def test_queued_job_fails_after_its_queue_timeout_with_the_reasons(
    serve: Serve, image: str
) -> None:
    node = node_id(serve)
    started = time.monotonic()
    run = serve.cli(
        "docker", "run", "--queue-timeout", "1", "-s", "region=mars", image, "--", "true"
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    # the status line said why it waited, then the one error line says why it gave up
    assert f"Queued · waiting for a node that can run it: {node}: labels" in run.stderr
    assert f"{node}: labels do not satisfy region=mars" in error_line(run)
    assert 1.0 <= elapsed < 15, elapsed
    job_id = SUBMITTED.search(run.stderr).group(1)  # type: ignore[union-attr]
    assert job_state(describe(serve, job_id))[0] == "Failed"


# -- malformed specs: the field path, exit 2, nothing stored --------------------------------------

DOCKER_TASK = "Tasks:\n  - Name: main\n    Engine:\n      Type: docker\n"
MALFORMED = {
    # file name: (contents, what the Error line must say)
    "memory.yaml": (
        DOCKER_TASK + "      Params: {Image: busybox}\n    Resources: {Memory: lots}\n",
        "memory.yaml: Tasks[0].Resources.Memory: invalid size 'lots'",
    ),
    "param.yaml": (
        DOCKER_TASK + "      Params: {Image: busybox, Imagee: busybox}\n",
        "Tasks[0].Engine.Params: unknown docker engine param 'Imagee'",
    ),
    "engine.yaml": (
        "Tasks:\n  - Name: main\n    Engine: {Type: dokcer}\n",
        "Tasks[0].Engine.Type: unknown engine type 'dokcer'",
    ),
    "operator.yaml": (
        "Constraints: [{Key: region, Operator: like, Values: [x]}]\n"
        + DOCKER_TASK
        + "      Params: {Image: busybox}\n",
        "operator.yaml: Constraints[0].Operator: unknown operator 'like'",
    ),
    "timeout.json": (
        '{"Tasks": [{"Name": "t", "Engine": {"Type": "noop"}, '
        '"Timeouts": {"ExecutionTimeout": -3}}]}',
        "timeout.json: Tasks[0].Timeouts.ExecutionTimeout: timeout must be >= 0",
    ),
    "notasks.yaml": ("Type: batch\nTasks: []\n", "notasks.yaml: Tasks: a job needs a task"),
    "syntax.yaml": ("Type: batch\nTasks: [\n", "syntax.yaml: spec is not valid YAML"),
    "system.yaml": (
        "ID: j-mine\nTasks:\n  - Name: t\n    Engine: {Type: noop}\n",
        "system.yaml: ID",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_spec_names_the_field_exits_2_and_stores_nothing(
    serve: Serve, tmp_path: Path, name: str
) -> None:
    text, says = MALFORMED[name]
    spec = tmp_path / name
    spec.write_text(text)
    before = job_count(serve)
    run = serve.cli("job", "run", str(spec))
    assert run.returncode == 2, (run.stdout, run.stderr)
    line = error_line(run)
    assert says in line, line
    assert run.stdout == ""
    assert job_count(serve) == before


def test_malformed_spec_on_stdin(serve: Serve) -> None:
    before = job_count(serve)
    run = serve.cli("job", "run", "-", input=b"Tasks:\n  - Name: t\n    Engine: {Type: noop}\n"
                    b"    Resources: {CPU: many}\n")  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "Tasks[0].Resources.CPU" in error_line(run)
    assert job_count(serve) == before


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--memory", "lots"], "--memory: Tasks[0].Resources.Memory: invalid size 'lots'"),
        (["--cpu", "fast"], "--cpu: Tasks[0].Resources.CPU"),
        (["--network", "wifi"], "--network 'wifi': unknown"),
        (["-i", "QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw:inputs"], "must be absolute"),
        (["-s", "region like mars"], "region like mars"),
    ],
)
def test_bad_docker_run_flags_exit_2_before_submitting(
    serve: Serve, flags: list[str], says: str
) -> None:
    before = job_count(serve)
    run = serve.cli("docker", "run", *flags, "busybox", "--", "true")
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert says in error_line(run)
    assert "submitted" not in run.stderr
    assert job_count(serve) == before


def test_missing_spec_file(serve: Serve, tmp_path: Path) -> None:
    run = serve.cli("job", "run", str(tmp_path / "nope.yaml"))
    assert run.returncode != 0
    assert "nope.yaml not found" in error_line(run)


# -- the API says no ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["job", "describe"], ["job", "stop"], ["job", "logs"], ["job", "executions"], ["get"]],
)
def test_unknown_job_is_one_line(serve: Serve, command: list[str], tmp_path: Path) -> None:
    extra = ["-o", str(tmp_path / "out")] if command == ["get"] else []
    run = serve.cli(*command, "j-no-such-job", *extra)
    assert run.returncode == 1, run.stderr
    assert "j-no-such-job not found" in error_line(run)
    assert not (tmp_path / "out").exists()


def test_stopping_a_finished_job_is_a_conflict(serve: Serve, tmp_path: Path) -> None:
    spec = tmp_path / "noop.yaml"
    spec.write_text("Tasks:\n  - Name: t\n    Engine: {Type: noop}\n    Publisher: {Type: noop}\n")
    done = serve.cli("job", "run", str(spec))
    assert done.returncode == 0, done.stderr
    job_id = SUBMITTED.search(done.stderr).group(1)  # type: ignore[union-attr]
    run = serve.cli("job", "stop", job_id)
    assert run.returncode == 1
    assert f"job {job_id} already completed; there is nothing to stop" in error_line(run)
    assert job_state(describe(serve, job_id))[0] == "Completed"


def test_unreachable_api_is_one_line_with_a_hint(serve: Serve) -> None:
    run = serve.cli("job", "list", "--api", "http://127.0.0.1:9")
    assert run.returncode == 1
    assert "cannot reach the bacalao API at http://127.0.0.1:9" in error_line(run)
    assert "Hint: is `bacalao serve` running?" in run.stderr
