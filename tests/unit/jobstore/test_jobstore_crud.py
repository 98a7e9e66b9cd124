"""Job store: jobs, executions, history, transitions, prefixes, filters, transactions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from js_helpers import FakeClock, make_job
from pydantic import ValidationError

from bacalao.errors import Conflict, InvalidInput, NotFound, Unavailable
from bacalao.jobstore import JobStore, SQLiteJobStore
from bacalao.models import (
    DesiredStateType,
    Execution,
    ExecutionStateType,
    HistoryType,
    JobStateType,
    Metering,
    RunCommandResult,
)

J, E = JobStateType, ExecutionStateType


def test_store_satisfies_the_protocol(store: SQLiteJobStore) -> None:
    assert isinstance(store, JobStore)


def test_create_and_get(store: SQLiteJobStore, clock: FakeClock) -> None:
    job = make_job("j-aaaa-1111", Labels={"team": "a"})
    stored = store.create_job(job)
    assert stored.state_type is J.PENDING
    assert (stored.revision, stored.version) == (1, 1)
    assert stored.create_time == stored.modify_time > 0
    assert stored.name == "j-aaaa-1111"  # a nameless job is named after its ID
    assert store.get_job("j-aaaa-1111") == stored
    [entry] = store.events("j-aaaa-1111")
    assert entry.type is HistoryType.JOB_LEVEL and entry.message == "Job submitted"
    assert entry.job_state.previous == entry.job_state.new == "Pending"
    assert entry.event.topic == "Submission" and entry.seq >= 1
    assert store.job_versions("j-aaaa-1111") == [stored]


def test_create_rejects_duplicates_and_missing_ids(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    with pytest.raises(Conflict, match="already exists"):
        store.create_job(make_job("j-1"))
    with pytest.raises(InvalidInput, match="needs an ID"):
        store.create_job(make_job("j-2").model_copy(update={"id": ""}))
    assert len(store.events("j-1")) == 1  # the failed duplicate left nothing behind


def test_prefix_lookup(store: SQLiteJobStore) -> None:
    for job_id in ("j-abc123", "j-abd456", "j-xyz789"):
        store.create_job(make_job(job_id))
    assert store.get_job("j-abc").id == "j-abc123"
    assert store.get_job("abc").id == "j-abc123"  # the j- may be omitted
    assert store.get_job("xyz7").id == "j-xyz789"
    with pytest.raises(InvalidInput, match="matches several jobs") as info:
        store.get_job("j-ab")
    assert "more characters" in info.value.hint
    with pytest.raises(NotFound) as missing:
        store.get_job("j-nope")
    assert "bacalao job list" in missing.value.hint
    with pytest.raises(InvalidInput):
        store.get_job("  ")


def test_list_filters_and_paging(store: SQLiteJobStore) -> None:
    for i in range(6):
        job = make_job(
            f"j-{i}",
            Namespace="ns-a" if i % 2 else "ns-b",
            Labels={"team": "x" if i < 3 else "y", "n": str(i)},
        )
        store.create_job(job)
    store.update_job_state("j-4", J.RUNNING, "placed")
    ids = lambda jobs: [j.id for j in jobs]  # noqa: E731
    assert ids(store.list_jobs()) == [f"j-{i}" for i in range(6)]
    assert ids(store.list_jobs(namespace="ns-a")) == ["j-1", "j-3", "j-5"]
    assert ids(store.list_jobs(namespace="*")) == ids(store.list_jobs())
    assert ids(store.list_jobs(state=J.RUNNING)) == ["j-4"]
    assert ids(store.list_jobs(state=[J.RUNNING, J.PENDING], limit=2)) == ["j-0", "j-1"]
    assert ids(store.list_jobs(labels={"team": "y"})) == ["j-3", "j-4", "j-5"]
    assert ids(store.list_jobs(labels={"team": "y", "n": "4"})) == ["j-4"]
    assert ids(store.list_jobs(limit=2, offset=2)) == ["j-2", "j-3"]
    assert ids(store.list_jobs(after="j-3")) == ["j-4", "j-5"]
    assert ids(store.list_jobs(reverse=True, limit=2)) == ["j-5", "j-4"]
    assert ids(store.list_jobs(reverse=True, after="j-2")) == ["j-1", "j-0"]
    assert ids(store.list_jobs(order_by="modify_time", reverse=True, limit=1)) == ["j-4"]
    with pytest.raises(InvalidInput, match="cannot order"):
        store.list_jobs(order_by="name")
    with pytest.raises(NotFound):
        store.list_jobs(after="j-missing")


def test_job_transitions_are_checked_and_recorded(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    queued = store.update_job_state("j-1", J.QUEUED, "no node has 4 GPUs free", stimulus_id="s1")
    assert queued.state.message == "no node has 4 GPUs free" and queued.revision == 2
    running = store.update_job_state("j-1", J.RUNNING, "placed on n-1")
    assert running.revision == 3 and running.modify_time > queued.modify_time
    done = store.update_job_state("j-1", J.COMPLETED, "1/1 executions completed")
    assert store.get_job("j-1") == done and done.is_terminal
    with pytest.raises(Conflict, match="cannot go from Completed to Stopped"):
        store.update_job_state("j-1", J.STOPPED, "too late")
    history = store.events("j-1")
    assert [(h.job_state.previous, h.job_state.new) for h in history] == [
        ("Pending", "Pending"),
        ("Pending", "Queued"),
        ("Queued", "Running"),
        ("Running", "Completed"),
    ]
    assert history[1].stimulus_id == "s1" and history[1].event.topic == "Queueing"
    assert [h.new_revision for h in history] == [1, 2, 3, 4]
    with pytest.raises(NotFound):
        store.update_job_state("j-missing", J.RUNNING, "x")


def test_job_compare_and_swap(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    with pytest.raises(Conflict, match="is Pending, not Running"):
        store.update_job_state("j-1", J.FAILED, "x", expected_state=J.RUNNING)
    store.update_job_state("j-1", J.RUNNING, "go", expected_state=[J.PENDING, J.QUEUED])
    assert store.get_job("j-1").state_type is J.RUNNING
    assert len(store.events("j-1")) == 2  # the refused change recorded nothing


def test_in_progress_jobs(store: SQLiteJobStore) -> None:
    for i in range(4):
        store.create_job(make_job(f"j-{i}"))
    store.update_job_state("j-0", J.RUNNING, "r")
    store.update_job_state("j-1", J.STOPPED, "user asked")
    store.update_job_state("j-2", J.FAILED, "boom")
    assert [j.id for j in store.in_progress_jobs()] == ["j-0", "j-3"]


def make_execution(execution_id: str, job_id: str = "j-1", **kw: object) -> Execution:
    return Execution(id=execution_id, job_id=job_id, **kw)


def test_execution_lifecycle(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1", Namespace="team"))
    created = store.create_execution(make_execution("e-1", node_id="n-1", shard_index=2))
    assert created.namespace == "team" and created.revision == 1 and created.state is E.NEW
    store.update_execution("e-1", new_state=E.ASK_FOR_BID, message="asking n-1")
    store.update_execution(
        "e-1",
        new_state=E.BID_ACCEPTED,
        desired_state=DesiredStateType.RUNNING,
        message="bid accepted",
    )
    store.update_execution("e-1", new_state=E.RUNNING, message="container started")
    done = store.update_execution(
        "e-1",
        new_state=E.COMPLETED,
        desired_state=DesiredStateType.STOPPED,
        message="exit 0",
        expected_state=E.RUNNING,
        run_output=RunCommandResult(stdout="hi\n", exit_code=0),
        metering=Metering(cpu_seconds=0.25, bytes_fetched=0),
        result_cid="bafyresult",
    )
    assert done.revision == 5 and done.is_terminal
    assert done.run_output.exit_code == 0 and done.result_cid == "bafyresult"
    assert store.get_execution("e-1") == done
    history = [h for h in store.events("j-1") if h.type is HistoryType.EXECUTION_LEVEL]
    assert [h.execution_state.new for h in history] == [
        "New",
        "AskForBid",
        "BidAccepted",
        "Running",
        "Completed",
    ]
    assert history[0].message == "execution created for shard 2 on node n-1"
    assert all(h.execution_id == "e-1" and h.node_id == "n-1" for h in history)
    with pytest.raises(Conflict, match="cannot go from Completed to Failed"):
        store.update_execution("e-1", new_state=E.FAILED)


def test_execution_updates_are_checked(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    with pytest.raises(NotFound):
        store.create_execution(make_execution("e-x", job_id="j-missing"))
    store.create_execution(make_execution("e-1"))
    with pytest.raises(Conflict, match="already exists"):
        store.create_execution(make_execution("e-1"))
    with pytest.raises(Conflict, match="cannot go from New to Running"):
        store.update_execution("e-1", new_state=E.RUNNING)
    with pytest.raises(Conflict, match="is New, not Running"):
        store.update_execution("e-1", new_state=E.FAILED, expected_state=E.RUNNING)
    with pytest.raises(TypeError, match="cannot set"):
        store.update_execution("e-1", job_id="j-2")
    with pytest.raises(TypeError, match="cannot set"):
        store.update_execution("e-1", colour="red")
    with pytest.raises(NotFound):
        store.update_execution("e-missing", new_state=E.FAILED)
    # Fields are validated as their types, constraints included; nothing is written otherwise.
    for bad in ({"shard_index": -1}, {"metering": "lots"}, {"retryable": "maybe"}):
        with pytest.raises(ValidationError):
            store.update_execution("e-1", **bad)
    assert store.get_execution("e-1").revision == 1
    # A field-only update bumps the revision but records no history.
    before = len(store.events("j-1"))
    moved = store.update_execution("e-1", node_id="n-2")
    assert moved.node_id == "n-2" and moved.revision == 2
    assert len(store.events("j-1")) == before
    assert store.list_executions(node_id="n-2") == [moved]
    # A repeated desired state is a no-op, not a conflict.
    store.update_execution("e-1", desired_state=DesiredStateType.STOPPED, message="stop")
    store.update_execution("e-1", desired_state=DesiredStateType.STOPPED)
    with pytest.raises(Conflict):
        store.update_execution("e-1", desired_state=DesiredStateType.RUNNING)


def test_list_executions(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    store.create_job(make_job("j-2"))
    store.create_execution(make_execution("e-b", shard_index=1, node_id="n-1"))
    store.create_execution(make_execution("e-a", shard_index=0, node_id="n-2"))
    store.create_execution(make_execution("e-c", job_id="j-2", node_id="n-1"))
    store.update_execution("e-c", new_state=E.CANCELLED, message="job stopped")
    assert [e.id for e in store.list_executions("j-1")] == ["e-a", "e-b"]
    assert [e.id for e in store.list_executions(node_id="n-1")] == ["e-b", "e-c"]
    assert [e.id for e in store.list_executions(states=E.CANCELLED)] == ["e-c"]
    assert [e.id for e in store.in_progress_executions()] == ["e-a", "e-b"]
    assert store.list_executions("j-none") == []


def test_events_since_and_append(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    store.create_job(make_job("j-2"))
    first = store.events("j-1")[-1].seq
    note = store.append_event(
        "j-1", "3/16 shards done", topic="Execution", details={"Done": "3"}, stimulus_id="s9"
    )
    assert note.seq > first and note.type is HistoryType.JOB_LEVEL
    assert [e.message for e in store.events("j-1", since_seq=first)] == ["3/16 shards done"]
    assert store.events("j-1", since_seq=first)[0] == note
    everything = store.events(None)
    assert [e.seq for e in everything] == sorted(e.seq for e in everything)
    assert {e.job_id for e in everything} == {"j-1", "j-2"}
    assert len(store.events(None, limit=2)) == 2
    with pytest.raises(NotFound):
        store.append_event("j-missing", "hello")


def test_transaction_commits_together_or_not_at_all(store: SQLiteJobStore) -> None:
    with store.transaction():
        store.create_job(make_job("j-1"))
        store.create_execution(make_execution("e-1"))
        store.update_job_state("j-1", J.RUNNING, "placed")
    assert store.get_job("j-1").state_type is J.RUNNING
    with pytest.raises(RuntimeError), store.transaction():
        store.create_job(make_job("j-2"))
        store.create_execution(make_execution("e-2", job_id="j-2"))
        raise RuntimeError("crash between writes")
    with pytest.raises(NotFound):
        store.get_job("j-2")
    with pytest.raises(NotFound):
        store.get_execution("e-2")


def test_nested_failure_rolls_back_only_the_inner_block(store: SQLiteJobStore) -> None:
    with store.transaction():
        store.create_job(make_job("j-1"))
        with pytest.raises(Conflict):
            store.update_job_state("j-1", J.FAILED, "x", expected_state=J.RUNNING)
        with pytest.raises(ValueError), store.transaction():
            store.create_job(make_job("j-2"))
            raise ValueError("inner")
        store.create_job(make_job("j-3"))
    assert [j.id for j in store.list_jobs()] == ["j-1", "j-3"]


def test_reopen_keeps_everything(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "jobs.db"
    with SQLiteJobStore(path, clock=clock) as store:
        store.create_job(make_job("j-1"))
        store.create_execution(make_execution("e-1"))
        store.update_job_state("j-1", J.RUNNING, "placed")
        job, events = store.get_job("j-1"), store.events("j-1")
    with SQLiteJobStore(path, clock=clock) as again:
        assert again.get_job("j-1") == job
        assert again.events("j-1") == events
        assert again.get_execution("e-1").job_id == "j-1"
    with pytest.raises(Unavailable):
        store.get_job("j-1")


def test_memory_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SQLiteJobStore(":memory:")
    with pytest.raises(ValueError):
        SQLiteJobStore(tmp_path / "x.db", synchronous="OFF")


def test_clock_is_the_only_time_source(store: SQLiteJobStore, clock: FakeClock) -> None:
    clock.now = 42_000
    job = store.create_job(make_job("j-1"))
    assert job.create_time == 43_000
    assert store.events("j-1")[0].time == 43_000


def test_last_seq_follows_the_history(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    store.create_job(make_job("j-2"))
    first = store.last_seq("j-1")
    assert first == store.events("j-1")[-1].seq > 0
    store.append_event("j-2", "elsewhere")
    assert store.last_seq("j-1") == first
    store.append_event("j-1", "news")
    assert store.last_seq("j-1") == store.events("j-1")[-1].seq > first
    assert store.last_seq("j-none") == 0


def _stored_rows(path: Path) -> tuple[list[tuple], list[dict]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT * FROM executions").fetchall()
        events = [json.loads(d) for (d,) in conn.execute("SELECT details FROM events ORDER BY seq")]
    finally:
        conn.close()
    return rows, events


@pytest.mark.parametrize("exclusive", [False, True])
def test_passing_through_states_stores_what_one_call_a_state_would(
    tmp_path: Path, exclusive: bool
) -> None:
    def run(name: str, one_call: bool) -> tuple[list[tuple], list[dict]]:
        path = tmp_path / f"{name}.db"
        with SQLiteJobStore(path, clock=FakeClock(step=0), exclusive=exclusive) as s:
            s.create_job(make_job("j-1"))
            s.create_execution(make_execution("e-1", node_id="n-1"))
            s.update_execution("e-1", new_state=E.ASK_FOR_BID)
            final = {"message": "exit 0", "result_cid": "bafyresult", "retryable": False}
            with s.transaction():
                if one_call:
                    s.update_execution(
                        "e-1",
                        new_state=E.COMPLETED,
                        via=[(E.BID_ACCEPTED, "bid accepted"), (E.RUNNING, "running")],
                        **final,
                    )
                else:
                    s.update_execution("e-1", new_state=E.BID_ACCEPTED, message="bid accepted")
                    s.update_execution("e-1", new_state=E.RUNNING, message="running")
                    s.update_execution("e-1", new_state=E.COMPLETED, **final)
            assert s.get_execution("e-1").revision == 5
        return _stored_rows(path)

    assert run("one", one_call=True) == run("each", one_call=False)


def test_passing_through_states_is_checked_step_by_step(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    store.create_execution(make_execution("e-1"))
    with pytest.raises(Conflict, match="cannot go from New to Running"):
        store.update_execution("e-1", new_state=E.COMPLETED, via=[(E.RUNNING, "")])
    with pytest.raises(TypeError, match="on its way to a new_state"):
        store.update_execution("e-1", via=[(E.ASK_FOR_BID, "")])
    assert store.get_execution("e-1").revision == 1
    assert len(store.events("j-1")) == 2  # submitted, created: nothing of the refused calls
