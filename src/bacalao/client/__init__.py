"""bacalao's Python SDK: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Both speak the Bacalhau v1 REST API plus bacalao's own endpoints (long-poll ``wait``, NDJSON
logs, the IPFS gateway). They import only :mod:`bacalao.models` (lazily, when a typed value is
first read) and :mod:`bacalao.errors`; result download and verification live in
:mod:`bacalao.client.results`. See README.md.
"""

from bacalao.client._async import AsyncClient
from bacalao.client._base import DEFAULT_API, ENV_API, BaseClient, error_from_body, resolve_api
from bacalao.client._client import Client
from bacalao.client._types import (
    TERMINAL_JOB_STATES,
    JobDescription,
    LogLine,
    Page,
    SubmitResult,
    WaitResult,
)

__all__ = [
    "DEFAULT_API",
    "ENV_API",
    "TERMINAL_JOB_STATES",
    "AsyncClient",
    "BaseClient",
    "Client",
    "JobDescription",
    "LogLine",
    "Page",
    "SubmitResult",
    "WaitResult",
    "error_from_body",
    "resolve_api",
]
