"""Task timeouts ``{ExecutionTimeout, QueueTimeout, TotalTimeout}``, in whole seconds.

0 means "not set". Defaults follow Bacalhau's production configuration (reference §1.12): a
batch/ops job without a TotalTimeout gets 30 minutes; an execution without its own timeout inherits
the TotalTimeout; QueueTimeout 0 means "fail at once when no node fits" (deliberately no fallback).
Long-running jobs (service, daemon) get no defaults and no enforcement.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from bacalao.models._wire import WireModel, spec_error

DEFAULT_TOTAL_TIMEOUT_S = 30 * 60
"""TotalTimeout given to batch and ops jobs that set none (Bacalhau ``JobDefaults``)."""
DEFAULT_EXECUTION_TIMEOUT_S = 10 * 60
"""What a compute node enforces when neither ExecutionTimeout nor TotalTimeout is set."""
MIN_EXECUTION_TIMEOUT_S = 0.5
"""Compute nodes refuse executions with a shorter timeout (Bacalhau ``MinJobExecutionTimeout``)."""

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)?")
_UNIT_S = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_seconds(value: Any) -> int:
    """Whole seconds from an int or a string like ``"90"``, ``"90s"``, ``"5m"``, ``"1h30m"``."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration '{value}'")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip().lower()
    total, pos = 0.0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * (0.001 if m.group(2) == "ms" else _UNIT_S[m.group(2)])
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration '{value}'")
    return int(total)


class Timeouts(WireModel):
    """Per-task timeouts in seconds; 0 = unset (see the module docstring for the defaults)."""

    execution_timeout: int = Field(default=0, alias="ExecutionTimeout")
    queue_timeout: int = Field(default=0, alias="QueueTimeout")
    total_timeout: int = Field(default=0, alias="TotalTimeout")

    _omit_empty = frozenset({"execution_timeout", "queue_timeout", "total_timeout"})

    @field_validator("execution_timeout", "queue_timeout", "total_timeout", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        if value is None:
            return 0
        try:
            seconds = parse_seconds(value)
        except ValueError as exc:
            raise spec_error(str(exc), "give whole seconds (600) or a duration (10m)") from None
        if seconds < 0:
            raise spec_error(f"timeout must be >= 0, got {seconds}")
        return seconds

    @model_validator(mode="after")
    def _fits_total(self) -> Timeouts:
        if self.total_timeout and self.execution_timeout + self.queue_timeout > self.total_timeout:
            raise spec_error(
                f"ExecutionTimeout ({self.execution_timeout}s) + QueueTimeout "
                f"({self.queue_timeout}s) exceed TotalTimeout ({self.total_timeout}s)",
                "raise TotalTimeout or lower the others",
            )
        return self

    def with_defaults(self, *, long_running: bool = False) -> Timeouts:
        """These timeouts with Bacalhau's defaults applied (none for long-running jobs).

        An unset TotalTimeout becomes 30 minutes, or ExecutionTimeout + QueueTimeout when that
        is longer, so a job that asks for a long execution is not rejected by a default.
        """
        if long_running or self.total_timeout:
            return self
        total = max(DEFAULT_TOTAL_TIMEOUT_S, self.execution_timeout + self.queue_timeout)
        return self.model_copy(update={"total_timeout": total})

    def effective_execution_timeout(self) -> int:
        """Seconds an execution may run: its own, else TotalTimeout, else the compute default."""
        return self.execution_timeout or self.total_timeout or DEFAULT_EXECUTION_TIMEOUT_S
