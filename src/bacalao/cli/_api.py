"""What every command that talks to a bacalao API shares: the ``--api`` option and the client.

The client (and httpx) is imported only when a command runs, so ``bacalao --help`` and the other
command groups do not pay for it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bacalao.client import Client

ENV_API = "BACALAO_API"

Api = Annotated[
    str | None,
    typer.Option(
        "--api",
        help=f"The bacalao API (default: ${ENV_API}, else http://127.0.0.1:1234).",
        show_default=False,
    ),
]


def connect(api: str | None, *, timeout: float = 30.0) -> Client:
    """A blocking client of ``api`` (else ``$BACALAO_API``, else the local default)."""
    if "httpx" not in sys.modules:
        # httpx imports its own command-line tool (click, rich, pygments) at import time unless
        # that module is unavailable; the CLI never uses it, and skipping it halves httpx's
        # import cost, which counts against `bacalao job list`'s start-up budget.
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from bacalao.client import Client

    return Client(api, timeout=timeout)
