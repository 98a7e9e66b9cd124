"""The compute node's execution state machine: pure, no I/O, no event loop.

Modelled on dask's ``WorkerState``: the runner feeds it frozen events (each with a ``stimulus_id``)
and acts on the instructions it returns. It owns the node's capacity: an accepted execution runs
at once when its CPU, memory, GPUs and the job slots fit, otherwise it waits in a priority queue;
each finished execution frees its share and starts whatever now fits (a smaller job may overtake
a larger one, as in Bacalhau's executor buffer). GPUs are handed out as exact device indexes.

Local states: Created → BidAccepted → Running → Publishing → Completed, with Failed and Cancelled
reachable from every non-terminal state.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import StrEnum

from bacalao.errors import Conflict


class LocalState(StrEnum):
    CREATED = "Created"
    BID_ACCEPTED = "BidAccepted"
    RUNNING = "Running"
    PUBLISHING = "Publishing"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (LocalState.COMPLETED, LocalState.FAILED, LocalState.CANCELLED)


_ALLOWED: dict[LocalState, frozenset[LocalState]] = {
    LocalState.CREATED: frozenset(
        {LocalState.BID_ACCEPTED, LocalState.CANCELLED, LocalState.FAILED}
    ),
    LocalState.BID_ACCEPTED: frozenset(
        {LocalState.RUNNING, LocalState.CANCELLED, LocalState.FAILED}
    ),
    LocalState.RUNNING: frozenset({LocalState.PUBLISHING, LocalState.CANCELLED, LocalState.FAILED}),
    LocalState.PUBLISHING: frozenset(
        {LocalState.COMPLETED, LocalState.CANCELLED, LocalState.FAILED}
    ),
}


class InvalidTransition(Conflict):
    """An event asked for a move the state machine does not allow."""

    code = "invalid_transition"


@dataclass(frozen=True, slots=True)
class Need:
    """What one execution takes from the node while it runs."""

    cpu: float = 0.0
    memory: int = 0
    gpus: int = 0


# -- events (stimuli) ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Accepted:
    """The node bid on an execution and will run it."""

    execution_id: str
    need: Need
    priority: int = 0
    stimulus_id: str = ""


@dataclass(frozen=True, slots=True)
class RunStarted:
    execution_id: str
    stimulus_id: str = ""


@dataclass(frozen=True, slots=True)
class RunSucceeded:
    """The engine finished without an error of ours (the exit code may still be non-zero)."""

    execution_id: str
    stimulus_id: str = ""


@dataclass(frozen=True, slots=True)
class Published:
    execution_id: str
    result_cid: str
    stimulus_id: str = ""


@dataclass(frozen=True, slots=True)
class Failed:
    """Preparing inputs, running or publishing failed."""

    execution_id: str
    reason: str
    #: False when another node would fail the same way (the job's own fault, data nowhere)
    retryable: bool = True
    stimulus_id: str = ""


@dataclass(frozen=True, slots=True)
class CancelRequested:
    execution_id: str
    reason: str = "cancelled by the user"
    stimulus_id: str = ""


Event = Accepted | RunStarted | RunSucceeded | Published | Failed | CancelRequested


# -- instructions (effects the runner performs) -------------------------------------------------
@dataclass(frozen=True, slots=True)
class StartRun:
    execution_id: str
    gpus: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Publish:
    execution_id: str


@dataclass(frozen=True, slots=True)
class KillRun:
    execution_id: str


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell the orchestrator: ``kind`` is Running, Completed, Failed or Cancelled."""

    execution_id: str
    kind: str
    message: str = ""
    result_cid: str | None = None
    retryable: bool = True


Instruction = StartRun | Publish | KillRun | Notify


@dataclass(slots=True)
class LocalExecution:
    execution_id: str
    need: Need
    priority: int
    seq: int
    state: LocalState = LocalState.CREATED
    gpus: tuple[int, ...] = ()
    message: str = ""


@dataclass
class ComputeState:
    """Capacity, queue and per-execution state of one compute node."""

    cpu: float
    memory: int
    gpu_indexes: tuple[int, ...] = ()
    max_jobs: int = 0  # 0 = bounded by resources only
    executions: dict[str, LocalExecution] = field(default_factory=dict)
    #: accepted executions waiting for capacity, in start order (priority, then arrival)
    queue: list[str] = field(default_factory=list)
    _seq: int = 0
    _holding: set[str] = field(default_factory=set)
    #: how many queued executions have each distinct need (lets a full node stop scanning)
    _queued_needs: dict[Need, int] = field(default_factory=dict)
    _used_cpu: float = 0.0
    _used_memory: int = 0
    _used_gpus: int = 0
    stimulus_log: list[tuple[str, str]] = field(default_factory=list)

    # -- capacity views ------------------------------------------------------------------------
    # ``_holding`` is the set of executions that hold capacity: started (StartRun issued) and not
    # yet terminal. It is kept up to date on every move, so capacity checks cost O(1).
    def used(self) -> Need:
        held = [self.executions[i] for i in self._holding]
        return Need(
            cpu=sum(e.need.cpu for e in held),
            memory=sum(e.need.memory for e in held),
            gpus=sum(len(e.gpus) for e in held),
        )

    def free_gpus(self) -> list[int]:
        taken = {g for i in self._holding for g in self.executions[i].gpus}
        return [g for g in self.gpu_indexes if g not in taken]

    def fits_at_all(self, need: Need) -> str | None:
        """Why ``need`` can never run here, or None when it could once the node is idle."""
        if need.cpu > self.cpu + 1e-9:
            return f"needs {need.cpu:g} CPU, node has {self.cpu:g}"
        if need.memory > self.memory:
            return f"needs {need.memory} bytes of memory, node has {self.memory}"
        if need.gpus > len(self.gpu_indexes):
            return f"needs {need.gpus} GPU, node has {len(self.gpu_indexes)}"
        return None

    def _fits_now(self, need: Need) -> bool:
        if self.max_jobs and len(self._holding) >= self.max_jobs:
            return False
        return (
            self._used_cpu + need.cpu <= self.cpu + 1e-9
            and self._used_memory + need.memory <= self.memory
            and need.gpus <= len(self.gpu_indexes) - self._used_gpus
        )

    def _hold(self, ex: LocalExecution) -> None:
        self._holding.add(ex.execution_id)
        self._used_cpu += ex.need.cpu
        self._used_memory += ex.need.memory
        self._used_gpus += len(ex.gpus)

    def _release(self, ex: LocalExecution) -> None:
        if ex.execution_id in self._holding:
            self._holding.discard(ex.execution_id)
            self._used_cpu -= ex.need.cpu
            self._used_memory -= ex.need.memory
            self._used_gpus -= len(ex.gpus)

    # -- the one entry point ---------------------------------------------------------------------
    def handle(self, event: Event) -> list[Instruction]:
        """Apply one event; return what the runner must do next."""
        self.stimulus_log.append((event.stimulus_id, type(event).__name__))
        del self.stimulus_log[:-1000]
        if isinstance(event, Accepted):
            return self._accepted(event)
        ex = self.executions.get(event.execution_id)
        if ex is None:
            raise InvalidTransition(f"unknown execution {event.execution_id}")
        if isinstance(event, CancelRequested):
            return self._cancel(ex, event.reason)
        if ex.state.is_terminal:  # late news about a finished execution: ignore
            return []
        if isinstance(event, RunStarted):
            self._move(ex, LocalState.RUNNING)
            return [Notify(ex.execution_id, "Running")]
        if isinstance(event, RunSucceeded):
            self._move(ex, LocalState.PUBLISHING)
            return [Publish(ex.execution_id)]
        if isinstance(event, Published):
            self._move(ex, LocalState.COMPLETED)
            out: list[Instruction] = [
                Notify(ex.execution_id, "Completed", result_cid=event.result_cid)
            ]
            return out + self._start_queued()
        if isinstance(event, Failed):
            self._move(ex, LocalState.FAILED, event.reason)
            failed = Notify(ex.execution_id, "Failed", event.reason, retryable=event.retryable)
            return [failed, *self._start_queued()]
        raise TypeError(f"unknown event {event!r}")

    def _accepted(self, event: Accepted) -> list[Instruction]:
        if event.execution_id in self.executions:
            return []  # a duplicate delivery
        self._seq += 1
        ex = LocalExecution(event.execution_id, event.need, event.priority, self._seq)
        self.executions[ex.execution_id] = ex
        self._move(ex, LocalState.BID_ACCEPTED)
        # the queue stays in start order: higher priority first, then arrival
        bisect.insort(self.queue, ex.execution_id, key=self._queue_key)
        self._queued_needs[ex.need] = self._queued_needs.get(ex.need, 0) + 1
        return self._start_queued()

    def _unqueue_need(self, need: Need) -> None:
        left = self._queued_needs[need] - 1
        if left:
            self._queued_needs[need] = left
        else:
            del self._queued_needs[need]

    def _queue_key(self, execution_id: str) -> tuple[int, int]:
        ex = self.executions[execution_id]
        return (-ex.priority, ex.seq)

    def _start_queued(self) -> list[Instruction]:
        out: list[Instruction] = []
        started = set()
        too_big: set[Need] = set()  # a need that did not fit: equal needs behind it won't either
        for eid in self.queue:
            if self.max_jobs and len(self._holding) >= self.max_jobs:
                break
            ex = self.executions[eid]
            if ex.need in too_big:
                continue
            if not self._fits_now(ex.need):
                too_big.add(ex.need)
                if len(too_big) == len(self._queued_needs):
                    break  # nothing behind fits either
                continue
            ex.gpus = tuple(self.free_gpus()[: ex.need.gpus]) if ex.need.gpus else ()
            self._hold(ex)
            self._unqueue_need(ex.need)
            started.add(eid)
            out.append(StartRun(eid, ex.gpus))
        if started:
            k = len(started)
            if all(i in started for i in self.queue[:k]):
                del self.queue[:k]  # the usual case, the head of the queue: no rebuild
            else:
                self.queue = [i for i in self.queue if i not in started]
        return out

    def _cancel(self, ex: LocalExecution, reason: str) -> list[Instruction]:
        if ex.state.is_terminal:
            return []
        was_queued = ex.execution_id in self.queue
        if was_queued:
            self.queue.remove(ex.execution_id)
            self._unqueue_need(ex.need)
        started = not was_queued and ex.state is not LocalState.CREATED
        self._move(ex, LocalState.CANCELLED, reason)
        out: list[Instruction] = [KillRun(ex.execution_id)] if started else []
        out.append(Notify(ex.execution_id, "Cancelled", reason))
        return out + self._start_queued()

    def _move(self, ex: LocalExecution, to: LocalState, message: str = "") -> None:
        if to not in _ALLOWED.get(ex.state, frozenset()) and not (
            ex.state is LocalState.CREATED and to is LocalState.BID_ACCEPTED
        ):
            raise InvalidTransition(f"execution {ex.execution_id}: {ex.state} → {to} not allowed")
        ex.state = to
        ex.message = message or ex.message
        if to.is_terminal:
            self._release(ex)

    def forget(self, execution_id: str) -> None:
        """Drop a terminal execution from memory (the jobstore keeps its history)."""
        ex = self.executions.get(execution_id)
        if ex is not None and ex.state.is_terminal:
            del self.executions[execution_id]

    def validate(self) -> None:
        """Invariants, checked by tests after every scenario."""
        used = self.used()
        assert abs(used.cpu - self._used_cpu) < 1e-6 and used.memory == self._used_memory
        assert used.gpus == self._used_gpus
        assert used.cpu <= self.cpu + 1e-9, used
        assert used.memory <= self.memory, used
        gpus = [g for i in self._holding for g in self.executions[i].gpus]
        assert len(gpus) == len(set(gpus)), "a GPU handed out twice"
        needs: dict[Need, int] = {}
        for eid in self.queue:
            assert self.executions[eid].state is LocalState.BID_ACCEPTED
            assert eid not in self._holding
            needs[self.executions[eid].need] = needs.get(self.executions[eid].need, 0) + 1
        assert needs == self._queued_needs, (needs, self._queued_needs)
        for eid in self._holding:
            assert not self.executions[eid].state.is_terminal
