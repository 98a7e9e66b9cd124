"""kill -9 in the middle of a stream of writes loses no acknowledged write and corrupts nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from js_helpers import make_job

from bacalao.jobstore import SQLiteJobStore
from bacalao.models import ExecutionStateType, JobStateType

# The writer acknowledges each write on stdout only after the store returned (i.e. committed).
WRITER = textwrap.dedent(
    """
    import sys
    from bacalao.jobstore import SQLiteJobStore
    from bacalao.models import Execution, ExecutionStateType, JobStateType, parse_job

    store = SQLiteJobStore(sys.argv[1])
    spec = {"Tasks": [{"Name": "main", "Engine": {"Type": "noop"}}]}
    i = 0
    while True:
        job_id, ex_id = f"j-{i:06d}", f"e-{i:06d}"
        store.create_job(parse_job(spec).with_id(job_id))
        print("job", job_id, flush=True)
        with store.transaction():
            store.create_execution(Execution(id=ex_id, job_id=job_id))
            store.update_job_state(job_id, JobStateType.RUNNING, "placed")
        print("running", job_id, flush=True)
        store.update_execution(ex_id, new_state=ExecutionStateType.BID_ACCEPTED)
        print("accepted", ex_id, flush=True)
        i += 1
    """
)


@pytest.mark.parametrize("kill_after", [7, 40, 151])
def test_kill_9_mid_stream_loses_no_acknowledged_write(tmp_path: Path, kill_after: int) -> None:
    db = tmp_path / "jobs.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: list[tuple[str, str]] = []
    try:
        assert proc.stdout is not None
        while len(acked) < kill_after:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "writer died"
            kind, ident = line.split()
            acked.append((kind, ident))
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # Lines written before the kill were acknowledged too.
    acked += [tuple(line.split()) for line in rest.splitlines() if line.strip()]  # type: ignore[misc]

    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []

    with SQLiteJobStore(db) as store:
        for kind, ident in acked:
            if kind == "job":
                assert store.get_job(ident).id == ident
            elif kind == "running":
                assert store.get_job(ident).state_type is JobStateType.RUNNING
            else:
                assert store.get_execution(ident).state is ExecutionStateType.BID_ACCEPTED
        # Consistency: every stored job has its first version and event; a job that is Running
        # has its execution (they were written in one transaction).
        jobs = store.list_jobs(limit=100_000)
        assert len(jobs) >= sum(1 for kind, _ in acked if kind == "job")
        for job in jobs:
            history = store.events(job.id)
            assert history[0].message == "Job submitted"
            assert len(store.job_versions(job.id)) == 1
            if job.state_type is JobStateType.RUNNING:
                assert len(store.list_executions(job.id)) == 1
                assert [h.job_state.new for h in history if h.job_state] == ["Pending", "Running"]
            else:
                assert store.list_executions(job.id) == []


def test_background_checkpoints_copy_the_log_back_off_the_writers_thread(tmp_path, monkeypatch):
    import bacalao.jobstore._db as db_module

    monkeypatch.setattr(db_module, "CHECKPOINT_INTERVAL_S", 0.01)
    path = tmp_path / "jobs.db"
    store = SQLiteJobStore(path, synchronous="NORMAL", background_checkpoints=True)
    writer = store._db.conn()
    # commits copy the log back only as a bound, far past SQLite's 1,000 pages
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone() == (db_module.BOUND_PAGES,)
    checkpointer = store._db._checkpointer
    size = path.stat().st_size
    with store.transaction():
        for i in range(300):
            store.create_job(make_job(f"j-{i:04d}", Labels={"k": "v"}))
    deadline = time.monotonic() + 30
    while checkpointer.runs == 0 or path.stat().st_size <= size:
        assert time.monotonic() < deadline, "no checkpoint ran"
        time.sleep(0.01)
    store.close()
    assert not checkpointer._thread.is_alive()
    with SQLiteJobStore(path) as again:
        assert len(again.list_jobs(limit=1000)) == 300


def test_without_background_checkpoints_commits_checkpoint_as_sqlite_does(tmp_path):
    with SQLiteJobStore(tmp_path / "jobs.db") as store:
        assert store._db._checkpointer is None
        assert store._db.conn().execute("PRAGMA wal_autocheckpoint").fetchone() == (1000,)
