"""GroupCommit: the writes of one loop turn commit once; each fails alone; a flush commits what
is pending at once. Runs over the real SQLite job store's transactions."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bacalao.jobstore.sqlite import SQLiteJobStore
from bacalao.models.parse import parse_job
from bacalao.orchestrator.commits import GroupCommit

JOB = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]}


@pytest.fixture
def store(tmp_path):
    with SQLiteJobStore(tmp_path / "jobs.db", clock=lambda: 1) as s:
        yield s


def _job(i: int):
    return parse_job(JOB).with_id(f"j-{i}")


def _commits(store: SQLiteJobStore) -> list[str]:
    """Every statement the store's connection runs from now on, COMMITs among them."""
    seen: list[str] = []
    store._db.conn().set_trace_callback(seen.append)
    return seen


async def test_writes_of_one_turn_commit_once_and_answer_in_order(store):
    group = GroupCommit(store)
    seen = _commits(store)
    futures = [group.run(lambda i=i: store.create_job(_job(i)).id) for i in range(5)]
    assert await asyncio.gather(*futures) == [f"j-{i}" for i in range(5)]
    assert seen.count("COMMIT") == 1
    assert (group.batches, group.writes) == (1, 5)
    assert len(store.list_jobs(limit=10)) == 5


async def test_a_failing_write_rolls_back_alone(store):
    group = GroupCommit(store)

    def half_then_fail() -> None:
        store.create_job(_job(1))
        raise ValueError("boom")

    ok = group.run(lambda: store.create_job(_job(0)).id)
    bad = group.run(half_then_fail)
    after = group.run(lambda: store.create_job(_job(2)).id)
    assert await ok == "j-0"
    with pytest.raises(ValueError, match="boom"):
        await bad
    assert await after == "j-2"
    assert sorted(j.id for j in store.list_jobs(limit=10)) == ["j-0", "j-2"]


async def test_a_lone_failing_write_gets_its_own_error(store):
    group = GroupCommit(store)

    def fail() -> None:
        store.create_job(_job(1))
        raise ValueError("alone")

    with pytest.raises(ValueError, match="alone"):
        await group.run(fail)
    assert store.list_jobs(limit=10) == []


async def test_a_failed_commit_fails_every_write_of_the_batch(store, monkeypatch):
    group = GroupCommit(store)
    conn = store._db.conn()
    # a trigger that aborts at COMMIT time is not possible; a deferred foreign key is
    conn.execute("PRAGMA defer_foreign_keys = ON")

    def orphan_label() -> None:
        conn.execute("INSERT INTO job_labels (job_seq, key, value) VALUES (-1, 'k', 'v')")

    def good() -> str:
        conn.execute("PRAGMA defer_foreign_keys = ON")  # per transaction
        return store.create_job(_job(0)).id

    first = group.run(good)
    second = group.run(orphan_label)
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results), results
    assert store.list_jobs(limit=10) == []  # nothing of the batch was kept


async def test_flush_commits_what_is_pending_at_once(store):
    group = GroupCommit(store)
    pending = group.run(lambda: store.create_job(_job(0)).id)
    group.flush()
    assert pending.done() and await pending == "j-0"
    assert store.get_job("j-0").id == "j-0"
