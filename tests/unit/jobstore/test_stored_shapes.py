"""The store's fast paths write exactly what the models would: patched JSON and history rows.

State changes patch the stored JSON instead of serialising the whole model, and history rows are
built as dicts instead of through :class:`JobHistory`. These tests compare both with the models'
own serialisation, so a new field or an ``omitempty`` rule cannot drift apart from them.
"""

from __future__ import annotations

import json
import sqlite3

from js_helpers import make_job

from bacalao.jobstore import SQLiteJobStore
from bacalao.jobstore._history import event_entry, execution_entry, job_entry
from bacalao.models.event import Event, HistoryType, JobHistory, StateChange
from bacalao.models.execution import Execution, Metering, RunCommandResult
from bacalao.models.job import Job
from bacalao.models.job_state import DesiredStateType, ExecutionStateType, JobStateType
from bacalao.models.publisher import PublishedResult

ES = ExecutionStateType


def _stored(store: SQLiteJobStore, sql: str, key: str) -> dict:
    conn = sqlite3.connect(store.path)
    try:
        (text,) = conn.execute(sql, (key,)).fetchone()
    finally:
        conn.close()
    return json.loads(text)


def test_job_state_changes_store_what_the_model_dumps(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1", Labels={"a": "b"}))
    for state, message in [
        (JobStateType.QUEUED, "no node yet"),
        (JobStateType.RUNNING, ""),
        (JobStateType.COMPLETED, "done"),
    ]:
        updated = store.update_job_state("j-1", state, message)
        stored = _stored(store, "SELECT spec FROM jobs WHERE id = ?", "j-1")
        assert stored == updated.to_wire()
        assert Job.model_validate(stored) == updated == store.get_job("j-1")


def test_execution_changes_store_what_the_model_dumps(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    store.create_execution(Execution(ID="e-1", JobID="j-1", NodeID="n-1"))
    steps = [
        {"new_state": ES.ASK_FOR_BID, "message": "asking"},
        {"new_state": ES.BID_ACCEPTED},
        {"desired_state": DesiredStateType.RUNNING, "message": "go"},
        {"message": "a note only"},
        {"new_state": ES.RUNNING, "message": "running"},
        {"retryable": False, "run_output": RunCommandResult(Stdout="hi", ExitCode=0)},
        {"new_state": ES.COMPLETED, "result_cid": "bafy", "metering": Metering(BytesRead=3)},
        {"published_result": PublishedResult(Type="ipfs", Params={"CID": "bafy"})},
        {"result_cid": "", "retryable": True},  # back to empty: the key goes, as omitempty does
    ]
    for step in steps:
        updated = store.update_execution("e-1", **step)
        stored = _stored(store, "SELECT data FROM executions WHERE id = ?", "e-1")
        assert stored == updated.to_wire(), step
        assert Execution.model_validate(stored) == updated == store.get_execution("e-1")


def _dump(entry: JobHistory) -> dict:
    return entry.model_dump(mode="json", by_alias=True, exclude={"seq"}, exclude_none=True)


def test_history_rows_match_the_model() -> None:
    job = job_entry(
        "j-1", "Pending", "Queued", message="m", topic="Queueing", revision=2, now=7,
        stimulus_id="s", details={"IsError": True, "n": 1},  # type: ignore[dict-item]
    )  # fmt: skip
    assert job == _dump(
        JobHistory(
            type=HistoryType.JOB_LEVEL,
            job_id="j-1",
            job_state=StateChange(previous="Pending", new="Queued"),
            new_revision=2,
            event=Event(
                message="m", topic="Queueing", timestamp=7, details={"IsError": "true", "n": "1"}
            ),
            time=7,
            stimulus_id="s",
        )
    )
    ex = execution_entry(
        "j-1", "e-1", "n-1", ("New", "AskForBid"), message="", topic="Execution", revision=1, now=9
    )
    assert ex == _dump(
        JobHistory(
            type=HistoryType.EXECUTION_LEVEL,
            job_id="j-1",
            execution_id="e-1",
            node_id="n-1",
            execution_state=StateChange(previous="New", new="AskForBid"),
            new_revision=1,
            event=Event(message="", topic="Execution", timestamp=9),
            time=9,
        )
    )
    free = event_entry(
        "j-1", "hello", execution_id="", node_id="", topic="Bidding", now=3, stimulus_id="",
        details=None,
    )  # fmt: skip
    assert free == _dump(
        JobHistory(
            type=HistoryType.JOB_LEVEL,
            job_id="j-1",
            event=Event(message="hello", topic="Bidding", timestamp=3),
            time=3,
        )
    )


def test_history_read_back_equals_what_was_appended(store: SQLiteJobStore) -> None:
    store.create_job(make_job("j-1"))
    appended = store.append_event("j-1", "note", topic="Bidding", details={"Hint": "h"})
    assert store.events("j-1")[-1] == appended
    assert appended.event.details == {"Hint": "h"}
