"""History: every state change and notable moment of a job, as a readable event.

``JobHistory`` is Bacalhau's history entry (job-level or execution-level), plus bacalao's ``Seq``
(a store-wide increasing number for "events since") and ``StimulusID`` (what caused it, as in
dask's state machine). Times are Unix nanoseconds here; the API renders RFC 3339 for Bacalhau.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from bacalao.errors import BacalaoError
from bacalao.models._wire import WireModel, str_map


class HistoryType(StrEnum):
    """Whether an entry is about the whole job or one of its executions."""

    JOB_LEVEL = "JobLevel"
    EXECUTION_LEVEL = "ExecutionLevel"


class Topic(StrEnum):
    """Event topics: Bacalhau's orchestrator topics plus bacalao's own."""

    SUBMISSION = "Submission"
    SCHEDULING = "Scheduling"
    QUEUEING = "Queueing"
    EXEC_TIMEOUT = "Exec Timeout"
    JOB_TIMEOUT = "Job Timeout"
    BIDDING = "Bidding"
    EXECUTION = "Execution"
    PUBLISHING = "Publishing"
    VERIFICATION = "Verification"
    STOP = "Stop"
    RECOVERY = "Recovery"


class StateChange(WireModel):
    """``{Previous, New}`` state names."""

    previous: str = Field(alias="Previous")
    new: str = Field(alias="New")


class Event(WireModel):
    """``{Message, Topic, Timestamp, Details}``: a readable message and structured details.

    Details keys used by Bacalhau: ``IsError``, ``Hint``, ``Retryable``, ``FailsExecution``.
    """

    model_config = ConfigDict(frozen=True)

    message: str = Field(default="", alias="Message")
    topic: str = Field(default="", alias="Topic")
    timestamp: int = Field(default=0, alias="Timestamp")
    details: dict[str, str] = Field(default_factory=dict, alias="Details")

    _omit_empty = frozenset({"details"})

    @field_validator("details", mode="before")
    @classmethod
    def _details(cls, value: Any) -> Any:
        return str_map(value)

    @classmethod
    def from_error(cls, error: BacalaoError, *, topic: str, timestamp: int = 0) -> Event:
        """An error event carrying the error's hint and retryability."""
        details = {"IsError": "true", "Retryable": str(error.retryable).lower()}
        if error.hint:
            details["Hint"] = error.hint
        return cls(message=error.message, topic=topic, timestamp=timestamp, details=details)

    @property
    def is_error(self) -> bool:
        """True when the event reports an error."""
        return self.details.get("IsError") == "true"


class JobHistory(WireModel):
    """One history entry: a job or execution state change, or an event worth telling the user."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(default=0, alias="Seq")
    type: HistoryType = Field(alias="Type")
    job_id: str = Field(alias="JobID")
    execution_id: str = Field(default="", alias="ExecutionID")
    node_id: str = Field(default="", alias="NodeID")
    job_state: StateChange | None = Field(default=None, alias="JobState")
    execution_state: StateChange | None = Field(default=None, alias="ExecutionState")
    new_revision: int = Field(default=0, alias="NewRevision")
    event: Event = Field(default_factory=Event, alias="Event")
    time: int = Field(default=0, alias="Time")
    stimulus_id: str = Field(default="", alias="StimulusID")

    _omit_empty = frozenset({"execution_id", "node_id", "stimulus_id"})

    @property
    def message(self) -> str:
        """The readable message."""
        return self.event.message

    def describe(self) -> str:
        """One line for ``job history``: ``Running -> Completed: all shards done``."""
        change = self.job_state or self.execution_state
        prefix = f"{change.previous} -> {change.new}" if change else self.event.topic
        return f"{prefix}: {self.event.message}" if self.event.message else prefix
