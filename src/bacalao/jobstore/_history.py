"""History rows: building entries for state changes, writing and reading the ``events`` table."""

from __future__ import annotations

import json
import sqlite3

from bacalao.errors import NotFound
from bacalao.models.event import Event, HistoryType, JobHistory, StateChange, Topic
from bacalao.models.job_state import JobStateType

LIST_HINT = "list jobs with: bacalao job list"


def dumps(obj: object) -> str:
    """Compact JSON, as stored in the spec/data/details columns."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def job_entry(
    job_id: str,
    previous: str,
    new: str,
    *,
    message: str,
    topic: str,
    revision: int,
    now: int,
    stimulus_id: str = "",
    details: dict[str, str] | None = None,
) -> JobHistory:
    """A job-level entry recording ``previous -> new``."""
    return JobHistory(
        type=HistoryType.JOB_LEVEL,
        job_id=job_id,
        job_state=StateChange(previous=previous, new=new),
        new_revision=revision,
        event=Event(message=message, topic=topic, timestamp=now, details=details or {}),
        time=now,
        stimulus_id=stimulus_id,
    )


def execution_entry(
    job_id: str,
    execution_id: str,
    node_id: str,
    change: tuple[str, str] | None,
    *,
    message: str,
    topic: str,
    revision: int,
    now: int,
    stimulus_id: str = "",
    details: dict[str, str] | None = None,
) -> JobHistory:
    """An execution-level entry, recording ``change`` (previous, new) when given."""
    return JobHistory(
        type=HistoryType.EXECUTION_LEVEL,
        job_id=job_id,
        execution_id=execution_id,
        node_id=node_id,
        execution_state=StateChange(previous=change[0], new=change[1]) if change else None,
        new_revision=revision,
        event=Event(message=message, topic=topic, timestamp=now, details=details or {}),
        time=now,
        stimulus_id=stimulus_id,
    )


def topic_for(state: JobStateType) -> str:
    """The topic a job state change is filed under."""
    return {JobStateType.QUEUED: Topic.QUEUEING, JobStateType.STOPPED: Topic.STOP}.get(
        state, Topic.SCHEDULING
    )


def insert_event(conn: sqlite3.Connection, entry: JobHistory) -> JobHistory:
    """Insert inside the caller's transaction; returns the entry with its ``seq``."""
    details = entry.model_dump(mode="json", by_alias=True, exclude={"seq"}, exclude_none=True)
    try:
        cur = conn.execute(
            "INSERT INTO events (job_id, execution_id, time, type, topic, message, details)"
            " VALUES (?,?,?,?,?,?,?)",
            (
                entry.job_id,
                entry.execution_id or None,
                entry.time,
                entry.type.value,
                entry.event.topic,
                entry.event.message,
                dumps(details),
            ),
        )
    except sqlite3.IntegrityError:
        raise NotFound(f"job {entry.job_id} not found", hint=LIST_HINT) from None
    return entry.model_copy(update={"seq": cur.lastrowid})


def read_events(
    conn: sqlite3.Connection, job_id: str | None, since_seq: int, limit: int | None
) -> list[JobHistory]:
    """Entries with ``seq > since_seq`` (of one job, or all), in order."""
    sql, args = "SELECT seq, details FROM events WHERE seq > ?", [since_seq]
    if job_id is not None:
        sql += " AND job_id = ?"
        args.append(job_id)
    sql += " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    out = []
    for seq, details in conn.execute(sql, args).fetchall():
        data = json.loads(details)
        data["Seq"] = seq
        out.append(JobHistory.model_validate(data))
    return out
