"""``bacalao wasm run`` as a user types it, against real ``bacalao serve`` processes.

The dataset goes in with ``bacalao data add DIR --api URL``; the module is a local ``.wasm`` file
(C built with clang) that ``wasm run`` adds to the node, or its CID.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import require
from tests.support import wasm_modules
from tests.support.serve import Serve

pytest.importorskip("wasmtime")

DATASET = {
    "a.txt": "the quick brown fox\njumps over\n",
    "b.txt": "lazy dogs\n",
    "sub/c.txt": "  one   two\tthree \n\nfour\n",
}
COUNTS = "a.txt 6\nb.txt 2\nsub/c.txt 4\ntotal 12\n"


def start(data_dir: Path) -> Serve:
    server = Serve(data_dir, "--engine", "wasm").start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the API answers before the node has registered
        done = server.cli("node", "list", "--output", "json")
        if done.returncode == 0 and json.loads(done.stdout):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"no compute node registered:\n{server.log.read_text()}")


@pytest.fixture(scope="module")
def toolchain() -> None:
    problem = wasm_modules.toolchain_problem()
    require(problem is None, problem or "")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, toolchain: None) -> Iterator[list[Serve]]:
    """Two independent ``bacalao serve`` (each an orchestrator and one compute node)."""
    started = []
    try:
        for i in range(2):
            started.append(start(tmp_path_factory.mktemp(f"serve-{i}") / "data"))
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def serve(servers: list[Serve]) -> Serve:
    return servers[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dataset") / "weather-notes"
    for name, text in DATASET.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def add(server: Serve, path: Path) -> str:
    done = server.cli("data", "add", str(path), "--api", server.api)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def job_id(done: subprocess.CompletedProcess[str]) -> str:
    match = re.search(r"Job (j-[0-9a-f-]+) submitted", done.stderr)
    assert match, done.stderr
    return match.group(1)


def module(name: str) -> str:
    return str(wasm_modules.module(name))


def test_word_count_over_a_dataset_cid(serve: Serve, dataset: Path, tmp_path: Path) -> None:
    data = add(serve, dataset)
    done = serve.cli("wasm", "run", module("wordcount"), "-i", data)
    assert done.returncode == 0, done.stderr
    result_cid, *stdout = done.stdout.splitlines()
    assert stdout == ["3 files, 12 words"]
    assert f"as {wasm_modules.module_cid('wordcount')} on n-" in done.stderr  # the module, added
    got = serve.cli("get", job_id(done), "-o", str(tmp_path / "result"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "result" / "outputs" / "counts.txt").read_text() == COUNTS
    # the module is in the node's store now: it runs again by its CID
    again = serve.cli("wasm", "run", wasm_modules.module_cid("wordcount"), "-i", data)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == result_cid


def test_the_same_job_on_two_nodes_gives_the_same_result_cid(
    servers: list[Serve], dataset: Path
) -> None:
    results = []
    for server in servers:
        data = add(server, dataset)
        done = server.cli(
            "wasm", "run", module("probe"), "-i", f"{data}:/data", "--", "/data/a.txt"
        )
        assert done.returncode == 0, done.stderr
        results.append(done.stdout.splitlines())
    assert results[0] == results[1]  # the result CID, and the stdout with the clock in it
    assert "realtime 946684800.000001000" in results[0]


def test_an_endless_loop_is_stopped_by_fuel_or_the_timeout(serve: Serve) -> None:
    done = serve.cli("wasm", "run", module("loop"), "--fuel", "2000000")
    assert done.returncode == 1
    assert "out of fuel after 2000000 instructions" in done.stderr
    started = time.monotonic()
    done = serve.cli("wasm", "run", module("loop"), "--timeout", "1")
    assert done.returncode == 1 and "timed out after 1s" in done.stderr
    assert time.monotonic() - started < 20


def test_a_host_path_outside_the_preopens_cannot_be_opened(serve: Serve, dataset: Path) -> None:
    data = add(serve, dataset)
    done = serve.cli("wasm", "run", module("escape"), "-i", data, "--", "/etc/passwd")
    assert done.returncode == 1  # the module's own exit 1: it was refused
    assert "escape: cannot open /etc/passwd:" in done.stderr
    assert "exited with code 1" in done.stderr


def test_a_trap_fails_the_job_with_its_reason(serve: Serve) -> None:
    done = serve.cli("wasm", "run", module("trap"))
    assert done.returncode == 1
    assert "trap: unreachable executed" in done.stderr
    assert "Traceback" not in done.stderr


def test_arguments_environment_and_inline_modules(serve: Serve) -> None:
    done = serve.cli(
        "wasm", "run", "--inline", "-e", "GREETING=hola", module("probe"), "--", "x", "y z"
    )
    assert done.returncode == 0, done.stderr
    assert "argv[1]=x\nargv[2]=y z\nGREETING=hola\n" in done.stdout


def test_import_modules(serve: Serve) -> None:
    done = serve.cli("wasm", "run", "-I", module("mathlib"), module("usemath"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["scale(add(2, 3)) = 50"]


def test_dry_run_prints_the_job(serve: Serve) -> None:
    done = serve.cli(
        "wasm", "run", "--dry-run", "--memory", "16Mi", "--fuel", "99", module("hello"), "--", "a"
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Type: wasm" in text and wasm_modules.module_cid("hello") in text
    assert "MaxMemory: 16777216" in text and "Fuel: 99" in text and "- a" in text


def test_a_file_that_is_not_a_module(serve: Serve, tmp_path: Path) -> None:
    script = tmp_path / "x.wasm"
    script.write_text("#!/bin/sh\n")
    done = serve.cli("wasm", "run", str(script))
    assert done.returncode == 2 and "is not a WebAssembly module" in done.stderr
    done = serve.cli("wasm", "run", "no-such-thing")
    assert done.returncode == 2 and "neither a local .wasm file nor a CID" in done.stderr
