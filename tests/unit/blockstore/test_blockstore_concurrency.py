"""Concurrent writers — threads and separate processes — never tear or lose a block."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from bacalao.blockstore import FsBlockStore, Repo
from bacalao.ipld.cid import CID, RAW

SRC = Path(__file__).resolve().parents[3] / "src"


def _blocks(n: int, size: int, salt: bytes = b"") -> list[tuple[CID, bytes]]:
    out = []
    for i in range(n):
        data = (salt + i.to_bytes(4, "big")) * (size // 4)
        out.append((CID.hash(data, codec=RAW), data))
    return out


def test_threads_writing_the_same_and_different_blocks(tmp_path: Path) -> None:
    store = FsBlockStore(tmp_path)
    shared = _blocks(40, 8192)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def writer(k: int) -> None:
        try:
            barrier.wait()
            own = _blocks(10, 4096, salt=bytes([k]))
            for cid, data in shared + own:
                store.put(cid, data)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for cid, data in shared:
        assert store.get(cid) == data
    assert len(list(store.iter_cids())) == 40 + 8 * 10
    assert list(store.iter_tmp_files()) == []


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from bacalao.blockstore import FsBlockStore
    from bacalao.ipld.cid import CID, RAW
    store = FsBlockStore(sys.argv[2])
    salt = sys.argv[3].encode()
    for rnd in range(3):
        for i in range(150):
            shared = i.to_bytes(4, "big") * 2048
            store.put(CID.hash(shared, codec=RAW), shared)
            own = (salt + i.to_bytes(4, "big")) * 512
            store.put(CID.hash(own, codec=RAW), own)
    print("ok")
    """
)


def test_two_processes_writing_concurrently(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(SRC), str(tmp_path), salt],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for salt in ("A", "B")
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        assert out.strip() == b"ok"
    store = FsBlockStore(tmp_path)
    cids = list(store.iter_cids())
    assert len(cids) == 150 + 2 * 150
    for cid in cids:
        store.get(cid)  # every block verifies: nothing torn
    assert list(store.iter_tmp_files()) == []


PINNER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from bacalao.blockstore import Repo
    from bacalao.ipld.cid import CID, RAW
    repo = Repo.open(sys.argv[2])
    for i in range(40):
        data = (sys.argv[3] + str(i)).encode()
        cid = CID.hash(data, codec=RAW)
        repo.blocks.put(cid, data)
        repo.pin(cid)
    """
)


def test_two_processes_pinning_lose_no_pin(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", PINNER, str(SRC), str(tmp_path), salt])
        for salt in ("p", "q")
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert len(Repo.open(tmp_path).pins()) == 80


def test_gc_waits_for_a_writer_holding_the_lock(tmp_path: Path) -> None:
    """A writer's blocks cannot be swept between their put and their pin."""
    repo = Repo.open(tmp_path)
    data = b"in flight"
    cid = CID.hash(data, codec=RAW)
    started = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with repo.lock.shared():
            repo.blocks.put(cid, data)
            started.set()
            release.wait(10)
            repo.pin_store.add(cid)

    t = threading.Thread(target=writer)
    t.start()
    started.wait(10)
    result: list[int] = []
    g = threading.Thread(target=lambda: result.append(repo.gc().count))
    g.start()
    g.join(0.3)
    assert g.is_alive()  # gc is waiting for the writer
    release.set()
    t.join()
    g.join(10)
    assert result == [0]
    assert repo.blocks.get(cid) == data
