"""Typed payloads of every message between orchestrator and compute nodes.

Each payload is a pydantic model carried inside an :class:`Envelope` as plain JSON, so the same
message crosses the in-process bus and NATS. ``to_envelope``/``from_envelope`` are the only places
that convert.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from bacalao.errors import DecodeError
from bacalao.models.execution import Metering, RunCommandResult
from bacalao.models.job import Job
from bacalao.models.node import NodeInfo
from bacalao.models.parse import parse_job
from bacalao.transport.envelope import Envelope

M = TypeVar("M", bound="Message")


class Message(BaseModel):
    """Base of every payload. ``TYPE`` names it on the wire."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    TYPE: ClassVar[str] = "Message"

    def to_envelope(self, sender: str) -> Envelope:
        """An envelope carrying this message; its payload is written when first read."""
        return Envelope(self.TYPE, sender, message=self)

    def wire(self) -> dict[str, Any]:
        """The JSON payload of this message."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_envelope(cls: type[M], env: Envelope) -> M:
        """The message in ``env``: the sender's own object when it was sent in this process
        (messages are never mutated once sent), else parsed from the payload."""
        if env.type != cls.TYPE:
            raise DecodeError(f"expected a {cls.TYPE} message, got {env.type}")
        if isinstance(env.message, cls):
            return env.message
        try:
            return cls.model_validate(env.payload)
        except ValidationError as e:
            raise DecodeError(f"malformed {cls.TYPE}: {e.errors()[0]['msg']}") from None


class AskForBid(Message):
    """Orchestrator → compute: will you run this execution? Accepting means it starts.

    Made with :meth:`for_job`, it holds the orchestrator's :class:`Job` and writes ``Job`` only
    when it is serialised; :meth:`parsed_job` is that job in this process, else the payload's
    ``Job`` parsed and validated.
    """

    TYPE: ClassVar[str] = "AskForBid"
    job: dict[str, Any] = Field(default_factory=dict, alias="Job")  # the job, Bacalhau-shaped
    execution_id: str = Field(alias="ExecutionID")
    shard_index: int = Field(default=0, alias="ShardIndex")
    #: inputs of this shard when the job is sharded (InputSource dicts), else the task's own
    inputs: list[dict[str, Any]] | None = Field(default=None, alias="Inputs")
    #: nodes to fetch missing input blocks from, best first
    peers: list[str] = Field(default_factory=list, alias="Peers")
    _job: Job | None = PrivateAttr(default=None)

    @classmethod
    def for_job(cls, job: Job, **fields: Any) -> AskForBid:
        ask = cls(**fields)
        ask._job = job
        return ask

    def wire(self) -> dict[str, Any]:
        out = super().wire()
        if self._job is not None and not out["Job"]:
            out["Job"] = self._job.to_wire()
        return out

    def parsed_job(self) -> Job:
        """The job to run; raises :class:`~bacalao.errors.InvalidInput` for a malformed one."""
        if self._job is not None:
            return self._job
        return parse_job(self.job)


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
    #: the execution's published result, where its streams are once the run directory is gone
    result_cid: str = Field(default="", alias="ResultCID")


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


class GetBlock(Message):
    """Node → node: send me this block if you have it (block exchange)."""

    TYPE: ClassVar[str] = "GetBlock"
    cid: str = Field(alias="CID")


class BlockReply(Message):
    TYPE: ClassVar[str] = "BlockReply"
    found: bool = Field(alias="Found")
    data: str = Field(default="", alias="Data")  # base64


class Locality(Message):
    """Orchestrator → node: how many bytes of each of these DAGs do you hold locally?"""

    TYPE: ClassVar[str] = "Locality"
    cids: list[str] = Field(alias="CIDs")


class LocalityReply(Message):
    TYPE: ClassVar[str] = "LocalityReply"
    held: dict[str, int] = Field(default_factory=dict, alias="Held")


class ListFiles(Message):
    """Orchestrator → node: list the files under a root matching a glob (to plan shards)."""

    TYPE: ClassVar[str] = "ListFiles"
    cid: str = Field(alias="CID")
    glob: str = Field(default="", alias="Glob")
    peers: list[str] = Field(default_factory=list, alias="Peers")


class FileInfo(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    path: str = Field(alias="Path")
    cid: str = Field(alias="CID")
    size: int = Field(alias="Size")


class FilesReply(Message):
    TYPE: ClassVar[str] = "FilesReply"
    files: list[FileInfo] = Field(default_factory=list, alias="Files")
    error: str = Field(default="", alias="Error")


class BuildTree(Message):
    """Orchestrator → node: link these roots into one directory (merge or aggregate), store and
    pin it. ``Kind`` is ``union`` (paths joined), ``per-shard`` or ``aggregate``."""

    TYPE: ClassVar[str] = "BuildTree"
    kind: str = Field(alias="Kind")
    roots: list[tuple[str, str]] = Field(alias="Roots")  # (name or label, CID)
    subdir: str = Field(default="", alias="Subdir")  # take this path of each root (union)
    peers: list[str] = Field(default_factory=list, alias="Peers")


class TreeReply(Message):
    TYPE: ClassVar[str] = "TreeReply"
    cid: str = Field(default="", alias="CID")
    error: str = Field(default="", alias="Error")
    hint: str = Field(default="", alias="Hint")
