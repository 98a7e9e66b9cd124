"""A Bacalhau-style provider registry: engine type -> executor, with a cached install probe.

Mirrors ``pkg/lib/provider/mapped.go``: the node builds one registry from the executors its config
enables; ``is_installed`` is probed once per engine and the answer cached (a node does not grow a
Docker daemon between bids); an unknown engine type is an :class:`InvalidInput` listing the valid
ones. Engine types are matched case-insensitively (``Docker`` is ``docker``).
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bacalao.errors import InvalidInput

if TYPE_CHECKING:
    from pydantic import BaseModel

    from bacalao.executors.base import Executor


class ExecutorRegistry:
    """Maps engine types to executors. Built once by the node; holds no global state."""

    def __init__(self, executors: Iterable[Executor] = ()) -> None:
        self._executors: dict[str, Executor] = {}
        self._installed: dict[str, asyncio.Task[bool]] = {}
        for executor in executors:
            self.add(executor)

    def add(self, executor: Executor) -> None:
        """Register ``executor`` under its ``engine_type``; registering a type twice is a bug."""
        key = executor.engine_type.lower()
        if key in self._executors:
            raise ValueError(f"executor for engine {key!r} registered twice")
        self._executors[key] = executor

    def types(self) -> list[str]:
        """Every registered engine type, sorted."""
        return sorted(self._executors)

    def has(self, engine_type: str) -> bool:
        """Whether ``engine_type`` is registered (installed or not)."""
        return engine_type.lower() in self._executors

    def get(self, engine_type: str) -> Executor:
        """The executor for ``engine_type``; InvalidInput naming the valid types if none."""
        executor = self._executors.get(engine_type.lower())
        if executor is None:
            raise self._unknown(engine_type)
        return executor

    def validate(self, engine_type: str, params: dict) -> BaseModel:
        """Parse ``params`` with the engine's own model (InvalidInput on an unknown type or key)."""
        return self.get(engine_type).validate(params)

    async def is_installed(self, engine_type: str) -> bool:
        """Probe the engine once, cache the answer; an unknown type is InvalidInput.

        Concurrent first calls share one probe. A probe that raises counts as not installed.
        """
        key = engine_type.lower()
        executor = self.get(key)
        task = self._installed.get(key)
        if task is None:
            task = self._installed[key] = asyncio.ensure_future(_probe(executor))
        return await asyncio.shield(task)

    async def installed_types(self) -> list[str]:
        """The engine types that can run here: what the node advertises."""
        checks = await asyncio.gather(*(self.is_installed(t) for t in self.types()))
        return [t for t, ok in zip(self.types(), checks, strict=True) if ok]

    def forget_probes(self) -> None:
        """Drop cached probe answers (after the operator installs or starts an engine)."""
        self._installed.clear()

    def _unknown(self, engine_type: str) -> InvalidInput:
        valid = self.types()
        close = difflib.get_close_matches(engine_type.lower(), valid, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        return InvalidInput(
            f"unknown engine type {engine_type!r}",
            hint=f"{guess}valid engine types: {', '.join(valid) or '(none registered)'}",
        )


async def _probe(executor: Executor) -> bool:
    try:
        return bool(await executor.is_installed())
    except Exception:
        return False
