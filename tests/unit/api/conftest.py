"""Fixtures for the API tests: a fake orchestrator, a block store with a result DAG, the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.support.fake_orchestrator import FakeOrchestrator

from bacalao.api import create_app
from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.cid import CID
from bacalao.ipld.importer import import_path

VERSION = "1.4.0"


@pytest.fixture
def fake() -> FakeOrchestrator:
    orch = FakeOrchestrator()
    orch.add_node("n-alpha", labels={"region": "eu"})
    orch.add_node("n-beta", labels={"region": "us"})
    return orch


@pytest.fixture
def result_tree(tmp_path: Path) -> Path:
    root = tmp_path / "result"
    (root / "outputs" / "deep").mkdir(parents=True)
    (root / "stdout").write_text("hello\n")
    (root / "stderr").write_text("")
    (root / "exitCode").write_text("0")
    (root / "outputs" / "data.bin").write_bytes(bytes(range(256)) * 2000)  # > one chunk
    (root / "outputs" / "deep" / "note.txt").write_text("deep\n")
    return root


@dataclass
class Content:
    blocks: DictBlocks
    root: CID


@pytest.fixture
def content(result_tree: Path) -> Content:
    store = DictBlocks()
    return Content(store, import_path(result_tree, sink=store).cid)


@pytest.fixture
def app(fake: FakeOrchestrator, content: Content) -> FastAPI:
    return create_app(fake, blocks=content.blocks, version=VERSION)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bacalao.test") as client:
        yield client


def docker_job(**overrides: object) -> dict[str, object]:
    """The body the Bacalhau Python SDK sends (reference §3.3 example 1)."""
    job: dict[str, object] = {
        "Name": "A Simple Docker Job",
        "Type": "batch",
        "Count": 1,
        "Tasks": [
            {
                "Name": "My Main task",
                "Publisher": {},
                "Engine": {
                    "Type": "docker",
                    "Params": {
                        "Image": "ubuntu:latest",
                        "Entrypoint": ["/bin/bash"],
                        "Parameters": ["-c", "echo Hello World"],
                    },
                },
            }
        ],
    }
    job.update(overrides)
    return job
