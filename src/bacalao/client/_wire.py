"""Wire dicts (Bacalhau v1 response shapes) -> bacalao models.

Imported only when a typed value is first asked for: importing the models (pydantic) costs more
than the whole CLI start-up budget, and ``bacalao job list`` never needs them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bacalao.models import Execution, Job, JobHistory, NodeInfo, PublishedResult

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)")


def parse_job(data: dict[str, Any]) -> Job:
    """A job as the API dumps it."""
    from bacalao.models import parse_job as parse

    return parse(data)


def parse_execution(data: dict[str, Any]) -> Execution:
    """An execution in Bacalhau's REST shape (integer states) or bacalao's."""
    from bacalao.models import parse_execution as parse

    return parse(data)


def rfc3339_to_ns(text: Any) -> int:
    """Go's RFC3339Nano (``2024-07-02T14:27:01.1Z``) -> Unix nanoseconds; the zero time -> 0.

    An int is taken as nanoseconds already (bacalao's own shape)."""
    if isinstance(text, int):
        return text
    match = _RFC3339.fullmatch(str(text or "").strip())
    if match is None or match[1].startswith("0001-01-01"):
        return 0
    tz = "+00:00" if match[3] in ("Z", "z") else match[3]
    seconds = int(datetime.fromisoformat(match[1] + tz).timestamp())
    return seconds * 1_000_000_000 + int(((match[2] or "") + "000000000")[:9])


def parse_history(data: dict[str, Any]) -> JobHistory:
    """A history entry in Bacalhau's shape (RFC 3339 times, integer execution states)."""
    from bacalao.models import JobHistory
    from bacalao.models.job_state import ExecutionStateType

    entry = {k: v for k, v in data.items() if k != "Comment"}
    entry["Time"] = rfc3339_to_ns(entry.get("Time"))
    event = dict(entry.get("Event") or {})
    event["Timestamp"] = rfc3339_to_ns(event.get("Timestamp"))
    entry["Event"] = event
    change = entry.get("ExecutionState")
    if isinstance(change, dict):
        entry["ExecutionState"] = {
            k: ExecutionStateType(v).value if isinstance(v, int) else v for k, v in change.items()
        }
    return JobHistory.model_validate(entry)


def parse_result(data: dict[str, Any]) -> PublishedResult:
    """A published result ``{Type, Params}``."""
    from bacalao.models import PublishedResult

    return PublishedResult.model_validate(data)


def parse_node_state(data: dict[str, Any]) -> NodeInfo:
    """Bacalhau's ``NodeState`` -> :class:`~bacalao.models.NodeInfo` (inverse of
    ``bacalao.api.wire.node_state``)."""
    from bacalao.models import NodeInfo

    info = data.get("Info") or {}
    compute = info.get("ComputeNodeInfo") or {}
    total = dict(compute.get("MaxCapacity") or {})
    gpus = total.pop("GPUs", None) or []
    version = (info.get("BacalhauVersion") or {}).get("GitVersion", "")
    return NodeInfo.model_validate(
        {
            "ID": info.get("NodeID", ""),
            "NodeType": info.get("NodeType") or "Compute",
            "Labels": info.get("Labels") or {},
            "Engines": compute.get("ExecutionEngines") or [],
            "Publishers": compute.get("Publishers") or [],
            "StorageSources": compute.get("StorageSources") or [],
            "MaxCapacity": total,
            "AvailableCapacity": compute.get("AvailableCapacity") or {},
            "GPUs": gpus,
            "MaxJobs": compute.get("MaxJobs") or 0,
            "RunningExecutions": compute.get("RunningExecutions") or 0,
            "Connection": data.get("Connection") or "CONNECTED",
            "Membership": data.get("Membership") or "APPROVED",
            "Address": info.get("Address") or "",
            "Version": version.removeprefix("v"),
            "LastSeen": info.get("LastSeen") or 0,
        }
    )
