"""Job and execution states, their terminal sets and the transitions allowed between them.

States are ``str`` enums (rq's ``JobStatus`` style): they compare equal to their names, go over the
wire as strings and parse case-insensitively. Bacalhau sends execution states as integers; the
``bacalhau_code``/``from_bacalhau_code`` pair maps between the two.

The transition tables are the single source of truth: the jobstore refuses any change that
:func:`check_transition` rejects, so a job never leaves a terminal state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from bacalao.errors import Conflict


class _CaseInsensitiveEnum(StrEnum):
    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            for member in cls:
                if member.value.lower() == lowered:
                    return member
        return None


class JobStateType(_CaseInsensitiveEnum):
    """Where a job is in its life (Bacalhau's ``JobStateType``, a string on the wire)."""

    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"

    @property
    def is_terminal(self) -> bool:
        """True for Completed, Failed and Stopped: nothing changes a job after these."""
        return self in _JOB_TERMINAL


class ExecutionStateType(_CaseInsensitiveEnum):
    """Where one execution (a job's shard on one node) is: bacalao's ``ComputeState``."""

    NEW = "New"
    ASK_FOR_BID = "AskForBid"
    BID_ACCEPTED = "BidAccepted"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return _EXEC_FROM_BACALHAU.get(value)
        return super()._missing_(value)

    @property
    def is_terminal(self) -> bool:
        """True for Completed, Failed and Cancelled."""
        return self in _EXEC_TERMINAL

    @property
    def is_active(self) -> bool:
        """True while the execution holds (or is about to hold) a node's capacity."""
        return self in (ExecutionStateType.BID_ACCEPTED, ExecutionStateType.RUNNING)

    @property
    def is_discarded(self) -> bool:
        """True for Failed and Cancelled: the execution produced no usable result."""
        return self in (ExecutionStateType.FAILED, ExecutionStateType.CANCELLED)

    @property
    def bacalhau_code(self) -> int:
        """The integer Bacalhau v1 sends for this state (``BidAccepted`` and ``Running`` are 5)."""
        return _EXEC_TO_BACALHAU[self]

    @classmethod
    def from_bacalhau_code(cls, code: int) -> ExecutionStateType:
        """The state for a Bacalhau integer; rejected bids (4, 6) read as Cancelled."""
        try:
            return _EXEC_FROM_BACALHAU[code]
        except KeyError:
            raise ValueError(f"unknown Bacalhau execution state {code}") from None


class DesiredStateType(_CaseInsensitiveEnum):
    """What the orchestrator wants of an execution (Bacalhau's ``DesiredState``)."""

    PENDING = "Pending"
    RUNNING = "Running"
    STOPPED = "Stopped"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            members = list(cls)
            return members[value] if 0 <= value < len(members) else None
        return super()._missing_(value)

    @property
    def is_terminal(self) -> bool:
        """True for Stopped."""
        return self is DesiredStateType.STOPPED

    @property
    def bacalhau_code(self) -> int:
        """Bacalhau's integer: Pending 0, Running 1, Stopped 2."""
        return list(DesiredStateType).index(self)


_JOB_TERMINAL = frozenset({JobStateType.COMPLETED, JobStateType.FAILED, JobStateType.STOPPED})
_EXEC_TERMINAL = frozenset(
    {ExecutionStateType.COMPLETED, ExecutionStateType.FAILED, ExecutionStateType.CANCELLED}
)

_J = JobStateType
_E = ExecutionStateType
_D = DesiredStateType

JOB_TRANSITIONS: dict[JobStateType, frozenset[JobStateType]] = {
    # Pending -> Completed: a batch job with Count 0 completes at once, with no executions.
    _J.PENDING: frozenset({_J.QUEUED, _J.RUNNING, _J.COMPLETED, _J.FAILED, _J.STOPPED}),
    _J.QUEUED: frozenset({_J.RUNNING, _J.FAILED, _J.STOPPED}),
    # Running -> Queued: a retry found no node and waits, up to the QueueTimeout.
    _J.RUNNING: frozenset({_J.QUEUED, _J.COMPLETED, _J.FAILED, _J.STOPPED}),
    _J.COMPLETED: frozenset(),
    _J.FAILED: frozenset(),
    _J.STOPPED: frozenset(),
}
"""Allowed job state changes, from -> {to}. Terminal states have no way out."""

EXECUTION_TRANSITIONS: dict[ExecutionStateType, frozenset[ExecutionStateType]] = {
    # New -> BidAccepted: ops jobs skip the bid round, as in Bacalhau.
    _E.NEW: frozenset({_E.ASK_FOR_BID, _E.BID_ACCEPTED, _E.FAILED, _E.CANCELLED}),
    _E.ASK_FOR_BID: frozenset({_E.BID_ACCEPTED, _E.FAILED, _E.CANCELLED}),
    # BidAccepted -> Completed/Failed: a fast run may report its end before "running" arrives.
    _E.BID_ACCEPTED: frozenset({_E.RUNNING, _E.COMPLETED, _E.FAILED, _E.CANCELLED}),
    _E.RUNNING: frozenset({_E.COMPLETED, _E.FAILED, _E.CANCELLED}),
    _E.COMPLETED: frozenset(),
    _E.FAILED: frozenset(),
    _E.CANCELLED: frozenset(),
}
"""Allowed execution compute-state changes, from -> {to}."""

DESIRED_TRANSITIONS: dict[DesiredStateType, frozenset[DesiredStateType]] = {
    _D.PENDING: frozenset({_D.RUNNING, _D.STOPPED}),
    _D.RUNNING: frozenset({_D.STOPPED}),
    _D.STOPPED: frozenset(),
}
"""Allowed desired-state changes, from -> {to}."""

_EXEC_TO_BACALHAU = {
    _E.NEW: 1,
    _E.ASK_FOR_BID: 2,
    _E.BID_ACCEPTED: 5,
    _E.RUNNING: 5,
    _E.COMPLETED: 7,
    _E.FAILED: 8,
    _E.CANCELLED: 9,
}
_EXEC_FROM_BACALHAU = {
    1: _E.NEW,
    2: _E.ASK_FOR_BID,
    3: _E.ASK_FOR_BID,  # AskForBidAccepted: the node said yes, the orchestrator has not
    4: _E.CANCELLED,  # AskForBidRejected
    5: _E.RUNNING,  # BidAccepted means running in Bacalhau
    6: _E.CANCELLED,  # BidRejected
    7: _E.COMPLETED,
    8: _E.FAILED,
    9: _E.CANCELLED,
}

_TABLES: dict[type, dict[Any, frozenset[Any]]] = {
    JobStateType: JOB_TRANSITIONS,
    ExecutionStateType: EXECUTION_TRANSITIONS,
    DesiredStateType: DESIRED_TRANSITIONS,
}


def can_transition(current: StrEnum, new: StrEnum) -> bool:
    """True when ``current -> new`` is in its enum's transition table."""
    table = _TABLES.get(type(current))
    if table is None or type(new) is not type(current):
        raise TypeError(f"no transition table for {type(current).__name__} -> {type(new).__name__}")
    return new in table[current]


def check_transition(current: StrEnum, new: StrEnum, *, what: str = "") -> None:
    """Raise :class:`Conflict` unless ``current -> new`` is allowed.

    ``what`` names the object (``"job j-1234"``) so the message reads well on its own.
    """
    if can_transition(current, new):
        return
    subject = f"{what} " if what else ""
    if current.is_terminal:  # type: ignore[attr-defined]
        hint = f"{subject}already finished as {current.value}; nothing can change it"
    else:
        allowed = ", ".join(sorted(s.value for s in _TABLES[type(current)][current]))
        hint = f"from {current.value} it can go to: {allowed}"
    raise Conflict(
        f"{subject}cannot go from {current.value} to {new.value}".strip(), hint=hint.strip()
    )
