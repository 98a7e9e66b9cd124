"""The BlockStore contract, for the filesystem store and the memory store alike."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bs_helpers import raw_block

from bacalao.blockstore import BlockStore, FsBlockStore, MemoryBlockStore
from bacalao.blockstore.base import key_to_multihash, multihash_key
from bacalao.errors import BlockNotFound, IntegrityError
from bacalao.ipld.blocks import BlockGetter
from bacalao.ipld.cid import CID, DAG_PB, IDENTITY, RAW
from bacalao.ipld.imported import BlockSink

HELLO_V0 = CID.decode("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
HELLO_BLOCK = bytes.fromhex("0a120802120c68656c6c6f20776f726c640a180c")


@pytest.fixture(params=["fs", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlockStore:
    if request.param == "fs":
        return FsBlockStore(tmp_path / "blocks")
    return MemoryBlockStore()


def test_satisfies_the_ipld_protocols(store: BlockStore) -> None:
    assert isinstance(store, BlockStore)
    assert isinstance(store, BlockGetter)
    sink: BlockSink = store  # static check: the importer's sink
    assert callable(sink.put)


def test_put_get_has_size_delete(store: BlockStore) -> None:
    cid, data = raw_block(b"some bytes")
    assert not store.has(cid)
    with pytest.raises(BlockNotFound) as e:
        store.get(cid)
    assert str(cid) in str(e.value)
    store.put(cid, data)
    store.put(cid, data)  # idempotent
    assert store.has(cid)
    assert store.get(cid) == data
    assert store.size(cid) == len(data)
    assert [c.multihash for c in store.iter_cids()] == [cid.multihash]
    assert store.delete(cid) is True
    assert store.delete(cid) is False
    assert not store.has(cid)
    with pytest.raises(BlockNotFound):
        store.size(cid)


def test_blocks_are_keyed_by_multihash(store: BlockStore) -> None:
    store.put(HELLO_V0, HELLO_BLOCK)
    v1 = HELLO_V0.to_v1()
    assert v1.codec == DAG_PB
    assert store.has(v1)
    assert store.get(v1) == HELLO_BLOCK
    (listed,) = store.iter_cids()
    assert listed == CID.v1(RAW, HELLO_V0.multihash)


def test_identity_cids_are_answered_inline_and_never_stored(store: BlockStore) -> None:
    cid = CID.v1(RAW, bytes([IDENTITY, 5]) + b"hello")
    store.put(cid, b"hello")
    assert store.has(cid)
    assert store.get(cid) == b"hello"
    assert store.size(cid) == 5
    assert list(store.iter_cids()) == []
    assert store.delete(cid) is False


def test_put_many(store: BlockStore) -> None:
    blocks = [raw_block(bytes([i]) * (i + 1)) for i in range(50)]
    store.put_many(blocks)
    store.put_many(blocks)
    assert {c.multihash for c in store.iter_cids()} == {c.multihash for c, _ in blocks}
    for cid, data in blocks:
        assert store.get(cid) == data


def test_corrupt_memory_block_is_refused() -> None:
    store = MemoryBlockStore()
    cid, data = raw_block(b"precious")
    store.put(cid, data)
    store.corrupt(cid, b"tampered")
    with pytest.raises(IntegrityError) as e:
        store.get(cid)
    assert str(cid) in e.value.message
    assert store.get(cid, verify=False) == b"tampered"


# -- filesystem specifics ---------------------------------------------------------------------


def test_flatfs_layout_matches_kubo(tmp_path: Path) -> None:
    store = FsBlockStore(tmp_path)
    store.put(HELLO_V0, HELLO_BLOCK)
    key = multihash_key(HELLO_V0.multihash)
    assert key.startswith("CIQ") and key == key.upper() and "=" not in key
    path = tmp_path / key[-3:-1] / f"{key}.data"
    assert store.path_for(HELLO_V0) == path
    assert path.read_bytes() == HELLO_BLOCK
    assert (tmp_path / "SHARDING").read_text() == "/repo/flatfs/shard/v1/next-to-last/2\n"
    assert key_to_multihash(key) == HELLO_V0.multihash
    assert key_to_multihash("not-base32!") is None


def test_corrupt_file_is_detected_naming_the_cid(tmp_path: Path) -> None:
    store = FsBlockStore(tmp_path)
    cid, data = raw_block(b"x" * 1000)
    store.put(cid, data)
    path = store.path_for(cid)
    flipped = bytearray(path.read_bytes())
    flipped[500] ^= 0x01
    path.write_bytes(bytes(flipped))
    with pytest.raises(IntegrityError) as e:
        store.get(cid)
    assert str(cid) in e.value.message
    assert str(path) in (e.value.hint or "")
    # The size is right, so put keeps the file (it trusts what it finds); delete + put repairs.
    store.delete(cid)
    store.put(cid, data)
    assert store.get(cid) == data


def test_torn_file_of_wrong_size_is_rewritten_by_put(tmp_path: Path) -> None:
    store = FsBlockStore(tmp_path)
    cid, data = raw_block(b"y" * 4096)
    path = store.path_for(cid)
    path.parent.mkdir(parents=True)
    path.write_bytes(data[:100])  # what a crash with sync off could leave
    with pytest.raises(IntegrityError):
        store.get(cid)
    store.put(cid, data)
    assert store.get(cid) == data


def test_failed_write_leaves_no_block_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FsBlockStore(tmp_path)
    cid, data = raw_block(b"z" * 10_000)

    def boom(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        store.put(cid, data)
    monkeypatch.undo()
    assert not store.has(cid)
    assert list(store.iter_tmp_files()) == []
    assert [p.name for p in store.path_for(cid).parent.iterdir()] == []


def test_rename_is_the_commit_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the rename, readers see no block; a failed rename leaves nothing behind."""
    store = FsBlockStore(tmp_path)
    cid, data = raw_block(b"w" * 10_000)
    seen: list[bool] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(store.has(cid))
        assert Path(src).read_bytes() == data  # the whole block is written before the rename
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", spy)
    with pytest.raises(OSError):
        store.put(cid, data)
    monkeypatch.setattr(os, "replace", real_replace)
    assert seen == [False]
    assert not store.has(cid)
    assert list(store.iter_tmp_files()) == []


def test_iter_cids_skips_temp_and_foreign_files(tmp_path: Path) -> None:
    store = FsBlockStore(tmp_path)
    cid, data = raw_block(b"kept")
    store.put(cid, data)
    shard = store.path_for(cid).parent
    (shard / ".tmp-whatever.data.1-2-3").write_bytes(b"partial")
    (shard / "README").write_text("not a block")
    (shard / "ZZZZ.data").write_text("bad key")
    assert [c.multihash for c in store.iter_cids()] == [cid.multihash]
    assert len(list(store.iter_tmp_files())) == 1


def test_sync_off_still_stores(tmp_path: Path) -> None:
    store = FsBlockStore(tmp_path, sync=False)
    blocks = [raw_block(os.urandom(100)) for _ in range(10)]
    store.put_many(blocks)
    for cid, data in blocks:
        assert store.get(cid) == data
