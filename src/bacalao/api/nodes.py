"""``/api/v1/orchestrator/nodes``: the compute nodes the orchestrator knows, as ``NodeState``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from bacalao.api.deps import OrchestratorAPI, orchestrator
from bacalao.api.params import parse_bool, parse_choice, parse_int, parse_labels
from bacalao.api.responses import JSONResponse
from bacalao.api.schemas import GetNodeResponse, ListNodesResponse, errors
from bacalao.api.wire import node_state

router = APIRouter(prefix="/api/v1/orchestrator/nodes", tags=["nodes"])

Orch = Annotated[OrchestratorAPI, Depends(orchestrator)]
Q = Annotated[str, Query()]

NODE_ORDERS = (
    "id",
    "type",
    "available_cpu",
    "available_memory",
    "available_disk",
    "available_gpu",
    "approval",
    "status",
)
_SORT = {
    "id": lambda n: n.id,
    "type": lambda n: (n.node_type.value, n.id),
    "available_cpu": lambda n: (n.available.cpu, n.id),
    "available_memory": lambda n: (n.available.memory, n.id),
    "available_disk": lambda n: (n.available.disk, n.id),
    "available_gpu": lambda n: (n.available.gpu, n.id),
    "approval": lambda n: (n.membership.value, n.id),
    "status": lambda n: (n.connection.value, n.id),
}


@router.get("", summary="List nodes", response_model=ListNodesResponse, responses=errors(400))
async def list_nodes(
    request: Request,
    orch: Orch,
    limit: Q = "",
    next_token: Q = "",
    order_by: Q = "",
    reverse: Q = "",
    labels: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
) -> JSONResponse:
    """Nodes as ``{Nodes: [NodeState], NextToken}``; filter with ``labels=k=v``,
    ``filter-approval=APPROVED|PENDING|REJECTED``, ``filter-status=CONNECTED|DISCONNECTED``
    (``filter_approval``/``filter_status`` also work); sort with ``order_by`` and ``reverse``."""
    query = request.query_params
    approval = (query.get("filter-approval") or query.get("filter_approval") or "").strip().upper()
    status = (query.get("filter-status") or query.get("filter_status") or "").strip().upper()
    wanted = parse_labels(labels) or {}
    order = parse_choice(order_by, "order_by", NODE_ORDERS, "id")
    count = parse_int(limit, "limit", 0)
    nodes = [
        n
        for n in orch.list_nodes()
        if (not approval or n.membership.value == approval)
        and (not status or n.connection.value == status)
        and all(n.labels.get(k) == v for k, v in wanted.items())
    ]
    nodes.sort(key=_SORT[order], reverse=parse_bool(reverse, "reverse"))
    if count:
        nodes = nodes[:count]
    version = request.app.version
    return JSONResponse(
        {"Nodes": [node_state(n, server_version=version) for n in nodes], "NextToken": ""}
    )


@router.get(
    "/{node_id}", summary="Describe a node", response_model=GetNodeResponse, responses=errors(404)
)
async def get_node(request: Request, orch: Orch, node_id: str) -> JSONResponse:
    """One node as ``{Node: NodeState}``."""
    node = orch.get_node(node_id)
    return JSONResponse({"Node": node_state(node, server_version=request.app.version)})
