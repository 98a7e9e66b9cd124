"""The Job: Bacalhau's v1 job spec plus bacalao's optional extension blocks.

A Job parses from Bacalhau's JSON/YAML (keys matched case-insensitively) and dumps with
Bacalhau's keys; a Bacalhau job dumps without any bacalao field. Normalisation happens on
validation, as in Bacalhau's ``Job.Normalize``: blank namespace -> ``default``, ops/daemon
Count 0 -> 1, batch/ops tasks get the default TotalTimeout. IDs are given by the orchestrator's
ID source (:meth:`Job.with_id`), never invented here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from bacalao.models._wire import WireModel, spec_error, str_map
from bacalao.models.constraint import Constraint
from bacalao.models.job_state import JobStateType
from bacalao.models.sharding import Sharding
from bacalao.models.task import Task
from bacalao.models.verification import Verification

DEFAULT_NAMESPACE = "default"
JOB_ID_PREFIX = "j-"


class JobType(StrEnum):
    """Bacalhau's job types; bacalao runs ``batch`` and ``ops`` (the others parse)."""

    BATCH = "batch"
    OPS = "ops"
    SERVICE = "service"
    DAEMON = "daemon"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            for member in cls:
                if member.value == text:
                    return member
        return None

    @property
    def is_long_running(self) -> bool:
        """Service and daemon jobs never finish on their own: no timeout defaults apply."""
        return self in _LONG_RUNNING


_LONG_RUNNING = frozenset({JobType.SERVICE, JobType.DAEMON})


class JobState(WireModel):
    """``State {StateType, Message}``: the job's state and a readable reason for it."""

    state_type: JobStateType = Field(default=JobStateType.PENDING, alias="StateType")
    message: str = Field(default="", alias="Message")

    _omit_empty = frozenset({"message"})

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"StateType": data} if isinstance(data, str | JobStateType) else data


class Job(WireModel):
    """A job (Bacalhau v1 ``Job``) with bacalao's ``Sharding``, ``Reduce``, ``Verification``.

    Exactly one task is allowed (Bacalhau kept only the first); a second stage is ``Reduce``.
    Server-owned fields (ID, State, Version, Revision, CreateTime, ModifyTime) are accepted so a
    stored job round-trips; the jobstore sets them on create.
    """

    id: str = Field(default="", alias="ID")
    name: str = Field(default="", alias="Name")
    namespace: str = Field(default=DEFAULT_NAMESPACE, alias="Namespace")
    type: JobType = Field(default=JobType.BATCH, alias="Type")
    priority: int = Field(default=0, alias="Priority")
    count: int = Field(default=1, alias="Count", ge=0)
    constraints: list[Constraint] = Field(default_factory=list, alias="Constraints")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")
    tasks: list[Task] = Field(alias="Tasks")
    state: JobState = Field(default_factory=JobState, alias="State")
    version: int = Field(default=0, alias="Version", ge=0)
    revision: int = Field(default=0, alias="Revision", ge=0)
    create_time: int = Field(default=0, alias="CreateTime")
    modify_time: int = Field(default=0, alias="ModifyTime")
    # bacalao extensions: absent from Bacalhau jobs and from their dumps.
    sharding: Sharding | None = Field(default=None, alias="Sharding")
    reduce: Task | None = Field(default=None, alias="Reduce")
    verification: Verification | None = Field(default=None, alias="Verification")

    _omit_empty = frozenset({"id"})

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        if value is None or value == "":
            return JobType.BATCH
        try:
            return JobType(value)
        except ValueError:
            valid = ", ".join(t.value for t in JobType)
            raise spec_error(f"unknown job type '{value}'", f"valid job types: {valid}") from None

    @field_validator("namespace", "name", "id", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        if value is None:
            return ""
        return value.strip() if isinstance(value, str) else value

    @field_validator("meta", "labels", mode="before")
    @classmethod
    def _maps(cls, value: Any) -> Any:
        return str_map(value)

    @field_validator("constraints", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("tasks")
    @classmethod
    def _one_task(cls, value: list[Task]) -> list[Task]:
        if not value:
            raise spec_error("a job needs a task", "add one entry under Tasks")
        if len(value) > 1:
            raise spec_error(
                f"a job has exactly one task, got {len(value)}",
                "submit one job per task, or use the Reduce block for a second stage",
            )
        return value

    @model_validator(mode="after")
    def _normalise(self) -> Job:
        if not self.namespace:
            self.namespace = DEFAULT_NAMESPACE
        if not self.name and self.id:
            self.name = self.id
        if self.count == 0 and self.type in (JobType.OPS, JobType.DAEMON):
            self.count = 1
        long_running = self.type.is_long_running
        # Copies, so that Task objects handed in by a caller are never mutated.
        self.tasks = [_with_default_timeouts(t, long_running) for t in self.tasks]
        if self.reduce is not None:
            self.reduce = _with_default_timeouts(self.reduce, long_running)
        return self

    @property
    def task(self) -> Task:
        """The job's (only) task."""
        return self.tasks[0]

    @property
    def state_type(self) -> JobStateType:
        """Shortcut for ``state.state_type``."""
        return self.state.state_type

    @property
    def is_terminal(self) -> bool:
        """True once the job is Completed, Failed or Stopped."""
        return self.state.state_type.is_terminal

    def with_id(self, job_id: str) -> Job:
        """A copy with this ID (from the orchestrator's ID source); a blank Name becomes the ID."""
        return self.model_copy(update={"id": job_id, "name": self.name or job_id})

    def short_id(self, length: int = 10) -> str:
        """The ID shortened for tables: ``j-`` plus the first 8 hex digits by default."""
        return self.id[:length]


def _with_default_timeouts(task: Task, long_running: bool) -> Task:
    timeouts = task.timeouts.with_defaults(long_running=long_running)
    return task if timeouts is task.timeouts else task.model_copy(update={"timeouts": timeouts})
