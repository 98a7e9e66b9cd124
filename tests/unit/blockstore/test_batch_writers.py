"""The batch's background writers: every block lands, and a failed write is not swallowed."""

from __future__ import annotations

import pytest

from bacalao.blockstore.fs import BlockBatch, FsBlockStore
from bacalao.ipld.cid import CID, RAW


def blocks(n: int) -> list[tuple[CID, bytes]]:
    out = []
    for i in range(n):
        data = f"block {i}".encode() * 100
        out.append((CID.hash(data, codec=RAW), data))
    return out


@pytest.mark.parametrize("writers", [0, 1, 2])
def test_every_block_is_written_and_readable(tmp_path, writers) -> None:
    store = FsBlockStore(tmp_path / "b")
    items = blocks(200)  # more than MAX_IN_FLIGHT, and past SMALL_BATCH: syncfs at close
    with BlockBatch(store, writers=writers) as batch:
        for cid, data in items:
            batch.put(cid, data)
    assert all(store.get(cid) == data for cid, data in items)


def test_a_failed_write_fails_the_batch(tmp_path, monkeypatch) -> None:
    store = FsBlockStore(tmp_path / "b")
    items = blocks(10)
    bad = store.path_for(items[3][0])
    real = store.write_file

    def flaky(path, data, **kw):
        if path == bad:
            raise OSError(28, "No space left on device")
        return real(path, data, **kw)

    monkeypatch.setattr(store, "write_file", flaky)
    with pytest.raises(OSError, match="No space left"), BlockBatch(store) as batch:
        for cid, data in items:
            batch.put(cid, data)
    assert not store.has(items[3][0])


def test_an_error_in_the_caller_wins_and_writers_stop(tmp_path) -> None:
    store = FsBlockStore(tmp_path / "b")
    with pytest.raises(RuntimeError, match="importer broke"), BlockBatch(store) as batch:
        for cid, data in blocks(5):
            batch.put(cid, data)
        raise RuntimeError("importer broke")
