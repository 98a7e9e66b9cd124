"""Benchmark: a trivial WebAssembly job end to end vs running the same module with wasmtime.

    .venv/bin/python bench/wasm.py
    .venv/bin/python bench/wasm.py -n 500 --warmup 50

Both sides run ``tests/support/wasm/hello.c`` (built with clang for wasm32-wasi: one line to
stdout), alternating sample by sample:

* ``direct``: in one process, with one wasmtime ``Engine`` and the module compiled once up front:
  a ``Store`` and a ``WasiConfig`` (stdout and stderr to files), ``Linker.instantiate`` and a
  call of ``_start``. This is the floor: what running the module costs at all.
* ``job``: the embedded stack in this process (orchestrator, one compute node, memory bus, SQLite
  jobstore, the node's block store; no HTTP): ``Orchestrator.submit_job`` of a wasm job naming the
  module by CID, then the orchestrator's long-poll ``wait`` until the job is Completed. That covers
  evaluation, scheduling, the bid, writing the module out of the store, the run (module compiled
  once and cached by CID), importing ``outputs/``, ``stdout``, ``stderr`` and ``exitCode`` as the
  result CID, and every state change written to the jobstore.

* ``noop job``: for reference, the same job with the ``noop`` engine (no module at all, Publisher
  ``ipfs`` too): what the job system costs by itself, so ``job - noop job`` is the wasm engine's
  share of the overhead.

Printed: p50, p90 and p99 of each, the overhead (job - direct) at p50 and the ratio of the p50s.
Target: overhead <= 5 ms at p50.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_OVERHEAD_MS = 5.0


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Direct:
    """The module run with wasmtime directly: everything cacheable is cached."""

    def __init__(self, module: Path, tmp: Path) -> None:
        import wasmtime

        self.wasmtime = wasmtime
        self.engine = wasmtime.Engine()
        self.module = wasmtime.Module.from_file(self.engine, str(module))
        self.linker = wasmtime.Linker(self.engine)
        self.linker.define_wasi()
        self.out, self.err = str(tmp / "direct.out"), str(tmp / "direct.err")

    def run(self) -> float:
        wasmtime = self.wasmtime
        started = time.perf_counter()
        store = wasmtime.Store(self.engine)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [""]
        wasi.stdout_file = self.out
        wasi.stderr_file = self.err
        store.set_wasi(wasi)
        instance = self.linker.instantiate(store, self.module)
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as e:
            assert e.code == 0
        return time.perf_counter() - started


async def main_async(args: argparse.Namespace) -> int:
    from tests.support import wasm_modules

    from bacalao.ipld.profiles import resolve_profile
    from bacalao.models.job_state import JobStateType
    from bacalao.models.parse import parse_job
    from bacalao.node.config import NodeConfig
    from bacalao.node.stack import start_stack

    problem = wasm_modules.toolchain_problem()
    if problem:
        print(f"cannot build the test module: {problem}", file=sys.stderr)
        return 2
    module = wasm_modules.module("hello")
    with tempfile.TemporaryDirectory(prefix="bacalao-bench-wasm-") as tmp_name:
        tmp = Path(tmp_name)
        direct = Direct(module, tmp)
        stack = await start_stack(
            NodeConfig(data_dir=tmp / "stack", engines=["wasm", "noop"], heartbeat_s=3600)
        )
        orch = stack.orchestrator
        assert orch is not None
        cid = stack.computes[0].repo.add_bytes(module.read_bytes(), resolve_profile(None, None))
        spec = {
            "Type": "batch",
            "Count": 1,
            "Tasks": [
                {
                    "Name": "main",
                    "Engine": {"Type": "wasm", "Params": {"EntryModule": str(cid.cid)}},
                    "Publisher": {"Type": "ipfs"},
                }
            ],
        }

        noop_spec = {
            **spec,
            "Tasks": [{**spec["Tasks"][0], "Engine": {"Type": "noop"}}],
        }

        async def job(spec: dict = spec) -> float:
            started = time.perf_counter()
            res = await orch.submit_job(parse_job(spec))
            seq = 0
            while not orch.get_job(res.job_id).is_terminal:
                seq = await orch.wait(res.job_id, since_seq=seq, timeout=10.0)
            elapsed = time.perf_counter() - started
            state = orch.get_job(res.job_id).state_type
            assert state is JobStateType.COMPLETED, orch.get_job(res.job_id).state
            return elapsed

        try:
            for _ in range(args.warmup):
                direct.run()
                await job()
                await job(noop_spec)
            directs, jobs, noops = [], [], []
            for _ in range(args.n):
                directs.append(direct.run())
                jobs.append(await job())
                noops.append(await job(noop_spec))
        finally:
            await stack.stop()
    report(directs, jobs, noops)
    overhead_ms = (statistics.median(jobs) - statistics.median(directs)) * 1000
    return 0 if overhead_ms <= TARGET_OVERHEAD_MS or not args.strict else 1


def report(directs: list[float], jobs: list[float], noops: list[float]) -> None:
    print(f"{len(jobs)} samples each, alternated; CPUs available: {len(os.sched_getaffinity(0))}")
    print(f"{'':9} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9}")
    for name, samples in (("direct", directs), ("job", jobs), ("noop job", noops)):
        row = [quantile(samples, q) * 1000 for q in (0.5, 0.9, 0.99)]
        print(f"{name:9} {row[0]:9.3f} {row[1]:9.3f} {row[2]:9.3f}")
    d50, j50 = statistics.median(directs), statistics.median(jobs)
    overhead = (j50 - d50) * 1000
    verdict = "ok" if overhead <= TARGET_OVERHEAD_MS else "OVER TARGET"
    print(
        f"overhead at p50: {overhead:.3f} ms (target <= {TARGET_OVERHEAD_MS:g} ms: {verdict}); "
        f"ratio of p50s: {j50 / d50:.1f}x"
    )
    n50 = statistics.median(noops)
    print(
        f"of which the job system alone (noop job): {n50 * 1000:.3f} ms; the wasm engine's share "
        f"(job - noop job - direct): {(j50 - n50 - d50) * 1000:.3f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="samples of each (default 300)")
    ap.add_argument("--warmup", type=int, default=30, help="unmeasured rounds first (default 30)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when over the target")
    from bacalao.node import runtime

    return runtime.run(main_async(ap.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
