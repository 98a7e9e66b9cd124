"""``/api/v1/bacalao/…``: data on chosen nodes — store a CAR on a node, say where a CID is,
aggregate datasets.

* ``POST /api/v1/bacalao/nodes/{node}/car`` (``/api/v1/bacalao/data/car``: the first compute
  node): the body is a CAR (v1 or v2). It is spooled to an anonymous temp file (never held in
  memory), then imported into that node's store block by block, each checked against its CID,
  all or nothing, with its roots pinned; the node then re-registers so the orchestrator's index
  knows. Answers ``{CID, Roots, Node, Bytes, Size}`` (``Bytes``: of the CAR received, ``Size``:
  the root's size as ``data ls`` shows it — a file's bytes, a directory's DAG size). These
  routes accept bodies up to :data:`MAX_CAR_BYTES`; every other route keeps the 10 MB limit.
* ``GET /api/v1/bacalao/data/{cid}/where``: which nodes hold which part (the root and each
  top-level entry), how many bytes, complete or partial.
* ``POST /api/v1/bacalao/data/aggregate`` ``{CIDs, Names, Node}``: one directory linking the
  datasets, built on one node without copying file bytes. Answers ``{CID, Node}``.

What the routes need is put on ``app.state`` by :func:`serve_datasets` (``bacalao serve`` does
it): the orchestrator-side :class:`~bacalao.orchestrator.datasets.Datasets` and the compute nodes
of this process (their stores are written directly: a CAR is imported where it arrives).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import ClientDisconnect

from bacalao.api.responses import JSONResponse
from bacalao.api.schemas import errors
from bacalao.errors import InvalidInput, NotFound, Unavailable

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bacalao.blockstore.repo import Repo

router = APIRouter(prefix="/api/v1/bacalao", tags=["data"])

#: The body limit of the CAR routes (the app's default stays 10 MB everywhere else).
MAX_CAR_BYTES = 1 << 40
#: (path regex, limit) pairs for :class:`bacalao.api.app.BodyLimit`.
BODY_LIMITS = ((r"/api/v1/bacalao/(nodes/[^/]+|data)/car", MAX_CAR_BYTES),)
#: Spool the body to disk in writes of about this size.
SPOOL_CHUNK = 4 << 20


class LocalNode(Protocol):
    """A compute node of this process, as the CAR route needs it (``ComputeNode`` is one)."""

    id: str
    repo: Repo

    async def register(self) -> bool: ...


class DatasetsAPI(Protocol):
    """The orchestrator-side dataset service (``bacalao.orchestrator.datasets.Datasets``)."""

    async def where(self, cid_text: str) -> Any: ...

    async def aggregate(
        self, cids: Sequence[str], names: Sequence[str] = (), node: str = ""
    ) -> tuple[str, str]: ...


def serve_datasets(app: FastAPI, datasets: DatasetsAPI | None, nodes: Sequence[LocalNode]) -> None:
    """Give the routes their dataset service and this process's compute nodes."""
    app.state.datasets = datasets
    app.state.local_nodes = list(nodes)


async def _datasets(request: Request) -> DatasetsAPI:
    found = getattr(request.app.state, "datasets", None)
    if found is None:
        raise Unavailable(
            "this API runs no orchestrator that knows the cluster's data",
            hint="ask the orchestrator's API (bacalao serve)",
            retryable=False,
        )
    return found


async def _local_nodes(request: Request) -> list[LocalNode]:
    return getattr(request.app.state, "local_nodes", None) or []


Datasets = Annotated[DatasetsAPI, Depends(_datasets)]
LocalNodes = Annotated[list[LocalNode], Depends(_local_nodes)]


def pick_node(nodes: Sequence[LocalNode], prefix: str) -> LocalNode:
    """This process's node with ID ``prefix`` (or a unique prefix of it); the first if empty."""
    if not nodes:
        raise Unavailable(
            "this server runs no compute node to store data on",
            hint="send the data to a server started with a compute node (bacalao serve)",
            retryable=False,
        )
    if not prefix:
        return nodes[0]
    exact = [n for n in nodes if n.id == prefix]
    matches = exact or [n for n in nodes if n.id.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    here = ", ".join(n.id for n in nodes)
    if matches:
        raise InvalidInput(
            f"node prefix {prefix!r} is ambiguous", hint=f"give more of the ID; here: {here}"
        )
    raise NotFound(
        f"node {prefix!r} is not served by this API",
        hint=f"nodes here: {here}; add data to another node through its own server",
    )


# -- store a CAR on a node ------------------------------------------------------------------------
@router.post(
    "/nodes/{node}/car",
    summary="Store a CAR on a node",
    responses=errors(400, 404, 413, 422, 503),
)
async def add_car_to(request: Request, nodes: LocalNodes, node: str) -> JSONResponse:
    """Import the CAR in the body into the node's store (verified, all or nothing), pin its
    roots, and answer ``{CID, Roots, Node, Bytes, Size}``."""
    return await _add_car(request, pick_node(nodes, node.strip()))


@router.post(
    "/data/car",
    summary="Store a CAR on this server's first compute node",
    responses=errors(400, 413, 422, 503),
)
async def add_car(request: Request, nodes: LocalNodes) -> JSONResponse:
    """As ``POST /api/v1/bacalao/nodes/{node}/car``, on the first compute node here."""
    return await _add_car(request, pick_node(nodes, ""))


async def _add_car(request: Request, node: LocalNode) -> JSONResponse:
    from bacalao.ipld.exporter import stat

    with tempfile.TemporaryFile(dir=_spool_dir(node.repo)) as spool:
        received = await _spool(request, spool)
        spool.seek(0)
        roots = await asyncio.to_thread(node.repo.import_car, spool, pin_roots=True)
    if not roots:
        raise InvalidInput("the CAR names no root", hint="export it with a root (data export)")
    size = await asyncio.to_thread(lambda: stat(node.repo.reader(), roots[0]).size)
    await node.register()  # the orchestrator's index learns of the new roots now
    return JSONResponse(
        {
            "CID": str(roots[0]),
            "Roots": [str(r) for r in roots],
            "Node": node.id,
            "Bytes": received,
            "Size": size,
        }
    )


async def _spool(request: Request, out: IO[bytes]) -> int:
    """Copy the request body to ``out`` in large writes off the event loop."""
    total = 0
    buffered: list[bytes] = []
    pending = 0
    try:
        async for chunk in request.stream():
            buffered.append(chunk)
            pending += len(chunk)
            if pending >= SPOOL_CHUNK:
                await asyncio.to_thread(out.write, b"".join(buffered))
                total += pending
                buffered, pending = [], 0
    except ClientDisconnect:
        raise InvalidInput(
            "the upload was interrupted", hint="send the CAR again; nothing was stored"
        ) from None
    if buffered:
        await asyncio.to_thread(out.write, b"".join(buffered))
        total += pending
    return total


def _spool_dir(repo: Repo) -> Path | None:
    """Next to the node's blocks (same file system, not a RAM-backed /tmp), else the default."""
    staging = getattr(repo, "staging_dir", None)
    if staging is None:
        return None
    where = Path(staging).parent
    return where if where.is_dir() else None


# -- where ----------------------------------------------------------------------------------------
@router.get(
    "/data/{cid}/where",
    summary="Which nodes hold which part of a dataset",
    responses=errors(400, 404, 503),
)
async def where(datasets: Datasets, cid: str) -> JSONResponse:
    """``{CID, Type, Total, Items: [{Node, Path, CID, Bytes, Total, Complete}]}``: the root
    (Path ``/``) and each top-level entry, per node that holds any of it."""
    placement = await datasets.where(cid)
    return JSONResponse(placement.to_wire())


# -- aggregate ------------------------------------------------------------------------------------
class AggregateRequest(BaseModel):
    """The datasets to link, their names in the new directory, the node to build it on."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    cids: list[str] = Field(alias="CIDs", min_length=1)
    names: list[str] = Field(default_factory=list, alias="Names")
    node: str = Field(default="", alias="Node")


@router.post(
    "/data/aggregate",
    summary="Link datasets into one directory",
    responses=errors(400, 404, 422, 503),
)
async def aggregate(datasets: Datasets, nodes: LocalNodes, body: AggregateRequest) -> JSONResponse:
    """One directory CID linking every dataset (``Names``, default: the CIDs), built on
    ``Node`` (default: the node holding most of them) without copying file bytes."""
    cid, node_id = await datasets.aggregate(body.cids, body.names, body.node.strip())
    for local in nodes:
        if local.id == node_id:
            await local.register()  # its new root is in the orchestrator's index at once
    return JSONResponse({"CID": cid, "Node": node_id})
