"""The docker engine without a daemon: the hardened container config (pure) and, over a fake
Engine API, that the container is removed whatever happens."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import docker.errors
import pytest
import requests

from bacalao.errors import Unavailable
from bacalao.executors.base import ExecutionRequest, Mount
from bacalao.executors.docker import DockerExecutor, DockerParams, container_config, container_name


def request(tmp_path: Path | None = None, **kw) -> ExecutionRequest:
    root = tmp_path or Path("/node")
    fields = dict(
        execution_id="e-1",
        job_id="j-1",
        engine_type="docker",
        engine_params={"Image": "busybox:latest", "Parameters": ["true"]},
        mounts=(Mount(root, "/inputs"), Mount(root, "/scratch", read_only=False)),
        outputs_dir=root / "run" / "outputs",
        env={"A": "1", "B": "node"},
        cpu=None,
        memory_bytes=None,
        disk_bytes=None,
    )
    fields.update(kw)
    return ExecutionRequest(**fields)


PARAMS = DockerParams(
    image="busybox:latest",
    entrypoint=("/bin/sh", "-c"),
    parameters=("echo hi",),
    environment_variables=("B=job",),
    working_directory="/work",
)


def config(req: ExecutionRequest, uid: int = 0) -> dict:
    return container_config(req, PARAMS, node_uid=uid, node_gid=uid, pids_limit=256, tmp_bytes=1024)


def test_hardening_is_always_on():
    host = config(request())["host_config"]
    assert host["cap_drop"] == ["ALL"]
    assert host["security_opt"] == ["no-new-privileges"]
    assert host["read_only"] is True
    assert host["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=1024"}
    assert host["pids_limit"] == 256
    assert host["network_mode"] == "none"
    assert host["log_config"]["Type"] == "none"
    assert "privileged" not in host and "cap_add" not in host


@pytest.mark.parametrize(
    ("network", "mode"), [("none", "none"), ("host", "host"), ("full", "bridge")]
)
def test_network_modes(network, mode):
    assert config(request(network=network))["host_config"]["network_mode"] == mode


def test_limits():
    host = config(request(cpu=1.5, memory_bytes=64 << 20))["host_config"]
    assert host["nano_cpus"] == 1_500_000_000
    assert host["mem_limit"] == host["memswap_limit"] == 64 << 20
    plain = config(request())["host_config"]
    assert not {"nano_cpus", "mem_limit", "memswap_limit", "device_requests"} & set(plain)


def test_exact_gpus_as_a_device_request():
    host = config(request(gpus=(1, 3)))["host_config"]
    assert host["device_requests"] == [
        {"Driver": "", "Count": 0, "DeviceIDs": ["1", "3"], "Capabilities": [["gpu"]]}
    ]


def test_mounts_inputs_then_outputs():
    mounts = config(request())["host_config"]["mounts"]
    assert [(m["Target"], m["ReadOnly"]) for m in mounts] == [
        ("/inputs", True),
        ("/scratch", False),
        ("/outputs", False),
    ]
    assert mounts[-1]["Source"] == "/node/run/outputs"
    assert all(m["Type"] == "bind" for m in mounts)


def test_container_fields():
    cfg = config(request(labels={"team": "x", "bacalao.execution": "spoofed"}))
    assert cfg["image"] == "busybox:latest"
    assert cfg["entrypoint"] == ["/bin/sh", "-c"] and cfg["command"] == ["echo hi"]
    assert cfg["environment"] == ["A=1", "B=job"]  # engine params override the request's env
    assert cfg["working_dir"] == "/work"
    assert cfg["labels"] == {
        "team": "x",
        "bacalao.executor": "docker",
        "bacalao.execution": "e-1",
        "bacalao.job": "j-1",
        "bacalao.node": "",
    }
    assert cfg["name"] == "bacalao-e-1"
    assert "user" not in cfg  # a root node: root inside, with no capabilities


def test_a_non_root_node_runs_the_container_as_itself():
    assert config(request(), uid=1001)["user"] == "1001:1001"


def test_container_name_is_sanitised():
    assert container_name("e-1/2:3") == "bacalao-e-1-2-3"


class FakeStream:
    def __init__(self, chunks):
        self.chunks = chunks
        self.closed = False

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        self.closed = True


class FakeAPI:
    """The few Engine API calls the executor makes, with failure knobs."""

    def __init__(self, *, create_error=None, start_error=None, exit_code=0, block=False):
        self.create_errors = list(create_error or [])
        self.start_error = start_error
        self.exit_code = exit_code
        self.exited = threading.Event()
        if not block:
            self.exited.set()
        self.calls: list[str] = []
        self.removed: list[str] = []

    def create_host_config(self, **kw):
        return kw

    def create_container(self, **kw):
        self.calls.append("create")
        if self.create_errors:
            raise self.create_errors.pop(0)
        return {"Id": "c1"}

    def attach(self, cid, **kw):
        return FakeStream([(b"out\n", None), (None, b"err\n")])

    def start(self, cid):
        self.calls.append("start")
        if self.start_error:
            raise self.start_error

    def wait(self, cid, timeout=None):
        self.exited.wait(10)
        return {"StatusCode": self.exit_code}

    def kill(self, cid):
        self.calls.append("kill")
        self.exited.set()

    def inspect_container(self, cid):
        return {"State": {"ExitCode": self.exit_code, "OOMKilled": False, "Error": ""}}

    def remove_container(self, cid, force=False, v=False):
        self.removed.append(cid)

    def ping(self):
        return True


class FakeClient:
    def __init__(self, api):
        self.api = api

    def close(self):
        pass


def executor(api: FakeAPI) -> DockerExecutor:
    return DockerExecutor(client_factory=lambda: FakeClient(api))


async def test_happy_path_streams_logs_and_removes(tmp_path):
    api = FakeAPI(exit_code=2)
    chunks = []
    result = await executor(api).run(request(tmp_path), log=lambda s, c: chunks.append((s, c)))
    assert result.exit_code == 2 and result.error is None
    assert result.read_stdout() == "out\n" and result.read_stderr() == "err\n"
    assert chunks == [("stdout", b"out\n"), ("stderr", b"err\n")]
    assert api.removed == ["c1"]


async def test_removed_when_start_raises_something_unexpected(tmp_path):
    api = FakeAPI(start_error=RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        await executor(api).run(request(tmp_path))
    assert api.removed == ["c1"]


async def test_start_failure_is_a_readable_error(tmp_path):
    err = docker.errors.APIError(
        "500",
        explanation='OCI runtime create failed: unable to start container process: exec: "x": '
        "executable file not found in $PATH: unknown",
    )
    api = FakeAPI(start_error=err)
    result = await executor(api).run(request(tmp_path))
    assert (
        result.error == 'could not start container: exec: "x": executable file not found in $PATH'
    )
    assert result.exit_code is None and api.removed == ["c1"]


async def test_removed_when_the_awaiting_task_is_cancelled(tmp_path):
    api = FakeAPI(block=True)
    task = asyncio.create_task(executor(api).run(request(tmp_path)))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "kill" in api.calls and api.removed == ["c1"]


async def test_cancel_reaches_the_container(tmp_path):
    api = FakeAPI(block=True)
    ex = executor(api)
    task = asyncio.create_task(ex.run(request(tmp_path)))
    await asyncio.sleep(0.2)
    await ex.cancel("e-1")
    result = await asyncio.wait_for(task, 5)
    assert result.cancelled and result.error == "cancelled" and result.exit_code is None
    assert api.removed == ["c1"]


async def test_missing_image_is_not_pulled(tmp_path):
    api = FakeAPI(create_error=[docker.errors.ImageNotFound("No such image: busybox:latest")])
    result = await executor(api).run(request(tmp_path))
    assert result.error.startswith("image not found locally: busybox:latest")
    assert "docker load" in result.error and api.removed == []


async def test_a_stale_container_with_our_name_is_replaced(tmp_path):
    conflict = docker.errors.APIError("409", response=type("R", (), {"status_code": 409})())
    api = FakeAPI(create_error=[conflict])
    result = await executor(api).run(request(tmp_path))
    assert result.ok
    assert api.calls[:2] == ["create", "create"] and api.removed == ["bacalao-e-1", "c1"]


async def test_daemon_unreachable_is_unavailable(tmp_path):
    err = docker.errors.DockerException("Error while fetching server API version")
    err.__cause__ = requests.ConnectionError("connection refused")
    api = FakeAPI(create_error=[err])
    with pytest.raises(Unavailable, match="docker daemon unreachable"):
        await executor(api).run(request(tmp_path))


async def test_daemon_gone_mid_flight_is_unavailable(tmp_path):
    # docker-py lets requests' ConnectionError through unwrapped once the client exists
    api = FakeAPI(create_error=[requests.ConnectionError("Connection aborted.")])
    with pytest.raises(Unavailable, match="docker daemon unreachable"):
        await executor(api).run(request(tmp_path))


async def test_probe_says_no_when_the_daemon_is_down():
    def broken():
        raise docker.errors.DockerException("Error while fetching server API version")

    assert await DockerExecutor(client_factory=broken).is_installed() is False


async def test_bad_mounts_fail_before_docker_is_touched(tmp_path):
    api = FakeAPI()
    bad = request(tmp_path, mounts=(Mount(tmp_path / "nope", "/inputs"),))
    result = await executor(api).run(bad)
    assert "does not exist on the node" in result.error and api.calls == []
    shadow = request(tmp_path, mounts=(Mount(tmp_path, "/outputs/x"),))
    assert "shadow /outputs" in (await executor(api).run(shadow)).error
