"""What a compute node tells the orchestrator about itself: identity, labels, engines, capacity.

Bacalhau's ``NodeInfo`` reduced to what scheduling needs, plus GPUs as a list. Capacity is in
:class:`ResourceAmounts` (numbers); ``available`` is what is free now.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from bacalao.models._wire import WireModel, str_map
from bacalao.models.resources import ResourceAmounts


class NodeType(StrEnum):
    """A node's role, as Bacalhau names it."""

    COMPUTE = "Compute"
    REQUESTER = "Requester"


class NodeConnectionState(StrEnum):
    """Whether the orchestrator hears the node's heartbeats."""

    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"


class NodeMembershipState(StrEnum):
    """Whether an operator let the node join (``APPROVED`` by default)."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class GPU(WireModel):
    """One GPU: ``index`` (device number), ``model`` (Bacalhau ``Name``), ``memory_mb`` (MiB)."""

    index: int = Field(alias="Index", ge=0)
    model: str = Field(default="", alias="Name")
    vendor: str = Field(default="", alias="Vendor")
    memory_mb: int = Field(default=0, alias="Memory", ge=0)
    pci_address: str = Field(default="", alias="PCIAddress")

    _omit_empty = frozenset({"vendor", "pci_address"})


class NodeInfo(WireModel):
    """A node's advertisement: refreshed by the node, read by the scheduler as a snapshot."""

    id: str = Field(alias="ID")
    node_type: NodeType = Field(default=NodeType.COMPUTE, alias="NodeType")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")
    engines: list[str] = Field(default_factory=list, alias="Engines")
    publishers: list[str] = Field(default_factory=list, alias="Publishers")
    storage_sources: list[str] = Field(default_factory=list, alias="StorageSources")
    total: ResourceAmounts = Field(default_factory=ResourceAmounts, alias="MaxCapacity")
    available: ResourceAmounts = Field(default_factory=ResourceAmounts, alias="AvailableCapacity")
    gpus: list[GPU] = Field(default_factory=list, alias="GPUs")
    max_jobs: int = Field(default=0, alias="MaxJobs", ge=0)
    """Concurrent executions allowed (0 = bounded by resources only)."""
    running_executions: int = Field(default=0, alias="RunningExecutions", ge=0)
    connection: NodeConnectionState = Field(
        default=NodeConnectionState.CONNECTED, alias="Connection"
    )
    membership: NodeMembershipState = Field(
        default=NodeMembershipState.APPROVED, alias="Membership"
    )
    address: str = Field(default="", alias="Address")
    version: str = Field(default="", alias="Version")
    last_seen: int = Field(default=0, alias="LastSeen")

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return str_map(value)

    @field_validator("engines", "publishers", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [v.strip().lower() if isinstance(v, str) else v for v in value]
        return [] if value is None else value

    def supports_engine(self, engine_type: str) -> bool:
        """True when the node advertises this engine (case-insensitive)."""
        return engine_type.strip().lower() in self.engines

    @property
    def is_schedulable(self) -> bool:
        """Connected and approved: the scheduler may place work here."""
        return (
            self.connection is NodeConnectionState.CONNECTED
            and self.membership is NodeMembershipState.APPROVED
        )


def gpu_labels(gpus: list[GPU]) -> dict[str, str]:
    """Bacalhau's automatic labels: ``GPU-<i>: <model>`` and ``GPU-<i>-Memory: <n>-MiB``."""
    labels: dict[str, str] = {}
    for gpu in gpus:
        labels[f"GPU-{gpu.index}"] = gpu.model
        labels[f"GPU-{gpu.index}-Memory"] = f"{gpu.memory_mb}-MiB"
    return labels
