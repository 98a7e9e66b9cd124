"""Shared fixtures: the public IPFS fixtures directory and CI-aware requirement helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = (ROOT.parent / "shared" / "fixtures").resolve()
IPFS_FIXTURES = FIXTURES / "ipfs"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, why: str) -> None:
    """Skip locally when a real dependency is missing; fail in CI, where it must be present."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def ipfs_fixtures() -> Path:
    require(IPFS_FIXTURES.is_dir(), f"fixtures missing at {IPFS_FIXTURES}")
    return IPFS_FIXTURES
