"""``GET /api/v1/orchestrator/jobs/{id}/logs``: a job's stdout and stderr, two ways on one path.

* **WebSocket**, as Bacalhau's Go client expects: one text frame per chunk,
  ``{"value": {"Type": 1|2, "Line": "..."}}`` (1 = stdout, 2 = stderr), an error as
  ``{"value": {"Type": 0, "Line": ""}, "error": "..."}``, then a normal close (1000).
* **Plain HTTP** (bacalao's CLI and SDK): ``application/x-ndjson``, one ``{"Type", "Line"}``
  object a line, streamed as the execution writes; an error after the stream has started is a
  last line ``{"Type": 0, "Line": "", "error": {code, message, hint, retryable}}``.

Query: ``execution_id`` (default: the latest live execution), ``follow`` (keep streaming until
the execution ends), ``tail`` (accepted, ignored). Bytes are decoded as UTF-8 per stream, so a
character split across chunks survives; invalid bytes become U+FFFD.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from bacalao.api.deps import LogChunkLike, OrchestratorAPI, orchestrator
from bacalao.api.params import parse_bool
from bacalao.errors import BacalaoError

STREAM_TYPES = {"stdout": 1, "stderr": 2}
NDJSON = "application/x-ndjson"


class _Decoder:
    """UTF-8 decoding per stream, tolerant of characters split across chunks."""

    def __init__(self) -> None:
        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")("replace") for name in STREAM_TYPES
        }

    def message(self, chunk: LogChunkLike) -> dict[str, object]:
        decoder = self._decoders.get(chunk.stream, self._decoders["stdout"])
        return {"Type": STREAM_TYPES.get(chunk.stream, 1), "Line": decoder.decode(chunk.data)}


async def _open(
    orch: OrchestratorAPI, job_id: str, execution_id: str, follow: bool
) -> tuple[AsyncIterator[LogChunkLike], LogChunkLike | None]:
    """Start the stream and read its first chunk, so "not found" is still an HTTP status."""
    job = orch.get_job(job_id)
    chunks = aiter(orch.logs(job.id, execution_id=execution_id.strip(), follow=follow))
    first = await anext(chunks, None)
    return chunks, first


async def http_logs(
    orch: Annotated[OrchestratorAPI, Depends(orchestrator)],
    job_id: str,
    execution_id: Annotated[str, Query()] = "",
    follow: Annotated[str, Query()] = "",
    tail: Annotated[str, Query()] = "",
) -> StreamingResponse:
    """Stream the logs as NDJSON lines ``{"Type": 1|2, "Line": "..."}``; ``follow=true`` keeps
    the response open until the execution ends. (A WebSocket upgrade on the same path gets
    Bacalhau's framing.)"""
    chunks, first = await _open(orch, job_id, execution_id, parse_bool(follow, "follow"))

    async def lines() -> AsyncIterator[bytes]:
        decoder = _Decoder()
        try:
            if first is not None:
                yield _line(decoder.message(first))
                async for chunk in chunks:
                    yield _line(decoder.message(chunk))
        except BacalaoError as err:
            yield _line({"Type": 0, "Line": "", "error": err.to_dict()})
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    return StreamingResponse(lines(), media_type=NDJSON, headers={"Cache-Control": "no-store"})


def _line(message: dict[str, object]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode() + b"\n"


async def websocket_logs(websocket: WebSocket, job_id: str) -> None:
    """Bacalhau's WebSocket log stream (``{"value": {"Type", "Line"}}`` frames)."""
    orch: OrchestratorAPI = websocket.app.state.orchestrator
    await websocket.accept()
    params = websocket.query_params
    decoder = _Decoder()
    try:
        follow = parse_bool(params.get("follow"), "follow")
        chunks, first = await _open(orch, job_id, params.get("execution_id", ""), follow)
        if first is not None:
            await websocket.send_text(json.dumps({"value": decoder.message(first)}))
            async for chunk in chunks:
                await websocket.send_text(json.dumps({"value": decoder.message(chunk)}))
    except WebSocketDisconnect:
        return
    except BacalaoError as err:
        await websocket.send_text(
            json.dumps({"value": {"Type": 0, "Line": ""}, "error": err.message})
        )
    await websocket.close(1000)
