"""An execution: one shard of a job placed on one node, with its states, outputs and metering.

Bacalhau's ``Execution`` plus bacalao's fields (``ShardIndex``, ``ResultCID``, ``Metering``,
``Allocated``, ``GPUIndexes``). States are strings here; Bacalhau's integer form is produced by
:func:`bacalao.models.parse.dump_execution` and accepted on input. Executions never embed their job.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from bacalao.models._wire import WireModel
from bacalao.models.job_state import DesiredStateType, ExecutionStateType
from bacalao.models.publisher import PublishedResult
from bacalao.models.resources import ResourceAmounts

EXECUTION_ID_PREFIX = "e-"
INLINE_OUTPUT_LIMIT = 2048
"""Bytes of stdout/stderr returned inline in ``RunOutput`` (the full streams are in the result)."""


def _state_from_scalar(data: Any) -> Any:
    if isinstance(data, str | int) and not isinstance(data, bool):
        return {"StateType": data}
    return data


class ComputeState(WireModel):
    """``{StateType, Message}``: the execution's observed state and why it got there."""

    state_type: ExecutionStateType = Field(default=ExecutionStateType.NEW, alias="StateType")
    message: str = Field(default="", alias="Message")

    _omit_empty = frozenset({"message"})

    @model_validator(mode="before")
    @classmethod
    def _scalar(cls, data: Any) -> Any:
        return _state_from_scalar(data)


class DesiredState(WireModel):
    """``{StateType, Message}``: what the orchestrator wants of the execution."""

    state_type: DesiredStateType = Field(default=DesiredStateType.PENDING, alias="StateType")
    message: str = Field(default="", alias="Message")

    _omit_empty = frozenset({"message"})

    @model_validator(mode="before")
    @classmethod
    def _scalar(cls, data: Any) -> Any:
        return _state_from_scalar(data)


class RunCommandResult(WireModel):
    """How the process ended: inline stdout/stderr (first 2 KiB), truncation flags, exit code.

    ``ExitCode`` is -1 until the process exits, as in Bacalhau; note Bacalhau's lower-case
    ``stderr`` key.
    """

    stdout: str = Field(default="", alias="Stdout")
    stdout_truncated: bool = Field(default=False, alias="StdoutTruncated")
    stderr: str = Field(default="", alias="stderr")
    stderr_truncated: bool = Field(default=False, alias="StderrTruncated")
    exit_code: int = Field(default=-1, alias="ExitCode")
    error_msg: str = Field(default="", alias="ErrorMsg")


class Metering(WireModel):
    """What an execution used, as measured (and later signed) by its node."""

    cpu_seconds: float = Field(default=0.0, alias="CPUSeconds", ge=0)
    wall_seconds: float = Field(default=0.0, alias="WallSeconds", ge=0)
    memory_peak_bytes: int = Field(default=0, alias="MemoryPeakBytes", ge=0)
    bytes_read: int = Field(default=0, alias="BytesRead", ge=0)
    """Input bytes made available to the execution."""
    bytes_fetched: int = Field(default=0, alias="BytesFetched", ge=0)
    """Input bytes the node had to fetch from peers (0 when the data was local)."""
    bytes_written: int = Field(default=0, alias="BytesWritten", ge=0)
    fuel_consumed: int = Field(default=0, alias="FuelConsumed", ge=0)
    """WebAssembly instructions charged (wasm engine only)."""

    _omit_empty = frozenset(
        {
            "cpu_seconds",
            "wall_seconds",
            "memory_peak_bytes",
            "bytes_read",
            "bytes_fetched",
            "bytes_written",
            "fuel_consumed",
        }
    )

    def __add__(self, other: Metering) -> Metering:
        """Field-wise sum, for a job's totals over its executions."""
        return Metering(
            **{name: getattr(self, name) + getattr(other, name) for name in type(self).model_fields}
        )


class Execution(WireModel):
    """One attempt at one shard of a job on one node.

    ``ID`` (``e-<uuid>``) comes from the orchestrator's ID source. ``ShardIndex`` is 0 for an
    unsharded job; verification replicas of a shard are separate executions with the same index.
    """

    id: str = Field(alias="ID")
    namespace: str = Field(default="default", alias="Namespace")
    job_id: str = Field(alias="JobID")
    node_id: str = Field(default="", alias="NodeID")
    eval_id: str = Field(default="", alias="EvalID")
    name: str = Field(default="", alias="Name")
    shard_index: int = Field(default=0, alias="ShardIndex", ge=0)
    desired_state: DesiredState = Field(default_factory=DesiredState, alias="DesiredState")
    compute_state: ComputeState = Field(default_factory=ComputeState, alias="ComputeState")
    allocated: ResourceAmounts = Field(default_factory=ResourceAmounts, alias="Allocated")
    gpu_indexes: list[int] = Field(default_factory=list, alias="GPUIndexes")
    published_result: PublishedResult | None = Field(default=None, alias="PublishedResult")
    result_cid: str = Field(default="", alias="ResultCID")
    run_output: RunCommandResult | None = Field(default=None, alias="RunOutput")
    metering: Metering = Field(default_factory=Metering, alias="Metering")
    retryable: bool = Field(default=True, alias="Retryable")
    """False when the failure is the job's own (exit code, timeout, out of memory): another node
    would fail the same way, so the scheduler does not retry it."""
    previous_execution: str = Field(default="", alias="PreviousExecution")
    next_execution: str = Field(default="", alias="NextExecution")
    revision: int = Field(default=0, alias="Revision", ge=0)
    create_time: int = Field(default=0, alias="CreateTime")
    modify_time: int = Field(default=0, alias="ModifyTime")

    _omit_empty = frozenset({"gpu_indexes"})

    @property
    def state(self) -> ExecutionStateType:
        """The compute state (shortcut for ``compute_state.state_type``)."""
        return self.compute_state.state_type

    @property
    def is_terminal(self) -> bool:
        """True once Completed, Failed or Cancelled."""
        return self.compute_state.state_type.is_terminal

    @property
    def error_message(self) -> str:
        """Why the execution failed: the run's error, else the state message ('' if none)."""
        if self.run_output is not None and self.run_output.error_msg:
            return self.run_output.error_msg
        if self.compute_state.state_type.is_discarded:
            return self.compute_state.message
        return ""
