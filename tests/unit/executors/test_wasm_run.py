"""The wasm engine running real modules (C compiled with clang for wasm32-wasi) under wasmtime.

No node here: each test builds the ExecutionRequest the compute node would, with the module
written out as ``request.content["entry"]``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import time
from pathlib import Path

import pytest
from tests.conftest import require
from tests.support import wasm_modules

from bacalao.executors.base import ContentRef, ExecutionRequest, ExecutionResult, Mount
from bacalao.executors.wasm import WasmExecutor

pytest.importorskip("wasmtime")

CID = wasm_modules.module_cid


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> WasmExecutor:
    problem = wasm_modules.toolchain_problem()
    require(problem is None, problem or "")
    return WasmExecutor(state_dir=tmp_path_factory.mktemp("wasm-state"), tick_s=0.005)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("the quick brown fox\njumps over\n")
    (root / "b.txt").write_text("lazy dogs\n")
    (root / "sub" / "c.txt").write_text("  one   two\tthree \n\nfour\n")
    return root


class Runner:
    def __init__(self, executor: WasmExecutor, tmp: Path) -> None:
        self.executor = executor
        self.tmp = tmp
        self.n = 0

    def request(
        self,
        module: str,
        params: dict | None = None,
        *,
        mounts: tuple[Mount, ...] = (),
        **fields: object,
    ) -> ExecutionRequest:
        self.n += 1
        run_dir = self.tmp / f"run-{self.n}"
        cid = CID(module)
        base = ExecutionRequest(
            execution_id=f"e-{self.n}",
            job_id="j-1",
            engine_type="wasm",
            engine_params={"EntryModule": cid, **(params or {})},
            mounts=mounts,
            outputs_dir=run_dir / "outputs",
            env={},
            cpu=None,
            memory_bytes=100 << 20,
            disk_bytes=None,
            timeout_s=30,
            content={"entry": ContentRef(cid, wasm_modules.module(module))},
        )
        return dataclasses.replace(base, **fields)  # type: ignore[arg-type]

    async def run(self, module: str, params: dict | None = None, **kw: object) -> ExecutionResult:
        return await self.executor.run(self.request(module, params, **kw))  # type: ignore[arg-type]


@pytest.fixture
def runner(executor: WasmExecutor, tmp_path: Path) -> Runner:
    return Runner(executor, tmp_path)


# -- running and its result ---------------------------------------------------------------------
async def test_hello_runs_and_is_metered(runner: Runner) -> None:
    result = await runner.run("hello")
    assert result.ok, result.error
    assert result.read_stdout() == "hello from wasm\n" and result.read_stderr() == ""
    assert result.metering["fuel"] > 0 and result.metering["wall_s"] > 0
    assert "cpu_s" in result.metering
    assert result.outputs_dir is not None and result.outputs_dir.is_dir()


async def test_word_count_over_a_directory_input(runner: Runner, data: Path) -> None:
    result = await runner.run("wordcount", mounts=(Mount(data, "/inputs"),))
    assert result.ok, (result.error, result.read_stderr())
    counts = (result.outputs_dir / "counts.txt").read_text()  # type: ignore[operator]
    assert counts == "a.txt 6\nb.txt 2\nsub/c.txt 4\ntotal 12\n"
    assert result.read_stdout() == "3 files, 12 words\n"


async def test_argv_and_environment(runner: Runner) -> None:
    result = await runner.run(
        "probe",
        {"Parameters": ["x y", "--flag"], "EnvironmentVariables": {"GREETING": "from params"}},
        env={"GREETING": "from task", "OTHER": "1"},
    )
    out = result.read_stdout()
    assert "argv[0]=\nargv[1]=x y\nargv[2]=--flag\n" in out
    assert "GREETING=from params\n" in out


async def test_proc_exit_code_is_the_exit_code(runner: Runner) -> None:
    result = await runner.run("probe", {"EnvironmentVariables": ["EXIT_CODE=7"]})
    assert result.exit_code == 7 and result.error is None and not result.ok


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unreachable", "trap: unreachable executed"),
        ("abort", "trap: unreachable executed"),
        ("divzero", "trap: integer divide by zero"),
        ("oob", "trap: out-of-bounds memory access"),
    ],
)
async def test_a_trap_fails_with_its_reason(runner: Runner, kind: str, reason: str) -> None:
    result = await runner.run("trap", {"Parameters": [kind]})
    assert result.exit_code is None and result.error == reason
    assert result.read_stdout() == f"about to trap: {kind}\n"  # output before the trap is kept
    assert "wasm backtrace" in result.read_stderr() and reason in result.read_stderr()


async def test_an_endless_loop_runs_out_of_fuel(runner: Runner) -> None:
    result = await runner.run("loop", {"Fuel": 1_000_000})
    assert result.error == "out of fuel after 1000000 instructions"
    assert result.exit_code is None and result.metering["fuel"] == 1_000_000


async def test_an_endless_loop_is_stopped_by_the_timeout(runner: Runner) -> None:
    started = time.monotonic()
    result = await runner.run("loop", timeout_s=0.3)
    assert result.timed_out and result.error == "timed out after 0.3s"
    assert result.exit_code is None and "fuel" not in result.metering
    assert 0.3 <= time.monotonic() - started < 3


async def test_cancel_stops_a_running_module(runner: Runner, executor: WasmExecutor) -> None:
    req = runner.request("loop")
    task = asyncio.create_task(executor.run(req))
    await asyncio.sleep(0.2)
    await executor.cancel(req.execution_id)
    result = await asyncio.wait_for(task, 5)
    assert result.cancelled and result.error == "cancelled" and result.exit_code is None


async def test_concurrent_executions_keep_to_their_own_limits(
    runner: Runner, executor: WasmExecutor, data: Path
) -> None:
    """Runs on several threads at once: each its own clock, fuel, deadline and outputs."""
    mounts = (Mount(data, "/inputs"),)
    results = await asyncio.gather(
        runner.run("loop", timeout_s=0.5),
        runner.run("loop", {"Fuel": 3_000_000}),
        *(runner.run("wordcount", mounts=mounts) for _ in range(3)),
        *(runner.run("probe", {"Seed": 5}) for _ in range(3)),
    )
    assert results[0].timed_out and not results[1].timed_out
    assert results[1].error == "out of fuel after 3000000 instructions"
    counts = {(r.outputs_dir / "counts.txt").read_text() for r in results[2:5]}  # type: ignore[operator]
    assert counts == {"a.txt 6\nb.txt 2\nsub/c.txt 4\ntotal 12\n"}
    assert len({r.read_stdout() for r in results[5:]}) == 1


async def test_cancel_of_an_unknown_execution_is_a_no_op(executor: WasmExecutor) -> None:
    await executor.cancel("e-nope")


async def test_a_host_sleep_is_cut_short_by_the_timeout(runner: Runner) -> None:
    started = time.monotonic()
    result = await runner.run("sleeper", {"Deterministic": False}, timeout_s=0.3)
    assert result.timed_out and time.monotonic() - started < 3


async def test_a_sleep_is_virtual_when_deterministic(runner: Runner) -> None:
    started = time.monotonic()
    result = await runner.run("sleeper", {"Parameters": ["3600"]}, timeout_s=5)
    assert result.ok and time.monotonic() - started < 3
    assert result.read_stdout() == "slept 3600000001000 ns\n"  # the hour, plus one clock step


# -- the sandbox ----------------------------------------------------------------------------------
async def test_host_paths_outside_the_preopens_cannot_be_opened(runner: Runner, data: Path) -> None:
    (data / "link").symlink_to("/etc/passwd")
    result = await runner.run(
        "escape",
        {
            "Parameters": [
                "/etc/passwd",
                "/inputs/../../../etc/passwd",
                "/inputs/link",
                "../etc/passwd",
                "/inputs/a.txt",
            ]
        },
        mounts=(Mount(data, "/inputs"),),
    )
    assert result.exit_code == 1 and result.error is None
    err = result.read_stderr()
    for path in ("/etc/passwd", "/inputs/../../../etc/passwd", "/inputs/link", "../etc/passwd"):
        assert f"escape: cannot open {path}:" in err
    assert result.read_stdout() == "escape: read /inputs/a.txt: the quick brown fox\n"


async def test_inputs_are_read_only_and_outputs_writable(runner: Runner, data: Path) -> None:
    result = await runner.run(
        "escape",
        {"Parameters": ["w:/inputs/new.txt", "w:/outputs/new.txt", "w:/tmp/x"]},
        mounts=(Mount(data, "/inputs"),),
    )
    assert "escape: cannot create /inputs/new.txt:" in result.read_stderr()
    assert "escape: cannot create /tmp/x:" in result.read_stderr()
    assert not (data / "new.txt").exists()
    assert (result.outputs_dir / "new.txt").read_text() == "written from wasm\n"  # type: ignore[operator]


async def test_a_file_input_is_mounted_at_its_target(runner: Runner, data: Path) -> None:
    result = await runner.run(
        "linefilter", {"Parameters": ["o"]}, mounts=(Mount(data / "a.txt", "/inputs/data"),)
    )
    assert result.ok, result.read_stderr()
    assert result.read_stdout() == "the quick brown fox\njumps over\n"


async def test_no_network_and_no_gpus(runner: Runner) -> None:
    result = await runner.run("hello", network="full")
    assert "no network" in (result.error or "") and result.exit_code is None
    result = await runner.run("hello", gpus=(0,))
    assert "GPU" in (result.error or "")


async def test_an_input_target_inside_outputs_is_refused(runner: Runner, data: Path) -> None:
    result = await runner.run("hello", mounts=(Mount(data, "/outputs/x"),))
    assert "would replace /outputs" in (result.error or "")


# -- memory ---------------------------------------------------------------------------------------
async def test_memory_cap_in_pages(runner: Runner) -> None:
    result = await runner.run("memhog", {"Parameters": ["10"], "MemoryPages": 64})
    assert result.exit_code == 3 and result.oom
    assert result.error == "out of memory (limit 4 MiB): exited with code 3"
    assert result.read_stdout().startswith("allocated 3 MiB")


async def test_memory_cap_comes_from_the_task_too(runner: Runner) -> None:
    result = await runner.run("memhog", {"Parameters": ["10"]}, memory_bytes=6 << 20)
    assert result.exit_code == 3 and result.oom
    result = await runner.run("memhog", {"Parameters": ["10"]})
    assert result.ok and result.read_stdout().startswith("allocated 10 MiB")


async def test_a_module_that_needs_more_memory_to_start_fails(runner: Runner) -> None:
    result = await runner.run("hello", {"MemoryPages": 1})
    assert result.oom and (result.error or "").startswith("out of memory")


# -- determinism -----------------------------------------------------------------------------------
async def test_deterministic_runs_see_the_same_world(runner: Runner, data: Path) -> None:
    mounts = (Mount(data, "/inputs"),)
    first = await runner.run("probe", {"Parameters": ["/inputs/a.txt"]}, mounts=mounts)
    os.utime(data / "a.txt", (1, 1))
    second = await runner.run("probe", {"Parameters": ["/inputs/a.txt"]}, mounts=mounts)
    assert first.read_stdout() == second.read_stdout()
    out = first.read_stdout()
    assert "realtime 946684800.000001000\n" in out  # 2000-01-01, one clock step in
    assert "stat /inputs/a.txt size 31 mtime 946684800 ino 0\n" in out
    seeded = await runner.run("probe", {"Seed": 7})
    random = [ln for ln in out.splitlines() if ln.startswith("random ")]
    assert random and random[0] not in seeded.read_stdout()


async def test_nondeterministic_runs_see_the_host_clock(runner: Runner) -> None:
    result = await runner.run("probe", {"Deterministic": False})
    line = next(ln for ln in result.read_stdout().splitlines() if ln.startswith("time "))
    assert abs(int(line.split()[1]) - time.time()) < 60


# -- modules: where they come from, linking, entry points ----------------------------------------
async def test_inline_and_path_modules(runner: Runner, tmp_path: Path) -> None:
    data = wasm_modules.module_bytes("hello")
    url = "data:application/wasm;base64," + base64.b64encode(data).decode()
    inline = {"EntryModule": {"Source": {"Type": "inline", "Params": {"URL": url}}}}
    result = await runner.run("hello", inline, content={})
    assert result.read_stdout() == "hello from wasm\n"
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "hello.wasm").write_bytes(data)
    result = await runner.run(
        "hello",
        {"EntryModule": "/modules/hello.wasm"},
        mounts=(Mount(lib, "/modules"),),
        content={},
    )
    assert result.read_stdout() == "hello from wasm\n"
    result = await runner.run("hello", {"EntryModule": "/nowhere/x.wasm"}, content={})
    assert "not inside any of the job's inputs" in (result.error or "")


async def test_import_modules_are_linked_by_name(runner: Runner) -> None:
    lib_cid = CID("mathlib")
    content = {
        "entry": ContentRef(CID("usemath"), wasm_modules.module("usemath")),
        "import-0": ContentRef(lib_cid, wasm_modules.module("mathlib")),
    }
    for ref in (
        lib_cid,
        {"Source": {"Type": "ipfs", "Params": {"CID": lib_cid}}, "Alias": "mathlib"},
    ):
        result = await runner.run("usemath", {"ImportModules": [ref]}, content=content)
        assert result.ok, (result.error, result.read_stderr())
        assert result.read_stdout() == "scale(add(2, 3)) = 50\n"


async def test_a_missing_import_fails_before_running(runner: Runner) -> None:
    result = await runner.run("usemath")
    assert result.error == "cannot link module " + CID("usemath") + (
        ": unknown import: `mathlib::add` has not been defined"
    )


async def test_an_unknown_entrypoint_names_the_exports(runner: Runner) -> None:
    result = await runner.run("hello", {"Entrypoint": "main"})
    assert (
        result.error
        == "entrypoint 'main' is not exported by the module (its exported functions: _start)"
    )


async def test_bytes_that_are_not_a_module(runner: Runner, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"#!/bin/sh\necho hi\n")
    cid = wasm_modules.bytes_cid(junk.read_bytes())
    result = await runner.run(
        "hello", {"EntryModule": cid}, content={"entry": ContentRef(cid, junk)}
    )
    assert (result.error or "").startswith(f"module {cid} is not a valid WebAssembly module")


async def test_a_module_the_node_did_not_write_out(tmp_path: Path) -> None:
    require(wasm_modules.toolchain_problem() is None, "no wasm toolchain")
    result = await Runner(WasmExecutor(), tmp_path).run("hello", content={})
    assert result.error == f"the node did not write out module {CID('hello')} before the run"


async def test_modules_compiled_here_need_not_be_written_out(tmp_path: Path) -> None:
    require(wasm_modules.toolchain_problem() is None, "no wasm toolchain")
    executor = WasmExecutor(state_dir=tmp_path / "state")
    params = {"EntryModule": CID("usemath"), "ImportModules": [CID("mathlib")]}
    assert executor.content_refs(params) == {"entry": CID("usemath"), "import-0": CID("mathlib")}
    runner = Runner(executor, tmp_path)
    await runner.run("hello")
    assert executor.content_refs({"EntryModule": CID("hello")}) == {}
    result = await runner.run("hello", content={})  # as the node runs it then
    assert result.ok and result.read_stdout() == "hello from wasm\n"
    restarted = WasmExecutor(state_dir=tmp_path / "state")
    restarted.host  # noqa: B018 (built, as after the node's install probe)
    assert restarted.content_refs({"EntryModule": CID("hello")}) == {}  # on disk


# -- output capture, logs and caching --------------------------------------------------------------
async def test_live_logs_and_the_stdout_cap(executor: WasmExecutor, tmp_path: Path) -> None:
    capped = WasmExecutor(max_log_bytes=8)
    runner = Runner(capped, tmp_path)
    seen: list[tuple[str, bytes]] = []
    result = await capped.run(runner.request("hello"), log=lambda s, b: seen.append((s, b)))
    await asyncio.sleep(0)
    assert result.read_stdout() == "hello fr" and result.stdout_truncated
    assert b"".join(chunk for _, chunk in seen) == b"hello fr"
    assert {stream for stream, _ in seen} == {"stdout"}


async def test_compiled_modules_are_cached_in_memory_and_on_disk(tmp_path: Path) -> None:
    require(wasm_modules.toolchain_problem() is None, "no wasm toolchain")
    first = WasmExecutor(state_dir=tmp_path / "state")
    runner = Runner(first, tmp_path)
    await runner.run("hello")
    await runner.run("hello")
    assert first.host.modules.stats == {"memory": 1, "disk": 0, "compiled": 1}
    restarted = WasmExecutor(state_dir=tmp_path / "state")
    result = await Runner(restarted, tmp_path / "again").run("hello")
    assert result.ok and restarted.host.modules.stats == {"memory": 0, "disk": 1, "compiled": 0}


async def test_outputs_over_the_disk_limit_fail(runner: Runner, data: Path) -> None:
    result = await runner.run("wordcount", mounts=(Mount(data, "/inputs"),), disk_bytes=10)
    assert (result.error or "").startswith("outputs use ")


async def test_is_installed(executor: WasmExecutor) -> None:
    assert await executor.is_installed()
