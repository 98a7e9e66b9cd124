"""Execution directories made ahead of time, so starting a run costs one rename.

Every execution gets ``<work>/executions/<id>/result/outputs``. On ext4 a directory created inside
a directory that was itself just created costs 100-200 µs, so the three nested ``mkdir`` of a run
took ~0.3 ms on the loop thread, a measurable share of a trivial job's latency. A few spare trees
are kept ready under ``executions/.spare/``, made on a background thread; :meth:`RunDirs.take`
renames one into place (~20 µs, atomic) and asks for another. Without a spare (a burst of runs)
the tree is made directly, as before.

A run whose result is in the block store leaves its directory behind (:meth:`RunDirs.discard`):
it would be a second copy of every output. Such directories are removed on the same background
thread, DISCARD_BATCH at a time (and the rest when the node stops), so the removal does not
compete with every next run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULT_OUTPUTS = ("result", "outputs")
SPARE_DIR = ".spare"
DISCARD_BATCH = 32


class RunDirs:
    """Ready-made ``<id>/result/outputs`` trees under ``root`` (the executions directory)."""

    def __init__(self, root: Path, *, keep: int = 16) -> None:
        self.root = root
        self.keep = keep
        # refill only below half: the spares are made in bursts between runs rather than one
        # during every run (making one competes with the run for the disk journal and the GIL)
        self.low = keep // 2
        self._spare_root = root / SPARE_DIR
        self._ready: list[Path] = []
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._pool: ThreadPoolExecutor | None = None
        self._filling = False
        self._spent: list[Path] = []  # discarded run directories not removed yet
        # spares of an earlier process are not known to be whole: start afresh
        shutil.rmtree(self._spare_root, ignore_errors=True)

    def take(self, run_dir: Path) -> Path:
        """Make ``run_dir`` (``root/<id>``) with ``result/outputs`` inside; returns the outputs
        directory. An existing ``run_dir`` is kept (its missing parts are made)."""
        outputs = run_dir.joinpath(*RESULT_OUTPUTS)
        spare = None
        if not run_dir.exists():
            with self._lock:
                spare = self._ready.pop() if self._ready else None
        if spare is not None:
            try:
                os.rename(spare, run_dir)
            except OSError:  # a spare gone or a run_dir made meanwhile: make it the slow way
                shutil.rmtree(spare, ignore_errors=True)
        outputs.mkdir(parents=True, exist_ok=True)
        self.refill()
        return outputs

    def refill(self) -> None:
        """Top the spares up to ``keep`` on a background thread once fewer than ``keep / 2``
        are left (one fill at a time)."""
        with self._lock:
            if self._filling or len(self._ready) > self.low:
                return
            self._filling = True
            pool = self._pool_locked()
        pool.submit(self._fill)

    def discard(self, run_dir: Path) -> None:
        """Remove ``run_dir`` (and everything in it) later, with others, on the background
        thread."""
        with self._lock:
            self._spent.append(run_dir)
            if len(self._spent) < DISCARD_BATCH:
                return
            spent, self._spent = self._spent, []
            pool = self._pool_locked()
        pool.submit(_remove_all, spent)

    def _pool_locked(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="bacalao-rundirs")
        return self._pool

    def _fill(self) -> None:
        try:
            while True:
                with self._lock:
                    if len(self._ready) >= self.keep:
                        return
                spare = self._spare_root / str(next(self._names))
                try:
                    spare.joinpath(*RESULT_OUTPUTS).mkdir(parents=True)
                except OSError:  # a full disk, a removed work dir: runs make their own
                    return
                with self._lock:
                    self._ready.append(spare)
        finally:
            with self._lock:
                self._filling = False

    def close(self) -> None:
        """Stop filling, remove the spares and the discarded directories."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._lock:
            self._ready.clear()
            spent, self._spent = self._spent, []
        _remove_all(spent)
        with contextlib.suppress(OSError):
            shutil.rmtree(self._spare_root)


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
