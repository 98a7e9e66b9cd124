"""The ``noop`` engine: succeeds at once with exit 0, like Bacalhau's; a fake for tests and demos.

Optional params shape what it returns, so the rest of the system can be tested without a sandbox:
``ExitCode``, ``Stdout``, ``Stderr``, ``Sleep`` (seconds; honours the timeout and cancel),
``Outputs`` (``{relative path: text}`` written under the outputs directory) and ``Error`` (fail the
execution with this message, as an engine failure would).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import PurePosixPath

from pydantic import Field, field_validator

from bacalao.executors.base import (
    STDERR,
    STDOUT,
    ExecutionRequest,
    ExecutionResult,
    LogCallback,
    ensure_run_dir,
    format_seconds,
)
from bacalao.executors.capture import OutputCapture
from bacalao.executors.params import EngineParams, parse_params


class NoopParams(EngineParams):
    """``Engine.Params`` of the noop engine; every key is optional."""

    exit_code: int = Field(0, alias="ExitCode", ge=0, le=255)
    stdout: str = Field("", alias="Stdout")
    stderr: str = Field("", alias="Stderr")
    sleep: float = Field(0.0, alias="Sleep", ge=0)
    outputs: dict[str, str] = Field(default_factory=dict, alias="Outputs")
    error: str | None = Field(None, alias="Error")

    @field_validator("outputs")
    @classmethod
    def _relative_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts or not path.parts:
                raise ValueError(f"{name!r} must be a relative path inside /outputs")
        return value


class NoopExecutor:
    """Runs nothing. ``clock`` measures ``wall_s`` (injectable, like every time source)."""

    engine_type = "noop"
    #: the run directory is made only for what a job asks to be written (see base.py)
    makes_own_run_dir = True

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._running: dict[str, asyncio.Event] = {}

    def validate(self, params: dict) -> NoopParams:
        """Parse the params; unknown keys are refused with the list of valid ones."""
        return parse_params(NoopParams, self.engine_type, params)

    async def is_installed(self) -> bool:
        """Always: the noop engine needs nothing."""
        return True

    async def run(
        self, req: ExecutionRequest, *, log: LogCallback | None = None
    ) -> ExecutionResult:
        """Write the asked stdout/stderr/outputs, sleep if asked, return the asked exit code."""
        params = self.validate(req.engine_params)
        started = self._clock()
        if params.stdout or params.stderr or params.outputs:
            out_path, err_path = ensure_run_dir(req)
        else:
            out_path, err_path = req.run_dir / STDOUT, req.run_dir / STDERR
        result = ExecutionResult(
            exit_code=None, stdout_path=out_path, stderr_path=err_path, outputs_dir=req.outputs_dir
        )
        with OutputCapture(out_path, err_path, log=log, create_empty=False) as capture:
            capture.write(STDOUT, params.stdout.encode())
            capture.write(STDERR, params.stderr.encode())
        if params.sleep:
            await self._sleep(req, params.sleep, result)
        if not (result.timed_out or result.cancelled):
            for name, text in params.outputs.items():
                target = req.outputs_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            result.exit_code = params.exit_code
            result.error = params.error
        result.metering = {"wall_s": self._clock() - started, "cpu_s": 0.0}
        return result

    async def _sleep(self, req: ExecutionRequest, seconds: float, result: ExecutionResult) -> None:
        stop = self._running[req.execution_id] = asyncio.Event()
        limit = seconds if req.timeout_s is None else min(seconds, req.timeout_s)
        try:
            await asyncio.wait_for(stop.wait(), limit)
            result.cancelled = True
            result.error = "cancelled"
        except TimeoutError:
            if req.timeout_s is not None and req.timeout_s < seconds:
                result.timed_out = True
                result.error = f"timed out after {format_seconds(req.timeout_s)}"
        finally:
            self._running.pop(req.execution_id, None)

    async def cancel(self, execution_id: str) -> None:
        """Wake a sleeping noop execution, which then reports ``cancelled``."""
        event = self._running.get(execution_id)
        if event is not None:
            event.set()
