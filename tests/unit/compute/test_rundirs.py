"""Run directories: spares made ahead on a thread, renamed into place; made directly without one."""

from __future__ import annotations

import time
from pathlib import Path

from bacalao.compute.rundirs import DISCARD_BATCH, SPARE_DIR, RunDirs


def _wait_ready(dirs: RunDirs, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(dirs._ready) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(dirs._ready) >= n


def test_a_run_takes_a_spare_and_the_spares_are_refilled(tmp_path: Path) -> None:
    root = tmp_path / "executions"
    dirs = RunDirs(root, keep=2)
    dirs.refill()
    _wait_ready(dirs, 2)
    spares = set(dirs._ready)
    outputs = dirs.take(root / "e-1")
    assert outputs == root / "e-1" / "result" / "outputs" and outputs.is_dir()
    assert len(spares - set(dirs._ready)) == 1  # one spare was renamed into place
    assert not any(p.exists() for p in spares - set(dirs._ready))
    _wait_ready(dirs, 2)
    dirs.close()
    assert not (root / SPARE_DIR).exists()
    assert outputs.is_dir()  # the run's own tree stays


def test_without_spares_the_tree_is_made_and_an_existing_run_dir_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "executions"
    dirs = RunDirs(root, keep=0)
    (root / "e-1" / "inputs").mkdir(parents=True)
    (root / "e-1" / "inputs" / "x").write_text("kept")
    assert dirs.take(root / "e-1").is_dir()
    assert (root / "e-1" / "inputs" / "x").read_text() == "kept"
    assert dirs.take(root / "e-2") == root / "e-2" / "result" / "outputs"
    dirs.close()


def test_spares_of_an_earlier_process_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "executions"
    (root / SPARE_DIR / "7" / "result" / "outputs").mkdir(parents=True)
    dirs = RunDirs(root, keep=1)
    assert not (root / SPARE_DIR / "7").exists()
    dirs.close()


def test_discarded_run_dirs_go_in_batches_and_the_rest_at_close(tmp_path: Path) -> None:
    root = tmp_path / "executions"
    dirs = RunDirs(root, keep=0)
    made = [dirs.take(root / f"e-{i}").parent.parent for i in range(DISCARD_BATCH + 3)]
    for run_dir in made[:-1]:
        (run_dir / "result" / "stdout").write_text("out")
        dirs.discard(run_dir)
    deadline = time.monotonic() + 10
    while any(p.exists() for p in made[:DISCARD_BATCH]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(p.exists() for p in made[:DISCARD_BATCH])  # the first batch, on the thread
    assert all(p.is_dir() for p in made[DISCARD_BATCH:])  # the rest wait for the next batch
    dirs.close()
    assert not any(p.exists() for p in made[:-1])  # close removes what was discarded
    assert made[-1].is_dir()  # a run dir nobody discarded stays
