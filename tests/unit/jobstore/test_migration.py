"""Opening a store written by an older bacalao brings its schema up to date, losing nothing.

``data/store_v1.sql`` is the dump of a store that schema 1's code wrote: jobs ``j-cc``, ``j-aa``,
``j-bb`` created in that order (so ID order is not creation order), with labels, three executions,
state changes and a free-standing note, eleven history entries in all.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from js_helpers import FakeClock

from bacalao.errors import Conflict
from bacalao.jobstore import SQLiteJobStore
from bacalao.jobstore._schema import SCHEMA_VERSION
from bacalao.models.job_state import ExecutionStateType, JobStateType

V1_DUMP = Path(__file__).parent / "data" / "store_v1.sql"


@pytest.fixture
def v1_path(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.db"
    conn = sqlite3.connect(path)
    conn.executescript(V1_DUMP.read_text())
    conn.close()
    return path


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])
    finally:
        conn.close()


def test_a_schema_1_store_is_migrated_with_everything_in_it(v1_path: Path) -> None:
    assert _version(v1_path) == 1
    with SQLiteJobStore(v1_path, clock=FakeClock(start=1_800_000_000_000_000_000)) as store:
        jobs = store.list_jobs(limit=10)
        assert [j.id for j in jobs] == ["j-cc", "j-aa", "j-bb"]
        assert store.get_job("j-cc").state_type is JobStateType.COMPLETED
        assert [j.id for j in store.list_jobs(labels={"team": "b"})] == ["j-aa"]
        assert [j.id for j in store.list_jobs(labels={"tier": "x", "team": "b"})] == ["j-aa"]
        assert [v.version for v in store.job_versions("j-bb")] == [1]

        assert [e.id for e in store.list_executions("j-aa")] == ["e-3", "e-1"]
        assert store.get_execution("e-2").state is ExecutionStateType.COMPLETED
        assert [e.id for e in store.in_progress_executions()] == ["e-3", "e-1"]

        history = store.events(None)
        assert [h.seq for h in history] == list(range(1, 12))  # followers resume from these
        assert [h.seq for h in store.events("j-cc")] == [1, 4, 7, 8, 9, 10]
        assert store.events("j-aa")[-1].event.message == "a note"
        assert store.last_seq("j-aa") == 11

        # and it keeps working: new rows go after the old ones
        assert store.append_event("j-bb", "after the upgrade").seq == 12
        store.update_execution("e-1", new_state=ExecutionStateType.BID_ACCEPTED)
        assert [h.seq for h in store.events("j-aa", since_seq=11)] == [13]

    assert _version(v1_path) == SCHEMA_VERSION
    conn = sqlite3.connect(v1_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        seqs = dict(conn.execute("SELECT id, seq FROM jobs"))
        assert seqs == {"j-cc": 1, "j-aa": 2, "j-bb": 3}  # creation order
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert not {t for t in tables if t.endswith("_v1")}
    finally:
        conn.close()


def test_opening_a_migrated_store_again_changes_nothing(v1_path: Path) -> None:
    SQLiteJobStore(v1_path).close()
    before = V1_DUMP.read_text()  # (unchanged source; compare the migrated file's dumps)
    conn = sqlite3.connect(v1_path)
    first = "\n".join(conn.iterdump())
    conn.close()
    SQLiteJobStore(v1_path).close()
    conn = sqlite3.connect(v1_path)
    second = "\n".join(conn.iterdump())
    conn.close()
    assert first == second
    assert before != first


def test_a_store_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    SQLiteJobStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(Conflict, match="schema 99, newer than this bacalao reads"):
        SQLiteJobStore(path)
    assert _version(path) == 99


def test_serve_on_a_store_newer_than_the_code_says_so_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "orchestrator").mkdir(parents=True)
    path = data / "orchestrator" / "jobs.db"
    SQLiteJobStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    bacalao = Path(sys.executable).with_name("bacalao")
    args = [str(bacalao), "serve", "--port", "0", "--data-dir", str(data), "--engine", "noop"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Error: the job store is schema 99, newer than this bacalao reads (2)",
        "Hint: upgrade bacalao, or give this node a data directory of its own",
    ]
    assert _version(path) == 99
