"""Datasets on chosen nodes of an in-process devstack: where a CID is, aggregates across nodes,
and a sharded job over an aggregate that runs every shard on its holder (nothing fetched)."""

from __future__ import annotations

import random
import shutil

import pytest
from tests.conftest import require
from tests.integration.test_sharding import (
    PER_FILE,
    downloaded,
    expected_lisbon,
    shard_job,
    weather_file,
)
from tests.integration.test_stack import wait_terminal

from bacalao.errors import InvalidInput, NotFound
from bacalao.ipld.profiles import resolve_profile
from bacalao.models.job_state import JobStateType as JS
from bacalao.models.parse import parse_job
from bacalao.node.config import NodeConfig
from bacalao.node.stack import start_stack
from bacalao.orchestrator.datasets import Datasets, aggregate_roots

V1 = resolve_profile(None, 1)


async def _stack(tmp_path, nodes: int, engines: list[str]):
    cfg = NodeConfig(data_dir=tmp_path / "stack", nodes=nodes, engines=engines, max_cpu=2)
    return await start_stack(cfg)


@pytest.fixture
async def noop_stack(tmp_path):
    stack = await _stack(tmp_path, 3, ["noop"])
    yield stack
    await stack.stop()


@pytest.fixture
async def shell_stack(tmp_path):
    require(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    stack = await _stack(tmp_path, 2, ["shell"])
    yield stack
    await stack.stop()


def _write(root, files: dict[str, bytes]):
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


async def test_where_names_each_holder_of_root_and_entries(noop_stack, tmp_path) -> None:
    a, b, _ = noop_stack.computes
    files = {"x.log": b"x" * 5000, "sub/y.log": b"y" * 3000}
    cid = a.repo.add_path(_write(tmp_path / "d", files), V1).cid
    # node b holds only the file x.log (the same bytes, so the same CID)
    xcid = b.repo.add_bytes(files["x.log"], V1).cid
    ds = Datasets(noop_stack.orchestrator)
    placement = await ds.where(str(cid))
    rows = {(h.node_id, h.path): h for h in placement.holdings}
    assert placement.kind == "directory"
    assert {p.path for p in placement.parts} == {"/", "/x.log", "/sub"}
    assert all(rows[(a.id, p)].complete for p in ("/", "/x.log", "/sub"))
    assert rows[(a.id, "/")].bytes == placement.total
    assert rows[(b.id, "/x.log")].complete and rows[(b.id, "/x.log")].cid == str(xcid)
    assert (b.id, "/") not in rows and (b.id, "/sub") not in rows
    wire = placement.to_wire()
    assert wire["Type"] == "directory" and len(wire["Items"]) == 4
    with pytest.raises(InvalidInput):
        await ds.where("not-a-cid")


async def test_where_unknown_cid_is_not_found(noop_stack) -> None:
    from bacalao.ipld.importer import import_bytes

    cid = import_bytes(b"held by nobody", V1, None).cid
    with pytest.raises(NotFound, match="no connected node holds"):
        await Datasets(noop_stack.orchestrator).where(str(cid))


async def test_aggregate_links_datasets_on_other_nodes_without_copying(
    noop_stack, tmp_path
) -> None:
    a, b, c = noop_stack.computes
    one = a.repo.add_path(_write(tmp_path / "one", {"f.log": b"1" * 300_000}), V1).cid
    two = b.repo.add_path(_write(tmp_path / "two", {"g.log": b"2" * 300_000}), V1).cid
    for n in (a, b):
        await n.register()
    ds = Datasets(noop_stack.orchestrator)
    cid, node = await ds.aggregate([str(one), str(two)], ["one", "two"], node=c.id[:8])
    assert node == c.id
    placement = await ds.where(cid)
    rows = {(h.node_id, h.path): h for h in placement.holdings}
    # c holds the new root and the two dataset roots it linked, none of the file bytes
    assert not rows[(c.id, "/")].complete
    assert rows[(c.id, "/")].bytes < 2000
    assert rows[(a.id, "/one")].complete and rows[(b.id, "/two")].complete
    assert (c.id, "/one") in rows and not rows[(c.id, "/one")].complete
    # default node: the one holding most of the datasets; default names: the CIDs
    cid2, node2 = await ds.aggregate([str(one)])
    assert node2 == a.id
    assert (await ds.where(cid2)).parts[1].path == f"/{one}"


def test_aggregate_roots_validation() -> None:
    cid = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert aggregate_roots([cid], []) == [(cid, cid)]
    for cids, names, what in [
        ([], [], "at least one"),
        ([cid, cid], ["a"], "1 names for 2"),
        ([cid, cid], [], "two datasets are named"),
        ([cid], ["a/b"], "invalid name"),
        (["nope"], [], "invalid CID"),
    ]:
        with pytest.raises(InvalidInput, match=what):
            aggregate_roots(cids, names)


async def test_sharded_job_over_an_aggregate_runs_each_shard_on_its_holder(
    shell_stack, tmp_path
) -> None:
    rng = random.Random(11)
    n0, n1 = shell_stack.computes
    parts = {
        0: {f"s{i}.log": weather_file(rng, 150) for i in range(4)},
        1: {f"s{i}.log": weather_file(rng, 150) for i in range(4, 8)},
    }
    roots = []
    for i, node in enumerate((n0, n1)):
        roots.append(str(node.repo.add_path(_write(tmp_path / f"p{i}", parts[i]), V1).cid))
        await node.register()
    ds = Datasets(shell_stack.orchestrator)
    cid, _ = await ds.aggregate(roots, ["east", "west"])
    orch = shell_stack.orchestrator
    res = await orch.submit_job(parse_job(shard_job(cid, 4, PER_FILE)))
    job = await wait_terminal(orch, res.job_id, timeout=120)
    assert job.state_type is JS.COMPLETED, job.state
    execs = orch.list_executions(res.job_id)
    assert sorted(e.shard_index for e in execs) == [0, 1]
    holder = {0: n0.id, 1: n1.id}  # shard 0 = east/* (node 0), shard 1 = west/* (node 1)
    assert {e.shard_index: e.node_id for e in execs} == holder
    assert sum(e.metering.bytes_fetched for e in execs) == 0
    (result,) = orch.results(res.job_id)
    files = {
        f"{name}/{p}": d for name, i in (("east", 0), ("west", 1)) for p, d in parts[i].items()
    }
    got = downloaded(shell_stack, result.params["CID"], tmp_path / "out")
    assert got == expected_lisbon(files)
