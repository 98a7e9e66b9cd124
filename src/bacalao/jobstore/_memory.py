"""What an exclusive job store answers from memory, and how that stays exactly what it wrote.

An exclusive store is its file's only writer (a node holds its data dir's lock), so it knows its
own rows: reads by exact ID, a job's row key and newest history ``seq``, and that a job it just
created has no executions, are answered without a query. For a store that shares its file,
:class:`Memory` knows nothing and every read goes to the file.

* :class:`Committed`: the newest *committed* rows, filled by commit callbacks only, so a write
  that rolled back is never served; rows of jobs and executions that have ended are dropped.
* Inside a transaction, what it wrote is served from its staged rows (``Database.stage``), which
  a savepoint's rollback takes back; a row it wrote is never served from the committed view.
"""

from __future__ import annotations

from typing import Any

from bacalao.caches import bounded_put
from bacalao.jobstore._db import Database
from bacalao.models.execution import Execution
from bacalao.models.job import Job

#: jobs remembered as having no executions yet, at most (forgetting one only costs a query)
WITHOUT_EXECUTIONS_LIMIT = 16384
_SEQ_KEY = "seq:"  # a job's row key is staged under this prefix and its ID


class Committed:
    """The newest committed job, execution and history ``seq`` by ID (and each live job's row
    key), as this process wrote them.

    Filled only by commit callbacks, so it never holds a write that rolled back.
    """

    def __init__(self, limit: int = 16384) -> None:
        self._limit = limit
        self.jobs: dict[str, tuple[Job, str]] = {}  # ID -> (model, its stored JSON)
        self.executions: dict[str, tuple[Execution, str]] = {}
        self.seqs: dict[str, int] = {}
        #: job ID -> its row key, for the jobs that have not ended
        self.job_seqs: dict[str, int] = {}

    def put(self, model: Job | Execution, text: str, seq: int) -> None:
        """Remember ``model`` as stored and ``seq`` as its job's newest (if newer).

        A job or execution that has ended is forgotten instead: what is in flight is what the
        orchestrator reads again and again, and a server that keeps thousands of finished jobs'
        models alive pays for them in every full garbage collection (hundreds of ms).
        """
        items: dict[str, Any]
        if isinstance(model, Job):
            items, job_id = self.jobs, model.id
        else:
            items, job_id = self.executions, model.job_id
        if model.is_terminal:
            items.pop(model.id, None)
            if items is self.jobs:
                self.job_seqs.pop(model.id, None)
        else:
            bounded_put(items, model.id, (model, text), self._limit)
        self.seq(job_id, seq)

    def job_seq(self, job_id: str, row_key: int) -> None:
        bounded_put(self.job_seqs, job_id, row_key, self._limit)

    def seq(self, job_id: str, seq: int) -> None:
        if seq > self.seqs.get(job_id, 0):
            bounded_put(self.seqs, job_id, seq, self._limit)


class Memory:
    """The rows an exclusive store knows without a query; a shared store's knows none (its
    methods answer None, or False, and remember nothing)."""

    def __init__(self, db: Database, exclusive: bool) -> None:
        self._db = db
        self.exclusive = exclusive
        self.committed = Committed()
        #: jobs this store created that have had no execution yet (whatever their transaction
        #: did): written before any commit, as both answers hold either way: a job that was
        #: rolled back has no executions either
        self._without_executions: set[str] = set()

    def wrote(self, model: Job | Execution, text: str, seq: int) -> None:
        """This transaction wrote ``model`` as ``text`` (and its job's history up to ``seq``):
        served from its staged rows until it commits, then from the committed view."""
        if not self.exclusive:
            return
        self._db.stage(model.id, (model, text))
        self._db.on_commit(lambda: self.committed.put(model, text, seq))

    def job_created(self, job_id: str, job_seq: int) -> None:
        """This transaction created a job with this row key."""
        if not self.exclusive:
            return
        if len(self._without_executions) >= WITHOUT_EXECUTIONS_LIMIT:
            self._without_executions.clear()
        self._without_executions.add(job_id)
        self._db.stage(_SEQ_KEY + job_id, job_seq)
        self._db.on_commit(lambda: self.committed.job_seq(job_id, job_seq))

    def execution_created(self, job_id: str) -> None:
        """An execution of this job is being written (the job may have executions from now)."""
        self._without_executions.discard(job_id)

    def event_added(self, job_id: str, seq: int) -> None:
        """A history entry of this job was written with this ``seq``."""
        if self.exclusive:
            self._db.on_commit(lambda: self.committed.seq(job_id, seq))

    def job(self, job_id: str) -> tuple[Job, str] | None:
        """The job and its stored JSON, as this transaction wrote it, else as committed; None:
        read the file."""
        return self._row(self.committed.jobs, job_id)  # type: ignore[return-value]

    def execution(self, execution_id: str) -> tuple[Execution, str] | None:
        """The same for an execution."""
        return self._row(self.committed.executions, execution_id)  # type: ignore[return-value]

    def job_seq(self, job_id: str) -> int | None:
        """The job's row key; None: look it up."""
        if not self.exclusive:
            return None
        key = _SEQ_KEY + job_id
        if self._db.is_dirty(key):
            return self._db.staged(key)  # type: ignore[return-value]
        return self.committed.job_seqs.get(job_id)

    def has_no_executions(self, job_id: str | None) -> bool:
        return job_id in self._without_executions

    def last_seq(self, job_id: str) -> int | None:
        """The job's newest history ``seq`` as committed (outside a transaction); None: ask
        the file."""
        if self.exclusive and not self._db.in_transaction():
            return self.committed.seqs.get(job_id)
        return None

    def _row(self, items: dict[str, Any], key: str) -> tuple[Any, str] | None:
        if not self.exclusive:
            return None
        if self._db.is_dirty(key):
            return self._db.staged(key)  # type: ignore[return-value]
        return items.get(key)
