"""What the client returns: plain dataclasses over the wire dicts, typed on first access.

Lists and composite answers keep the exact JSON the API sent (``.raw``) and parse it into
:mod:`bacalao.models` objects only when ``.items``/``.job``/… is read. A caller that only prints
(the CLI's ``job list``) never pays for importing pydantic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bacalao.client import _wire

if TYPE_CHECKING:
    from bacalao.models import Execution, Job, JobHistory

T = TypeVar("T")

TERMINAL_JOB_STATES = frozenset({"Completed", "Failed", "Stopped"})
"""Job states after which nothing changes (kept equal to ``JobStateType.is_terminal`` by a test)."""
STREAMS = {1: "stdout", 2: "stderr"}


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to a submission."""

    job_id: str
    evaluation_id: str
    warnings: list[str] = field(default_factory=list)


class Page(Generic[T]):
    """One page of a listing: ``raw`` wire dicts, ``items`` parsed lazily, ``next_token``."""

    def __init__(
        self, raw: list[dict[str, Any]], next_token: str, parse: Callable[[dict[str, Any]], T]
    ) -> None:
        self.raw = raw
        self.next_token = next_token
        self._parse = parse

    @cached_property
    def items(self) -> list[T]:
        """The entries as bacalao models."""
        return [self._parse(item) for item in self.raw]

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"Page({len(self.raw)} items, next_token={self.next_token!r})"


def _state_of(job: dict[str, Any]) -> str:
    state = job.get("State") or {}
    return str(state.get("StateType", "")) if isinstance(state, dict) else str(state)


class JobDescription:
    """A job with its executions and history (``GET /jobs/{id}?include=executions,history``)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    @property
    def state(self) -> str:
        """The job's state name, e.g. ``Running`` (read from the wire, no parsing)."""
        return _state_of(self.raw.get("Job") or {})

    @cached_property
    def job(self) -> Job:
        """The job."""
        return _wire.parse_job(self.raw["Job"])

    @cached_property
    def executions(self) -> list[Execution]:
        """Its executions, oldest change first."""
        items = (self.raw.get("Executions") or {}).get("Items") or []
        return [_wire.parse_execution(e) for e in items]

    @cached_property
    def history(self) -> list[JobHistory]:
        """Its history entries, oldest first."""
        items = (self.raw.get("History") or {}).get("Items") or []
        return [_wire.parse_history(h) for h in items]


class WaitResult:
    """One answer of the long-poll: the newest history ``seq``, the job and its executions."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.seq: int = int(raw.get("Seq") or 0)

    @property
    def state(self) -> str:
        """The job's state name (from the wire)."""
        return _state_of(self.raw.get("Job") or {})

    @property
    def is_terminal(self) -> bool:
        """Whether the job is Completed, Failed or Stopped."""
        return self.state in TERMINAL_JOB_STATES

    @property
    def raw_job(self) -> dict[str, Any]:
        """The job as the API sent it."""
        return self.raw.get("Job") or {}

    @property
    def raw_executions(self) -> list[dict[str, Any]]:
        """The executions as the API sent them."""
        return self.raw.get("Executions") or []

    @cached_property
    def job(self) -> Job:
        """The job, parsed."""
        return _wire.parse_job(self.raw_job)

    @cached_property
    def executions(self) -> list[Execution]:
        """The executions, parsed."""
        return [_wire.parse_execution(e) for e in self.raw_executions]


@dataclass(frozen=True, slots=True)
class LogLine:
    """A piece of an execution's output: ``stream`` is ``stdout`` or ``stderr``."""

    stream: str
    text: str
