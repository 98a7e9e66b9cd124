"""``GET /ipfs/{cid}[/path]``: a trustless IPFS gateway over the node's block store.

* ``?format=car`` or ``Accept: application/vnd.ipld.car``: a CARv1 whose root is ``{cid}``.
  Without a path it is byte-identical to :func:`bacalao.ipld.car.write_car` (Kubo's
  ``dag export`` order). With a path, the blocks needed to resolve the path come first, then the
  whole DAG under the path's target, so a client can verify both the path and the content.
* ``?format=raw`` or ``Accept: application/vnd.ipld.raw``: the single block the (path) names.
* Neither: the bytes of a file (``curl`` convenience); a directory asks for ``format=car``.

The CAR streams from a worker thread (the store does blocking I/O), a 64 KiB chunk at a time;
every block is checked against its CID on the way out. A missing root is a 404 before anything is
sent; a block missing deeper in the DAG ends the CAR early (logged), and the client's
``check_dag`` names the missing block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import chain
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from bacalao.api import deps
from bacalao.api.schemas import errors
from bacalao.errors import BacalaoError, InvalidInput
from bacalao.ipld import dagcbor, varint
from bacalao.ipld.blocks import BlockGetter, get_block
from bacalao.ipld.car import iter_dag
from bacalao.ipld.cid import CID
from bacalao.ipld.exporter import cat, resolve, stat

log = logging.getLogger(__name__)
router = APIRouter(tags=["gateway"])

CAR = "application/vnd.ipld.car"
RAW = "application/vnd.ipld.raw"
CHUNK = 64 * 1024
IMMUTABLE = "public, max-age=29030400, immutable"

Blocks = Annotated[BlockGetter, Depends(deps.blocks)]


class _Recorder:
    """A getter that remembers the blocks it served (those a path resolution needed)."""

    def __init__(self, inner: BlockGetter) -> None:
        self.inner = inner
        self.blocks: dict[CID, bytes] = {}

    def get(self, cid: CID) -> bytes:
        data = self.inner.get(cid)
        self.blocks.setdefault(cid, data)
        return data


def car_chunks(
    getter: BlockGetter, root: CID, target: CID, path_blocks: dict[CID, bytes] | None = None
) -> Iterator[bytes]:
    """CARv1 bytes: header with ``root``, the path blocks, then the DAG under ``target``.

    The framing is :func:`bacalao.ipld.car.write_car`'s, as a generator so it can stream.
    """
    header = dagcbor.encode_car_header([root])
    buf = bytearray(varint.encode(len(header)) + header)
    sent = path_blocks or {}
    rest = ((cid, block) for cid, block in iter_dag(getter, target) if cid not in sent)
    try:
        for cid, block in chain(sent.items(), rest):
            raw = cid.bytes
            buf += varint.encode(len(raw) + len(block))
            buf += raw
            buf += block
            if len(buf) >= CHUNK:
                yield bytes(buf)
                buf.clear()
    except BacalaoError:
        if buf:  # everything before the bad block still goes out
            yield bytes(buf)
        raise
    if buf:
        yield bytes(buf)


def _ending_cleanly(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Stop the stream at a missing or corrupt block instead of aborting the connection: the
    client's ``check_dag`` then names the block, which a cut connection would not."""
    try:
        yield from chunks
    except BacalaoError as err:
        log.warning("CAR stream cut short: %s", err.message)


def _format(query: str, accept: str) -> str:
    fmt = query.strip().lower()
    if fmt:
        if fmt not in ("car", "raw"):
            raise InvalidInput(f"format: unknown value {query!r}", hint="use format=car or raw")
        return fmt
    accept = accept.lower()
    if CAR in accept:
        return "car"
    if RAW in accept:
        return "raw"
    return ""


@router.get(
    "/ipfs/{target:path}",
    summary="Fetch content by CID (trustless gateway)",
    responses={**errors(400, 404, 503), 200: {"content": {CAR: {}, RAW: {}}}},
)
async def ipfs(
    request: Request, getter: Blocks, target: str, format: Annotated[str, Query()] = ""
) -> Response:
    """``/ipfs/{cid}[/path]``: a CAR (``format=car``), one block (``format=raw``), or a file's
    bytes. Every block is verified against its CID before it is sent."""
    fmt = _format(format, request.headers.get("accept", ""))
    head, _, path = target.strip("/").partition("/")
    if not head:
        raise InvalidInput("missing CID", hint="GET /ipfs/<cid>[/path]")
    root = CID.decode(head)
    recorder = _Recorder(getter)
    resolved = await run_in_threadpool(resolve, recorder, root, path) if path else root
    headers = {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"}
    if fmt == "raw":
        block = await run_in_threadpool(get_block, getter, resolved)
        return Response(block, media_type=RAW, headers=headers)
    if fmt == "car":
        await run_in_threadpool(get_block, getter, resolved)  # a missing root: 404 now
        headers["Content-Disposition"] = f'attachment; filename="{head}.car"'
        chunks = _ending_cleanly(car_chunks(getter, root, resolved, recorder.blocks))
        return StreamingResponse(
            iterate_in_threadpool(chunks), media_type=f"{CAR}; version=1", headers=headers
        )
    entry = await run_in_threadpool(stat, getter, resolved)
    if entry.type not in ("file", "raw"):
        raise InvalidInput(
            f"/ipfs/{target} is a {entry.type}",
            hint="download it as a CAR with ?format=car, or use `bacalao get`",
        )
    headers["Content-Length"] = str(entry.size)
    return StreamingResponse(
        iterate_in_threadpool(cat(getter, resolved)),
        media_type="application/octet-stream",
        headers=headers,
    )
