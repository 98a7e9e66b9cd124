"""The JobStore contract: durable jobs, executions and their history.

Consumers (orchestrator, API) depend on this Protocol, not on SQLite. Every method is a short
synchronous call that commits before it returns (or, inside :meth:`JobStore.transaction`, when
the outermost block exits): a returned value is an acknowledged, durable write.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from bacalao.models.event import JobHistory
from bacalao.models.execution import Execution
from bacalao.models.job import Job
from bacalao.models.job_state import DesiredStateType, ExecutionStateType, JobStateType

Clock = Callable[[], int]
"""Returns the current time as Unix epoch nanoseconds."""

JobStates = JobStateType | Collection[JobStateType]
ExecutionStates = ExecutionStateType | Collection[ExecutionStateType]


@runtime_checkable
class JobStore(Protocol):
    """Durable state of the orchestrator. All writes are validated against the state tables."""

    # -- jobs -----------------------------------------------------------------------------------
    def create_job(self, job: Job, *, message: str = "Job submitted", stimulus_id: str = "") -> Job:
        """Store a new job (it must carry its ID) as Pending, revision 1, version 1, and record
        its first history entry. Conflict if the ID exists; returns the stored job."""
        ...

    def get_job(self, id_or_prefix: str) -> Job:
        """The job with this ID, or with this unique ID prefix (``j-`` may be omitted).
        NotFound when none matches; InvalidInput when the prefix matches several."""
        ...

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
        """Jobs ordered by creation (or ``modify_time``), oldest first unless ``reverse``.

        ``namespace`` None or ``"*"`` means all; ``labels`` must all match exactly; ``after`` is
        a job ID cursor: only jobs ordered after it are returned.
        """
        ...

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
        """Move a job to ``new_state`` (checked against the transition table) with a readable
        reason, bump its revision, record the change. Conflict when the transition is illegal
        or the current state is not ``expected_state`` (compare-and-swap)."""
        ...

    def job_versions(self, job_id: str) -> list[Job]:
        """Every stored version of the job's spec, oldest first."""
        ...

    def in_progress_jobs(self) -> list[Job]:
        """Jobs not in a terminal state: what to resume after a restart."""
        ...

    # -- executions -----------------------------------------------------------------------------
    def create_execution(
        self, execution: Execution, *, message: str = "", stimulus_id: str = ""
    ) -> Execution:
        """Store a new execution of an existing job (revision 1) and record it."""
        ...

    def get_execution(self, execution_id: str) -> Execution:
        """The execution with this exact ID; NotFound otherwise."""
        ...

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
        """Change an execution's compute state (checked), desired state, and/or other fields
        (``node_id``, ``run_output``, ``result_cid``, ``metering``…); bump its revision; record
        state changes and messages in the history.

        ``via``: compute states, each with its message, that the execution passes through first,
        in order, on the way to ``new_state`` (which it needs). Each is checked and recorded as a
        change of its own (its own revision), as if written by a call of its own in the same
        transaction; the row is written once."""
        ...

    def list_executions(
        self,
        job_id: str | None = None,
        *,
        node_id: str | None = None,
        states: ExecutionStates | None = None,
    ) -> list[Execution]:
        """Executions of a job (or of all jobs), by shard index then creation."""
        ...

    def in_progress_executions(self) -> list[Execution]:
        """Executions not in a terminal compute state."""
        ...

    # -- history --------------------------------------------------------------------------------
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
        """Record a readable event in a job's history (no state change)."""
        ...

    def events(
        self, job_id: str | None, since_seq: int = 0, *, limit: int | None = None
    ) -> list[JobHistory]:
        """History entries with ``seq > since_seq`` for one job (or all jobs), in order."""
        ...

    def last_seq(self, job_id: str) -> int:
        """The seq of the job's newest history entry (0 if none): a cheap change check."""
        ...

    # -- plumbing -------------------------------------------------------------------------------
    def transaction(self, *, savepoint: bool = True) -> AbstractContextManager[None]:
        """Group writes: they commit together when the outermost block exits, or not at all.

        A nested block is a savepoint (it rolls back alone) unless ``savepoint=False``: then it
        simply joins the enclosing transaction, for a block whose failure the enclosing one
        rolls back anyway. Never ``await`` inside the block: the transaction belongs to the
        calling thread.
        """
        ...

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction has committed (at once outside one);
        never if it rolls back. For effects that must follow only durable state: a message to
        a node about an execution that a failed commit would have erased."""
        ...

    def close(self) -> None:
        """Close every connection; further calls fail."""
        ...


def iter_states(value: Any) -> Iterator[Any]:
    """A single state or a collection of states, as an iterator."""
    if value is None:
        return iter(())
    if isinstance(value, str):
        return iter((value,))
    return iter(value)
