"""Benchmark: UnixFS import of one big file, as ratios to hashlib.sha256 over the same bytes.

    .venv/bin/python bench/import.py                 # 1 GiB
    .venv/bin/python bench/import.py --size 256M --repeat 5 --add-repeat 3

For every profile it times ``import_path`` with --only-hash on one worker and on two (chunks hashed
on a thread pool), and a full add into ``FsBlockStore`` (each block written atomically; one run
with fsync, as the store defaults to, and one without). Each time is divided by the baseline
measured in the same run:

* ``read+sha256``: the file read in 1 MiB ``readinto`` calls and fed to one ``hashlib.sha256``
  (what ``sha256sum`` does; the importer has to read the file too). The targets apply to it.
* ``sha256 only``: one ``hashlib.sha256`` call over the file already memory-mapped (no read
  copy); shown for reference.

A full add has a floor the importer cannot go under: the disk must take the file's bytes. Each
add row is therefore also divided by ``copy+fsync``, a plain copy of the file into the store's
directory in 1 MiB writes and one fsync at the end (``dd bs=1M conv=fsync``), timed just before
it (column ``x copy``). On a disk that writes slower than half of hashlib's speed (~0.55 GB/s
here) that copy alone takes more than the add target's 2.0 times hashlib's time.

The generated file (ChaCha20 keystream, cached under --dir) is read once first so that every
measurement runs from the page cache. Hashing rows keep the best of --repeat runs (3), adds the
best of --add-repeat (1): a single sample of a hashing run moves by ±10% on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bacalao.ipld.importer import import_path
from bacalao.ipld.profiles import PROFILES

TARGETS = {
    "blocks->null w=1": 2.0,
    "only-hash w=1": 1.2,
    "only-hash w=2": 0.7,
    "add w=1": 2.0,
    "add w=2": 2.0,
    "add w=2 no-fsync": 2.0,
}


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().rstrip("IB")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def make_file(path: Path, size: int) -> Path:
    """A ``size``-byte file of ChaCha20 keystream (cached while its size matches)."""
    if path.exists() and path.stat().st_size == size:
        return path
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

        enc = Cipher(algorithms.ChaCha20(b"\1" * 32, b"\0" * 16), None).encryptor()
        piece: Callable[[int], bytes] = lambda n: enc.update(bytes(n))  # noqa: E731
    except ImportError:  # pragma: no cover - cryptography is a test dependency
        piece = os.urandom
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(piece(n))
            left -= n
    return path


class NullSink:
    """Takes every block and drops it: the importer's own cost of producing blocks."""

    def put(self, cid: object, data: bytes) -> None:
        pass


def sha256_read(path: Path) -> None:
    """The baseline: read in 1 MiB ``readinto`` calls, one sha256 over everything."""
    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    h.digest()


def sha256_mapped(path: Path) -> None:
    """Pure hashing: one sha256 call over the memory-mapped file."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        hashlib.sha256(m).digest()


def copy_fsync(path: Path, dest: Path) -> None:
    """The disk's floor for an add: copy ``path`` to ``dest`` in 1 MiB writes, fsync, remove."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as src, open(dest, "wb", buffering=0) as out:
        while n := src.readinto(buf):
            out.write(view[:n])
        os.fsync(out.fileno())
    dest.unlink()


def paired(
    fn: Callable[[], object],
    baseline: Callable[[], object],
    repeat: int,
    setup: Callable[[], object] | None = None,
) -> tuple[float, float]:
    """Best time of ``fn`` and of ``baseline``, run alternately so that both see the same load."""
    runs: list[float] = []
    bases: list[float] = []
    for _ in range(repeat):
        t = time.perf_counter()
        baseline()
        bases.append(time.perf_counter() - t)
        if setup is not None:
            setup()
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return min(runs), min(bases)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", default="1G", help="file size, e.g. 1G, 256M (default 1G)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per hashing row (best is kept)")
    ap.add_argument("--add-repeat", type=int, default=1, help="runs per add row (best is kept)")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "bacalao-bench"))
    ap.add_argument("--profiles", nargs="*", default=list(PROFILES), choices=list(PROFILES))
    ap.add_argument("--no-add", action="store_true", help="skip the full adds into a store")
    ap.add_argument("--store-dir", help="where the store goes (default: under --dir)")
    args = ap.parse_args(argv)

    size = parse_size(args.size)
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    path = make_file(work / f"input-{size}.bin", size)
    sha256_read(path)  # warm the page cache

    try:
        from bacalao.blockstore.fs import FsBlockStore
    except ImportError:  # pragma: no cover - the store is part of the project
        FsBlockStore = None  # noqa: N806

    store_root = Path(args.store_dir) if args.store_dir else work / "store"

    def clear_store() -> None:
        shutil.rmtree(store_root, ignore_errors=True)

    def add(profile_name: str, workers: int, sync: bool) -> None:
        store = FsBlockStore(store_root, sync=sync)
        with store.batch() as batch:
            import_path(path, PROFILES[profile_name], batch, workers=workers)

    base_read = paired(lambda: None, lambda: sha256_read(path), max(3, args.repeat))[1]
    base_map = paired(lambda: None, lambda: sha256_mapped(path), max(3, args.repeat))[1]
    print(f"input {size} bytes at {path}; CPUs available: {len(os.sched_getaffinity(0))}")
    print(f"baseline read+sha256 {base_read:.3f}s ({size / base_read / 1e9:.2f} GB/s)")
    print(f"baseline sha256 only {base_map:.3f}s ({size / base_map / 1e9:.2f} GB/s)")
    print("each ratio divides by the baseline runs interleaved with that row's runs")
    print(
        f"{'profile':16} {'mode':17} {'seconds':>8} {'x read+sha':>10} {'x sha only':>10}"
        f" {'x copy':>7} target"
    )
    failed = 0
    for name in args.profiles:
        profile = PROFILES[name]
        rows = [
            ("only-hash w=1", lambda p=profile: import_path(path, p), None),
            ("only-hash w=2", lambda p=profile: import_path(path, p, workers=2), None),
        ]
        rows.append(("blocks->null w=1", lambda p=profile: import_path(path, p, NullSink()), None))
        if not args.no_add and FsBlockStore is not None:
            rows.append(("add w=1", lambda n=name: add(n, 1, True), clear_store))
            rows.append(("add w=2", lambda n=name: add(n, 2, True), clear_store))
            rows.append(("add w=2 no-fsync", lambda n=name: add(n, 2, False), clear_store))
        for mode, fn, setup in rows:
            is_add = mode.startswith("add")
            repeat = args.add_repeat if is_add else args.repeat
            copy = "-"
            if is_add:  # the disk's floor, timed right before each run of the add
                floors: list[float] = []

                def floor_then_setup(
                    setup: Callable[[], object] | None = setup, floors: list[float] = floors
                ) -> None:
                    t = time.perf_counter()
                    copy_fsync(path, store_root.with_name(store_root.name + "-copy") / "file")
                    floors.append(time.perf_counter() - t)
                    if setup is not None:
                        setup()

                secs, base = paired(fn, lambda: sha256_read(path), repeat, floor_then_setup)
                copy = f"{secs / min(floors):.2f}"
            else:
                secs, base = paired(fn, lambda: sha256_read(path), repeat, setup)
            ratio = secs / base
            ratio_map = ratio * base_read / base_map  # as if against the pure-hash baseline
            ok = ratio <= TARGETS[mode]
            failed += not ok
            print(
                f"{name:16} {mode:17} {secs:8.3f} {ratio:10.2f} {ratio_map:10.2f} {copy:>7} "
                f"<= {TARGETS[mode]} {'ok' if ok else 'MISSED'}",
                flush=True,
            )
        clear_store()
    if FsBlockStore is None:
        print("(no bacalao.blockstore.fs.FsBlockStore: full adds skipped)")
    else:
        car_figures(path, size, work)
    return 1 if failed else 0


_CHILD = """
import json, re, sys, time
from pathlib import Path
from bacalao.blockstore.repo import Repo
from bacalao.ipld.cid import CID
mode, store, arg = sys.argv[1:4]
repo = Repo.open(store)
t = time.perf_counter()
if mode == "export":
    with open(arg, "wb") as out:
        n = repo.export_car(CID.decode(sys.argv[4]), out)
else:
    with open(arg, "rb") as f:
        repo.import_car(f)
    n = Path(arg).stat().st_size
secs = time.perf_counter() - t
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())
print(json.dumps({"seconds": secs, "bytes": n, "maxrss": int(hwm.group(1)) * 1024}))
"""
# VmHWM is this process's own high-water mark (ru_maxrss would carry the parent's over exec).
_IDLE = (
    "import re, pathlib; print(int(re.search(r'VmHWM:\\s+(\\d+) kB',"
    " pathlib.Path('/proc/self/status').read_text()).group(1)) * 1024)"
)


def car_figures(path: Path, size: int, work: Path) -> None:
    """CAR export and import throughput, and each one's peak memory (its own process)."""
    import json
    import subprocess

    from bacalao.blockstore.repo import Repo

    src, dst, car = work / "car-src", work / "car-dst", work / "export.car"
    for d in (src, dst):
        shutil.rmtree(d, ignore_errors=True)
    root = Repo.open(src).add_path(path, PROFILES["kubo-v0"]).cid
    idle = subprocess.run([sys.executable, "-c", _IDLE], capture_output=True, text=True, check=True)
    baseline_rss = int(idle.stdout)

    def child(*args: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, check=True
        )
        return json.loads(proc.stdout)

    exp = child("export", str(src), str(car), str(root))
    imp = child("import", str(dst), str(car))
    print(f"CAR of the {size / 2**20:.0f} MiB file (kubo-v0), each step in its own process:")
    for name, fig in (("export (store -> CAR file)", exp), ("import (CAR file -> store)", imp)):
        extra = (fig["maxrss"] - baseline_rss) / 2**20
        print(
            f"  {name:28} {fig['bytes'] / fig['seconds'] / 1e6:7.0f} MB/s   "
            f"peak RSS {fig['maxrss'] / 2**20:6.1f} MiB ({extra:+.1f} MiB over a bare interpreter)"
        )
    for d in (src, dst):
        shutil.rmtree(d, ignore_errors=True)
    car.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
