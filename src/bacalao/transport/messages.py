"""Typed payloads of every message between orchestrator and compute nodes.

Each payload is a pydantic model carried inside an :class:`Envelope` as plain JSON, so the same
message crosses the in-process bus and NATS. ``to_envelope``/``from_envelope`` are the only places
that convert.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bacalao.errors import DecodeError
from bacalao.models.execution import Metering, RunCommandResult
from bacalao.models.node import NodeInfo
from bacalao.transport.envelope import Envelope

M = TypeVar("M", bound="Message")


class Message(BaseModel):
    """Base of every payload. ``TYPE`` names it on the wire."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    TYPE: ClassVar[str] = "Message"

    def to_envelope(self, sender: str) -> Envelope:
        return Envelope(self.TYPE, sender, self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_envelope(cls: type[M], env: Envelope) -> M:
        if env.type != cls.TYPE:
            raise DecodeError(f"expected a {cls.TYPE} message, got {env.type}")
        try:
            return cls.model_validate(env.payload)
        except ValidationError as e:
            raise DecodeError(f"malformed {cls.TYPE}: {e.errors()[0]['msg']}") from None


class AskForBid(Message):
    """Orchestrator → compute: will you run this execution? Accepting means it starts."""

    TYPE: ClassVar[str] = "AskForBid"
    job: dict[str, Any] = Field(alias="Job")  # the job, Bacalhau-shaped
    execution_id: str = Field(alias="ExecutionID")
    shard_index: int = Field(default=0, alias="ShardIndex")
    #: inputs of this shard when the job is sharded (InputSource dicts), else the task's own
    inputs: list[dict[str, Any]] | None = Field(default=None, alias="Inputs")


class BidReply(Message):
    TYPE: ClassVar[str] = "BidReply"
    accepted: bool = Field(alias="Accepted")
    reason: str = Field(default="", alias="Reason")


class CancelExecution(Message):
    TYPE: ClassVar[str] = "CancelExecution"
    execution_id: str = Field(alias="ExecutionID")
    reason: str = Field(default="", alias="Reason")


class Ack(Message):
    TYPE: ClassVar[str] = "Ack"
    ok: bool = Field(default=True, alias="OK")
    error: str = Field(default="", alias="Error")


class ExecutionLogs(Message):
    """Orchestrator → compute: bytes of an execution's stdout/stderr from the given offsets."""

    TYPE: ClassVar[str] = "ExecutionLogs"
    execution_id: str = Field(alias="ExecutionID")
    stdout_offset: int = Field(default=0, alias="StdoutOffset")
    stderr_offset: int = Field(default=0, alias="StderrOffset")
    max_bytes: int = Field(default=1 << 20, alias="MaxBytes")


class LogsReply(Message):
    TYPE: ClassVar[str] = "LogsReply"
    stdout: str = Field(default="", alias="Stdout")  # latin-1 text of the raw bytes
    stderr: str = Field(default="", alias="Stderr")
    done: bool = Field(default=False, alias="Done")
    found: bool = Field(default=True, alias="Found")


class ExecutionUpdate(Message):
    """Compute → orchestrator: an execution moved to Running, Completed, Failed or Cancelled."""

    TYPE: ClassVar[str] = "ExecutionUpdate"
    execution_id: str = Field(alias="ExecutionID")
    job_id: str = Field(alias="JobID")
    node_id: str = Field(alias="NodeID")
    state: str = Field(alias="State")
    message: str = Field(default="", alias="Message")
    result_cid: str = Field(default="", alias="ResultCID")
    run_output: RunCommandResult | None = Field(default=None, alias="RunOutput")
    metering: Metering | None = Field(default=None, alias="Metering")
    #: False when the failure is the job's own (exit code, timeout, OOM): no retry elsewhere
    retryable: bool = Field(default=True, alias="Retryable")


class RegisterNode(Message):
    """Compute → orchestrator: here I am (also sent again when the node's info changes)."""

    TYPE: ClassVar[str] = "RegisterNode"
    node: NodeInfo = Field(alias="Node")
    #: root CID -> bytes this node holds (data locality index)
    held: dict[str, int] = Field(default_factory=dict, alias="Held")


class Heartbeat(Message):
    TYPE: ClassVar[str] = "Heartbeat"
    node_id: str = Field(alias="NodeID")
    seq: int = Field(alias="Sequence")
