"""A job's result imported from entries has the CID of its laid-out directory imported whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bacalao.blockstore.repo import Repo
from bacalao.executors.base import ExecutionResult, result_entries, write_result_layout
from bacalao.ipld.profiles import resolve_profile

PROFILE = resolve_profile(None, 1)


def _result(run: Path, *, stdout: bytes | None, stderr: bytes | None, exit_code: int | None,
            outputs: dict[str, bytes] | None, elsewhere: bool) -> ExecutionResult:  # fmt: skip
    base = run / ("engine" if elsewhere else "result")
    if outputs is None:  # an engine that made no directory at all (the noop engine)
        return ExecutionResult(
            exit_code=exit_code,
            stdout_path=base / "stdout",
            stderr_path=base / "stderr",
            outputs_dir=base / "outputs",
        )
    (base / "outputs").mkdir(parents=True)
    for name, data in outputs.items():
        target = base / "outputs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for name, data in (("stdout", stdout), ("stderr", stderr)):
        if data is not None:
            (base / name).write_bytes(data)
    return ExecutionResult(
        exit_code=exit_code,
        stdout_path=base / "stdout",
        stderr_path=base / "stderr",
        outputs_dir=base / "outputs",
    )


CASES = [
    dict(stdout=None, stderr=None, exit_code=0, outputs=None, elsewhere=False),
    dict(stdout=None, stderr=None, exit_code=0, outputs={}, elsewhere=False),
    dict(stdout=b"hello\n", stderr=b"", exit_code=3, outputs={"a.txt": b"A"}, elsewhere=False),
    dict(stdout=b"x" * 300_000, stderr=None, exit_code=None, outputs={}, elsewhere=False),
    dict(
        stdout=b"o",
        stderr=b"e",
        exit_code=0,
        outputs={"d/b.bin": b"\0" * 5000, ".h": b"h"},
        elsewhere=True,
    ),  # fmt: skip
]


@pytest.mark.parametrize("case", CASES)
def test_entries_give_the_cid_of_the_laid_out_directory(tmp_path, case):
    laid_out, entries = tmp_path / "one", tmp_path / "two"
    whole = _result(laid_out, **case)
    write_result_layout(laid_out / "result", whole)
    expected = Repo.memory().add_path(laid_out / "result", PROFILE, hidden=True).cid

    parts = _result(entries, **case)
    got = Repo.memory().add_entries(result_entries(entries / "result", parts), PROFILE, hidden=True)
    assert got.cid == expected
    # the streams are where the logs are read from, and nothing else was written out
    assert parts.stdout_path == entries / "result" / "stdout"
    assert not (entries / "result" / "exitCode").exists()
    if case["outputs"] is None:  # nothing to move: no directory was made
        assert not (entries / "result").exists()
    shutil.rmtree(tmp_path)
