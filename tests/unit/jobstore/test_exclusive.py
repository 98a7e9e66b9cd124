"""An exclusive store answers reads by ID from what it committed, never from what rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from js_helpers import FakeClock, make_job

from bacalao.errors import NotFound
from bacalao.jobstore import SQLiteJobStore
from bacalao.jobstore._db import Database
from bacalao.models.execution import Execution
from bacalao.models.job_state import ExecutionStateType, JobStateType


@pytest.fixture
def exclusive(tmp_path: Path, clock: FakeClock) -> Iterator[SQLiteJobStore]:
    s = SQLiteJobStore(tmp_path / "jobs.db", clock=clock, exclusive=True)
    yield s
    s.close()


def _from_file(store: SQLiteJobStore) -> SQLiteJobStore:
    return SQLiteJobStore(store.path)


def test_reads_equal_what_the_file_holds(exclusive: SQLiteJobStore) -> None:
    exclusive.create_job(make_job("j-1"))
    exclusive.create_execution(Execution(ID="e-1", JobID="j-1", NodeID="n"))
    exclusive.update_execution("e-1", new_state=ExecutionStateType.ASK_FOR_BID)
    exclusive.update_job_state("j-1", JobStateType.RUNNING, "placed")
    exclusive.append_event("j-1", "a note")
    with _from_file(exclusive) as other:
        assert exclusive.get_job("j-1") == other.get_job("j-1")
        assert exclusive.get_execution("e-1") == other.get_execution("e-1")
        assert exclusive.last_seq("j-1") == other.last_seq("j-1") == 5


def test_a_rolled_back_write_is_never_served(exclusive: SQLiteJobStore) -> None:
    exclusive.create_job(make_job("j-1"))
    with pytest.raises(RuntimeError), exclusive.transaction():
        exclusive.update_job_state("j-1", JobStateType.RUNNING, "placed")
        # inside the transaction its own write is visible
        assert exclusive.get_job("j-1").state_type is JobStateType.RUNNING
        raise RuntimeError("abort")
    assert exclusive.get_job("j-1").state_type is JobStateType.PENDING
    assert exclusive.last_seq("j-1") == 1


def test_an_inner_rollback_keeps_the_outer_writes(exclusive: SQLiteJobStore) -> None:
    exclusive.create_job(make_job("j-1"))
    exclusive.create_job(make_job("j-2"))
    with exclusive.transaction():
        exclusive.update_job_state("j-1", JobStateType.RUNNING, "placed")
        with pytest.raises(RuntimeError), exclusive.transaction():
            exclusive.update_job_state("j-2", JobStateType.RUNNING, "placed")
            raise RuntimeError("abort")
    assert exclusive.get_job("j-1").state_type is JobStateType.RUNNING
    assert exclusive.get_job("j-2").state_type is JobStateType.PENDING
    with _from_file(exclusive) as other:
        assert other.get_job("j-2").state_type is JobStateType.PENDING


def test_on_commit_runs_after_the_outermost_commit_only(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db", synchronous="NORMAL", busy_timeout_s=1)
    seen: list[str] = []
    db.on_commit(lambda: seen.append("now"))  # outside a transaction: at once
    with db.transaction():
        db.on_commit(lambda: seen.append("outer"))
        with db.transaction():
            db.on_commit(lambda: seen.append("inner"))
        assert seen == ["now"]
    assert seen == ["now", "outer", "inner"]
    with pytest.raises(ValueError), db.transaction():
        db.on_commit(lambda: seen.append("never"))
        raise ValueError
    with db.transaction():
        pass
    assert "never" not in seen
    db.close()


def test_what_has_ended_is_read_from_the_file_again(exclusive: SQLiteJobStore) -> None:
    """Finished jobs and executions leave the in-memory view (a long-running server would
    otherwise keep every finished job's models alive); their reads still answer the same."""
    exclusive.create_job(make_job("j-1"))
    exclusive.create_execution(Execution(ID="e-1", JobID="j-1", NodeID="n"))
    exclusive.update_job_state("j-1", JobStateType.RUNNING, "placed")
    assert set(exclusive._memory.committed.jobs) == {"j-1"}
    assert set(exclusive._memory.committed.executions) == {"e-1"}
    exclusive.update_execution("e-1", new_state=ExecutionStateType.FAILED, message="lost")
    exclusive.update_job_state("j-1", JobStateType.FAILED, "gave up")
    assert not exclusive._memory.committed.jobs and not exclusive._memory.committed.executions
    with _from_file(exclusive) as other:
        assert exclusive.get_job("j-1") == other.get_job("j-1")
        assert exclusive.get_execution("e-1") == other.get_execution("e-1")
        assert exclusive.last_seq("j-1") == other.last_seq("j-1") == 5


def test_reads_in_a_transaction_see_its_writes_and_lose_a_savepoints(
    exclusive: SQLiteJobStore,
) -> None:
    exclusive.create_job(make_job("j-1"))
    with exclusive.transaction():
        exclusive.update_job_state("j-1", JobStateType.RUNNING, "placed")
        with pytest.raises(RuntimeError), exclusive.transaction():
            exclusive.update_job_state("j-1", JobStateType.COMPLETED, "done")
            assert exclusive.get_job("j-1").state_type is JobStateType.COMPLETED
            raise RuntimeError("abort")
        # the savepoint took its write back; the transaction's own write is still served
        running = exclusive.get_job("j-1")
        assert running.state_type is JobStateType.RUNNING
    assert exclusive.get_job("j-1") == running
    with _from_file(exclusive) as other:
        assert other.get_job("j-1") == running


def test_a_rolled_back_jobs_row_key_is_never_used_for_another(exclusive: SQLiteJobStore) -> None:
    # SQLite hands a rolled-back row's key to the next row: history must follow the job's ID.
    with exclusive.transaction():
        with pytest.raises(ValueError), exclusive.transaction():
            exclusive.create_job(make_job("j-gone"))
            raise ValueError("roll this savepoint back")
        exclusive.create_job(make_job("j-kept"))
        exclusive.create_execution(Execution(ID="e-1", JobID="j-kept", NodeID="n"))
        exclusive.update_job_state("j-kept", JobStateType.RUNNING, "placed")
    with pytest.raises(NotFound):
        exclusive.update_job_state("j-gone", JobStateType.RUNNING, "placed")
    exclusive.update_execution("e-1", new_state=ExecutionStateType.ASK_FOR_BID)
    with _from_file(exclusive) as other:
        assert [h.job_id for h in other.events(None)] == ["j-kept"] * 4
        assert [e.id for e in other.list_executions("j-kept")] == ["e-1"]
        assert other.list_executions("j-gone") == []


def test_a_new_jobs_executions_are_known_empty_without_a_query(exclusive: SQLiteJobStore) -> None:
    exclusive.create_job(make_job("j-1"))
    statements: list[str] = []
    exclusive._db.conn().set_trace_callback(statements.append)
    assert exclusive.list_executions("j-1") == []
    assert statements == []
    with pytest.raises(ValueError), exclusive.transaction():
        exclusive.create_execution(Execution(ID="e-0", JobID="j-1", NodeID="n"))
        raise ValueError("roll it back")
    assert exclusive.list_executions("j-1") == []  # asked the file this time
    assert statements
    exclusive.create_execution(Execution(ID="e-1", JobID="j-1", NodeID="n"))
    assert [e.id for e in exclusive.list_executions("j-1")] == ["e-1"]
