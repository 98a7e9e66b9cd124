"""``bacalao data add --node``, ``data where`` and ``data aggregate`` as a user types them,
against a real ``bacalao devstack`` (two compute nodes, one process) in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.serve import BACALAO, Serve


class Devstack(Serve):
    """``bacalao devstack --nodes N`` instead of ``serve``."""

    def __init__(self, data_dir: Path, nodes: int) -> None:
        super().__init__(data_dir, "--engine", "noop")
        self.nodes = nodes

    def start(self, timeout: float = 30.0) -> Devstack:
        cmd = [BACALAO, "devstack", "--nodes", str(self.nodes), "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir), *self.args]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=self.env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bacalao devstack exited:\n{self.log.read_text()}")
            if self.cli("node", "list", "--output", "json", timeout=10).returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"bacalao devstack did not answer in {timeout}s")

    def node_ids(self) -> list[str]:
        return [
            (self.data_dir / f"compute-{i}" / "node_id").read_text().strip()
            for i in range(self.nodes)
        ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devstack]:
    server = Devstack(tmp_path_factory.mktemp("devstack") / "data", nodes=2).start()
    try:
        yield server
    finally:
        server.stop()


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def offline_cid(stack: Devstack, path: Path, tmp_path: Path, *flags: str) -> str:
    out = ok(stack.cli("data", "add", "-n", "-q", *flags, str(path), "--data-dir", str(tmp_path)))
    return out.splitlines()[-1]


def where(stack: Devstack, cid: str) -> dict[tuple[str, str], dict]:
    body = json.loads(ok(stack.cli("data", "where", cid, "--output", "json")))
    assert body["CID"] == cid
    return {(i["Node"], i["Path"]): i for i in body["Items"]}


def test_add_to_a_chosen_node(stack: Devstack, tmp_path: Path) -> None:
    n0, n1 = stack.node_ids()
    src = tree(tmp_path / "logs", {"a.log": b"a\n" * 1000, "sub/b.log": b"b\n" * 50})
    out = ok(stack.cli("data", "add", str(src), "--node", n1[:8], "--cid-version", "1"))
    cid = out.splitlines()[-1]
    assert cid == offline_cid(stack, src, tmp_path, "--cid-version", "1")
    rows = where(stack, cid)
    assert {path for node, path in rows if node == n1} == {"/", "/a.log", "/sub"}
    assert all(row["Complete"] for row in rows.values())
    assert not any(node == n0 for node, _ in rows)
    # the table, as a human reads it
    table = ok(stack.cli("data", "where", cid, "--wide"))
    assert table.splitlines()[0].split() == ["NODE", "PATH", "BYTES", "TOTAL", "STATE"]
    assert f"{n1} /a.log" in " ".join(table.split()) and "complete" in table


def test_add_stdin_with_api_goes_to_the_first_node(stack: Devstack, tmp_path: Path) -> None:
    n0, _ = stack.node_ids()
    data = (
        os.urandom(6 << 20).hex().encode()
    )  # 12 MB, over the API's 10 MB body limit: the CAR route takes it
    result = stack.cli("data", "add", "-", "--api", stack.api, input=data)
    cid = ok(result).splitlines()[-1]
    (tmp_path / "blob").write_bytes(data)
    assert cid == offline_cid(stack, tmp_path / "blob", tmp_path)
    assert f"stored on node {n0}" in result.stderr
    assert where(stack, cid)[(n0, "/")]["Complete"]


def test_aggregate_across_nodes(stack: Devstack, tmp_path: Path) -> None:
    n0, n1 = stack.node_ids()
    one = tree(tmp_path / "one", {"x.log": b"x" * 4000})
    two = tree(tmp_path / "two", {"y.log": b"y" * 4000})
    c1 = ok(stack.cli("data", "add", str(one), "--node", n0)).splitlines()[-1]
    c2 = ok(stack.cli("data", "add", str(two), "--node", n1)).splitlines()[-1]
    result = stack.cli("data", "aggregate", c1, c2, "--name", "east", "--name", "west")
    agg = ok(result).strip()
    assert "aggregated 2 datasets on node" in result.stderr
    rows = where(stack, agg)
    assert rows[(n0, "/east")]["Complete"] and rows[(n1, "/west")]["Complete"]
    builder = next(node for node, path in rows if path == "/")
    assert not rows[(builder, "/")]["Complete"]  # it links the datasets, it holds their roots
    yaml_out = ok(stack.cli("data", "where", agg, "--output", "yaml"))
    assert yaml_out.startswith("CID: ")


def test_errors_are_one_line_with_a_hint(stack: Devstack, tmp_path: Path) -> None:
    f = tree(tmp_path / "f", {"f": b"1"}) / "f"
    cases = [
        (["data", "add", str(f), "--node", "n-nope"], 1, "not served by this API"),
        (["data", "add", str(f), "--node", "x", "--no-pin"], 2, "--no-pin cannot be used"),
        (["data", "where", "not-a-cid"], 2, "invalid CID"),
        (["data", "aggregate", "Qmnope"], 2, "invalid CID"),
        (["data", "aggregate", stack.node_ids()[0]], 2, "invalid CID"),
    ]
    for args, code, message in cases:
        result = stack.cli(*args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr and "Hint:" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    down = stack.cli("data", "add", str(f), "--node", "n", "--api", "http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach the bacalao API" in down.stderr


def test_without_node_or_api_add_stays_offline(stack: Devstack, tmp_path: Path) -> None:
    f = tree(tmp_path / "f", {"f": b"offline"}) / "f"
    out = ok(stack.cli("data", "add", str(f), "--data-dir", str(tmp_path / "local")))
    cid = out.splitlines()[-1]
    assert ok(stack.cli("data", "cat", cid, "--data-dir", str(tmp_path / "local"))) == "offline"
    assert stack.cli("data", "where", cid).returncode == 1  # no node of the cluster holds it
