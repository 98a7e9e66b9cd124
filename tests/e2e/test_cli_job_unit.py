"""The job CLI as a user types it (``docker run``, ``job …``, ``get``, ``node list``) against a
real HTTP server (uvicorn in a thread) serving the API over the in-memory fake orchestrator.

The lead's integration tests run the same commands against ``bacalao serve``; these pin the CLI's
own behaviour: exit codes, stdout/stderr discipline, parseable ``--output json|yaml``, one-line
errors with hints and no tracebacks.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from click.testing import CliRunner
from tests.support.fake_orchestrator import (
    FakeOrchestrator,
    LogChunk,
    run_to_completion,
    run_to_failure,
)

from bacalao.api import create_app
from bacalao.cli.main import run
from bacalao.cli.wait import EXEC_STATES
from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.importer import import_path
from bacalao.models import ExecutionStateType

CID = "QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw"
DOCKER_HELLO = """\
name: A Simple Docker Job
type: batch
count: 1
tasks:
  - name: My main task
    engine:
      type: docker
      params:
        Image: ubuntu:latest
        Entrypoint:
          - /bin/bash
        Parameters:
          - -c
          - echo Hello Bacalhau!
"""


class LiveServer:
    """uvicorn serving the API on a free port, in a thread with its own event loop."""

    def __init__(self) -> None:
        self.blocks = DictBlocks()
        self.fake = FakeOrchestrator()
        self.app = create_app(self.fake, blocks=self.blocks, version="0.1.0")
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, lifespan="off", ws="none", log_level="error")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> None:
        self.thread.start()
        while not self.server.started:
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()

    def reset(self) -> FakeOrchestrator:
        self.fake = FakeOrchestrator()
        self.fake.add_node("n-alpha", labels={"region": "eu"})
        self.fake.add_node("n-beta", labels={"region": "us"})
        self.app.state.orchestrator = self.fake
        return self.fake

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the server's loop (the fake is not thread-safe) and return its result."""
        assert self.loop is not None

        async def invoke() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(invoke(), self.loop).result(timeout=5)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer()
    live.start()
    yield live
    live.stop()


@pytest.fixture
def fake(server: LiveServer) -> FakeOrchestrator:
    return server.reset()


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def bacalao(server: LiveServer, fake: FakeOrchestrator) -> Callable[..., Result]:
    def invoke(*args: str | Path, api: str | None = None, stdin: str | None = None) -> Result:
        runner = CliRunner()
        saved = sys.argv
        code = 0
        with runner.isolation(input=stdin, env={"BACALAO_API": api or server.url}) as streams:
            sys.argv = ["bacalao", *map(str, args)]
            try:
                run()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.argv = saved
                sys.stdout.flush()
                sys.stderr.flush()
            out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
        return Result(code, out, err)

    return invoke


def assert_one_line_error(r: Result, *words: str, code: int = 1) -> None:
    assert r.code == code, r
    assert "Traceback" not in r.err
    lines = r.err.strip().splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("Error: "))
    assert lines[error + 1 :] and lines[error + 1].startswith("Hint: "), r.err
    assert len(lines) == error + 2, r.err
    for word in words:
        assert word in lines[error], r.err


# -- docker run -----------------------------------------------------------------------------------
def test_docker_run_waits_and_prints_cid_then_stdout(
    bacalao: Callable[..., Result], fake: FakeOrchestrator
) -> None:
    fake.on_submit = run_to_completion(stdout="hello\n", cid=CID, delay=0.05)
    r = bacalao("docker", "run", "alpine", "--", "echo", "hello")
    assert r.code == 0, r
    assert r.out == f"{CID}\nhello\n"
    assert "submitted" in r.err and "completed in" in r.err
    assert " Running · n-alpha Running" in r.err  # the plain status line (stderr is not a TTY)
    (job,) = fake.jobs.values()
    assert job.task.engine.params == {"Image": "alpine", "Parameters": ["echo", "hello"]}
    assert job.task.publisher.type == "ipfs"


def test_docker_run_flags_build_a_bacalhau_job(
    bacalao: Callable[..., Result], fake: FakeOrchestrator
) -> None:
    r = bacalao(
        "docker", "run", "--id-only", "-i", CID, "-i", f"ipfs://{CID}:/data",
        "--cpu", "500m", "--memory", "1Gi", "--gpu", "1", "--network", "full",
        "--timeout", "60", "--queue-timeout", "30", "-l", "team=ml", "-s", "region=eu",
        "-e", "A=1", "-w", "/work", "--entrypoint", "/bin/sh -c", "--name", "demo",
        "ubuntu:24.04", "echo $A -n",
    )  # fmt: skip
    assert r.code == 0, r
    (job,) = fake.jobs.values()
    assert r.out == job.id + "\n" and r.err == ""
    task = job.task
    assert task.engine.params == {
        "Image": "ubuntu:24.04", "Entrypoint": ["/bin/sh", "-c"], "Parameters": ["echo $A -n"],
        "EnvironmentVariables": ["A=1"], "WorkingDirectory": "/work",
    }  # fmt: skip
    assert [(s.cid, s.target) for s in task.input_sources] == [(CID, "/inputs"), (CID, "/data")]
    assert (task.resources.cpu, task.resources.memory, task.resources.gpu) == ("500m", "1Gi", "1")
    assert task.network.type.value == "Full"
    assert (task.timeouts.total_timeout, task.timeouts.queue_timeout) == (60, 30)
    assert job.labels == {"team": "ml"} and job.name == "demo"
    assert [(c.key, c.operator.value, c.values) for c in job.constraints] == [
        ("region", "=", ["eu"])
    ]


def test_docker_run_no_wait(bacalao: Callable[..., Result], fake: FakeOrchestrator) -> None:
    r = bacalao("docker", "run", "--no-wait", "alpine")
    (job_id,) = fake.jobs
    assert r.code == 0 and r.out == job_id + "\n" and "job describe" in r.err


def test_docker_run_dry_run_prints_yaml(
    bacalao: Callable[..., Result], fake: FakeOrchestrator
) -> None:
    r = bacalao("docker", "run", "--dry-run", "-l", "a=b", "alpine", "--", "true")
    assert r.code == 0 and not fake.jobs
    spec = yaml.safe_load(r.out)
    assert spec["Tasks"][0]["Engine"] == {
        "Type": "docker",
        "Params": {"Image": "alpine", "Parameters": ["true"]},
    }
    assert "ID" not in spec and "State" not in spec and spec["Labels"] == {"a": "b"}


def test_docker_run_failure_exits_1_with_reason_and_hint(
    bacalao: Callable[..., Result], fake: FakeOrchestrator
) -> None:
    fake.on_submit = run_to_failure(
        "no node satisfies the constraints: n-alpha: region=us wanted, n-beta: not enough memory",
        hint="relax -s or ask for less --memory",
        rejections={"n-alpha": "label region=eu", "n-beta": "not enough memory"},
    )
    r = bacalao("docker", "run", "-s", "region=us", "alpine")
    assert_one_line_error(r, "failed", "no node satisfies", code=1)
    assert "Hint: relax -s or ask for less --memory" in r.err
    assert "  n-alpha: node n-alpha rejected: label region=eu" in r.err  # per-node reasons
    assert "  n-beta: node n-beta rejected: not enough memory" in r.err
    assert r.out == ""


def test_failure_hint_inside_the_state_message(
    bacalao: Callable[..., Result], fake: FakeOrchestrator
) -> None:
    # The orchestrator appends "(hint: …)" to the job's state message.
    fake.on_submit = run_to_failure("no node can run this job: n-alpha: no GPU (hint: drop --gpu)")
    r = bacalao("docker", "run", "--gpu", "1", "alpine")
    assert_one_line_error(r, "no node can run this job: n-alpha: no GPU")
    assert r.err.strip().splitlines()[-1] == "Hint: drop --gpu"


def test_docker_run_failed_execution_shows_its_stderr_and_reason(
    bacalao: Callable[..., Result], fake: FakeOrchestrator
) -> None:
    async def script(fake: FakeOrchestrator, job) -> None:  # noqa: ANN001
        await asyncio.sleep(0)
        ex = fake.start(job.id)
        fake.fail(job.id, "exit code 3", hint="the command failed", execution_id=ex.id)

    fake.on_submit = script
    r = bacalao("docker", "run", "alpine", "--", "false")
    assert_one_line_error(r, "exit code 3")
    assert "n-alpha: exit code 3" in r.err and "Hint: the command failed" in r.err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--memory", "12 potatoes"], ["--memory", "invalid size"]),
        (["--cpu", "lots"], ["--cpu"]),
        (["-i", "QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw:relative"], ["absolute"]),
        (["-i", CID, "-i", CID], ["two inputs", "/inputs"]),
        (["-s", "region in eu"], ["constraint"]),
        (["-e", "NOEQUALS"], ["key=value"]),
        (["--network", "wifi"], ["--network"]),
    ],
)
def test_docker_run_bad_flags_exit_2_and_submit_nothing(
    bacalao: Callable[..., Result], fake: FakeOrchestrator, args: list[str], words: list[str]
) -> None:
    r = bacalao("docker", "run", *args, "alpine")
    assert_one_line_error(r, *words, code=2)
    assert not fake.jobs and r.out == ""


def test_unreachable_api(bacalao: Callable[..., Result]) -> None:
    r = bacalao("docker", "run", "alpine", api="http://127.0.0.1:9")
    assert_one_line_error(r, "cannot reach the bacalao API at http://127.0.0.1:9")
    assert "bacalao serve" in r.err and "BACALAO_API" in r.err
    r = bacalao("job", "list", "--api", "127.0.0.1:9")
    assert_one_line_error(r, "connection refused")


def test_wait_timeout_leaves_the_job_running(
    bacalao: Callable[..., Result], fake: FakeOrchestrator
) -> None:
    r = bacalao("docker", "run", "--wait-timeout", "0.2", "alpine")
    assert_one_line_error(r, "still running")
    assert "job describe" in r.err


# -- job run --------------------------------------------------------------------------------------
def test_job_run_a_bacalhau_spec_unchanged(
    bacalao: Callable[..., Result], fake: FakeOrchestrator, tmp_path: Path
) -> None:
    fake.on_submit = run_to_completion(stdout="Hello Bacalhau!\n", cid=CID)
    spec = tmp_path / "docker-hello.yaml"
    spec.write_text(DOCKER_HELLO)
    r = bacalao("job", "run", spec)
    assert r.code == 0, r
    assert r.out == f"{CID}\nHello Bacalhau!\n"
    (job,) = fake.jobs.values()
    assert job.task.name == "My main task"
    from_stdin = bacalao("job", "run", "--id-only", "-", stdin=DOCKER_HELLO)
    assert from_stdin.code == 0 and from_stdin.out.startswith("j-")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (DOCKER_HELLO.replace("type: batch", "type: batchy"), ["type", "batchy"]),
        (
            DOCKER_HELLO + "    resources:\n      memory: 12 potatoes\n",
            ["Tasks[0].Resources.Memory"],
        ),
        ("ID: j-mine\n" + DOCKER_HELLO, ["ID", "not allowed"]),
        ("tasks: [unclosed\n", ["not valid YAML"]),
    ],
)
def test_job_run_malformed_spec_names_the_field(
    bacalao: Callable[..., Result],
    fake: FakeOrchestrator,
    tmp_path: Path,
    text: str,
    words: list[str],
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    r = bacalao("job", "run", spec)
    assert_one_line_error(r, "bad.yaml", *words, code=2)
    assert not fake.jobs


def test_job_run_missing_file(bacalao: Callable[..., Result], tmp_path: Path) -> None:
    assert_one_line_error(bacalao("job", "run", tmp_path / "nope.yaml"), "not found")


# -- job list / describe / executions / history / logs / stop ------------------------------------
@pytest.fixture
def finished(server: LiveServer, fake: FakeOrchestrator) -> str:
    async def submit_and_finish() -> str:
        from bacalao.models import parse_job

        job = parse_job(yaml.safe_load(DOCKER_HELLO))
        submitted = await fake.submit_job(job)
        fake.reject(submitted.job_id, "n-beta", "engine docker not installed")
        ex = fake.start(submitted.job_id, "n-alpha")
        fake.complete(submitted.job_id, ex.id, stdout="out\n", stderr="err\n", cid=CID)
        return submitted.job_id

    assert server.loop is not None
    return asyncio.run_coroutine_threadsafe(submit_and_finish(), server.loop).result(5)


def test_job_list(bacalao: Callable[..., Result], finished: str) -> None:
    r = bacalao("job", "list")
    assert r.code == 0, r
    header, row = r.out.splitlines()
    assert header.split() == ["CREATED", "ID", "NAME", "TYPE", "STATE"]
    assert finished[:10] in row and "Completed" in row and "A Simple Docker Job" in row
    as_json = bacalao("job", "list", "--output", "json", "--wide").json()
    assert [j["ID"] for j in as_json] == [finished]
    assert as_json[0]["State"]["StateType"] == "Completed"
    as_yaml = yaml.safe_load(bacalao("job", "list", "--output", "yaml").out)
    assert as_yaml[0]["ID"] == finished


def test_job_list_pages(
    bacalao: Callable[..., Result], fake: FakeOrchestrator, server: LiveServer
) -> None:
    from bacalao.models import parse_job

    job = parse_job(yaml.safe_load(DOCKER_HELLO))
    for _ in range(3):
        asyncio.run_coroutine_threadsafe(fake.submit_job(job), server.loop).result(5)  # type: ignore[arg-type]
    r = bacalao("job", "list", "--limit", "2", "--output", "json")
    assert len(r.json()) == 2 and "--next-token" in r.err
    token = r.err.split("--next-token ")[1].split()[0]
    rest = bacalao("job", "list", "--limit", "2", "--next-token", token, "--output", "json")
    assert len(rest.json()) == 1


def test_job_describe(bacalao: Callable[..., Result], finished: str) -> None:
    r = bacalao("job", "describe", finished[:8])
    assert r.code == 0, r
    assert "ID:" in r.out and finished in r.out
    assert "State:" in r.out and "Completed" in r.out
    assert "Engine:" in r.out and "ubuntu:latest" in r.out
    executions = r.out.split("Executions:")[1].split("Events:")[0]
    assert "n-alpha" in executions and "Completed" in executions and CID in executions
    events = r.out.split("Events:")[1]
    assert "engine docker not installed" in events and "n-beta" in events  # the per-node reason
    as_json = bacalao("job", "describe", finished, "--output", "json").json()
    assert set(as_json) == {"Job", "Executions", "History"}
    assert as_json["Executions"]["Items"][0]["RunOutput"]["ExitCode"] == 0


def test_job_executions_and_history(bacalao: Callable[..., Result], finished: str) -> None:
    table = bacalao("job", "executions", finished)
    assert table.code == 0 and "n-alpha" in table.out and CID in table.out
    assert table.out.splitlines()[0].split()[:3] == ["ID", "NODE", "STATE"]
    items = bacalao("job", "executions", finished, "--output", "json").json()
    assert items[0]["ComputeState"]["StateType"] == 7
    history = bacalao("job", "history", finished)
    assert "Pending -> Pending: Job submitted" in history.out
    only_exec = bacalao("job", "history", finished, "--event-type", "execution", "--output", "yaml")
    entries = yaml.safe_load(only_exec.out)
    assert entries and all(e["Type"] == "ExecutionLevel" for e in entries)
    bad = bacalao("job", "history", finished, "--event-type", "node")
    assert_one_line_error(bad, "event_type", code=2)


def test_job_logs_split_streams(bacalao: Callable[..., Result], finished: str) -> None:
    r = bacalao("job", "logs", finished, "-f")
    assert r.code == 0 and r.out == "out\n" and r.err == "err\n"


def test_job_logs_no_execution(bacalao: Callable[..., Result], fake: FakeOrchestrator) -> None:
    job_id = bacalao("docker", "run", "--id-only", "alpine").out.strip()
    assert_one_line_error(bacalao("job", "logs", job_id), "no execution")


def test_job_stop(bacalao: Callable[..., Result], fake: FakeOrchestrator, finished: str) -> None:
    job_id = bacalao("docker", "run", "--id-only", "alpine").out.strip()
    r = bacalao("job", "stop", job_id, "--reason", "changed my mind")
    assert r.code == 0 and "stopped" in r.err
    assert fake.stop_reasons[job_id] == "changed my mind"
    assert "already stopped" in bacalao("job", "stop", job_id).err
    assert_one_line_error(bacalao("job", "stop", finished), "already completed")


def test_unknown_job(bacalao: Callable[..., Result]) -> None:
    for command in ("describe", "logs", "executions", "history", "stop"):
        assert_one_line_error(bacalao("job", command, "j-nope"), "j-nope")


# -- get ------------------------------------------------------------------------------------------
def test_get_downloads_and_verifies(
    bacalao: Callable[..., Result], server: LiveServer, fake: FakeOrchestrator, tmp_path: Path
) -> None:
    tree = tmp_path / "result"
    (tree / "outputs").mkdir(parents=True)
    (tree / "stdout").write_text("hi\n")
    (tree / "exitCode").write_text("0")
    (tree / "outputs" / "data.bin").write_bytes(b"\x00\x01" * 300_000)
    root = import_path(tree, sink=server.blocks).cid
    fake.on_submit = run_to_completion(cid=str(root))
    job_id = bacalao("docker", "run", "--id-only", "alpine").out.strip()
    bacalao("job", "describe", job_id)  # by now the script has completed the job
    out_dir = tmp_path / "downloaded"
    r = bacalao("get", job_id[:8], "-o", out_dir)
    assert r.code == 0, r
    assert r.out == f"{out_dir}\n" and "Verified" in r.err
    assert (out_dir / "stdout").read_text() == "hi\n"
    assert (out_dir / "outputs" / "data.bin").read_bytes() == b"\x00\x01" * 300_000


def test_get_without_results(bacalao: Callable[..., Result], fake: FakeOrchestrator) -> None:
    job_id = bacalao("docker", "run", "--id-only", "alpine").out.strip()
    assert_one_line_error(bacalao("get", job_id), "no result to download")


def test_get_missing_data_is_an_integrity_error(
    bacalao: Callable[..., Result], fake: FakeOrchestrator, tmp_path: Path
) -> None:
    fake.on_submit = run_to_completion(
        cid="bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    )
    job_id = bacalao("docker", "run", "--id-only", "alpine").out.strip()
    bacalao("job", "describe", job_id)
    r = bacalao("get", job_id, "-o", tmp_path / "out")
    assert_one_line_error(r, "not found")
    assert not (tmp_path / "out").exists()


# -- node list ------------------------------------------------------------------------------------
def test_node_list(bacalao: Callable[..., Result]) -> None:
    r = bacalao("node", "list")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[:4] == ["ID", "TYPE", "STATUS", "APPROVAL"]
    assert "n-alpha" in lines[1] and "CONNECTED" in lines[1] and "6/8" in lines[1]
    assert "12GiB/16GiB" in lines[1] and "region=eu" in lines[1]
    nodes = bacalao("node", "list", "--output", "json").json()
    assert [n["Info"]["NodeID"] for n in nodes] == ["n-alpha", "n-beta"]


def test_status_line_state_names_match_the_models() -> None:
    assert {k: ExecutionStateType.from_bacalhau_code(k).value for k in EXEC_STATES} == EXEC_STATES


def test_log_chunks_reexported() -> None:
    assert LogChunk("stdout", b"x").stream == "stdout"


def test_live_status_line_renders_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from bacalao.cli import output, wait

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    monkeypatch.setattr(output, "stderr_console", lambda: console)
    with wait.StatusLine(live=True) as line:
        line.update("j-1234abcd Running · n-alpha Running")
        console.print(line)  # what Live draws on each refresh
    assert "j-1234abcd Running · n-alpha Running" in buffer.getvalue()
    assert line._display is None
