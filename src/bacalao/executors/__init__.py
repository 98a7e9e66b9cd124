"""Executors: run one execution of a task in a sandbox (docker, shell, noop; wasm and python later).

The contract lives in :mod:`bacalao.executors.base`; :class:`ExecutorRegistry` maps engine types to
executors. Engine modules (``docker``, ``shell``, ``noop``, ``gpu``) are imported by the node that
enables them, not here, so importing this package stays cheap (no docker SDK, no pydantic).
"""

from bacalao.executors.base import (
    ExecutionRequest,
    ExecutionResult,
    Executor,
    LogCallback,
    Mount,
    result_entries,
    write_result_layout,
)
from bacalao.executors.registry import ExecutorRegistry

__all__ = [
    "ExecutionRequest",
    "ExecutionResult",
    "Executor",
    "ExecutorRegistry",
    "LogCallback",
    "Mount",
    "result_entries",
    "write_result_layout",
]
