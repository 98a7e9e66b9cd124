"""Every subject on the bus, in one place.

Orchestrator → compute is request/reply; compute → orchestrator is fire-and-forget, as in
Bacalhau's NATS transport. Subjects carry a version suffix so a later wire format can live beside
this one.
"""

from __future__ import annotations

VERSION = "v1"

# orchestrator -> compute (request/reply)
ASK_FOR_BID = "AskForBid"
BID_ACCEPTED = "BidAccepted"
BID_REJECTED = "BidRejected"
CANCEL_EXECUTION = "CancelExecution"
EXECUTION_LOGS = "ExecutionLogs"
# data: block exchange between nodes, and dataset operations the orchestrator asks a node for
GET_BLOCK = "GetBlock"
LOCALITY = "Locality"
LIST_FILES = "ListFiles"
BUILD_TREE = "BuildTree"

# compute -> orchestrator (publish)
ON_BID_COMPLETE = "OnBidComplete"
ON_RUN_COMPLETE = "OnRunComplete"
ON_CANCEL_COMPLETE = "OnCancelComplete"
ON_COMPUTE_FAILURE = "OnComputeFailure"
ON_LOG = "OnLog"
ON_EXECUTION_UPDATE = "OnExecutionUpdate"

# compute -> orchestrator management (request/reply) and heartbeats (publish)
REGISTER_NODE = "RegisterNode"
UPDATE_NODE_INFO = "UpdateNodeInfo"
HEARTBEAT = "heartbeat"


def compute(node_id: str, method: str) -> str:
    """Subject a compute node listens on for ``method``."""
    return f"node.compute.{node_id}.{method}/{VERSION}"


def orchestrator(orchestrator_id: str, method: str) -> str:
    """Subject the orchestrator listens on for callbacks of kind ``method``."""
    return f"node.orchestrator.{orchestrator_id}.{method}/{VERSION}"


def management(orchestrator_id: str, method: str) -> str:
    """Subject for node registration and info updates."""
    return f"node.management.{orchestrator_id}.{method}/{VERSION}"


def heartbeat(orchestrator_id: str) -> str:
    return f"node.heartbeat.{orchestrator_id}"
