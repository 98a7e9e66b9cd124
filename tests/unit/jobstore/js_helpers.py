"""Helpers for the job store tests: a fake clock and a minimal job."""

from __future__ import annotations

from bacalao.models import Job, parse_job


class FakeClock:
    """Nanoseconds that advance by ``step`` on every read, from a fixed start."""

    def __init__(self, start: int = 1_700_000_000_000_000_000, step: int = 1_000) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now


def make_job(job_id: str, **extra: object) -> Job:
    """A minimal noop job with this ID; ``extra`` are top-level spec fields."""
    spec = {"Name": extra.pop("Name", ""), "Tasks": [{"Name": "main", "Engine": {"Type": "noop"}}]}
    spec.update(extra)
    return parse_job(spec).with_id(job_id)
