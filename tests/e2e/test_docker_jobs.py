"""Docker jobs end to end, as a user types them, against ``bacalao serve`` and the real engine.

One ``bacalao serve`` for the module (``serve`` in conftest); the image is built here with
``docker import`` (``tests/support/images.py``), never pulled. Every test checks the job's final
state through ``job describe`` and that no container of the job is left on the engine.
"""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import (
    describe,
    error_line,
    eventually,
    execution_states,
    executions,
    job_state,
)
from tests.support.serve import BACALAO, Serve

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

SUBMITTED = re.compile(r"Job (j-[0-9a-f-]+) submitted")


def add_data(serve: Serve, path: Path) -> str:
    """Upload ``path`` to the server's compute node and return its CID, as a user does:
    ``bacalao data add --api URL FILE`` (the CID is the last line of stdout)."""
    done = serve.cli("data", "add", "--quiet", "--api", serve.api, str(path))
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def job_id_of(done: subprocess.CompletedProcess[str]) -> str:
    """The job ID from the ``Job j-… submitted`` note the waiting CLI prints on stderr."""
    match = SUBMITTED.search(done.stderr)
    assert match, done.stderr
    return match.group(1)


def containers_of(docker_client: Any, job_id: str) -> list[Any]:
    """Containers of ``job_id`` on the engine, running or not (``docker ps -a --filter label=``)."""
    return docker_client.containers.list(all=True, filters={"label": f"bacalao.job={job_id}"})


def assert_no_container_left(docker_client: Any, job_id: str) -> None:
    left = eventually(lambda: not containers_of(docker_client, job_id), timeout=10)
    assert left, f"containers left for {job_id}: {containers_of(docker_client, job_id)}"


# -- a job that reads an input CID and writes output ----------------------------------------------


def test_job_reads_input_cid_writes_outputs_and_get_downloads_them(
    serve: Serve, image: str, docker_client: Any, tmp_path: Path
) -> None:
    words = tmp_path / "words.txt"
    words.write_text("alpha\nbeta\ngamma\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(random.Random(3).randbytes(600_000))  # several 256 KiB chunks
    words_cid, blob_cid = add_data(serve, words), add_data(serve, blob)

    script = (
        "tr a-z A-Z < /inputs/x > /outputs/upper.txt"
        " && cp /inputs/blob /outputs/blob.bin"
        " && mkdir /outputs/sub && wc -l < /inputs/x > /outputs/sub/lines"
        " && echo read $(wc -c < /inputs/blob) bytes && echo note >&2"
    )
    run = serve.cli(
        "docker", "run", "-i", f"{words_cid}:/inputs/x", "-i", f"{blob_cid}:/inputs/blob",
        image, "--", "sh", "-c", script,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result_cid, *stdout = run.stdout.splitlines()
    assert stdout == ["read 600000 bytes"]
    job_id = job_id_of(run)
    assert re.search(rf"Job {job_id[:10]} completed in \d+\.\d+s", run.stderr), run.stderr

    out = tmp_path / "result"
    got = serve.cli("get", job_id, "-o", str(out))
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == str(out)
    assert re.search(rf"Verified \d+ blocks of {result_cid}", got.stderr), got.stderr
    assert (out / "outputs" / "upper.txt").read_text() == "ALPHA\nBETA\nGAMMA\n"
    assert (out / "outputs" / "sub" / "lines").read_text().strip() == "3"
    copied = (out / "outputs" / "blob.bin").read_bytes()
    assert hashlib.sha256(copied).digest() == hashlib.sha256(blob.read_bytes()).digest()
    assert (out / "stdout").read_text() == "read 600000 bytes\n"
    assert (out / "stderr").read_text() == "note\n"
    assert (out / "exitCode").read_text().strip() == "0"

    description = describe(serve, job_id)
    assert job_state(description)[0] == "Completed"
    assert execution_states(description) == ["Completed"]
    assert executions(description)[0]["PublishedResult"]["Params"]["CID"] == result_cid
    assert_no_container_left(docker_client, job_id)


def test_missing_input_cid_fails_with_the_cid_named(serve: Serve, image: str) -> None:
    missing = "QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw"  # never added here
    run = serve.cli("docker", "run", "-i", missing, image, "--", "true")
    assert run.returncode == 1, run.stderr
    line = error_line(run)
    assert f"block {missing} not found" in line, line
    assert job_state(describe(serve, job_id_of(run)))[0] == "Failed"


# -- failures: one clear line, the right final state, no container left ---------------------------

FAILURES = {
    # name: (extra flags, command, what the Error line says, what the execution says)
    "unknown_image": ([], None, "image not found locally", "image not found locally"),
    "non_zero_exit": ([], ["sh", "-c", "echo partial; echo boom >&2; exit 3"], "exited with code 3",
                      "exited with code 3"),
    "timeout": (["--timeout", "2"], ["sleep", "30"], "timed out", "timed out after 2s"),
    "oom": (["--memory", "16mb"], ["sh", "-c", "head -c 100m /dev/zero | tail"], "out of memory",
            "out of memory"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FAILURES))
def test_failure_is_one_clear_line_and_the_job_ends_failed(
    serve: Serve, image: str, docker_client: Any, case: str
) -> None:
    flags, command, says, execution_says = FAILURES[case]
    target = "bacalao-test/no-such-image:latest" if case == "unknown_image" else image
    started = time.monotonic()
    run = serve.cli("docker", "run", *flags, target, "--", *(command or ["true"]))
    elapsed = time.monotonic() - started

    assert run.returncode == 1, (run.stdout, run.stderr)
    line = error_line(run)
    job_id = job_id_of(run)
    assert f"job {job_id} failed" in line and says in line, line
    assert "Hint: " in run.stderr, run.stderr
    assert run.stdout == "", "a failed job prints no result CID"

    description = describe(serve, job_id)
    state, message = job_state(description)
    assert state == "Failed", (state, message)
    assert execution_states(description)[-1] == "Failed"
    reasons = [
        (e.get("RunOutput") or {}).get("ErrorMsg") or e["ComputeState"].get("Message", "")
        for e in executions(description)
    ]
    assert any(execution_says in r for r in reasons), reasons
    assert_no_container_left(docker_client, job_id)

    if case == "non_zero_exit":
        assert "boom" in run.stderr  # the job's own stderr is shown
        assert description["Executions"]["Items"][-1]["RunOutput"]["ExitCode"] == 3
        logs = serve.cli("job", "logs", job_id)
        assert logs.returncode == 0 and logs.stdout == "partial\n", logs
    if case == "timeout":
        assert elapsed < 20, f"a 2 s timeout took {elapsed:.1f}s to fail"


def test_stop_while_running_kills_the_container(
    serve: Serve, image: str, docker_client: Any
) -> None:
    waiting = subprocess.Popen(
        [BACALAO, "docker", "run", image, "--", "sleep", "30"],
        env=serve.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = waiting.stderr.readline() if waiting.stderr else ""
        match = SUBMITTED.search(first)
        assert match, first
        job_id = match.group(1)

        def running() -> bool:
            running_containers = [
                c for c in containers_of(docker_client, job_id) if c.status == "running"
            ]
            return bool(running_containers) and "Running" in execution_states(
                describe(serve, job_id)
            )

        assert eventually(running, timeout=30), describe(serve, job_id)
        started = time.monotonic()
        stop = serve.cli("job", "stop", job_id)
        assert stop.returncode == 0, stop.stderr
        assert f"Job {job_id} stopped" in stop.stderr

        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 1, err
    line = error_line(subprocess.CompletedProcess([], 1, out, first + err))
    assert f"job {job_id} stopped: stopped by the user" in line, line

    description = describe(serve, job_id)
    assert job_state(description) == ("Stopped", "stopped by the user")
    assert execution_states(description) == ["Cancelled"]
    assert_no_container_left(docker_client, job_id)
    assert time.monotonic() - started < 15, "stop should not wait for the 30 s sleep"

    again = serve.cli("job", "stop", job_id)
    assert again.returncode == 0 and "already stopped" in again.stderr, again
