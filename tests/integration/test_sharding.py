"""Sharded map/reduce over a 4-node devstack (one process): data stays where it is, jobs move."""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import pytest
from tests.conftest import require
from tests.integration.test_stack import wait_terminal

from bacalao.ipld.cid import CID
from bacalao.ipld.export_fs import write_tree
from bacalao.ipld.profiles import resolve_profile
from bacalao.models.job_state import JobStateType as JS
from bacalao.models.parse import parse_job
from bacalao.node.config import NodeConfig
from bacalao.node.stack import StoresGetter, start_stack

LISBON = r"38\.7[2-4]....,-9\.1[3-5]...."
SED = f"sed -n '/{LISBON}/p'"
# every input file through the filter, its output at the same path under /outputs
PER_FILE = (
    "cd /inputs && find . -type f | while IFS= read -r f; do "
    'mkdir -p "/outputs/$(dirname "$f")" && ' + SED + ' < "$f" > "/outputs/$f" || exit 1; done'
)
V1 = resolve_profile(None, 1)


def weather_file(rng: random.Random, lines: int) -> bytes:
    out = []
    for i in range(lines):
        if rng.random() < 0.1:
            lat, lon = 38.72 + rng.random() * 0.02, -9.13 - rng.random() * 0.02
        else:
            lat, lon = 36 + rng.random() * 20, -10 + rng.random() * 30
        out.append(
            f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00,{lat:.6f},{lon:.6f},"
            f"{rng.uniform(-5, 35):.1f},{rng.uniform(980, 1040):.1f},{rng.uniform(0, 20):.1f}\n"
        )
    return "".join(out).encode()


@pytest.fixture
async def devstack(tmp_path):
    require(shutil.which("bwrap") is not None, "bubblewrap is not installed")
    cfg = NodeConfig(data_dir=tmp_path / "stack", nodes=4, engines=["shell"], max_cpu=2)
    stack = await start_stack(cfg)
    yield stack
    await stack.stop()


def place(stack, tmp_path, files: dict[str, bytes], owner) -> CID:
    """Write each file into the store of the node ``owner(path)`` picks; aggregate them into one
    directory on node 0 (linking, not copying). Returns the dataset root."""
    by_node: dict[int, dict[str, bytes]] = {}
    for path, data in files.items():
        by_node.setdefault(owner(path), {})[path] = data
    roots = []
    for node, chunk in sorted(by_node.items()):
        src = tmp_path / f"part-{node}"
        for path, data in chunk.items():
            (src / path).parent.mkdir(parents=True, exist_ok=True)
            (src / path).write_bytes(data)
        roots.append(stack.computes[node].repo.add_path(src, V1).cid)
    # one directory linking every part's files: build it over all stores, keep it on node 0
    from bacalao.ipld.imported import ImportedNode
    from bacalao.ipld.tree import build_tree, list_files

    getter = StoresGetter([c.repo for c in stack.computes])
    entries = [
        (e.path, ImportedNode(e.cid, e.tsize, e.size)) for r in roots for e in list_files(getter, r)
    ]
    repo0 = stack.computes[0].repo
    with repo0.adding() as sink:
        node = build_tree(entries, V1, sink)
    return node.cid


def shard_job(cid: CID, batch: int, command: str = PER_FILE, **extra) -> dict:
    return {
        "Sharding": {"Glob": "**/*.log", "BatchSize": batch, **extra.pop("Sharding", {})},
        **extra,
        "Tasks": [
            {
                "Name": "filter",
                "Engine": {"Type": "shell", "Params": {"Command": command}},
                "InputSources": [{"Source": {"Type": "ipfs", "Params": {"CID": str(cid)}}}],
            }
        ],
    }


def expected_lisbon(files: dict[str, bytes]) -> dict[str, bytes]:
    pattern = re.compile(LISBON.encode())
    out = {}
    for path, data in files.items():
        out[path] = b"".join(x for x in data.splitlines(keepends=True) if pattern.search(x))
    return out


def downloaded(stack, cid: str, dest) -> dict[str, bytes]:
    getter = StoresGetter([c.repo for c in stack.computes])
    root = write_tree(getter, CID.decode(cid), dest, name="result")
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


async def test_lisbon_filter_16_shards_runs_where_the_data_is(devstack, tmp_path) -> None:
    rng = random.Random(7)
    files = {f"sensors/s{i:02d}.log": weather_file(rng, 200) for i in range(64)}
    # shard k (4 files each, in path order) lives on node k % 4
    cid = place(devstack, tmp_path, files, owner=lambda p: (int(p[9:11]) // 4) % 4)
    orch = devstack.orchestrator
    res = await orch.submit_job(parse_job(shard_job(cid, 4)))  # 64 files: 16 shards
    job = await wait_terminal(orch, res.job_id, timeout=120)
    assert job.state_type is JS.COMPLETED, job.state
    execs = orch.list_executions(res.job_id)
    assert sorted(e.shard_index for e in execs) == list(range(16))
    assert sum(e.metering.bytes_fetched for e in execs) == 0  # every shard ran on its holder
    nodes = {c.id: i for i, c in enumerate(devstack.computes)}
    assert all(nodes[e.node_id] == e.shard_index % 4 for e in execs)
    (result,) = orch.results(res.job_id)
    got = downloaded(devstack, result.params["CID"], tmp_path / "out")
    assert got == expected_lisbon(files)
    # the same bytes as running sed locally over every file
    for path, data in list(files.items())[:3]:
        local = subprocess.run(["sed", "-n", f"/{LISBON}/p"], input=data, capture_output=True)
        assert got[path] == local.stdout


async def test_a_shard_without_a_usable_holder_fetches_exactly_its_bytes(
    devstack, tmp_path
) -> None:
    rng = random.Random(8)
    files = {f"d/f{i:02d}.log": weather_file(rng, 100) for i in range(16)}
    # shard k (files 4k..4k+3) lives on node k; node 3, holding the last shard, takes no jobs
    cid = place(devstack, tmp_path, files, owner=lambda p: int(p[3:5]) // 4)
    node3 = devstack.computes[3].id
    spec = shard_job(cid, 4, Constraints=[{"Key": "node", "Operator": "!=", "Values": ["three"]}])
    for c, name in zip(devstack.computes, ["zero", "one", "two", "three"], strict=True):
        c.config.labels["node"] = name
        await c.register()
    orch = devstack.orchestrator
    res = await orch.submit_job(parse_job(spec))
    job = await wait_terminal(orch, res.job_id, timeout=120)
    assert job.state_type is JS.COMPLETED, job.state
    execs = orch.list_executions(res.job_id)
    assert node3 not in {e.node_id for e in execs}
    last = [e for e in execs if e.shard_index == 3]
    shard_bytes = sum(len(files[f"d/f{i:02d}.log"]) for i in range(12, 16))
    assert sum(e.metering.bytes_fetched for e in last) == shard_bytes
    assert sum(e.metering.bytes_fetched for e in execs if e.shard_index != 3) == 0
    (result,) = orch.results(res.job_id)
    assert downloaded(devstack, result.params["CID"], tmp_path / "out") == expected_lisbon(files)


async def test_word_count_map_with_a_reduce_stage(devstack, tmp_path) -> None:
    words = ["alpha", "beta", "gamma", "delta"]
    rng = random.Random(3)
    files = {
        f"t/{i}.log": (" ".join(rng.choice(words) for _ in range(50)) + "\n").encode()
        for i in range(8)
    }
    cid = place(devstack, tmp_path, files, owner=lambda p: int(p[2]) % 4)
    count = (
        "cat $(find /inputs -type f) | wc -w "
        "> /outputs/count-$(find /inputs -type f | head -1 | md5sum | cut -c1-8)"
    )
    spec = shard_job(cid, 2, command=count)
    spec["Reduce"] = {
        "Name": "sum",
        "Engine": {
            "Type": "shell",
            "Params": {
                "Command": "cat /inputs/count-* | awk '{s+=$1} END {print s}' > /outputs/total"
            },
        },
    }
    orch = devstack.orchestrator
    res = await orch.submit_job(parse_job(spec))
    job = await wait_terminal(orch, res.job_id, timeout=120)
    assert job.state_type is JS.COMPLETED, job.state
    (result,) = orch.results(res.job_id)
    got = downloaded(devstack, result.params["CID"], tmp_path / "out")
    assert got["outputs/total"] == b"400\n"


async def test_union_conflict_fails_naming_both_shards(devstack, tmp_path) -> None:
    files = {f"c/{i}.log": b"x\n" for i in range(4)}
    cid = place(devstack, tmp_path, files, owner=lambda p: 0)
    orch = devstack.orchestrator
    res = await orch.submit_job(parse_job(shard_job(cid, 2, command="echo same > /outputs/out")))
    job = await wait_terminal(orch, res.job_id, timeout=60)
    assert job.state_type is JS.FAILED
    assert "shard 0" in job.state.message and "shard 1" in job.state.message
