#!/usr/bin/env python3
"""``make demo``: a guided tour of bacalao's content store, run through the real CLI.

It writes a small weather-sensor dataset, adds it to a fresh local store, lists and reads it back,
exports it as a CAR, imports the CAR into a second store and shows that the root CID is the same.
Each command is printed before it runs, so the output reads as a tour you can repeat by hand.

Usage: ``python scripts/demo.py [--keep DIR]`` (by default everything lives in a temp dir that is
removed at the end; ``--keep`` puts it in DIR and leaves it there).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

STATIONS = {
    "lisbon": (38.7223, -9.1393),
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
            rows.append(f"{t.isoformat()},{lat:.4f},{lon:.4f},{temp:.1f},{pressure:.1f},{rain:.1f}")
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

    def say(self, text: str) -> None:
        self.step += 1
        print(f"\n── {self.step}. {text}", flush=True)

    def run(self, *args: str, show_output: bool = True, max_lines: int = 12) -> str:
        print(f"$ bacalao {shlex.join(args)}", flush=True)
        proc = subprocess.run(
            [*self.argv0, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"demo failed: `bacalao {shlex.join(args)}` exited {proc.returncode}")
        if show_output:
            lines = proc.stdout.splitlines()
            for line in lines[:max_lines]:
                print(f"  {line}")
            if len(lines) > max_lines:
                print(f"  … ({len(lines) - max_lines} more lines)")
        return proc.stdout


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

    t.say("Add it to the local store; stdout is just the root CID, so $(…) captures it")
    cid = t.run("data", "add", "weather").strip()
    print(f"  → dataset CID: {cid}")

    t.say("The same bytes always give the same CID (--only-hash stores nothing)")
    again = t.run("data", "add", "--only-hash", "weather").strip()
    assert again == cid, (again, cid)

    t.say("List it")
    t.run("data", "ls", cid)
    t.run("data", "ls", f"{cid}/sensors")

    t.say("Read one file back")
    t.run("data", "cat", f"{cid}/sensors/lisbon.csv", max_lines=5)

    t.say("Machine-readable listings")
    t.run("data", "ls", f"{cid}/sensors", "--output", "json", max_lines=8)

    t.say("Export the DAG as a CAR file (the format `ipfs dag import` reads)")
    t.run("data", "export", cid, "-o", "weather.car")
    print(f"  weather.car: {(work / 'weather.car').stat().st_size} bytes")

    t.say("Import the CAR into a fresh store: same root, verified block by block")
    fresh = work / "fresh-store"
    root = t.run("data", "--data-dir", str(fresh), "import", "weather.car").strip()
    assert root == cid, (root, cid)
    print(f"  → same root: {root == cid}")

    t.say("Get the tree back out of the fresh store")
    t.run("data", "--data-dir", str(fresh), "get", cid, "-o", "restored")
    same = all(
        (work / "restored" / p.relative_to(data)).read_bytes() == p.read_bytes()
        for p in data.rglob("*")
        if p.is_file()
    )
    print(f"  → restored/ matches weather/: {same}")
    assert same

    t.say("Pins and garbage collection")
    t.run("data", "pins")
    t.run("data", "gc")

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
