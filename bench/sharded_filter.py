"""Sharded Lisbon filter over a 4-node devstack vs the same command run by hand.

Generates SIZE bytes of weather-sensor logs in N files, places them on 4 in-process compute nodes
(each file's blocks on one node only), then times, in the same run and alternated:

* ``single``: the filter as one process over every file;
* ``hand-split``: the same command split by hand over two processes (the 2-core ideal);
* ``bacalao``: a sharded job (submit → completed, merge included) through the orchestrator.

and prints the ratios with their targets (≤ 0.8× single, ≤ 1.25× hand-split) and the bytes the
nodes moved between them (target 0). After each timed job (outside its time) the merged result is
read back from the nodes' stores and checked, file by file in the single process's order, against
the single process's output. Round 1 is a job the stack has never seen; later rounds rerun the
same job, whose shard outputs and merged directories the stores then already hold, so the headline
figure is round 1's and the median of all rounds is shown beside it. Usage::

    python bench/sharded_filter.py [--size 1GiB] [--files 64] [--shards 16] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

LISBON = r"38.7[2-4]....,-9.1[3-5]...."
FILTER = f"sed -n '/{LISBON}/p'"
PER_FILE = (
    "cd /inputs && find . -type f | while IFS= read -r f; do "
    'mkdir -p "/outputs/$(dirname "$f")" && ' + FILTER + ' < "$f" > "/outputs/$f" || exit 1; done'
)


def parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.lower().removesuffix("ib").removesuffix("b")
    return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)


def generate(dest: Path, size: int, files: int, seed: int = 1) -> list[Path]:
    """Weather logs: datetime, lat, lon, temperature, pressure, rainfall; ~1% near Lisbon."""
    rng = random.Random(seed)
    pool = []
    for i in range(50_000):
        if rng.random() < 0.01:
            lat, lon = 38.72 + rng.random() * 0.02, -9.13 - rng.random() * 0.02
        else:
            lat, lon = 36 + rng.random() * 20, -10 + rng.random() * 30
        pool.append(
            f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d},{lat:.6f},{lon:.6f},"
            f"{rng.uniform(-5, 35):.1f},{rng.uniform(980, 1040):.1f},{rng.uniform(0, 20):.1f}\n"
        )
    block = "".join(pool).encode()
    per_file = size // files
    paths = []
    for n in range(files):
        path = dest / f"region-{n % 4}" / f"sensor-{n:03d}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            left = per_file
            offset = rng.randrange(len(block))
            while left > 0:
                piece = block[offset : offset + left]
                f.write(piece)
                left -= len(piece)
                offset = 0
        paths.append(path)
    return paths


def run_single(paths: list[Path], out: Path) -> float:
    t = time.perf_counter()
    with out.open("wb") as f:
        subprocess.run(["sed", "-n", f"/{LISBON}/p", *map(str, paths)], stdout=f, check=True)
    return time.perf_counter() - t


def run_split(paths: list[Path], out: Path) -> float:
    halves = [paths[: len(paths) // 2], paths[len(paths) // 2 :]]
    t = time.perf_counter()
    procs = []
    for i, half in enumerate(halves):
        f = (out.parent / f"{out.name}.{i}").open("wb")
        procs.append(
            (subprocess.Popen(["sed", "-n", f"/{LISBON}/p", *map(str, half)], stdout=f), f)
        )
    for p, f in procs:
        p.wait()
        f.close()
    return time.perf_counter() - t


async def place(stack, data: Path, paths: list[Path]):
    """Each node holds a quarter of the files (and nothing else); the dataset root links them."""
    from bacalao.ipld.imported import ImportedNode
    from bacalao.ipld.profiles import PROFILES
    from bacalao.ipld.tree import build_tree, list_files
    from bacalao.node.stack import StoresGetter

    profile = PROFILES["unixfs-v1-2025"]
    roots = []
    for i, node in enumerate(stack.computes):
        part = data / f"region-{i}"
        roots.append(await asyncio.to_thread(node.repo.add_path, part, profile))
    getter = StoresGetter([c.repo for c in stack.computes])
    entries = [
        (f"region-{i}/{e.path}", ImportedNode(e.cid, e.tsize, e.size))
        for i, r in enumerate(roots)
        for e in list_files(getter, r.cid)
    ]
    for node in stack.computes:
        await node.register()
    with stack.computes[0].repo.adding() as sink:
        return build_tree(entries, profile, sink).cid


async def run_bacalao(stack, cid, shards: int) -> tuple[float, int, int, str]:
    from bacalao.models.parse import parse_job

    orch = stack.orchestrator
    spec = {
        "Sharding": {"Glob": "**/*.log", "Shards": shards},
        "Tasks": [
            {
                "Name": "lisbon",
                "Engine": {"Type": "shell", "Params": {"Command": PER_FILE}},
                "InputSources": [{"Source": {"Type": "ipfs", "Params": {"CID": str(cid)}}}],
            }
        ],
    }
    t = time.perf_counter()
    res = await orch.submit_job(parse_job(spec))
    seq = 0
    while not orch.get_job(res.job_id).is_terminal:
        seq = await orch.wait(res.job_id, since_seq=seq, timeout=5)
    elapsed = time.perf_counter() - t
    job = orch.get_job(res.job_id)
    if job.state_type.value != "Completed":
        raise SystemExit(f"job failed: {job.state.message}")
    execs = orch.list_executions(res.job_id)
    moved = sum(e.metering.bytes_fetched for e in execs)
    on_holder = sum(1 for e in execs if e.metering.bytes_fetched == 0)
    (result,) = orch.results(res.job_id)
    return elapsed, moved, on_holder, result.params["CID"]


def verify(stack, result_cid: str, data: Path, paths: list[Path], expected: Path) -> None:
    """The merged result holds, for every input file, the lines the single process printed for
    it: concatenated in the single process's file order they are its output, byte for byte."""
    from bacalao.ipld.cid import CID
    from bacalao.ipld.exporter import cat, resolve
    from bacalao.node.stack import StoresGetter

    getter = StoresGetter([c.repo for c in stack.computes])
    root = CID.decode(result_cid)
    got = bytearray()
    for path in paths:
        got += b"".join(cat(getter, resolve(getter, root, str(path.relative_to(data)))))
    if bytes(got) != expected.read_bytes():
        raise SystemExit(f"the merged result {result_cid} differs from the single process's output")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--files", type=int, default=64)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    if not shutil.which("bwrap"):
        raise SystemExit("bubblewrap (bwrap) is needed: apt-get install bubblewrap")
    size = parse_size(args.size)

    from bacalao.node.config import NodeConfig
    from bacalao.node.stack import start_stack

    work = Path(tempfile.mkdtemp(prefix="bacalao-bench-"))
    try:
        data = work / "data"
        paths = generate(data, size, args.files)
        print(f"{len(paths)} files, {size / 2**20:.0f} MiB, {args.shards} shards, 4 nodes")
        cfg = NodeConfig(data_dir=work / "stack", nodes=4, engines=["shell"], max_cpu=1, max_jobs=1)
        stack = await start_stack(cfg)
        try:
            t = time.perf_counter()
            cid = await place(stack, data, paths)
            print(f"placed in {time.perf_counter() - t:.1f}s; dataset {cid}")
            single, split, ours, moved = [], [], [], []
            for _ in range(args.rounds):
                single.append(run_single(paths, work / "single.out"))
                split.append(run_split(paths, work / "split.out"))
                elapsed, fetched, _on_holder, result = await run_bacalao(stack, cid, args.shards)
                ours.append(elapsed)
                moved.append(fetched)
                verify(stack, result, data, paths, work / "single.out")
            print(f"results checked against the single process's output ({args.rounds}x)")
        finally:
            await stack.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # round 1 for bacalao (see the module doc); baselines: the median of every round
    s, h, b = statistics.median(single), statistics.median(split), ours[0]

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"single process   {s:7.2f} s  ({size / s / 1e6:.0f} MB/s)")
    print(f"hand-split x2    {h:7.2f} s")
    rest = ""
    if len(ours) > 1:
        rest = f"  (later rounds, same job again: median {statistics.median(ours[1:]):.2f} s)"
    print(f"bacalao          {b:7.2f} s{rest}")
    print(f"bacalao / single     {b / s:5.2f}  (target <= 0.80) {verdict(b / s <= 0.8)}")
    print(f"bacalao / hand-split {b / h:5.2f}  (target <= 1.25) {verdict(b / h <= 1.25)}")
    print(f"bytes moved          {max(moved):5d}  (target 0) {verdict(max(moved) == 0)}")


if __name__ == "__main__":
    asyncio.run(main())
