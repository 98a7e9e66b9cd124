"""Which results the node imports on its loop rather than on a thread."""

from __future__ import annotations

from bacalao.compute.node import SMALL_RESULT_BYTES, SMALL_RESULT_FILES, _small
from bacalao.executors.base import ExecutionResult


def _result(tmp_path, stdout: bytes = b"hi\n", files: dict[str, bytes] | None = None):
    run = tmp_path / "result"
    (run / "outputs").mkdir(parents=True)
    (run / "stdout").write_bytes(stdout)  # stderr never written: no file
    for name, data in (files or {}).items():
        (run / "outputs" / name).write_bytes(data)
    return ExecutionResult(
        exit_code=0,
        stdout_path=run / "stdout",
        stderr_path=run / "stderr",
        outputs_dir=run / "outputs",
    )


def test_a_few_small_files_are_small(tmp_path):
    assert _small(_result(tmp_path, files={"a.txt": b"A" * 100}))


def test_big_streams_or_outputs_are_not(tmp_path):
    assert not _small(_result(tmp_path / "1", stdout=b"x" * (SMALL_RESULT_BYTES + 1)))
    big = {"a.bin": b"\0" * SMALL_RESULT_BYTES}
    assert not _small(_result(tmp_path / "2", files=big))


def test_many_files_or_a_subdirectory_are_not(tmp_path):
    many = {f"f{i}": b"" for i in range(SMALL_RESULT_FILES + 1)}
    assert not _small(_result(tmp_path / "1", files=many))
    nested = _result(tmp_path / "2")
    (nested.outputs_dir / "d").mkdir()
    assert not _small(nested)
