"""The shell engine against the real bubblewrap: what a job can do, and what it cannot."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from tests.conftest import require

from bacalao.errors import Unavailable
from bacalao.executors.base import ExecutionRequest, Mount, write_result_layout
from bacalao.executors.shell import ShellExecutor


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shell-state")


@pytest.fixture
async def shell(state_dir) -> ShellExecutor:
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    require(shutil.which("prlimit") is not None, "prlimit (util-linux) is not installed")
    executor = ShellExecutor(state_dir=state_dir)
    require(await executor.is_installed(), "bwrap cannot create a sandbox here (user namespaces?)")
    return executor


@pytest.fixture
def inputs(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("alpha\nbeta\ngamma\n")
    return data


def request(tmp_path: Path, command: str, *, mounts=(), stdin=None, **kw) -> ExecutionRequest:
    params = {"Command": command} if stdin is None else {"Command": command, "Stdin": stdin}
    fields = dict(
        execution_id=kw.pop("execution_id", "e-shell"),
        job_id="j-shell",
        engine_type="shell",
        engine_params=params,
        mounts=tuple(mounts),
        outputs_dir=tmp_path / "run" / "outputs",
        env={},
        cpu=None,
        memory_bytes=None,
        disk_bytes=None,
    )
    fields.update(kw)
    return ExecutionRequest(**fields)


def processes_running(marker: str) -> list[int]:
    """Pids whose command line is exactly ``marker`` (e.g. ``sleep 31.5``), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
            except OSError:
                continue
            if cmdline == marker.encode():
                found.append(int(entry.name))
    return found


async def test_reads_an_input_and_writes_outputs(shell, tmp_path, inputs):
    req = request(
        tmp_path,
        "grep -c a /inputs/a.txt > /outputs/count; mkdir /outputs/d; tr a-z A-Z < /inputs/a.txt"
        " > /outputs/d/upper; echo done; echo warn >&2",
        mounts=[Mount(inputs, "/inputs")],
    )
    result = await shell.run(req)
    assert result.ok, result
    assert (req.outputs_dir / "count").read_text() == "3\n"
    assert (req.outputs_dir / "d" / "upper").read_text() == "ALPHA\nBETA\nGAMMA\n"
    assert result.read_stdout() == "done\n" and result.read_stderr() == "warn\n"
    assert result.metering["wall_s"] > 0 and "cpu_s" in result.metering
    write_result_layout(req.run_dir, result)
    assert (req.run_dir / "exitCode").read_text() == "0"
    # outputs belong to the node (the sandbox user maps to the node's uid)
    assert (req.outputs_dir / "count").stat().st_uid == os.geteuid()


async def test_non_zero_exit_is_the_jobs_answer(shell, tmp_path):
    result = await shell.run(request(tmp_path, "echo partial; exit 7"))
    assert result.exit_code == 7 and result.error is None and not result.ok
    assert result.read_stdout() == "partial\n"


async def test_env_and_host_gnu_tools(shell, tmp_path):
    req = request(
        tmp_path, 'echo "$GREETING"; grep --version | head -1; id -u', env={"GREETING": "hi"}
    )
    result = await shell.run(req)
    lines = result.read_stdout().splitlines()
    assert lines[0] == "hi" and "GNU grep" in lines[1] and lines[2] == "1000"


async def test_stdin_from_an_input_file(shell, tmp_path, inputs):
    req = request(
        tmp_path,
        "tee /outputs/copy | wc -l",
        mounts=[Mount(inputs, "/inputs")],
        stdin="/inputs/a.txt",
    )
    result = await shell.run(req)
    assert result.ok and result.read_stdout().strip() == "3"
    assert (req.outputs_dir / "copy").read_text() == "alpha\nbeta\ngamma\n"


async def test_stdin_is_opened_inside_the_sandbox(shell, tmp_path, inputs):
    (inputs / "evil").symlink_to("/etc/shadow")
    req = request(tmp_path, "cat", mounts=[Mount(inputs, "/inputs")], stdin="/inputs/evil")
    result = await shell.run(req)
    assert result.exit_code != 0 and result.read_stdout() == ""


async def test_logs_stream_while_running(shell, tmp_path):
    seen: list[tuple[float, str, bytes]] = []
    req = request(tmp_path, "echo first; sleep 1; echo second >&2")
    started = time.monotonic()
    result = await shell.run(req, log=lambda s, c: seen.append((time.monotonic(), s, c)))
    ended = time.monotonic()
    assert result.ok
    assert [(s, c) for _, s, c in seen] == [("stdout", b"first\n"), ("stderr", b"second\n")]
    assert seen[0][0] - started < ended - started - 0.5  # the first line came long before the end


async def test_no_network_not_even_the_hosts_loopback(shell, tmp_path):
    require(shutil.which("bash") is not None, "the probe uses bash's /dev/tcp")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    probe = (
        f'timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/{port}" 2>/dev/null; echo rc=$?;'
        " tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"
    )
    try:
        isolated = await shell.run(request(tmp_path, probe))
        shared = await shell.run(request(tmp_path / "b", probe, network="host"))
    finally:
        listener.close()
    out = isolated.read_stdout().split()
    assert out[0] != "rc=0", "the sandbox reached a listener on the host's loopback"
    assert out[1:] == ["lo"], f"interfaces besides lo: {out[1:]}"
    # control: with the host network the same probe connects, so the check above can fail
    assert shared.read_stdout().split()[0] == "rc=0"


async def test_cannot_read_secrets_or_node_data(shell, tmp_path, inputs):
    require(Path("/etc/shadow").exists(), "this host has no /etc/shadow")
    secret = tmp_path / "node-data" / "secret"
    secret.parent.mkdir()
    secret.write_text("node secret")
    req = request(
        tmp_path,
        f"cat /etc/shadow; echo shadow=$?; cat {secret}; echo data=$?; ls /home /root /sys 2>&1;"
        " ls /etc | sort | tr '\\n' ' '",
        mounts=[Mount(inputs, "/inputs")],
    )
    result = await shell.run(req)
    out = result.read_stdout()
    assert "shadow=1" in out and "data=1" in out
    assert "node secret" not in out
    assert out.count("No such file or directory") == 3  # /home, /root, /sys
    etc = set(out.splitlines()[-1].split())
    assert etc <= {"alternatives", "group", "hosts", "ld.so.cache", "localtime", "passwd"}, etc


async def test_cannot_write_outside_outputs(shell, tmp_path, inputs):
    cmd = " ; ".join(
        f"(echo x > {path}) 2>/dev/null && echo WROTE {path}"
        for path in (
            "/x",
            "/usr/x",
            "/etc/passwd",
            "/inputs/a.txt",
            "/inputs/new",
            "/proc/sysrq-trigger",
        )
    )
    req = request(
        tmp_path,
        cmd + "; echo ok > /outputs/ok; echo tmp > /tmp/t && echo tmp-ok",
        mounts=[Mount(inputs, "/inputs")],
    )
    result = await shell.run(req)
    assert "WROTE" not in result.read_stdout(), result.read_stdout()
    assert "tmp-ok" in result.read_stdout()
    assert (inputs / "a.txt").read_text() == "alpha\nbeta\ngamma\n"
    assert not (inputs / "new").exists()
    assert (req.outputs_dir / "ok").read_text() == "ok\n"


async def test_no_capabilities_no_new_privileges_no_nested_namespaces(shell, tmp_path):
    req = request(
        tmp_path,
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; unshare -U true 2>/dev/null;"
        " echo unshare=$?; mount -t tmpfs x /tmp 2>/dev/null; echo mount=$?",
    )
    out = (await shell.run(req)).read_stdout().split()
    assert out[:4] == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1"]
    assert "unshare=0" not in out and "mount=0" not in out


async def test_timeout_kills_the_whole_tree(shell, tmp_path):
    marker = f"sleep {31.5 + os.getpid() % 100}"
    req = request(tmp_path, f"({marker}; echo late > /outputs/late) & {marker}", timeout_s=1)
    started = time.monotonic()
    result = await shell.run(req)
    assert time.monotonic() - started < 5
    assert result.timed_out and result.exit_code is None
    assert result.error == "timed out after 1s"
    await asyncio.sleep(0.3)
    assert processes_running(marker) == [], "processes survived the timeout"
    assert not (req.outputs_dir / "late").exists()


async def test_cancel_reaches_the_process(shell, tmp_path):
    marker = f"sleep {41.5 + os.getpid() % 100}"
    task = asyncio.create_task(shell.run(request(tmp_path, marker, execution_id="e-cancel")))
    for _ in range(50):
        if processes_running(marker):
            break
        await asyncio.sleep(0.05)
    assert processes_running(marker), "the job's process is visible from the host while it runs"
    await shell.cancel("e-cancel")
    result = await asyncio.wait_for(task, 5)
    assert result.cancelled and result.error == "cancelled" and result.exit_code is None
    await asyncio.sleep(0.2)
    assert processes_running(marker) == []


async def test_memory_limit_is_reported_as_oom(shell, tmp_path):
    req = request(tmp_path, "head -c 100000000 /dev/zero | sort > /dev/null", memory_bytes=16 << 20)
    result = await shell.run(req)
    assert result.oom and result.error == "out of memory (limit 16 MiB)", result.read_stderr()


async def test_file_size_limit(shell, tmp_path):
    req = request(tmp_path, "exec head -c 2000000 /dev/zero > /outputs/big", disk_bytes=1 << 20)
    result = await shell.run(req)
    assert result.exit_code == 128 + 25  # SIGXFSZ
    assert result.error == "file size limit exceeded (limit 1 MiB)"
    assert (req.outputs_dir / "big").stat().st_size <= 1 << 20


async def test_output_is_capped(state_dir, tmp_path):
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    capped = ShellExecutor(state_dir=state_dir, max_log_bytes=1000)
    result = await capped.run(request(tmp_path, "head -c 5000 /dev/zero; echo end >&2"))
    assert result.ok and result.stdout_truncated and not result.stderr_truncated
    assert result.stdout_path.stat().st_size == 1000


async def test_missing_input_is_a_clear_error(shell, tmp_path):
    req = request(tmp_path, "true", mounts=[Mount(tmp_path / "nope", "/inputs")])
    result = await shell.run(req)
    assert result.error and "does not exist on the node" in result.error
    assert result.exit_code is None


async def test_missing_bwrap_is_unavailable(state_dir, tmp_path):
    broken = ShellExecutor(state_dir=state_dir, bwrap="/nonexistent/bwrap")
    assert await broken.is_installed() is False
    result = await broken.run(request(tmp_path, "true"))
    assert result.error.startswith("sandbox setup failed: prlimit:"), result
    with pytest.raises(Unavailable, match="cannot start the shell sandbox"):
        await ShellExecutor(state_dir=state_dir, prlimit="/nonexistent/prlimit").run(
            request(tmp_path, "true")
        )


async def test_gpus_are_refused(shell, tmp_path):
    result = await shell.run(request(tmp_path, "true", gpus=(0,)))
    assert "docker engine" in result.error


FORK_60 = "i=0; while [ $i -lt 60 ]; do sleep 1 & i=$((i+1)); done; echo started $i; wait"


async def test_a_fork_bomb_stops_at_the_process_limit(state_dir, tmp_path):
    """The same 60 background processes run under the default limit and are refused under 24,
    whether the node is root (a pids cgroup: RLIMIT_NPROC exempts uid 0) or not."""
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    roomy = ShellExecutor(state_dir=state_dir)
    if os.geteuid() == 0 and roomy.profile().pids_cgroups is None:
        pytest.skip("a root node without writable pids cgroups cannot bound processes (documented)")
    ok = await roomy.run(request(tmp_path / "a", FORK_60, execution_id="e-roomy"))
    assert ok.ok and ok.read_stdout() == "started 60\n", ok.read_stderr()
    tight = ShellExecutor(state_dir=state_dir, pids_limit=24)
    bomb = await tight.run(request(tmp_path / "b", FORK_60, execution_id="e-bomb"))
    assert not bomb.ok and "started 60" not in bomb.read_stdout()
    assert "fork" in bomb.read_stderr().lower(), bomb.read_stderr()
