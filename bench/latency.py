"""Benchmark: job latency and throughput through a real ``bacalao serve``, against baselines
measured in the same run (each bacalao sample alternates with a baseline sample).

    .venv/bin/python bench/latency.py
    BENCH_SHELL_N=50 BENCH_DOCKER_N=10 BENCH_NOOP_JOBS=2000 .venv/bin/python bench/latency.py
    BENCH_ONLY=shell,coldstart .venv/bin/python bench/latency.py

Figures (target in brackets):

* ``shell``: a trivial shell job (``true``) submitted with the SDK (``Client.submit`` then
  ``wait_for``, the CLI's path) until Completed, vs the very same ``prlimit … bwrap … /bin/sh -c
  true`` command line (built by the shell executor) run directly, joining a pids cgroup first as
  a root node's sandboxes do (``BACALAO_SANDBOX_PIDS_CGROUP=false`` turns both off). Overhead at
  p50 [<= 15 ms].
* ``docker``: a trivial Docker job (``true`` in the ``docker import``-ed busybox image) vs the raw
  Engine API create/start/wait/remove of the same container (same hardened config from the docker
  executor's ``container_config``, same default 100m CPU quota and 100 MiB limit) with the docker
  SDK. Ratio of p50s [<= 1.3x]. The same container without limits is shown for reference: the CPU
  quota alone costs a trivial container tens of milliseconds of start-up.
* ``noop``: N noop jobs (Publisher noop) submitted in batches, then all waited for: jobs/s end to
  end, the median of a few rounds [>= 600]. The target stands for Dask's ``client.map`` +
  ``gather`` on this machine: where ``distributed`` is installed (``pip install -e '.[bench]'``),
  Dask's default ``LocalCluster`` runs the same number of trivial tasks in rounds alternated with
  ours, and the ratio of the medians is printed. ``submit``: N submissions accepted per second by
  the API, concurrent PUTs with the SDK's ``AsyncClient`` [>= 1,000]; the baseline is
  ``GET /api/v1/agent/alive`` at the same concurrency (the HTTP stack's ceiling on this machine).
* ``coldstart``: ``bacalao job list`` in a fresh process, median of N [<= 150 ms]; the baseline is
  ``python -c pass`` (the interpreter's own start).

Knobs (environment): ``BENCH_SHELL_N`` (30), ``BENCH_DOCKER_N`` (15), ``BENCH_NOOP_JOBS`` (1000),
``BENCH_NOOP_ROUNDS`` (3; the figure is their median: this VM's CPU speed moves by a third),
``BENCH_DASK`` (1; 0 skips the Dask baseline),
``BENCH_SUBMIT_JOBS`` (1000), ``BENCH_CONCURRENCY`` (32), ``BENCH_COLD_N`` (15), ``BENCH_WARMUP``
(3), ``BENCH_ONLY`` (comma list of shell, docker, noop, submit, coldstart), ``BENCH_API`` (use a
server already running there instead of starting one; the shell and docker baselines still run
here), ``BENCH_KEEP`` (keep the server's data dir and log).
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BACALAO = str(Path(sys.executable).with_name("bacalao"))
IMAGE = "bacalao-test/busybox:latest"


def knob(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


SHELL_N = knob("BENCH_SHELL_N", 30)
DOCKER_N = knob("BENCH_DOCKER_N", 15)
NOOP_JOBS = knob("BENCH_NOOP_JOBS", 1000)
NOOP_ROUNDS = knob("BENCH_NOOP_ROUNDS", 3)
SUBMIT_JOBS = knob("BENCH_SUBMIT_JOBS", 1000)
CONCURRENCY = knob("BENCH_CONCURRENCY", 32)
COLD_N = knob("BENCH_COLD_N", 15)
WARMUP = knob("BENCH_WARMUP", 3)
BATCH = knob("BENCH_BATCH", 100)
ONLY = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}


# -- statistics and reporting ---------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float:
    """The ``q``-quantile by nearest rank (p99 of 30 samples is the largest)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    ordered = sorted(samples)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class Figure:
    name: str
    text: str
    target: str
    met: bool


FIGURES: list[Figure] = []


def latency_line(label: str, samples: list[float]) -> None:
    print(
        f"  {label:<34} p50 {median(samples) * 1e3:8.2f} ms   p99 {pct(samples, 0.99) * 1e3:8.2f}"
        f" ms   (n={len(samples)})",
        flush=True,
    )


def record(name: str, text: str, target: str, met: bool) -> None:
    FIGURES.append(Figure(name, text, target, met))
    print(f"  => {text}   target {target}: {'MET' if met else 'MISSED'}\n", flush=True)


def cpu_note(server: Server, before: float | None, jobs: int, client_s: float) -> None:
    """Server and client CPU per job: what the rate costs, and robust to a busy machine."""
    after = server.cpu_s()
    server_part = ""
    if before is not None and after is not None:
        server_part = f"server {(after - before) / jobs * 1e3:.2f} ms, "
    print(f"CPU per job: {server_part}client {client_s / jobs * 1e3:.2f} ms")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def alternate(*measures: Callable[[], float], n: int) -> list[list[float]]:
    """``n`` samples of each measure, interleaved (after ``WARMUP`` unrecorded rounds)."""
    samples: list[list[float]] = [[] for _ in measures]
    for i in range(WARMUP + n):
        for measure, into in zip(measures, samples, strict=True):
            value = measure()
            if i >= WARMUP:
                into.append(value)
    return samples


# -- the server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``bacalao serve`` in a subprocess, or an API already running (``BENCH_API``)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="bacalao-bench-"))
        given = os.environ.get("BENCH_API")
        self.api = given or f"http://127.0.0.1:{free_port()}"
        if given:
            return
        port = self.api.rsplit(":", 1)[1]
        args = [BACALAO, "serve", "--port", port, "--data-dir", str(self.dir / "data")]
        for engine in ("shell", "docker", "noop"):
            args += ["--engine", engine]
        self.log = self.dir / "serve.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log)

    def cpu_s(self) -> float | None:
        """CPU seconds the server process has used (None for a server started elsewhere)."""
        if self.proc is None:
            return None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_ready(self, timeout: float = 30) -> None:
        from bacalao.client import Client

        deadline = time.monotonic() + timeout
        with Client(self.api, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    sys.exit(f"bacalao serve exited:\n{self.log.read_text()}")
                try:
                    if client.list_nodes().raw:
                        return
                except Exception:
                    pass
                time.sleep(0.1)
        sys.exit(f"bacalao serve at {self.api} has no compute node after {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# -- shell: submit -> completed vs bwrap run directly ---------------------------------------------


def bench_shell(server: Server) -> None:
    from bacalao.client import Client
    from bacalao.executors.base import ExecutionRequest
    from bacalao.executors.sandbox import process_limit, sandbox_env
    from bacalao.executors.shell import ShellExecutor
    from bacalao.node.config import NodeConfig

    print(f"shell: trivial job ({SHELL_N} samples each, alternated)", flush=True)
    if not (shutil.which("bwrap") and shutil.which("prlimit")):
        print("  skipped: bwrap or prlimit is not installed\n")
        return
    tmp = server.dir / "shell-baseline"
    # the server's sandboxes join a pids cgroup each when it runs as root (unless turned off):
    # the baseline runs the very same way, so the difference is the job system's
    cgroups = NodeConfig().sandbox_pids_cgroup  # BACALAO_SANDBOX_PIDS_CGROUP, read as serve does
    executor = ShellExecutor(state_dir=tmp / "state", use_cgroups=cgroups)
    req = ExecutionRequest(
        execution_id="bench", job_id="bench", engine_type="shell",
        engine_params={"Command": "true"}, mounts=(), outputs_dir=tmp / "run" / "outputs",
        env={}, cpu=None, memory_bytes=None, disk_bytes=None, timeout_s=60,
    )  # fmt: skip
    req.outputs_dir.mkdir(parents=True)
    argv = executor.command_line(req, executor.validate(req.engine_params))
    env = sandbox_env(req)
    job = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "shell",
           "Params": {"Command": "true"}}}]}  # fmt: skip

    def direct() -> float:
        t = time.perf_counter()
        with process_limit(executor.profile()) as prefix:
            subprocess.run([*prefix, *argv], env=env, capture_output=True, check=True)
        return time.perf_counter() - t

    with Client(server.api) as client:

        def through_bacalao() -> float:
            t = time.perf_counter()
            final = client.wait_for(client.submit(job).job_id, timeout=60)
            elapsed = time.perf_counter() - t
            assert final.state == "Completed", final.raw_job
            return elapsed

        base, ours = alternate(direct, through_bacalao, n=SHELL_N)
    joined = executor.profile().pids_cgroups is not None
    latency_line("bwrap run directly" + (", in a pids cgroup" if joined else ""), base)
    latency_line("bacalao submit -> completed", ours)
    overhead = (median(ours) - median(base)) * 1e3
    record("shell overhead", f"overhead at p50 {overhead:.1f} ms", "<= 15 ms", overhead <= 15)


# -- docker: job vs raw Engine API ----------------------------------------------------------------


def bench_docker(server: Server) -> None:
    print(f"docker: trivial job ({DOCKER_N} samples each, alternated)", flush=True)
    try:
        import docker

        engine = docker.from_env()
        engine.ping()
    except Exception as exc:
        print(f"  skipped: docker engine not reachable ({exc})\n")
        return
    sys.path.insert(0, str(ROOT))
    from tests.support.images import ensure_busybox_image

    from bacalao.client import Client
    from bacalao.compute.node import DEFAULT_CPU, DEFAULT_MEMORY
    from bacalao.executors.base import ExecutionRequest
    from bacalao.executors.docker import DockerExecutor, container_config

    image = ensure_busybox_image(engine)
    outputs = server.dir / "docker-baseline" / "outputs"
    outputs.mkdir(parents=True)
    params = {"Image": image, "Parameters": ["true"]}
    counter = iter(range(1 << 30))
    api = engine.api

    def raw_engine_api(limited: bool) -> float:
        # The same container as the job's: a task that asks for no resources gets the node's
        # defaults (Bacalhau's 100m CPU, 100 MiB), enforced as a CFS quota and a memory limit.
        req = ExecutionRequest(
            execution_id=f"bench-raw-{os.getpid()}-{next(counter)}", job_id="bench",
            engine_type="docker", engine_params=params, mounts=(), outputs_dir=outputs, env={},
            cpu=DEFAULT_CPU if limited else None,
            memory_bytes=DEFAULT_MEMORY if limited else None, disk_bytes=None,
        )  # fmt: skip
        config = container_config(
            req, DockerExecutor().validate(params), node_uid=os.geteuid(),
            node_gid=os.getegid(), pids_limit=1024, tmp_bytes=64 << 20,
        )  # fmt: skip
        t = time.perf_counter()
        config["host_config"] = api.create_host_config(**config["host_config"])
        cid = api.create_container(**config)["Id"]
        api.start(cid)
        status = api.wait(cid)
        api.remove_container(cid, force=True, v=True)
        elapsed = time.perf_counter() - t
        assert status["StatusCode"] == 0, status
        return elapsed

    job = {"Type": "batch", "Tasks": [{"Name": "main", "Engine": {"Type": "docker",
           "Params": params}, "Publisher": {"Type": "ipfs"}}]}  # fmt: skip
    with Client(server.api) as client:

        def through_bacalao() -> float:
            t = time.perf_counter()
            final = client.wait_for(client.submit(job).job_id, timeout=60)
            elapsed = time.perf_counter() - t
            assert final.state == "Completed", final.raw_job
            return elapsed

        base, ours, bare = alternate(
            lambda: raw_engine_api(True),
            through_bacalao,
            lambda: raw_engine_api(False),
            n=DOCKER_N,
        )
    engine.close()
    latency_line("Engine API create/start/wait/rm", base)
    latency_line("bacalao submit -> completed", ours)
    latency_line("(Engine API, no CPU/memory limits)", bare)
    ratio = median(ours) / median(base)
    record("docker ratio", f"ratio of p50s {ratio:.2f}x", "<= 1.3x", ratio <= 1.3)


# -- throughput: noop jobs end to end, submissions accepted ---------------------------------------

NOOP_JOB = {"Type": "batch", "Labels": {"bench": "noop"}, "Tasks": [{"Name": "t",
            "Engine": {"Type": "noop"}, "Publisher": {"Type": "noop"}}]}  # fmt: skip


async def _pool(n: int, work: Callable[[int], Any]) -> float:
    """Run ``work(i)`` for i < n on CONCURRENCY workers; seconds taken."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await work(i)

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - t


async def _noop_end_to_end(api: str, n: int) -> tuple[float, float]:
    from bacalao.client import AsyncClient

    ids: list[str] = [""] * n
    async with AsyncClient(api, timeout=120) as client:

        async def submit(i: int) -> None:
            ids[i] = (await client.submit(NOOP_JOB)).job_id

        async def wait(i: int) -> None:
            final = await client.wait_for(ids[i], timeout=300)
            assert final.state == "Completed", final.raw_job

        t = time.perf_counter()
        submitted = await _pool(n, submit)
        await _pool(n, wait)
        return time.perf_counter() - t, submitted


async def _noop_batched(api: str, n: int, batch: int) -> tuple[float, float]:
    """Dask's ``client.map`` + ``gather``: submit in batches, then one wait for them all."""
    from bacalao.client import AsyncClient

    async with AsyncClient(api, timeout=120) as client:
        t = time.perf_counter()
        ids: list[str] = []
        for i in range(0, n, batch):
            ids += [r.job_id for r in await client.submit_many([NOOP_JOB] * min(batch, n - i))]
        submitted = time.perf_counter() - t
        states = await client.wait_all(ids, timeout=300)
        assert set(states.values()) == {"Completed"}, set(states.values())
        return time.perf_counter() - t, submitted


async def _alive_rate(api: str, n: int) -> float:
    from bacalao.client import AsyncClient

    async with AsyncClient(api) as client:

        async def ping(i: int) -> None:
            await client.alive()

        return n / await _pool(n, ping)


async def _submit_rate(api: str, n: int) -> float:
    from bacalao.client import AsyncClient

    async with AsyncClient(api, timeout=120) as client:

        async def submit(i: int) -> None:
            await client.submit(NOOP_JOB)

        return n / await _pool(n, submit)


async def _batch_submit_rate(api: str, n: int, batch: int) -> float:
    from bacalao.client import AsyncClient

    async with AsyncClient(api, timeout=120) as client:
        t = time.perf_counter()
        for i in range(0, n, batch):
            await client.submit_many([NOOP_JOB] * min(batch, n - i))
        return n / (time.perf_counter() - t)


def _settle(api: str, timeout: float = 120) -> None:
    """Wait until the server has finished the jobs a previous phase left running."""
    from bacalao.client import Client

    deadline = time.monotonic() + timeout
    with Client(api) as client:
        while time.monotonic() < deadline:
            states = {
                (j.get("State") or {}).get("StateType") for j in client.list_jobs(limit=50).raw
            }
            if states <= {"Completed", "Failed", "Stopped"}:
                return
            time.sleep(0.2)


def _one(x: int) -> int:
    return x + 1


class DaskBaseline:
    """Dask's ``client.map`` + ``gather`` of trivial tasks on a default ``LocalCluster`` (worker
    processes), started for each round and closed after it so that it takes no CPU during ours;
    nothing where ``distributed`` is not installed."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        if not knob("BENCH_DASK", 1):
            self.ready = False
            print("  Dask baseline skipped: BENCH_DASK=0")
            return
        try:
            import distributed  # noqa: F401
        except ImportError:
            self.ready = False
            print("  Dask baseline skipped: no `distributed` (pip install '.[bench]')")
            return
        import logging

        logging.getLogger("distributed").setLevel(logging.ERROR)
        self.ready = True

    def round(self, n: int) -> None:
        if not self.ready:
            return
        from distributed import Client, LocalCluster

        with LocalCluster(dashboard_address=None) as cluster, Client(cluster) as client:
            client.gather(client.map(_one, range(100), pure=False))  # warm-up
            t = time.perf_counter()
            client.gather(client.map(_one, range(n), pure=False))
            self.rates.append(n / (time.perf_counter() - t))
        print(f"    Dask client.map + gather of {n} tasks: {self.rates[-1]:.0f} tasks/s")


def bench_noop(server: Server) -> None:
    print(f"noop: {NOOP_JOBS} jobs end to end, {NOOP_ROUNDS} rounds", flush=True)
    asyncio.run(_noop_batched(server.api, min(NOOP_JOBS, 100), BATCH))  # warm-up
    dask = DaskBaseline()
    print(f"  as Dask's client.map + gather (submit_many, {BATCH} a request, then wait_all):")
    rates = []
    for _ in range(NOOP_ROUNDS):
        dask.round(NOOP_JOBS)
        cpu, mine = server.cpu_s(), own_cpu_s()
        elapsed, submitted = asyncio.run(_noop_batched(server.api, NOOP_JOBS, BATCH))
        rates.append(NOOP_JOBS / elapsed)
        print(
            f"    submitted in {submitted:.2f}s, all completed in {elapsed:.2f}s"
            f" => {rates[-1]:.0f} jobs/s",
            end="; ",
        )
        cpu_note(server, cpu, NOOP_JOBS, own_cpu_s() - mine)
    rate = median(rates)
    _settle(server.api)
    one_by_one = min(NOOP_JOBS, 500)
    elapsed1, _ = asyncio.run(_noop_end_to_end(server.api, one_by_one))
    print(
        f"  one PUT /jobs and one wait per job, {CONCURRENCY} at a time (Bacalhau's way):"
        f" {one_by_one / elapsed1:.0f} jobs/s"
    )
    text = f"{rate:.0f} jobs/s end to end (batched, median of {NOOP_ROUNDS})"
    record("noop jobs/s", text, ">= 600", rate >= 600)
    if dask.rates:  # what the 600 stood for, measured now
        base = median(dask.rates)
        text = f"{rate / base:.2f}x Dask's {base:.0f} tasks/s (medians, same run)"
        record("noop vs Dask", text, ">= 1.0x", rate >= base)


def bench_submit(server: Server) -> None:
    print(f"submit: {SUBMIT_JOBS} submissions (alternated with GET alive)")
    _settle(server.api)
    alive, rates, batched = [], [], []
    rounds = 3
    cpu_server, cpu_client = 0.0, 0.0
    for _ in range(rounds):
        alive.append(asyncio.run(_alive_rate(server.api, SUBMIT_JOBS)))
        cpu, mine = server.cpu_s(), own_cpu_s()
        batched.append(asyncio.run(_batch_submit_rate(server.api, SUBMIT_JOBS // rounds, BATCH)))
        cpu_client += own_cpu_s() - mine
        if cpu is not None:
            cpu_server += (server.cpu_s() or 0.0) - cpu  # the submit alone, before evaluations
        _settle(server.api)
        rates.append(asyncio.run(_submit_rate(server.api, SUBMIT_JOBS // rounds)))
        _settle(server.api)
    lines = [
        (f"GET /agent/alive (HTTP ceiling, {CONCURRENCY} at a time)", median(alive), "req/s"),
        (
            f"PUT /orchestrator/jobs, one a request, {CONCURRENCY} at a time",
            median(rates),
            "jobs/s",
        ),
        (f"PUT /orchestrator/jobs/batch, {BATCH} jobs a request", median(batched), "jobs/s"),
    ]
    for label, value, unit in lines:
        print(f"  {label:55} {value:8.0f} {unit}")
    n = SUBMIT_JOBS // rounds * rounds
    print(
        f"  CPU per batched submission: server {cpu_server / n * 1e3:.2f} ms,"
        f" client {cpu_client / n * 1e3:.2f} ms"
    )
    rate = median(batched)
    record("submissions/s", f"{rate:.0f} accepted/s (batched)", ">= 1000", rate >= 1000)


# -- cold start -----------------------------------------------------------------------------------


def bench_coldstart(server: Server) -> None:
    print(f"coldstart: `bacalao job list` in a fresh process ({COLD_N} samples each)", flush=True)
    # As installed: bytecode cached (pip compiles at install; a PYTHONDONTWRITEBYTECODE in this
    # environment would recompile bacalao's modules from source on every run).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["BACALAO_API"] = server.api
    cpu: dict[str, list[float]] = {"base": [], "ours": []}

    def timed(argv: list[str], key: str) -> Callable[[], float]:
        def run() -> float:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elapsed = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            cpu[key].append(used)
            return elapsed

        return run

    base, ours = alternate(
        timed([sys.executable, "-c", "pass"], "base"),
        timed([BACALAO, "job", "list"], "ours"),
        n=COLD_N,
    )
    latency_line("python -c pass", base)
    latency_line("bacalao job list", ours)
    print(f"  CPU of bacalao job list: median {median(cpu['ours'][WARMUP:]) * 1e3:.0f} ms")
    ms = median(ours) * 1e3
    record("job list cold start", f"median {ms:.0f} ms", "<= 150 ms", ms <= 150)


BENCHES = {
    "shell": bench_shell,
    "docker": bench_docker,
    "noop": bench_noop,
    "submit": bench_submit,
    "coldstart": bench_coldstart,
}


def main() -> int:
    server = Server()
    try:
        server.wait_ready()
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"bacalao serve at {server.api}; {os.cpu_count()} CPUs; load {load}\n", flush=True)
        for name, bench in BENCHES.items():
            if not ONLY or name in ONLY:
                bench(server)
    finally:
        server.stop()
    print(f"summary (load average now {os.getloadavg()[0]:.2f}):")
    for f in FIGURES:
        print(f"  {f.name:<22} {f.text:<32} target {f.target:<10} {'MET' if f.met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
