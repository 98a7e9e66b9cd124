"""The SQLite job store: WAL, ``synchronous=FULL``, jobs, executions and their history.

Every public write runs in one transaction (see :mod:`bacalao.jobstore._db`) that also appends its
history entry, so a state and the event that explains it are stored together or not at all.
Jobs and executions are stored whole as JSON (bacalao's lossless wire shape) beside the columns
that queries filter on.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bacalao.errors import Conflict, InvalidInput, NotFound
from bacalao.jobstore._db import Block, Database
from bacalao.jobstore._history import (
    LIST_HINT,
    event_entry,
    execution_entry,
    history_of,
    insert_event,
    job_entry,
    read_events,
    topic_for,
)
from bacalao.jobstore._memory import Memory
from bacalao.jobstore._rows import (
    Parsed,
    patched,
    state_wire,
    stored_text,
    validated,
    wire_of,
)
from bacalao.jobstore._schema import EXECUTION_LIVE, JOB_SEQ
from bacalao.jobstore.base import Clock, ExecutionStates, JobStates, iter_states
from bacalao.models.event import JobHistory, Topic
from bacalao.models.execution import ComputeState, DesiredState, Execution
from bacalao.models.job import JOB_ID_PREFIX, Job, JobState
from bacalao.models.job_state import (
    DesiredStateType,
    ExecutionStateType,
    JobStateType,
    check_transition,
)

_JOB_TERMINAL = tuple(s.value for s in JobStateType if s.is_terminal)
_ORDER_COLUMNS = {"create_time": "create_time", "modify_time": "modify_time"}
_FIXED_EXECUTION_FIELDS = {"id", "job_id", "revision", "create_time", "modify_time"}
_EXEC_ORDER = " ORDER BY job_seq, shard_index, create_time, id"
_CHANGED_MEANWHILE = "it changed meanwhile: reload it and decide again"


def _marks(values: tuple[Any, ...]) -> str:
    return ",".join("?" * len(values))


def _expect(current: Any, expected: set[Any], what: str) -> None:
    if expected and current not in expected:
        want = " or ".join(sorted(s.value for s in expected))
        raise Conflict(f"{what} is {current.value}, not {want}", hint=_CHANGED_MEANWHILE)


class SQLiteJobStore:
    """A :class:`~bacalao.jobstore.base.JobStore` in one SQLite file.

    ``clock`` returns Unix nanoseconds (inject a fake one in tests). ``synchronous`` is ``FULL``
    by default: every acknowledged write is fsynced. Safe to share between threads.

    ``exclusive`` promises that this object is the file's only writer (a node holds its data
    dir's lock): reads by ID and a job's newest history ``seq`` are then answered from what this
    object committed, without a query. Outside that promise every read goes to the file.

    ``background_checkpoints`` copies the WAL back into the file on a thread of its own rather
    than inside the commit that fills it (see :mod:`bacalao.jobstore._db`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock = time.time_ns,
        synchronous: str = "FULL",
        busy_timeout_s: float = 30.0,
        exclusive: bool = False,
        background_checkpoints: bool = False,
    ) -> None:
        self._db = Database(
            path,
            synchronous=synchronous,
            busy_timeout_s=busy_timeout_s,
            background_checkpoints=background_checkpoints,
        )
        self.path = self._db.path
        self._clock = clock
        self._jobs = Parsed(Job)
        self._executions = Parsed(Execution)
        self._memory = Memory(self._db, exclusive)

    def transaction(self, *, savepoint: bool = True) -> Block:
        """See :meth:`JobStore.transaction`."""
        return Block(self._db, savepoint, give=False)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """See :meth:`JobStore.on_commit`."""
        self._db.on_commit(callback)

    def close(self) -> None:
        """See :meth:`JobStore.close`."""
        self._db.close()

    def __enter__(self) -> SQLiteJobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _job_seq(self, conn: sqlite3.Connection, job_id: str) -> int:
        """The job's row key: from memory when this store may answer so, else from the file;
        NotFound if there is no such job."""
        known = self._memory.job_seq(job_id)
        if known is not None:
            return known
        return int(self._job_column(conn, job_id, "seq"))

    @staticmethod
    def _job_column(conn: sqlite3.Connection, job_id: str, column: str) -> Any:
        """One column of the job's row; NotFound if there is no such job."""
        row = conn.execute(f"SELECT {column} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"job {job_id} not found", hint=LIST_HINT)
        return row[0]

    def _now(self) -> int:
        return int(self._clock())

    def _read(self) -> sqlite3.Connection:
        return self._db.conn()

    # -- jobs -------------------------------------------------------------------------------------
    def create_job(self, job: Job, *, message: str = "Job submitted", stimulus_id: str = "") -> Job:
        """See :meth:`JobStore.create_job`."""
        if not job.id:
            raise InvalidInput("a job needs an ID before it is stored", hint="use job.with_id()")
        now = self._now()
        stored = job.model_copy(
            update={
                "state": JobState(state_type=JobStateType.PENDING),
                "version": 1,
                "revision": 1,
                "create_time": now,
                "modify_time": now,
                "name": job.name or job.id,
            }
        )
        spec = stored_text(stored.to_wire())
        row = (
            stored.id,
            stored.namespace,
            stored.name,
            stored.type.value,
            "Pending",
            now,
            now,
            spec,
        )
        with self._db.transaction(savepoint=False) as conn:
            try:
                job_seq = conn.execute(
                    "INSERT INTO jobs (id, namespace, name, type, state, version, revision,"
                    " create_time, modify_time, spec) VALUES (?,?,?,?,?,1,1,?,?,?)",
                    row,
                ).lastrowid
            except sqlite3.IntegrityError:
                raise Conflict(f"job {job.id} already exists", hint="use a new ID") from None
            conn.execute(
                "INSERT INTO job_versions (job_seq, version, create_time, spec) VALUES (?,1,?,?)",
                (job_seq, now, spec),
            )
            conn.executemany(
                "INSERT INTO job_labels (job_seq, key, value) VALUES (?,?,?)",
                [(job_seq, k, v) for k, v in stored.labels.items()],
            )
            entry = job_entry(
                stored.id, "Pending", "Pending", message=message, topic=Topic.SUBMISSION,
                revision=1, now=now, stimulus_id=stimulus_id,
            )  # fmt: skip
            self._memory.job_created(stored.id, job_seq)
            self._memory.wrote(stored, spec, insert_event(conn, entry, job_seq))
        self._jobs.put(stored.id, spec, stored)
        return stored

    def get_job(self, id_or_prefix: str) -> Job:
        """See :meth:`JobStore.get_job`."""
        key = id_or_prefix.strip()
        if not key:
            raise InvalidInput("a job ID is needed", hint=LIST_HINT)
        live = self._memory.job(key)
        if live is not None:
            return live[0]
        conn = self._read()
        row = conn.execute("SELECT spec FROM jobs WHERE id = ?", (key,)).fetchone()
        if row is not None:
            return self._jobs.parse(key, row[0])
        matches: dict[str, str] = {}
        prefixes = [key] if key.startswith(JOB_ID_PREFIX) else [key, JOB_ID_PREFIX + key]
        for prefix in prefixes:
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # a range scan on the primary key
            rows = conn.execute(
                "SELECT id, spec FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT 3",
                (prefix, upper),
            )
            matches.update(rows)
        if not matches:
            raise NotFound(f"job {key} not found", hint=LIST_HINT)
        if len(matches) > 1:
            some = ", ".join(sorted(matches)[:3])
            raise InvalidInput(
                f"job ID prefix '{key}' matches several jobs ({some}…)",
                hint="type more characters of the job ID",
            )
        ((job_id, spec),) = matches.items()
        return self._jobs.parse(job_id, spec)

    def list_jobs(
        self,
        *,
        namespace: str | None = None,
        state: JobStates | None = None,
        labels: dict[str, str] | None = None,
        limit: int = 100,
        offset: int = 0,
        after: str | None = None,
        order_by: str = "create_time",
        reverse: bool = False,
    ) -> list[Job]:
        """See :meth:`JobStore.list_jobs`."""
        column = _ORDER_COLUMNS.get(order_by)
        if column is None:
            raise InvalidInput(
                f"cannot order jobs by '{order_by}'", hint="use create_time or modify_time"
            )
        where: list[str] = []
        args: list[Any] = []
        if namespace not in (None, "", "*"):
            where.append("namespace = ?")
            args.append(namespace)
        states = tuple(JobStateType(s).value for s in iter_states(state))
        if states:
            where.append(f"state IN ({_marks(states)})")
            args.extend(states)
        for key, value in (labels or {}).items():
            where.append(
                "EXISTS (SELECT 1 FROM job_labels l WHERE l.job_seq = jobs.seq"
                " AND l.key = ? AND l.value = ?)"
            )
            args.extend((key, value))
        conn = self._read()
        if after:
            cursor = conn.execute(f"SELECT {column}, id FROM jobs WHERE id = ?", (after,))
            mark = cursor.fetchone()
            if mark is None:
                raise NotFound(f"cursor job {after} not found", hint=LIST_HINT)
            where.append(f"({column}, id) {'<' if reverse else '>'} (?, ?)")
            args.extend(mark)
        direction = "DESC" if reverse else "ASC"
        sql = "SELECT spec FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY {column} {direction}, id {direction} LIMIT ? OFFSET ?"
        args.extend((max(0, limit), max(0, offset)))
        return [Job.model_validate_json(spec) for (spec,) in conn.execute(sql, args)]

    def update_job_state(
        self,
        job_id: str,
        new_state: JobStateType,
        message: str,
        *,
        expected_state: JobStates | None = None,
        stimulus_id: str = "",
        details: dict[str, str] | None = None,
    ) -> Job:
        """See :meth:`JobStore.update_job_state`."""
        new_state = JobStateType(new_state)
        with self._db.transaction(savepoint=False) as conn:
            job, text = self._job_exact(conn, job_id)
            current = job.state.state_type
            _expect(
                current, {JobStateType(s) for s in iter_states(expected_state)}, f"job {job_id}"
            )
            check_transition(current, new_state, what=f"job {job_id}")
            now = self._now()
            updated = job.model_copy(
                update={
                    "state": JobState(state_type=new_state, message=message),
                    "revision": job.revision + 1,
                    "modify_time": now,
                }
            )
            changes = {
                "State": state_wire(new_state.value, message),
                "Revision": updated.revision,
                "ModifyTime": now,
            }
            spec = patched(text, changes)
            conn.execute(
                "UPDATE jobs SET state = ?, revision = ?, modify_time = ?, spec = ? WHERE id = ?",
                (new_state.value, updated.revision, now, spec, job_id),
            )
            entry = job_entry(
                job_id, current.value, new_state.value, message=message,
                topic=topic_for(new_state), revision=updated.revision, now=now,
                stimulus_id=stimulus_id, details=details,
            )  # fmt: skip
            self._memory.wrote(
                updated, spec, insert_event(conn, entry, self._job_seq(conn, job_id))
            )
        self._jobs.put(job_id, spec, updated)
        return updated

    def job_versions(self, job_id: str) -> list[Job]:
        """See :meth:`JobStore.job_versions`."""
        rows = self._read().execute(
            f"SELECT spec FROM job_versions WHERE job_seq = {JOB_SEQ} ORDER BY version", (job_id,)
        )
        versions = [Job.model_validate_json(spec) for (spec,) in rows]
        if not versions:
            raise NotFound(f"job {job_id} not found", hint=LIST_HINT)
        return versions

    def in_progress_jobs(self) -> list[Job]:
        """See :meth:`JobStore.in_progress_jobs`."""
        rows = self._read().execute(
            f"SELECT spec FROM jobs WHERE state NOT IN ({_marks(_JOB_TERMINAL)})"
            " ORDER BY create_time, id",
            _JOB_TERMINAL,
        )
        return [Job.model_validate_json(spec) for (spec,) in rows]

    def _job_exact(self, conn: sqlite3.Connection, job_id: str) -> tuple[Job, str]:
        live = self._memory.job(job_id)
        if live is not None:
            return live
        spec = self._job_column(conn, job_id, "spec")
        return self._jobs.parse(job_id, spec), spec

    # -- executions -------------------------------------------------------------------------------
    def create_execution(
        self, execution: Execution, *, message: str = "", stimulus_id: str = ""
    ) -> Execution:
        """See :meth:`JobStore.create_execution`."""
        now = self._now()
        with self._db.transaction(savepoint=False) as conn:
            namespace = self._namespace_of(conn, execution.job_id)
            stored = execution.model_copy(
                update={
                    "namespace": namespace, "revision": 1, "create_time": now, "modify_time": now,
                }
            )  # fmt: skip
            data = stored_text(stored.to_wire())
            job_seq = self._job_seq(conn, stored.job_id)
            self._memory.execution_created(stored.job_id)
            try:
                conn.execute(
                    "INSERT INTO executions (job_seq, id, job_id, shard_index, node_id,"
                    " desired_state, compute_state, revision, create_time, modify_time, data)"
                    " VALUES (?,?,?,?,?,?,?,1,?,?,?)",
                    (
                        job_seq, stored.id, stored.job_id, stored.shard_index, stored.node_id,
                        stored.desired_state.state_type.value, stored.state.value, now, now, data,
                    ),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                raise Conflict(f"execution {execution.id} already exists") from None
            where = f" on node {stored.node_id}" if stored.node_id else ""
            state = stored.state.value
            born = ExecutionStateType.NEW.value  # created further along: recorded as New -> it
            entry = execution_entry(
                stored.job_id, stored.id, stored.node_id, (born, state),
                message=message or f"execution created for shard {stored.shard_index}{where}",
                topic=Topic.SCHEDULING, revision=1, now=now, stimulus_id=stimulus_id,
            )  # fmt: skip
            self._memory.wrote(stored, data, insert_event(conn, entry, job_seq))
        self._executions.put(stored.id, data, stored)
        return stored

    def _namespace_of(self, conn: sqlite3.Connection, job_id: str) -> str:
        """A job's namespace (what its executions are filed under); NotFound if no such job."""
        live = self._memory.job(job_id)
        if live is not None:
            return live[0].namespace
        return str(self._job_column(conn, job_id, "namespace"))

    def get_execution(self, execution_id: str) -> Execution:
        """See :meth:`JobStore.get_execution`."""
        live = self._memory.execution(execution_id)
        if live is not None:
            return live[0]
        return self._execution(self._read(), execution_id)

    def _execution(self, conn: sqlite3.Connection, execution_id: str) -> Execution:
        return self._execution_row(conn, execution_id)[0]

    def _execution_row(self, conn: sqlite3.Connection, execution_id: str) -> tuple[Execution, str]:
        live = self._memory.execution(execution_id)
        if live is not None:
            return live
        row = conn.execute("SELECT data FROM executions WHERE id = ?", (execution_id,)).fetchone()
        if row is None:
            raise NotFound(
                f"execution {execution_id} not found",
                hint="list a job's executions with: bacalao job executions JOB",
            )
        return self._executions.parse(execution_id, row[0]), row[0]

    def update_execution(
        self,
        execution_id: str,
        *,
        new_state: ExecutionStateType | None = None,
        desired_state: DesiredStateType | None = None,
        message: str = "",
        expected_state: ExecutionStates | None = None,
        stimulus_id: str = "",
        details: dict[str, str] | None = None,
        via: Sequence[tuple[ExecutionStateType, str]] = (),
        **fields: Any,
    ) -> Execution:
        """See :meth:`JobStore.update_execution`."""
        bad = set(fields) - (set(Execution.model_fields) - _FIXED_EXECUTION_FIELDS)
        if bad:
            raise TypeError(f"update_execution cannot set {sorted(bad)}")
        if via and new_state is None:
            raise TypeError("update_execution passes through `via` on its way to a new_state")
        what = f"execution {execution_id}"
        with self._db.transaction(savepoint=False) as conn:
            current, text = self._execution_row(conn, execution_id)
            state = current.state
            _expect(state, {ExecutionStateType(s) for s in iter_states(expected_state)}, what)
            now = self._now()
            # each state passed through: checked, and recorded as a change of its own
            entries, revision = [], current.revision
            for step, step_message in via:
                step = ExecutionStateType(step)
                check_transition(state, step, what=what)
                revision += 1
                entries.append(
                    self._execution_entry(
                        current, (state.value, step.value), step_message, revision, now,
                        stimulus_id=stimulus_id,
                    )
                )  # fmt: skip
                state = step
            revision += 1
            changes: dict[str, Any] = {"revision": revision, "modify_time": now}
            wire: dict[str, Any] = {"Revision": revision, "ModifyTime": now}
            # Only caller-given fields need validating; the states are typed already.
            base = current
            if fields:
                base = current.model_copy(update=validated(Execution, fields))
                wire.update(wire_of(base, fields))
            change = None
            if new_state is not None:
                new_state = ExecutionStateType(new_state)
                check_transition(state, new_state, what=what)
                changes["compute_state"] = ComputeState(state_type=new_state, message=message)
                wire["ComputeState"] = state_wire(new_state.value, message)
                change = (state.value, new_state.value)
            desired_changed = False
            if desired_state is not None and desired_state != current.desired_state.state_type:
                desired_state = DesiredStateType(desired_state)
                check_transition(current.desired_state.state_type, desired_state, what=what)
                changes["desired_state"] = DesiredState(state_type=desired_state, message=message)
                wire["DesiredState"] = state_wire(desired_state.value, message)
                desired_changed = True
            updated = base.model_copy(update=changes)
            data = patched(text, wire)
            conn.execute(
                "UPDATE executions SET node_id = ?, shard_index = ?, desired_state = ?,"
                " compute_state = ?, revision = ?, modify_time = ?, data = ? WHERE id = ?",
                (
                    updated.node_id, updated.shard_index, updated.desired_state.state_type.value,
                    updated.state.value, updated.revision, now, data, execution_id,
                ),
            )  # fmt: skip
            if change or desired_changed or message:
                if not message and desired_changed:
                    message = f"desired state {updated.desired_state.state_type.value}"
                entries.append(
                    self._execution_entry(
                        updated, change, message, updated.revision, now,
                        stimulus_id=stimulus_id, details=details,
                    )
                )  # fmt: skip
            seq = 0
            if entries:
                job_seq = self._job_seq(conn, updated.job_id)
                for entry in entries:
                    seq = insert_event(conn, entry, job_seq)
            self._memory.wrote(updated, data, seq)
        self._executions.put(execution_id, data, updated)
        return updated

    @staticmethod
    def _execution_entry(
        ex: Execution,
        change: tuple[str, str] | None,
        message: str,
        revision: int,
        now: int,
        *,
        stimulus_id: str,
        details: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return execution_entry(
            ex.job_id, ex.id, ex.node_id, change, message=message, topic=Topic.EXECUTION,
            revision=revision, now=now, stimulus_id=stimulus_id, details=details,
        )  # fmt: skip

    def list_executions(
        self,
        job_id: str | None = None,
        *,
        node_id: str | None = None,
        states: ExecutionStates | None = None,
    ) -> list[Execution]:
        """See :meth:`JobStore.list_executions`."""
        if self._memory.has_no_executions(job_id):
            return []
        where: list[str] = []
        args: list[Any] = []
        if job_id is not None:
            where.append(f"job_seq = {JOB_SEQ}")
            args.append(job_id)
        if node_id is not None:
            where.append("node_id = ?")
            args.append(node_id)
        wanted = tuple(ExecutionStateType(s).value for s in iter_states(states))
        if wanted:
            where.append(f"compute_state IN ({_marks(wanted)})")
            args.extend(wanted)
        sql = "SELECT id, data FROM executions" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._read().execute(sql + _EXEC_ORDER, args)
        return [self._executions.parse(eid, data) for (eid, data) in rows]

    def in_progress_executions(self) -> list[Execution]:
        """See :meth:`JobStore.in_progress_executions`."""
        rows = self._read().execute(
            # the live index: a restart reads what is running, not all history
            f"SELECT data FROM executions INDEXED BY executions_live WHERE {EXECUTION_LIVE}"
            + _EXEC_ORDER
        )
        return [Execution.model_validate_json(data) for (data,) in rows]

    # -- history ----------------------------------------------------------------------------------
    def append_event(
        self,
        job_id: str,
        message: str,
        *,
        execution_id: str = "",
        node_id: str = "",
        topic: str = "",
        details: dict[str, str] | None = None,
        stimulus_id: str = "",
    ) -> JobHistory:
        """See :meth:`JobStore.append_event`."""
        entry = event_entry(
            job_id, message, execution_id=execution_id, node_id=node_id, topic=topic,
            now=self._now(), stimulus_id=stimulus_id, details=details,
        )  # fmt: skip
        with self._db.transaction(savepoint=False) as conn:
            seq = insert_event(conn, entry, self._job_seq(conn, job_id))
            self._memory.event_added(job_id, seq)
        return history_of(entry, seq)

    def events(
        self, job_id: str | None, since_seq: int = 0, *, limit: int | None = None
    ) -> list[JobHistory]:
        """See :meth:`JobStore.events`."""
        return read_events(self._read(), job_id, since_seq, limit)

    def last_seq(self, job_id: str) -> int:
        """See :meth:`JobStore.last_seq`."""
        known = self._memory.last_seq(job_id)
        if known is not None:
            return known
        row = (
            self._read()
            .execute(f"SELECT MAX(seq) FROM events WHERE job_seq = {JOB_SEQ}", (job_id,))
            .fetchone()
        )
        return int(row[0] or 0)
