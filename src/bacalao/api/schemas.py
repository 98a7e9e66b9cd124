"""Response shapes, for the OpenAPI document only.

Handlers return ready JSON (``JSONResponse``) built from the models' Bacalhau dumps, so FastAPI
never re-validates a response; these classes only tell ``/openapi.json`` what each endpoint
answers. Keys are exactly Bacalhau's (PascalCase).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(_Doc):
    """Every error: a stable code, a one-line message, what to do, whether retrying may help."""

    code: str
    message: str
    hint: str | None = None
    retryable: bool = False


class PutJobResponse(_Doc):
    JobID: str
    EvaluationID: str
    Warnings: list[str] | None = None


class ListResponse(_Doc):
    Items: list[dict[str, Any]]
    NextToken: str = ""


class GetJobResponse(_Doc):
    Job: dict[str, Any]
    History: ListResponse | None = None
    Executions: ListResponse | None = None


class StopJobResponse(_Doc):
    EvaluationID: str


class WaitResponse(_Doc):
    Seq: int
    Job: dict[str, Any]
    Executions: list[dict[str, Any]]


class ListNodesResponse(_Doc):
    Nodes: list[dict[str, Any]]
    NextToken: str = ""


class GetNodeResponse(_Doc):
    Node: dict[str, Any]


class AliveResponse(_Doc):
    Status: str


class VersionResponse(_Doc):
    Major: str
    Minor: str
    GitVersion: str
    GitCommit: str
    BuildDate: str
    GOOS: str
    GOARCH: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error statuses an endpoint may answer."""
    return {status: {"model": ErrorBody} for status in statuses}
