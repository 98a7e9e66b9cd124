"""The whole embedded stack in one process: orchestrator, compute node, memory bus, real stores."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from tests.conftest import require

from bacalao.models.job_state import ExecutionStateType as ES
from bacalao.models.job_state import JobStateType as JS
from bacalao.models.parse import parse_job
from bacalao.node.config import NodeConfig
from bacalao.node.stack import start_stack


async def wait_terminal(orch, job_id: str, timeout: float = 30.0):
    seq = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        job = orch.get_job(job_id)
        if job.is_terminal:
            return job
        seq = await orch.wait(job_id, since_seq=seq, timeout=1.0)
    raise AssertionError(f"job {job_id} did not finish: {orch.get_job(job_id).state}")


def noop_job(**task):
    return parse_job(
        {"Type": "batch", "Count": 1, "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}, **task}]}
    )


@pytest.fixture
async def stack(tmp_path):
    cfg = NodeConfig(data_dir=tmp_path, engines=["noop", "shell"], max_cpu=2, max_memory=2 << 30)
    s = await start_stack(cfg)
    yield s
    await s.stop()


async def test_noop_job_completes_with_history(stack) -> None:
    orch = stack.orchestrator
    res = await orch.submit_job(noop_job())
    job = await wait_terminal(orch, res.job_id)
    assert job.state_type is JS.COMPLETED, job.state
    (ex,) = orch.list_executions(res.job_id)
    assert ex.state is ES.COMPLETED and ex.node_id == stack.computes[0].id
    assert ex.result_cid
    messages = [h.event.message for h in orch.history(res.job_id)]
    assert any("placed on" in msg for msg in messages)


async def test_unsatisfiable_constraint_fails_with_node_reasons(stack) -> None:
    orch = stack.orchestrator
    job = parse_job(
        {
            "Constraints": [{"Key": "region", "Operator": "=", "Values": ["mars"]}],
            "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}],
        }
    )
    res = await orch.submit_job(job)
    job = await wait_terminal(orch, res.job_id)
    assert job.state_type is JS.FAILED
    assert stack.computes[0].id in job.state.message and "region" in job.state.message


async def test_shell_job_reads_input_and_writes_output(stack) -> None:
    require(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    orch = stack.orchestrator
    repo = stack.computes[0].repo
    from bacalao.ipld.profiles import resolve_profile

    data = repo.add_bytes(b"alpha\nbeta\ngamma\n", resolve_profile(None, None))
    job = parse_job(
        {
            "Tasks": [
                {
                    "Name": "t",
                    "Engine": {
                        "Type": "shell",
                        "Params": {"Command": "grep a /inputs/data > /outputs/hits; echo done"},
                    },
                    "InputSources": [
                        {
                            "Source": {"Type": "ipfs", "Params": {"CID": str(data.cid)}},
                            "Target": "/inputs/data",
                        }
                    ],
                }
            ]
        }
    )
    res = await orch.submit_job(job)
    job = await wait_terminal(orch, res.job_id)
    (ex,) = orch.list_executions(res.job_id)
    assert job.state_type is JS.COMPLETED, (job.state, ex.compute_state, ex.run_output)
    assert ex.run_output.stdout == "done\n" and ex.run_output.exit_code == 0
    from bacalao.ipld.cid import CID
    from bacalao.ipld.exporter import cat, resolve

    root = CID.decode(ex.result_cid)
    hits = b"".join(cat(repo.reader(), resolve(repo.reader(), root, "outputs/hits")))
    assert hits == b"alpha\nbeta\ngamma\n"
    assert b"".join(cat(repo.reader(), resolve(repo.reader(), root, "exitCode"))) == b"0"


async def test_non_zero_exit_fails_without_retry(stack) -> None:
    require(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    orch = stack.orchestrator
    job = parse_job(
        {
            "Tasks": [
                {
                    "Name": "t",
                    "Engine": {"Type": "shell", "Params": {"Command": "echo oops >&2; exit 3"}},
                }
            ]
        }
    )
    res = await orch.submit_job(job)
    job = await wait_terminal(orch, res.job_id)
    assert job.state_type is JS.FAILED
    assert "exited with code 3" in job.state.message
    (ex,) = orch.list_executions(res.job_id)
    assert ex.run_output.exit_code == 3 and "oops" in ex.run_output.stderr


async def test_stop_cancels_running_job(stack) -> None:
    require(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    orch = stack.orchestrator
    job = parse_job(
        {"Tasks": [{"Name": "t", "Engine": {"Type": "shell", "Params": {"Command": "sleep 30"}}}]}
    )
    res = await orch.submit_job(job)
    seq = 0
    while not any(e.state is ES.RUNNING for e in orch.list_executions(res.job_id)):
        seq = await orch.wait(res.job_id, since_seq=seq, timeout=5)
    await orch.stop_job(res.job_id, "changed my mind")
    job = await wait_terminal(orch, res.job_id)
    assert job.state_type is JS.STOPPED
    for _ in range(100):
        (ex,) = orch.list_executions(res.job_id)
        if ex.is_terminal:
            break
        await asyncio.sleep(0.05)
    assert ex.state is ES.CANCELLED


async def test_input_no_node_holds_fails_once_naming_the_block(stack) -> None:
    orch = stack.orchestrator
    from bacalao.ipld.cid import CID

    missing = str(CID.hash(b"nobody has these bytes", codec=0x55))
    job = parse_job(
        {
            "Tasks": [
                {
                    "Name": "t",
                    "Engine": {"Type": "noop"},
                    "InputSources": [{"Source": {"Type": "ipfs", "Params": {"CID": missing}}}],
                }
            ]
        }
    )
    res = await orch.submit_job(job)
    job = await wait_terminal(orch, res.job_id)
    assert job.state_type is JS.FAILED
    assert missing in job.state.message
    assert len(orch.list_executions(res.job_id)) == 1  # not retried: no node would do better


async def test_a_data_dir_serves_one_process_at_a_time(stack) -> None:
    from bacalao.errors import Conflict

    with pytest.raises(Conflict, match="in use by another bacalao process"):
        await start_stack(stack.config)


async def _logs(orch, job_id: str, *, follow: bool = False) -> dict[str, bytes]:
    out = {"stdout": b"", "stderr": b""}
    async for chunk in orch.logs(job_id, follow=follow):
        out[chunk.stream] += chunk.data
    return out


async def _gone(path, timeout: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while path.exists() and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return not path.exists()


async def test_a_published_run_keeps_no_directory_and_its_logs_come_from_the_result(
    stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the result is in the store, the run directory would be a second copy of every
    output: it goes, and the logs, whole (past the 2 KiB kept inline), are read from the
    result's stdout and stderr files."""
    from bacalao.compute import rundirs

    monkeypatch.setattr(rundirs, "DISCARD_BATCH", 1)  # removed at once, not 32 at a time
    orch = stack.orchestrator
    text = "".join(f"line {i}\n" for i in range(1000))
    params = {"Stdout": text, "Stderr": "warn\n", "Outputs": {"a.txt": "A"}}
    res = await orch.submit_job(noop_job(Engine={"Type": "noop", "Params": params}))
    assert (await wait_terminal(orch, res.job_id)).state_type is JS.COMPLETED
    (ex,) = orch.list_executions(res.job_id)
    assert ex.result_cid
    assert await _gone(stack.computes[0].config.work_dir / "executions" / ex.id)
    for follow in (False, True):
        logs = await _logs(orch, res.job_id, follow=follow)
        assert logs == {"stdout": text.encode(), "stderr": b"warn\n"}


async def test_a_run_without_a_result_keeps_its_directory_for_its_logs(stack) -> None:
    orch = stack.orchestrator
    text = "x" * 5000
    job = noop_job(Engine={"Type": "noop", "Params": {"Stdout": text}}, Publisher={"Type": "noop"})
    res = await orch.submit_job(job)
    assert (await wait_terminal(orch, res.job_id)).state_type is JS.COMPLETED
    (ex,) = orch.list_executions(res.job_id)
    assert not ex.result_cid
    assert (stack.computes[0].config.work_dir / "executions" / ex.id).is_dir()
    assert (await _logs(orch, res.job_id))["stdout"] == text.encode()
