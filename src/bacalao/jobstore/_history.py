"""History rows: building entries for state changes, writing and reading the ``events`` table."""

from __future__ import annotations

import sqlite3
from typing import Any

from bacalao import jsonfast
from bacalao.errors import NotFound
from bacalao.jobstore._schema import JOB_SEQ
from bacalao.models._wire import str_map
from bacalao.models.event import HistoryType, JobHistory, Topic
from bacalao.models.job_state import JobStateType

LIST_HINT = "list jobs with: bacalao job list"


def _entry(
    kind: HistoryType,
    job_id: str,
    *,
    message: str,
    topic: str,
    revision: int,
    now: int,
    execution_id: str = "",
    node_id: str = "",
    job_state: tuple[str, str] | None = None,
    execution_state: tuple[str, str] | None = None,
    stimulus_id: str = "",
    details: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A history entry in its stored wire shape, built directly as a dict.

    The same JSON :class:`JobHistory` dumps (keys in its field order, ``omitempty`` fields left out,
    no ``Seq``), without a model validation and a serialisation per state change: the store writes
    several of these for every job. ``tests/unit/jobstore`` checks the shapes agree.
    """
    row: dict[str, Any] = {"Type": kind.value, "JobID": job_id}
    if execution_id:
        row["ExecutionID"] = execution_id
    if node_id:
        row["NodeID"] = node_id
    if job_state is not None:
        row["JobState"] = {"Previous": job_state[0], "New": job_state[1]}
    if execution_state is not None:
        row["ExecutionState"] = {"Previous": execution_state[0], "New": execution_state[1]}
    row["NewRevision"] = revision
    event: dict[str, Any] = {"Message": message, "Topic": str(topic), "Timestamp": now}
    if details:
        event["Details"] = str_map(details)
    row["Event"] = event
    row["Time"] = now
    if stimulus_id:
        row["StimulusID"] = stimulus_id
    return row


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
) -> dict[str, Any]:
    """A job-level entry recording ``previous -> new``."""
    return _entry(
        HistoryType.JOB_LEVEL, job_id, job_state=(previous, new), message=message, topic=topic,
        revision=revision, now=now, stimulus_id=stimulus_id, details=details,
    )  # fmt: skip


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
) -> dict[str, Any]:
    """An execution-level entry, recording ``change`` (previous, new) when given."""
    return _entry(
        HistoryType.EXECUTION_LEVEL, job_id, execution_id=execution_id, node_id=node_id,
        execution_state=change, message=message, topic=topic, revision=revision, now=now,
        stimulus_id=stimulus_id, details=details,
    )  # fmt: skip


def event_entry(
    job_id: str,
    message: str,
    *,
    execution_id: str,
    node_id: str,
    topic: str,
    now: int,
    stimulus_id: str,
    details: dict[str, str] | None,
) -> dict[str, Any]:
    """A free-standing entry (no state change): a notable moment worth telling the user."""
    kind = HistoryType.EXECUTION_LEVEL if execution_id else HistoryType.JOB_LEVEL
    return _entry(
        kind, job_id, execution_id=execution_id, node_id=node_id, message=message, topic=topic,
        revision=0, now=now, stimulus_id=stimulus_id, details=details,
    )  # fmt: skip


_TOPICS = {JobStateType.QUEUED: Topic.QUEUEING, JobStateType.STOPPED: Topic.STOP}


def topic_for(state: JobStateType) -> str:
    """The topic a job state change is filed under."""
    return _TOPICS.get(state, Topic.SCHEDULING)


def insert_event(conn: sqlite3.Connection, entry: dict[str, Any], job_seq: int) -> int:
    """Insert inside the caller's transaction, under the job's row key; returns the entry's
    ``seq``."""
    event = entry["Event"]
    try:
        cur = conn.execute(
            "INSERT INTO events (job_seq, execution_id, time, type, topic, message, details)"
            " VALUES (?,?,?,?,?,?,?)",
            (
                job_seq,
                entry.get("ExecutionID") or None,
                entry["Time"],
                entry["Type"],
                event["Topic"],
                event["Message"],
                jsonfast.dumps(entry),
            ),
        )
    except sqlite3.IntegrityError:
        raise NotFound(f"job {entry['JobID']} not found", hint=LIST_HINT) from None
    return int(cur.lastrowid or 0)


def history_of(entry: dict[str, Any], seq: int) -> JobHistory:
    """The model of a stored entry."""
    return JobHistory.model_validate({**entry, "Seq": seq})


def read_events(
    conn: sqlite3.Connection, job_id: str | None, since_seq: int, limit: int | None
) -> list[JobHistory]:
    """Entries with ``seq > since_seq`` (of one job, or all), in order."""
    sql, args = "SELECT seq, details FROM events WHERE seq > ?", [since_seq]
    if job_id is not None:
        sql += f" AND job_seq = {JOB_SEQ}"
        args.append(job_id)
    sql += " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    out = []
    for seq, details in conn.execute(sql, args).fetchall():
        data = jsonfast.loads(details)
        data["Seq"] = seq
        out.append(JobHistory.model_validate(data))
    return out
