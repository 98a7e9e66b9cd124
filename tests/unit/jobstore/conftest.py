"""Fixtures for job store tests: a fake clock and a store in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from js_helpers import FakeClock

from bacalao.jobstore import SQLiteJobStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SQLiteJobStore]:
    s = SQLiteJobStore(tmp_path / "jobs.db", clock=clock)
    yield s
    s.close()
