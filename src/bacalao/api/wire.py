"""Bacalhau v1 response shapes that the models do not produce themselves: nodes and versions.

``NodeState`` is ``{Info: {NodeID, NodeType, Labels, ComputeNodeInfo, BacalhauVersion}, Membership,
Connection}`` (reference §3.1). bacalao's extra node facts ride along in the same objects under
keys Bacalhau's clients ignore (``Address``, ``LastSeen``, ``MaxJobs``, ``MaxCapacity.GPUs``).
:func:`bacalao.client._wire.parse_node_state` is the inverse; a round-trip test keeps them in step.
"""

from __future__ import annotations

import platform
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bacalao.models import NodeInfo

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def version_info(version: str, *, git_commit: str = "", build_date: str = "") -> dict[str, str]:
    """Bacalhau's ``BuildVersionInfo`` for a bacalao version string such as ``0.1.0``."""
    bare = version.removeprefix("v")
    major, _, rest = bare.partition(".")
    minor = rest.partition(".")[0]
    machine = platform.machine().lower()
    return {
        "Major": major,
        "Minor": minor,
        "GitVersion": f"v{bare}" if bare else "",
        "GitCommit": git_commit,
        "BuildDate": build_date,
        "GOOS": sys.platform.removesuffix("32"),
        "GOARCH": _ARCH.get(machine, machine),
    }


def node_state(node: NodeInfo, *, server_version: str = "") -> dict[str, Any]:
    """A :class:`~bacalao.models.NodeInfo` as Bacalhau's ``NodeState``."""
    info: dict[str, Any] = {
        "NodeID": node.id,
        "NodeType": node.node_type.value,
        "Labels": dict(node.labels),
        "BacalhauVersion": version_info(node.version or server_version),
        "Address": node.address,
        "LastSeen": node.last_seen,
    }
    if node.node_type.value == "Compute":
        total = node.total.to_wire()
        if node.gpus:
            total["GPUs"] = [gpu.to_wire() for gpu in node.gpus]
        info["ComputeNodeInfo"] = {
            "ExecutionEngines": list(node.engines),
            "Publishers": list(node.publishers),
            "StorageSources": list(node.storage_sources),
            "MaxCapacity": total,
            "QueueCapacity": {},
            "AvailableCapacity": node.available.to_wire(),
            "MaxJobRequirements": node.total.to_wire(),
            "RunningExecutions": node.running_executions,
            "EnqueuedExecutions": 0,
            "MaxJobs": node.max_jobs,
        }
    return {
        "Info": info,
        "Membership": node.membership.value,
        "Connection": node.connection.value,
    }


def requester_state(node_id: str, version: str) -> dict[str, Any]:
    """The ``NodeState`` of an orchestrator-only node (no compute part)."""
    return {
        "Info": {
            "NodeID": node_id,
            "NodeType": "Requester",
            "Labels": {},
            "BacalhauVersion": version_info(version),
        },
        "Membership": "APPROVED",
        "Connection": "CONNECTED",
    }
