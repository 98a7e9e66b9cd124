"""bacalao's Python SDK: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Both speak the Bacalhau v1 REST API plus bacalao's own endpoints (long-poll ``wait``, NDJSON
logs, the IPFS gateway). They import only :mod:`bacalao.models` (lazily, when a typed value is
first read) and :mod:`bacalao.errors`; result download and verification live in
:mod:`bacalao.client.results`. See README.md.

The names below are loaded on first access: ``from bacalao.client import Client`` does not
import httpx (plain requests go over the stdlib), ``AsyncClient`` does.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bacalao.client._async import AsyncClient
    from bacalao.client._base import (
        DEFAULT_API,
        ENV_API,
        BaseClient,
        error_from_body,
        resolve_api,
    )
    from bacalao.client._client import Client
    from bacalao.client._types import (
        TERMINAL_JOB_STATES,
        JobDescription,
        LogLine,
        Page,
        SubmitResult,
        WaitResult,
    )

_WHERE = {
    "AsyncClient": "_async",
    "DEFAULT_API": "_base",
    "ENV_API": "_base",
    "BaseClient": "_base",
    "error_from_body": "_base",
    "resolve_api": "_base",
    "Client": "_client",
    "TERMINAL_JOB_STATES": "_types",
    "JobDescription": "_types",
    "LogLine": "_types",
    "Page": "_types",
    "SubmitResult": "_types",
    "WaitResult": "_types",
}

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


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
