#!/usr/bin/env python3
"""``make demo``: a guided tour of bacalao, run through the real CLI.

Part 1, the content store (offline): a small weather-sensor dataset is added to a local store,
listed, read back, exported as a CAR and imported into a second store with the same root CID.

Part 2, jobs: an embedded two-node cluster (``bacalao devstack``: no Docker, no NATS) gets half of
the dataset on each node; one directory CID links both halves; a shell one-liner (the Lisbon
``sed`` filter) runs sharded, each shard on the node that holds its files; the result CID is
downloaded, checked block by block, and printed. Each command is printed before it runs, so the
output reads as a tour you can repeat by hand.

Usage: ``python scripts/demo.py [--keep DIR]`` (by default everything lives in a temp dir that is
removed at the end; ``--keep`` puts it in DIR and leaves it there).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

STATIONS = {
    "lisbon": (38.731234, -9.142156),
    "porto": (41.1579, -8.6291),
    "faro": (37.0194, -7.9304),
    "braga": (41.5454, -8.4265),
}
HOURS = 72
SEED = 2024


def bacalao_argv() -> list[str]:
    """How to run the installed console script (next to this Python, as in .venv/bin)."""
    script = Path(sys.executable).with_name("bacalao")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from bacalao.cli.main import run; run()"]


def make_dataset(root: Path) -> Path:
    """Hourly readings (datetime, lat, lon, temperature, pressure, rainfall) for a few stations."""
    rng = random.Random(SEED)
    data = root / "weather"
    (data / "sensors").mkdir(parents=True)
    start = datetime(2024, 6, 1)
    for name, (lat, lon) in STATIONS.items():
        rows = ["datetime,lat,lon,temperature_c,pressure_hpa,rainfall_mm"]
        base = rng.uniform(14, 22)
        for h in range(HOURS):
            t = start + timedelta(hours=h)
            temp = base + 6 * math.sin((h % 24 - 9) / 24 * 2 * math.pi) + rng.gauss(0, 0.6)
            pressure = 1013 + 8 * math.sin(h / 30) + rng.gauss(0, 0.8)
            rain = max(0.0, rng.gauss(-1.5, 1.5))
            rows.append(f"{t.isoformat()},{lat:.6f},{lon:.6f},{temp:.1f},{pressure:.1f},{rain:.1f}")
        (data / "sensors" / f"{name}.csv").write_text("\n".join(rows) + "\n")
    (data / "README.txt").write_text(
        f"Hourly readings from {len(STATIONS)} weather stations, {HOURS} hours from"
        f" {start.date()}.\nColumns: datetime, lat, lon, temperature_c, pressure_hpa,"
        " rainfall_mm.\n"
    )
    return data


class Tour:
    """Runs CLI commands in ``cwd``, printing each one as the user would type it."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.argv0 = bacalao_argv()
        self.step = 0
        self.stderr = ""

    def say(self, text: str) -> None:
        self.step += 1
        print(f"\n── {self.step}. {text}", flush=True)

    def run(
        self, *args: str, show_output: bool = True, max_lines: int = 12, show_stderr: bool = False
    ) -> str:
        print(f"$ bacalao {shlex.join(args)}", flush=True)
        proc = subprocess.run(
            [*self.argv0, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"demo failed: `bacalao {shlex.join(args)}` exited {proc.returncode}")
        self.stderr = proc.stderr
        if show_stderr:
            for line in proc.stderr.splitlines()[-max_lines:]:
                print(f"  {line}")
        if show_output:
            lines = proc.stdout.splitlines()
            for line in lines[:max_lines]:
                print(f"  {line}")
            if len(lines) > max_lines:
                print(f"  … ({len(lines) - max_lines} more lines)")
        return proc.stdout


def store_tour(t: Tour, work: Path, data: Path) -> None:
    """Part 1: the content store, offline."""
    t.say("Add the dataset to the local store; stdout is just the root CID")
    cid = t.run("data", "add", "weather").strip()
    print(f"  → dataset CID: {cid}")

    t.say("The same bytes always give the same CID (--only-hash stores nothing)")
    again = t.run("data", "add", "--only-hash", "weather").strip()
    assert again == cid, (again, cid)

    t.say("List it and read one file back")
    t.run("data", "ls", f"{cid}/sensors")
    t.run("data", "cat", f"{cid}/sensors/lisbon.csv", max_lines=4)

    t.say("Export the DAG as a CAR, import it into a fresh store: same root, every block checked")
    t.run("data", "export", cid, "-o", "weather.car")
    fresh = work / "fresh-store"
    root = t.run("data", "--data-dir", str(fresh), "import", "weather.car").strip()
    assert root == cid, (root, cid)
    print(f"  → same root: {root == cid}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_devstack(work: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    argv = [
        *bacalao_argv(), "devstack", "--nodes", "2", "--port", str(port),
        "--data-dir", str(work / "cluster"), "--engine", "shell",
    ]  # fmt: skip
    print(f"$ {shlex.join(['bacalao', *argv[len(bacalao_argv()):]])} &", flush=True)
    log = (work / "devstack.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"devstack exited:\n{(work / 'devstack.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("devstack did not start within 60 s")


def job_tour(t: Tour, work: Path, data: Path) -> None:
    """Part 2: a sharded job on a two-node cluster, the data staying where it is."""
    if shutil.which("bwrap") is None:
        raise SystemExit("the job demo needs bubblewrap: apt-get install bubblewrap")
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    t.env["BACALAO_API"] = api
    t.say("Start an embedded cluster: an orchestrator and two compute nodes, each with its store")
    print(f"$ export BACALAO_API={api}")
    proc = start_devstack(work, t.env, port)
    try:
        nodes = json.loads(t.run("node", "list", "--output", "json", show_output=False))
        ids = [n.get("NodeID") or n.get("Info", {}).get("NodeID") or n.get("ID") for n in nodes]
        t.run("node", "list")

        t.say("Put half of the sensors on each node (each half verified as it arrives)")
        halves = {}
        for i, names in enumerate((["lisbon", "porto"], ["faro", "braga"])):
            part = work / f"half-{i}"
            (part / "sensors").mkdir(parents=True)
            for name in names:
                src = data / "sensors" / f"{name}.csv"
                (part / "sensors" / f"{name}.log").write_bytes(src.read_bytes())
            halves[i] = t.run("data", "add", str(part), "--node", ids[i][:10]).strip()

        t.say("One dataset CID linking both halves: nothing is copied")
        dataset = t.run(
            "data", "aggregate", halves[0], halves[1], "--name", "north", "--name", "south"
        ).strip()
        print(f"  → dataset CID: {dataset}")
        t.run("data", "where", dataset)

        t.say("Run the Lisbon filter over every log, one shard per file, where the data is")
        lisbon = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"
        out = t.run(
            "job", "submit", "-e", lisbon, "-c", dataset,
            "--shard-glob", "**/*.log", "--shard-batch", "1", show_stderr=True,
        )  # fmt: skip
        job_id = next(w for w in (t.stderr + out).split() if w.startswith("j-"))
        t.run("job", "describe", job_id, max_lines=22)

        t.say("Download the result; every block is checked against its CID")
        t.run("get", job_id, "-o", "result")
        for p in sorted((work / "result").rglob("*")):
            if p.is_file() and p.stat().st_size:
                print(f"  {p.relative_to(work)}:")
                for line in p.read_text().splitlines()[:5]:
                    print(f"    {line}")
    finally:
        proc.terminate()
        proc.wait(20)


def tour(work: Path) -> None:
    """The demo itself, in ``work``."""
    store = work / "store"
    env = {**os.environ, "BACALAO_DATA_DIR": str(store)}
    t = Tour(work, env)
    print(f"bacalao demo: working in {work}")
    print(f"$ export BACALAO_DATA_DIR={store}")

    t.say("A small dataset: weather-sensor logs")
    data = make_dataset(work)
    for p in sorted(data.rglob("*")):
        if p.is_file():
            print(f"  {p.relative_to(work)}  ({p.stat().st_size} bytes)")
    store_tour(t, work, data)
    job_tour(t, work, data)
    print("\nDone. Every command above works the same by hand.")


def main() -> None:
    """Parse ``--keep`` and run the tour in a temp dir or in DIR."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it afterwards")
    args = parser.parse_args()
    if args.keep:
        work = args.keep.resolve()
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        tour(work)
        print(f"The demo's files are in {work}")
        return
    with tempfile.TemporaryDirectory(prefix="bacalao-demo-") as tmp:
        tour(Path(tmp))


if __name__ == "__main__":
    main()
