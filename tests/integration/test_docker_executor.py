"""The docker engine against the real Docker Engine, with an image built here by ``docker import``.

Every test ends by checking that no container carrying its execution label is left behind.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import pytest
from tests.conftest import require
from tests.support.images import BUSYBOX_IMAGE, ensure_busybox_image

from bacalao.executors.base import ExecutionRequest, Mount, write_result_layout
from bacalao.executors.docker import LABEL_EXECUTION, DockerExecutor

pytestmark = pytest.mark.docker
_ids = itertools.count()


@pytest.fixture(scope="module")
def docker_client():
    try:
        from tests.support.images import docker_sdk_client

        client = docker_sdk_client()
    except Exception as exc:  # no SDK, no daemon, no permission
        require(False, f"docker engine not reachable: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def image(docker_client) -> str:
    from tests.support.images import find_busybox

    require(find_busybox() is not None, "busybox-static is not installed")
    return ensure_busybox_image(docker_client)


@pytest.fixture
async def executor(docker_client, image):
    ex = DockerExecutor()
    yield ex
    await ex.close()


@pytest.fixture
def execution_id(docker_client):
    """A fresh execution id; after the test, no container with its label may exist."""
    eid = f"e-test-{os.getpid()}-{next(_ids)}"
    yield eid
    left = docker_client.containers.list(all=True, filters={"label": f"{LABEL_EXECUTION}={eid}"})
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"


@pytest.fixture
def inputs(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("alpha\nbeta\ngamma\n")
    return data


def request(tmp_path, image, execution_id, script: str, **kw) -> ExecutionRequest:
    params = kw.pop("params", None) or {
        "Image": image,
        "Entrypoint": ["/bin/sh", "-c"],
        "Parameters": [script],
    }
    fields = dict(
        execution_id=execution_id,
        job_id="j-docker",
        engine_type="docker",
        engine_params=params,
        mounts=(),
        outputs_dir=tmp_path / "run" / "outputs",
        env={},
        cpu=None,
        memory_bytes=None,
        disk_bytes=None,
    )
    fields.update(kw)
    return ExecutionRequest(**fields)


def containers(client, execution_id) -> list:
    return client.containers.list(all=True, filters={"label": f"{LABEL_EXECUTION}={execution_id}"})


async def test_reads_an_input_and_writes_outputs(executor, image, execution_id, tmp_path, inputs):
    req = request(
        tmp_path,
        image,
        execution_id,
        "grep -c a /inputs/a.txt > /outputs/count && mkdir /outputs/d &&"
        " tr a-z A-Z < /inputs/a.txt > /outputs/d/upper && echo done && echo warn >&2",
        mounts=(Mount(inputs, "/inputs"),),
        memory_bytes=64 << 20,
        cpu=0.5,
    )
    result = await executor.run(req)
    assert result.ok, (result, result.read_stderr())
    assert (req.outputs_dir / "count").read_text() == "3\n"
    assert (req.outputs_dir / "d" / "upper").read_text() == "ALPHA\nBETA\nGAMMA\n"
    assert result.read_stdout() == "done\n" and result.read_stderr() == "warn\n"
    assert result.metering["wall_s"] > 0
    # outputs are the node's to read (and import) afterwards
    for path in [req.outputs_dir / "count", req.outputs_dir / "d" / "upper"]:
        assert os.access(path, os.R_OK) and path.stat().st_uid == os.geteuid()
    write_result_layout(req.run_dir, result)
    assert sorted(p.name for p in req.run_dir.iterdir()) == [
        "exitCode",
        "outputs",
        "stderr",
        "stdout",
    ]
    assert (req.run_dir / "exitCode").read_text() == "0"


async def test_non_zero_exit_is_captured(executor, image, execution_id, tmp_path):
    result = await executor.run(
        request(tmp_path, image, execution_id, "echo out; echo err >&2; exit 3")
    )
    assert result.exit_code == 3 and result.error is None
    assert result.read_stdout() == "out\n" and result.read_stderr() == "err\n"


async def test_params_env_workdir_and_image_default_command(
    executor, image, execution_id, tmp_path
):
    req = request(
        tmp_path,
        image,
        execution_id,
        "",
        params={
            "image": image,  # any casing
            "Parameters": ["sh", "-c", 'echo "$A $B"; pwd'],
            "EnvironmentVariables": ["B=from-job"],
            "WorkingDirectory": "/tmp",
        },
        env={"A": "from-node", "B": "from-node"},
    )
    result = await executor.run(req)
    assert result.ok and result.read_stdout() == "from-node from-job\n/tmp\n"


async def test_hardening_inside_the_container(executor, image, execution_id, tmp_path, inputs):
    req = request(
        tmp_path,
        image,
        execution_id,
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status;"
        " touch /x 2>/dev/null || echo rootfs-ro;"
        " echo x > /inputs/a.txt 2>/dev/null || echo inputs-ro;"
        " echo t > /tmp/t && echo tmp-rw",
        mounts=(Mount(inputs, "/inputs"),),
    )
    out = (await executor.run(req)).read_stdout().split()
    assert out[:4] == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1"]
    assert out[4:] == ["rootfs-ro", "inputs-ro", "tmp-rw"]
    assert (inputs / "a.txt").read_text() == "alpha\nbeta\ngamma\n"


async def test_network_none_has_only_loopback(executor, image, execution_id, tmp_path):
    result = await executor.run(
        request(tmp_path, image, execution_id, "ls /sys/class/net; ip -o link | cut -d: -f2")
    )
    assert result.ok
    assert set(result.read_stdout().split()) == {"lo"}


async def test_timeout_kills_and_removes_the_container(
    executor, docker_client, image, execution_id, tmp_path
):
    req = request(tmp_path, image, execution_id, "echo started; sleep 30", timeout_s=1)
    started = time.monotonic()
    result = await executor.run(req)
    assert time.monotonic() - started < 10
    assert result.timed_out and result.exit_code is None
    assert result.error == "timed out after 1s"
    assert result.read_stdout() == "started\n"
    assert containers(docker_client, execution_id) == []


async def test_oom_is_reported(executor, docker_client, image, execution_id, tmp_path):
    req = request(
        tmp_path, image, execution_id, "head -c 100m /dev/zero | tail", memory_bytes=16 << 20
    )
    result = await executor.run(req)
    assert result.oom, (result, result.read_stderr())
    assert result.error == "out of memory (limit 16 MiB)"
    assert containers(docker_client, execution_id) == []


async def test_cancel_reaches_the_container(executor, docker_client, image, execution_id, tmp_path):
    chunks: list[bytes] = []
    req = request(tmp_path, image, execution_id, "echo running; sleep 30")
    task = asyncio.create_task(executor.run(req, log=lambda s, c: chunks.append(c)))
    for _ in range(100):  # wait until it is really running: its first line has arrived
        if chunks:
            break
        await asyncio.sleep(0.05)
    assert chunks == [b"running\n"], "logs are streamed while the container runs"
    running = containers(docker_client, execution_id)
    assert len(running) == 1 and running[0].status == "running"
    started = time.monotonic()
    await executor.cancel(execution_id)
    result = await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 5
    assert result.cancelled and result.error == "cancelled" and result.exit_code is None
    assert containers(docker_client, execution_id) == []


async def test_cancelling_the_awaiting_task_removes_the_container(
    executor, docker_client, image, execution_id, tmp_path
):
    task = asyncio.create_task(executor.run(request(tmp_path, image, execution_id, "sleep 30")))
    for _ in range(100):
        if containers(docker_client, execution_id):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert containers(docker_client, execution_id) == []


async def test_unknown_image_is_a_clear_error(executor, docker_client, execution_id, tmp_path):
    req = request(tmp_path, "", execution_id, "", params={"Image": "bacalao-test/nope:1.0"})
    result = await executor.run(req)
    assert result.error.startswith("image not found locally: bacalao-test/nope:1.0")
    assert "docker load" in result.error
    assert result.exit_code is None and not result.ok
    assert containers(docker_client, execution_id) == []


async def test_missing_executable_is_a_clear_error(executor, image, execution_id, tmp_path):
    req = request(
        tmp_path, image, execution_id, "", params={"Image": image, "Entrypoint": ["/nope"]}
    )
    result = await executor.run(req)
    assert result.error.startswith("could not start container:"), result.error
    assert "/nope" in result.error and result.exit_code is None


async def test_pids_limit(docker_client, image, execution_id, tmp_path):
    ex = DockerExecutor(pids_limit=20)
    try:
        req = request(
            tmp_path, image, execution_id, "for i in $(seq 40); do sleep 5 & done", timeout_s=20
        )
        result = await ex.run(req)
    finally:
        await ex.close()
    assert result.exit_code != 0 and "can't fork" in result.read_stderr(), result


async def test_concurrent_executions(executor, docker_client, image, tmp_path):
    ids = [f"e-test-{os.getpid()}-{next(_ids)}" for _ in range(3)]
    reqs = [
        request(tmp_path / eid, image, eid, f"echo {eid} > /outputs/id; echo {eid}") for eid in ids
    ]
    results = await asyncio.gather(*(executor.run(r) for r in reqs))
    for eid, req, result in zip(ids, reqs, results, strict=True):
        assert result.ok and result.read_stdout() == f"{eid}\n"
        assert (req.outputs_dir / "id").read_text() == f"{eid}\n"
        assert containers(docker_client, eid) == []


async def test_remove_stale_sweeps_only_this_nodes_leftovers(docker_client, image, execution_id):
    node = f"n-test-{os.getpid()}"
    mine = {"bacalao.executor": "docker", LABEL_EXECUTION: execution_id, "bacalao.node": node}
    other = dict(mine, **{"bacalao.node": node + "-other"})
    docker_client.containers.create(image, ["true"], labels=mine)
    kept = docker_client.containers.create(image, ["true"], labels=other)
    ex = DockerExecutor(node_id=node)
    try:
        assert await ex.remove_stale() == 1
        assert [c.id for c in containers(docker_client, execution_id)] == [kept.id]
    finally:
        kept.remove(force=True)
        await ex.close()


async def test_is_installed(executor):
    assert await executor.is_installed() is True


def test_image_is_reused(docker_client, image):
    before = docker_client.images.get(BUSYBOX_IMAGE).id
    assert ensure_busybox_image(docker_client) == BUSYBOX_IMAGE
    assert docker_client.images.get(BUSYBOX_IMAGE).id == before
