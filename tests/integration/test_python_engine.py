"""The python engine against the real bubblewrap: modes, venv cache, failures and the sandbox."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
from pathlib import Path

import pytest
from tests.conftest import require

from bacalao.executors.base import ContentRef, ExecutionRequest, Mount
from bacalao.executors.python import PythonExecutor


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("python-state")


@pytest.fixture
async def python(state_dir) -> PythonExecutor:
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    require(shutil.which("prlimit") is not None, "prlimit (util-linux) is not installed")
    executor = PythonExecutor(state_dir=state_dir)
    require(await executor.is_installed(), "bwrap cannot create a sandbox here (user namespaces?)")
    return executor


@pytest.fixture
def inputs(tmp_path) -> Path:
    data = tmp_path / "data"
    (data / "deep dir").mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    (data / "deep dir" / "b's.txt").write_text("beta\n")
    return data


def request(tmp_path: Path, params: dict, *, mounts=(), **kw) -> ExecutionRequest:
    fields = dict(
        execution_id=f"e-{len(list(tmp_path.glob('run-*')))}",
        job_id="j-1",
        engine_type="python",
        engine_params=params,
        mounts=tuple(mounts),
        env={},
        cpu=None,
        memory_bytes=256 << 20,
        disk_bytes=None,
        timeout_s=60,
    )
    fields.update(kw)
    run_dir = tmp_path / f"run-{fields['execution_id']}"
    return ExecutionRequest(outputs_dir=run_dir / "outputs", **fields)


def outputs(req: ExecutionRequest) -> dict[str, bytes]:
    root = req.outputs_dir
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_script_mode(python, tmp_path, inputs) -> None:
    script = (
        "import os, sys\n"
        "print(sys.argv[1:], os.environ['PYTHONHASHSEED'], sys.prefix)\n"
        "print(sorted(os.listdir('/inputs')))\n"
        "open('/outputs/out.txt', 'w').write('written')\n"
    )
    req = request(tmp_path, {"Script": script, "Args": ["x"]}, mounts=[Mount(inputs, "/inputs")])
    result = await python.run(req)
    assert result.ok, result.read_stderr()
    assert result.read_stdout() == "['x'] 0 /opt/bacalao/venv\n['a.txt', 'deep dir']\n"
    assert outputs(req) == {"out.txt": b"written"}
    assert set(result.metering) >= {"wall_s", "venv_reused", "venv_build_s"}


async def test_function_mode_maps_every_input_file(python, tmp_path, inputs) -> None:
    script = "def up(f):\n    return f.read().upper()\n"
    other = tmp_path / "single.csv"
    other.write_text("gamma\n")
    req = request(
        tmp_path,
        {"Script": script, "Function": "up"},
        mounts=[Mount(inputs, "/inputs"), Mount(other, "/extra/single.csv")],
    )
    result = await python.run(req)
    assert result.ok, result.read_stderr()
    assert outputs(req) == {
        "a.txt": b"ALPHA\n",
        "deep dir/b's.txt": b"BETA\n",
        "single.csv": b"GAMMA\n",
    }


async def test_script_by_cid_is_read_from_the_content_the_node_wrote(python, tmp_path) -> None:
    path = tmp_path / "content" / "data"
    path.parent.mkdir()
    path.write_text("print('from the store')\n")
    cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    req = request(tmp_path, {"ScriptCID": cid}, content={"script": ContentRef(cid, path)})
    result = await python.run(req)
    assert result.ok and result.read_stdout() == "from the store\n"


async def test_user_exception_fails_with_the_users_traceback(python, tmp_path, inputs) -> None:
    script = "def check(f):\n    raise ValueError('not an image: ' + f.name)\n"
    req = request(
        tmp_path,
        {"Script": script, "Function": "check", "ScriptName": "process.py"},
        mounts=[Mount(inputs, "/inputs")],
    )
    result = await python.run(req)
    assert result.exit_code == 1
    assert result.error == "user code raised ValueError: not an image: /inputs/a.txt"
    stderr = result.read_stderr()
    assert 'File "/opt/bacalao/job/process.py", line 2, in check' in stderr
    assert "runner" not in stderr and "bacalao/executors" not in stderr


async def test_failing_pip_install_fails_with_pips_message(python, tmp_path, state_dir) -> None:
    req = request(
        tmp_path,
        {"Script": "print('never')", "Requirements": "bacalao-no-such-package-xyz==0.0.1\n"},
    )
    result = await python.run(req)
    assert not result.ok and result.exit_code is None
    assert result.error.startswith("installing requirements failed: ")
    assert "bacalao-no-such-package-xyz" in result.error
    stderr = result.read_stderr()
    assert "ERROR:" in stderr and "Traceback" not in stderr
    assert result.read_stdout() == ""
    built = [p.name for p in (state_dir / "venvs").iterdir()]
    assert all(".build-" not in name for name in built)  # the failed build left nothing
    assert result.metering["venv_reused"] == 0.0


async def test_venv_is_built_once_and_reused(tmp_path, caplog) -> None:
    """Concurrent executions with the same requirements share one build; later ones reuse it."""
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    executor = PythonExecutor(state_dir=tmp_path / "state")
    caplog.set_level(logging.INFO, logger="bacalao.executors")
    reqs = [request(tmp_path, {"Script": "print(1)"}, execution_id=f"e-{i}") for i in range(3)]
    results = await asyncio.gather(*(executor.run(r) for r in reqs))
    assert all(r.ok for r in results), [r.error for r in results]
    assert sorted(r.metering["venv_reused"] for r in results) == [0.0, 1.0, 1.0]
    builds = [r for r in caplog.records if r.getMessage().startswith("building python venv")]
    assert len(builds) == 1
    again = await executor.run(request(tmp_path, {"Script": "print(2)"}, execution_id="e-9"))
    assert again.metering["venv_reused"] == 1.0 and again.metering["venv_build_s"] == 0.0
    assert any("reused by execution e-9" in r.getMessage() for r in caplog.records)
    assert len(list((tmp_path / "state" / "venvs").iterdir())) == 1


async def test_sandbox_blocks_network_secrets_node_data_and_stray_writes(
    python, tmp_path, inputs, state_dir
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    probe = r"""
import json, socket, sys
port, state = int(sys.argv[1]), sys.argv[2]
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "allowed"
    except OSError as e:
        out[name] = type(e).__name__
attempt("connect", lambda: socket.create_connection(("127.0.0.1", port), timeout=2))
attempt("shadow", lambda: open("/etc/shadow").read())
attempt("state_dir", lambda: __import__("os").listdir(state))
for target in ["/x", "/inputs/x", "/opt/bacalao/venv/x", "/opt/bacalao/job/x", "/etc/x",
               sys.base_prefix + "/x", "/usr/x"]:
    attempt("write " + target, lambda t=target: open(t, "w").write("x"))
attempt("write /outputs/ok", lambda: open("/outputs/ok", "w").write("ok"))
print(json.dumps(out))
"""
    req = request(
        tmp_path,
        {"Script": probe, "Args": [str(port), str(state_dir)]},
        mounts=[Mount(inputs, "/inputs")],
    )
    try:
        result = await python.run(req)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert result.ok, result.read_stderr()
    seen = json.loads(result.read_stdout())
    assert seen.pop("connect") in ("ConnectionRefusedError", "OSError")  # no route to the host
    assert seen.pop("shadow") == "FileNotFoundError"
    assert seen.pop("state_dir") == "FileNotFoundError"
    assert seen.pop("write /outputs/ok") == "allowed"
    denied = ("OSError", "PermissionError", "FileNotFoundError")
    assert all(v in denied for v in seen.values()), seen
    assert outputs(req) == {"ok": b"ok"}


async def test_timeout_and_memory_limit(python, tmp_path) -> None:
    slow = await python.run(request(tmp_path, {"Script": "while True: pass"}, timeout_s=1))
    assert slow.timed_out and slow.error == "timed out after 1s"
    big = await python.run(
        request(tmp_path, {"Script": "x = bytearray(512 << 20)"}, memory_bytes=128 << 20)
    )
    assert big.oom and big.error == "out of memory (limit 128 MiB)"


async def test_cancel_kills_the_running_script(python, tmp_path) -> None:
    req = request(tmp_path, {"Script": "import time\nprint('up', flush=True)\ntime.sleep(60)"})
    task = asyncio.ensure_future(python.run(req))
    for _ in range(200):
        if req.run_dir.joinpath("stdout").exists() and req.run_dir.joinpath("stdout").read_text():
            break
        await asyncio.sleep(0.05)
    await python.cancel(req.execution_id)
    result = await asyncio.wait_for(task, 10)
    assert result.cancelled and result.error == "cancelled"


async def test_inputs_may_not_hide_the_engines_own_paths(python, tmp_path, inputs) -> None:
    req = request(tmp_path, {"Script": "pass"}, mounts=[Mount(inputs, "/opt/bacalao/venv")])
    result = await python.run(req)
    assert "would hide the python engine's /opt/bacalao" in (result.error or "")


async def test_cancel_during_the_venv_build_kills_pip_and_caches_nothing(tmp_path) -> None:
    """pip waits on an index that accepts connections and never answers; cancel ends it."""
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    executor = PythonExecutor(state_dir=tmp_path / "state")
    with socket.create_server(("127.0.0.1", 0)) as silent_index:
        port = silent_index.getsockname()[1]
        requirements = f"--index-url http://127.0.0.1:{port}/simple\nsomething-slow\n"
        req = request(tmp_path, {"Script": "pass", "Requirements": requirements})
        task = asyncio.ensure_future(executor.run(req))
        await asyncio.sleep(1.5)
        assert not task.done()
        await executor.cancel(req.execution_id)
        result = await asyncio.wait_for(task, 10)
    assert result.cancelled and result.error == "cancelled" and result.exit_code is None
    assert list((tmp_path / "state" / "venvs").iterdir()) == []


async def test_a_build_that_hangs_times_out_on_its_own_clock(tmp_path) -> None:
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    executor = PythonExecutor(state_dir=tmp_path / "state", build_timeout_s=1)
    with socket.create_server(("127.0.0.1", 0)) as silent_index:
        port = silent_index.getsockname()[1]
        requirements = f"--index-url http://127.0.0.1:{port}/simple\nsomething-slow\n"
        result = await executor.run(
            request(tmp_path, {"Script": "pass", "Requirements": requirements})
        )
    assert result.timed_out and result.error == "installing requirements timed out after 1s"
    assert list((tmp_path / "state" / "venvs").iterdir()) == []
