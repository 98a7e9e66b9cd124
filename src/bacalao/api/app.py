"""The FastAPI application: Bacalhau v1 REST endpoints, bacalao's own, and the IPFS gateway.

``create_app`` wires one router per resource (jobs, nodes, agent, gateway, datasets) over an
orchestrator and an optional block getter, installs the error mapping (:mod:`.errors`) and caps
request bodies at 10 MB (413), like Bacalhau's ``BodyLimit`` middleware (the CAR upload routes
of :mod:`.datasets` excepted). Nothing here is global: two apps in one
process share no state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bacalao.api import agent, datasets, errors, gateway, jobs, nodes
from bacalao.api.deps import OrchestratorAPI

if TYPE_CHECKING:
    from bacalao.ipld.blocks import BlockGetter

MAX_BODY_BYTES = 10 * 1024 * 1024


def _too_large(size: int | None = None, limit: int = MAX_BODY_BYTES) -> errors.PayloadTooLarge:
    what = f"{size} bytes" if size is not None else "more"
    return errors.PayloadTooLarge(
        f"request body too large: {what} (limit {limit} bytes)",
        hint="jobs carry data by CID: add large inputs to the store (bacalao data add)",
    )


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413, declared or streamed.

    ``overrides`` are (path regex, limit) pairs for the few routes that take large bodies (a
    CAR upload); the first full match wins.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY_BYTES,
        overrides: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.app = app
        self.limit = limit
        self.overrides = [(re.compile(p), n) for p, n in overrides]

    def limit_for(self, path: str) -> int:
        return next((n for p, n in self.overrides if p.fullmatch(path)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await errors.error_response(_too_large(int(value), limit))(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(None, limit)  # raised inside the handler: mapped to 413 there
            return message

        await self.app(scope, limited, send)


def create_app(
    orchestrator: OrchestratorAPI, *, blocks: BlockGetter | None = None, version: str
) -> FastAPI:
    """The API over ``orchestrator``; ``blocks`` serves ``/ipfs/…`` (503 there when None)."""
    app = FastAPI(
        title="bacalao",
        version=version,
        summary="Compute over data: a Bacalhau v1-compatible orchestrator API.",
        description=(
            "Bacalhau v1 REST endpoints (PascalCase keys, as Bacalhau's SDK reads them), "
            "bacalao's long-poll `wait` and NDJSON logs, and a trustless IPFS gateway. Errors "
            "are `{code, message, hint, retryable}` with the matching HTTP status."
        ),
    )
    app.state.orchestrator = orchestrator
    app.state.blocks = blocks
    errors.install(app)
    for module in (jobs, nodes, agent, gateway, datasets):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, overrides=datasets.BODY_LIMITS)
    return app
