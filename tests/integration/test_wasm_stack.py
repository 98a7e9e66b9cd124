"""WebAssembly jobs through the whole embedded stack: orchestrator, compute nodes, memory bus.

The modules are the C programs of ``tests/support/wasm`` built with clang; the module and the
dataset are added to the nodes' stores, and jobs name them by CID, as users do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import require
from tests.integration.test_stack import wait_terminal
from tests.support import wasm_modules

from bacalao.ipld.cid import CID
from bacalao.ipld.exporter import cat, resolve
from bacalao.ipld.profiles import resolve_profile
from bacalao.models.job_state import ExecutionStateType as ES
from bacalao.models.job_state import JobStateType as JS
from bacalao.models.parse import parse_job
from bacalao.node.config import NodeConfig
from bacalao.node.stack import Stack, start_stack

pytest.importorskip("wasmtime")

DATASET = {
    "a.txt": "the quick brown fox\njumps over\n",
    "b.txt": "lazy dogs\n",
    "sub/c.txt": "  one   two\tthree \n\nfour\n",
}
COUNTS = "a.txt 6\nb.txt 2\nsub/c.txt 4\ntotal 12\n"


@pytest.fixture(scope="module")
def toolchain() -> None:
    problem = wasm_modules.toolchain_problem()
    require(problem is None, problem or "")


async def _stack(tmp_path: Path, nodes: int = 1) -> Stack:
    cfg = NodeConfig(
        data_dir=tmp_path, engines=["wasm"], nodes=nodes, max_cpu=2, max_memory=2 << 30
    )
    return await start_stack(cfg)


@pytest.fixture
async def stack(tmp_path: Path, toolchain: None):  # type: ignore[no-untyped-def]
    s = await _stack(tmp_path)
    yield s
    await s.stop()


def add_dataset(stack: Stack, root: Path) -> str:
    """Write DATASET under ``root`` and add it to every node's store; its CID."""
    for name, text in DATASET.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    cids = {str(c.repo.add_path(root, resolve_profile(None, None)).cid) for c in stack.computes}
    (cid,) = cids
    return cid


def add_module(stack: Stack, name: str) -> str:
    data = wasm_modules.module_bytes(name)
    cids = {str(c.repo.add_bytes(data, resolve_profile(None, None)).cid) for c in stack.computes}
    (cid,) = cids
    return cid


def wasm_job(module_cid: str, data_cid: str | None = None, **params: object) -> dict:
    task: dict = {
        "Name": "main",
        "Engine": {"Type": "wasm", "Params": {"EntryModule": module_cid, **params}},
        "Publisher": {"Type": "ipfs"},
    }
    if data_cid:
        task["InputSources"] = [
            {"Source": {"Type": "ipfs", "Params": {"CID": data_cid}}, "Target": "/inputs"}
        ]
    return {"Type": "batch", "Count": 1, "Tasks": [task]}


def read(stack: Stack, result_cid: str, path: str) -> str:
    for compute in stack.computes:
        reader = compute.repo.reader()
        try:
            node = resolve(reader, CID.decode(result_cid), path)
            return b"".join(cat(reader, node)).decode()
        except Exception:
            continue
    raise AssertionError(f"{path} of {result_cid} is on no node")


async def run(stack: Stack, spec: dict):  # type: ignore[no-untyped-def]
    orch = stack.orchestrator
    assert orch is not None
    res = await orch.submit_job(parse_job(spec))
    job = await wait_terminal(orch, res.job_id)
    return job, orch.list_executions(res.job_id)


async def test_word_count_over_a_dataset_cid(stack: Stack, tmp_path: Path) -> None:
    data = add_dataset(stack, tmp_path / "dataset")
    module = add_module(stack, "wordcount")
    job, (ex,) = await run(stack, wasm_job(module, data))
    assert job.state_type is JS.COMPLETED, (job.state, ex.run_output)
    assert read(stack, ex.result_cid, "outputs/counts.txt") == COUNTS
    assert read(stack, ex.result_cid, "stdout") == "3 files, 12 words\n"
    assert read(stack, ex.result_cid, "exitCode") == "0"
    assert ex.metering.fuel_consumed > 0


async def test_the_same_job_on_two_nodes_gives_the_same_result_cid(
    tmp_path: Path, toolchain: None
) -> None:
    stack = await _stack(tmp_path / "stack", nodes=2)
    try:
        data = add_dataset(stack, tmp_path / "dataset")
        module = add_module(stack, "wordcount")
        probe = add_module(stack, "probe")
        for spec in (wasm_job(module, data), wasm_job(probe, data, Parameters=["/inputs/a.txt"])):
            spec["Type"] = "ops"  # once on every node
            job, executions = await run(stack, spec)
            assert job.state_type is JS.COMPLETED, job.state
            assert {e.node_id for e in executions} == {c.id for c in stack.computes}
            assert all(e.state is ES.COMPLETED for e in executions)
            assert len({e.result_cid for e in executions}) == 1, [e.result_cid for e in executions]
        # the probe read the clock, randomness and an input's stat: all fixed by default
        stdout = read(stack, executions[0].result_cid, "stdout")
        assert "realtime 946684800.000001000" in stdout and "mtime 946684800 ino 0" in stdout
    finally:
        await stack.stop()


async def test_an_endless_loop_is_stopped_by_fuel(stack: Stack) -> None:
    module = add_module(stack, "loop")
    job, (ex,) = await run(stack, wasm_job(module, Fuel=5_000_000))
    assert job.state_type is JS.FAILED
    assert ex.run_output.error_msg == "out of fuel after 5000000 instructions"
    assert "out of fuel after 5000000 instructions" in job.state.message
    assert ex.metering.fuel_consumed == 5_000_000


async def test_an_endless_loop_is_stopped_by_the_timeout(stack: Stack) -> None:
    module = add_module(stack, "loop")
    spec = wasm_job(module)
    spec["Tasks"][0]["Timeouts"] = {"ExecutionTimeout": 1}
    job, (ex,) = await run(stack, spec)
    assert job.state_type is JS.FAILED
    assert ex.run_output.error_msg == "timed out after 1s"


async def test_a_trap_fails_the_job_with_its_reason(stack: Stack) -> None:
    module = add_module(stack, "trap")
    job, (ex,) = await run(stack, wasm_job(module, Parameters=["divzero"]))
    assert job.state_type is JS.FAILED
    assert ex.run_output.error_msg == "trap: integer divide by zero"
    assert ex.run_output.stdout == "about to trap: divzero\n"


async def test_a_host_path_outside_the_inputs_cannot_be_opened(
    stack: Stack, tmp_path: Path
) -> None:
    data = add_dataset(stack, tmp_path / "dataset")
    module = add_module(stack, "escape")
    job, (ex,) = await run(stack, wasm_job(module, data, Parameters=["/etc/passwd"]))
    assert job.state_type is JS.FAILED  # the program's own exit code 1: it was refused
    assert ex.run_output.exit_code == 1
    assert ex.run_output.stderr.startswith("escape: cannot open /etc/passwd: ")


async def test_a_module_cid_missing_from_the_node_fails_clearly(stack: Stack) -> None:
    missing = wasm_modules.bytes_cid(b"\0asm\x01\0\0\0 not stored anywhere")
    job, executions = await run(stack, wasm_job(missing))
    assert job.state_type is JS.FAILED
    assert any(missing in (e.compute_state.message or "") for e in executions), job.state
