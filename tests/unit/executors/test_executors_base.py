"""The result layout helper, output capture, and the noop engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bacalao.executors.base import (
    ExecutionRequest,
    ExecutionResult,
    format_bytes,
    format_seconds,
    write_result_layout,
)
from bacalao.executors.capture import OutputCapture
from bacalao.executors.noop import NoopExecutor


def request(tmp_path: Path, params: dict | None = None, **kw) -> ExecutionRequest:
    fields = dict(
        execution_id="e-1",
        job_id="j-1",
        engine_type="noop",
        engine_params=params or {},
        mounts=(),
        outputs_dir=tmp_path / "run" / "outputs",
        env={},
        cpu=None,
        memory_bytes=None,
        disk_bytes=None,
    )
    fields.update(kw)
    return ExecutionRequest(**fields)


def test_layout_in_place_adds_exit_code(tmp_path):
    run = tmp_path / "run"
    (run / "outputs").mkdir(parents=True)
    (run / "outputs" / "a.txt").write_text("a")
    (run / "stdout").write_text("out")
    (run / "stderr").write_text("")
    result = ExecutionResult(0, run / "stdout", run / "stderr", outputs_dir=run / "outputs")
    write_result_layout(run, result)
    assert sorted(p.name for p in run.iterdir()) == ["exitCode", "outputs", "stderr", "stdout"]
    assert (run / "exitCode").read_bytes() == b"0"  # no newline, as Bacalhau writes it
    assert (run / "outputs" / "a.txt").read_text() == "a"


def test_layout_moves_things_into_place(tmp_path):
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    (work / "out" / "x").write_text("x")
    (work / "o.log").write_text("hello")
    result = ExecutionResult(3, work / "o.log", work / "missing.log", outputs_dir=work / "out")
    dest = tmp_path / "result"
    write_result_layout(dest, result)
    assert (dest / "stdout").read_text() == "hello"
    assert (dest / "stderr").read_text() == ""
    assert (dest / "outputs" / "x").read_text() == "x"
    assert (dest / "exitCode").read_text() == "3"
    assert result.stdout_path == dest / "stdout" and result.outputs_dir == dest / "outputs"


def test_layout_without_exit_code_has_no_exit_code_file(tmp_path):
    (tmp_path / "exitCode").write_text("0")
    result = ExecutionResult(
        None, tmp_path / "stdout", tmp_path / "stderr", error="timed out after 1s"
    )
    write_result_layout(tmp_path, result)
    assert not (tmp_path / "exitCode").exists()
    assert (tmp_path / "outputs").is_dir()


def test_capture_caps_each_stream_and_flags_it(tmp_path):
    seen = []
    cap = OutputCapture(
        tmp_path / "o", tmp_path / "e", log=lambda s, c: seen.append((s, c)), max_bytes=5
    )
    cap.write("stdout", b"abc")
    cap.write("stdout", b"defg")
    cap.write("stdout", b"h")
    cap.write("stderr", b"12")
    cap.close()
    cap.write("stdout", b"late")  # a straggler after close is dropped
    assert (tmp_path / "o").read_bytes() == b"abcde"
    assert (tmp_path / "e").read_bytes() == b"12"
    assert cap.truncated == {"stdout": True, "stderr": False}
    assert seen == [("stdout", b"abc"), ("stdout", b"de"), ("stderr", b"12")]


def test_a_broken_log_callback_does_not_break_capture(tmp_path, caplog):
    def boom(stream, chunk):
        raise RuntimeError("consumer gone")

    with OutputCapture(tmp_path / "o", tmp_path / "e", log=boom) as cap:
        cap.write("stdout", b"a")
        cap.write("stdout", b"b")
    assert (tmp_path / "o").read_bytes() == b"ab"
    assert "log callback failed" in caplog.text


def test_formats():
    assert format_bytes(16 << 20) == "16 MiB"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 << 30) == "3 GiB"
    assert format_bytes(12) == "12 B"
    assert format_seconds(2.0) == "2s" and format_seconds(0.5) == "0.5s"


async def test_noop_succeeds_at_once(tmp_path):
    result = await NoopExecutor().run(request(tmp_path))
    assert result.ok and result.exit_code == 0 and result.error is None
    assert result.read_stdout() == ""
    # nothing printed or written: no file and no directory made (makes_own_run_dir)
    assert not result.stdout_path.exists() and not result.outputs_dir.exists()


async def test_the_result_layout_adds_the_streams_an_engine_left_unmade(tmp_path):
    result = await NoopExecutor().run(request(tmp_path))
    layout = write_result_layout(result.stdout_path.parent, result)
    assert (layout / "stdout").read_bytes() == b"" and (layout / "stderr").read_bytes() == b""
    assert (layout / "exitCode").read_text() == "0" and (layout / "outputs").is_dir()
    assert result.metering["wall_s"] >= 0


async def test_noop_shapes_its_result(tmp_path):
    chunks = []
    params = {"ExitCode": 4, "Stdout": "out", "Stderr": "err", "Outputs": {"d/f.txt": "F"}}
    result = await NoopExecutor().run(
        request(tmp_path, params), log=lambda s, c: chunks.append((s, c))
    )
    assert result.exit_code == 4 and not result.ok and result.error is None
    assert result.read_stdout() == "out" and result.read_stderr() == "err"
    assert (result.outputs_dir / "d" / "f.txt").read_text() == "F"
    assert chunks == [("stdout", b"out"), ("stderr", b"err")]


async def test_noop_error_fails_the_execution(tmp_path):
    result = await NoopExecutor().run(request(tmp_path, {"Error": "disk on fire"}))
    assert result.error == "disk on fire" and not result.ok


async def test_noop_sleep_honours_the_timeout(tmp_path):
    result = await NoopExecutor().run(request(tmp_path, {"Sleep": 5}, timeout_s=0.05))
    assert result.timed_out and result.exit_code is None
    assert result.error == "timed out after 0.05s"


async def test_noop_cancel_wakes_it(tmp_path):
    noop = NoopExecutor()
    task = asyncio.create_task(noop.run(request(tmp_path, {"Sleep": 5})))
    await asyncio.sleep(0.02)
    await noop.cancel("e-1")
    result = await asyncio.wait_for(task, 1)
    assert result.cancelled and result.error == "cancelled" and result.exit_code is None
    await noop.cancel("not-running")  # a no-op
