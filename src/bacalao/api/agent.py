"""The agent endpoints every Bacalhau node answers: alive, version, node, id, livez."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from bacalao.api.deps import OrchestratorAPI, orchestrator
from bacalao.api.responses import JSONResponse
from bacalao.api.schemas import AliveResponse, VersionResponse
from bacalao.api.wire import node_state, requester_state, version_info
from bacalao.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["agent"])

Orch = Annotated[OrchestratorAPI, Depends(orchestrator)]


@router.get("/agent/alive", summary="Is the node up", response_model=AliveResponse)
async def alive() -> JSONResponse:
    """``{"Status": "OK"}`` while the API serves."""
    return JSONResponse({"Status": "OK"})


@router.get("/agent/version", summary="The node's version", response_model=VersionResponse)
async def version(request: Request) -> JSONResponse:
    """Bacalhau's ``BuildVersionInfo`` for this bacalao build."""
    return JSONResponse(version_info(request.app.version))


@router.post("/version", summary="The node's version (legacy form)")
async def server_version(request: Request) -> JSONResponse:
    """``{"build_version_info": BuildVersionInfo}``, for clients that POST ``{"client_id"}``."""
    return JSONResponse({"build_version_info": version_info(request.app.version)})


def _this_node(request: Request, orch: OrchestratorAPI) -> dict[str, Any]:
    try:
        return node_state(orch.get_node(orch.node_id), server_version=request.app.version)
    except NotFound:
        return requester_state(orch.node_id, request.app.version)


@router.get("/agent/node", summary="This node's state")
async def agent_node(request: Request, orch: Orch) -> JSONResponse:
    """This node as a ``NodeState`` (a Requester without compute info if it runs no jobs)."""
    return JSONResponse(_this_node(request, orch))


@router.get("/node_info", summary="This node's state (legacy path)")
async def node_info(request: Request, orch: Orch) -> JSONResponse:
    """Same as ``/api/v1/agent/node``."""
    return JSONResponse(_this_node(request, orch))


@router.get("/id", summary="This node's ID", response_class=PlainTextResponse)
async def node_id(orch: Orch) -> PlainTextResponse:
    """The node ID as plain text."""
    return PlainTextResponse(orch.node_id)


@router.get("/livez", summary="Liveness probe", response_class=PlainTextResponse)
async def livez() -> PlainTextResponse:
    """Plain text ``OK``."""
    return PlainTextResponse("OK")
