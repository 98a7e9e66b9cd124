"""Pins, gc and CAR import on a Repo — on disk and in memory."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path

import pytest
from bs_helpers import dir_block, raw_block, small_dag, snapshot

from bacalao.blockstore import Repo
from bacalao.errors import BlockNotFound, DecodeError, IntegrityError, InvalidInput, NotFound
from bacalao.ipld.car import CarReader
from bacalao.ipld.cid import CID
from bacalao.ipld.importer import import_bytes
from bacalao.ipld.profiles import resolve_profile

DIR_WITH_FILES = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"


@pytest.fixture(params=["fs", "memory"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Repo:
    return Repo.open(tmp_path / "data") if request.param == "fs" else Repo.memory()


def _put_all(repo: Repo, blocks: dict[CID, bytes]) -> None:
    for cid, data in blocks.items():
        repo.blocks.put(cid, data)


def test_pin_requires_a_complete_dag(repo: Repo) -> None:
    root, blocks = small_dag()
    missing = next(c for c in blocks if c != root)
    _put_all(repo, {c: d for c, d in blocks.items() if c != missing})
    with pytest.raises(IntegrityError) as e:
        repo.pin(root)
    assert str(missing) in e.value.message
    assert repo.pins() == []
    repo.blocks.put(missing, blocks[missing])
    assert repo.pin(root) is True
    assert repo.pin(root) is False
    assert repo.pins() == [root] == repo.roots()


def test_gc_keeps_pinned_dags_and_removes_the_rest(repo: Repo) -> None:
    root1, blocks1 = small_dag(b"1")
    root2, blocks2 = small_dag(b"2")
    shared, shared_data = raw_block(b"shared by both")
    r3, d3 = dir_block({"s": (shared, len(shared_data))})
    _put_all(repo, blocks1 | blocks2 | {shared: shared_data, r3: d3})
    repo.pin(root1)
    repo.pin(r3)
    result = repo.gc()
    assert {c.multihash for c in result.removed} == {c.multihash for c in blocks2}
    assert result.count == len(blocks2)
    assert result.bytes == sum(len(d) for d in blocks2.values())
    for cid in blocks1:
        assert repo.blocks.has(cid)
    assert repo.blocks.has(shared)
    assert repo.gc().count == 0
    repo.unpin(r3)
    result = repo.gc()
    assert {c.multihash for c in result.removed} == {shared.multihash, r3.multihash}
    with pytest.raises(NotFound):
        repo.unpin(r3)


def test_gc_with_no_pins_empties_the_store(repo: Repo) -> None:
    _, blocks = small_dag()
    _put_all(repo, blocks)
    assert repo.gc().count == len(blocks)
    assert list(repo.blocks.iter_cids()) == []


def test_gc_aborts_when_a_pinned_dag_lost_a_block(repo: Repo) -> None:
    root, blocks = small_dag()
    _put_all(repo, blocks)
    repo.pin(root)
    repo.blocks.delete(root)
    extra, data = raw_block(b"unpinned")
    repo.blocks.put(extra, data)
    with pytest.raises(BlockNotFound):
        repo.gc()
    assert repo.blocks.has(extra)  # nothing swept on an incomplete mark


def test_pins_persist_across_opens_in_a_sqlite_file(tmp_path: Path) -> None:
    repo = Repo.open(tmp_path)
    node = repo.add_bytes(b"hello world\n", resolve_profile())
    assert str(node.cid) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    with contextlib.closing(sqlite3.connect(tmp_path / "pins.db")) as db:
        assert db.execute("SELECT cid, kind FROM pins").fetchall() == [(str(node.cid), "recursive")]
    assert Repo.open(tmp_path).pins() == [node.cid]
    assert not (tmp_path / "pins.json").exists()


def test_corrupt_pin_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "pins.db").write_bytes(b"not a database, just bytes" * 100)
    with pytest.raises(DecodeError) as e:
        Repo.open(tmp_path).pins()
    assert "pins.db" in e.value.message and "corrupt" in e.value.message
    assert "\n" not in e.value.message
    assert e.value.hint


def _legacy_pins_json(path: Path, pins: list[tuple[CID, str]]) -> None:
    """A pins.json as the JSON pin store (before pins.db) wrote it."""
    doc = {"version": 1, "pins": [{"cid": str(c), "type": k} for c, k in pins]}
    path.write_text(json.dumps(doc, indent=1) + "\n")


def test_pins_of_a_legacy_pins_json_are_migrated_once(tmp_path: Path) -> None:
    roots = []
    old = Repo.open(tmp_path)
    for salt in (b"a", b"b", b"c"):
        root, blocks = small_dag(salt)
        _put_all(old, blocks)
        roots.append(root)
    kinds = ["recursive", "partial", "recursive"]
    _legacy_pins_json(tmp_path / "pins.json", list(zip(roots, kinds, strict=True)))
    repo = Repo.open(tmp_path)
    assert repo.pins() == roots  # first-pinned order kept
    assert repo.roots() == [roots[0], roots[2]]
    assert not (tmp_path / "pins.json").exists()
    assert (tmp_path / "pins.json.migrated").exists()  # nothing deleted
    assert repo.gc().count == 0  # the pins protect their DAGs
    repo.unpin(roots[0])
    assert Repo.open(tmp_path).pins() == roots[1:]  # never imported twice


def test_corrupt_legacy_pins_json_is_a_clear_error_and_stays(tmp_path: Path) -> None:
    (tmp_path / "pins.json").write_text("{not json")
    with pytest.raises(DecodeError) as e:
        Repo.open(tmp_path).pins()
    assert "pins.json" in e.value.message and "\n" not in e.value.message
    assert e.value.hint
    assert (tmp_path / "pins.json").read_text() == "{not json"


def test_add_path_stores_and_pins(repo: Repo, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "b").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"hello world\n")
    (src / "b" / "c.bin").write_bytes(bytes(range(256)) * 1200)
    node = repo.add_path(src, resolve_profile(None, 1))
    assert repo.pins() == [node.cid]
    assert repo.gc().count == 0
    only_hash = import_bytes(b"hello world\n", resolve_profile(None, 1))
    assert repo.blocks.has(only_hash.cid)


# -- CAR import ---------------------------------------------------------------------------------


def test_import_fixture_car_pins_roots_and_exports_same_bytes(
    repo: Repo, ipfs_fixtures: Path
) -> None:
    raw = (ipfs_fixtures / "dir-with-files.car").read_bytes()
    roots = repo.import_car(io.BytesIO(raw))
    assert [str(r) for r in roots] == [DIR_WITH_FILES]
    assert repo.pins() == roots
    out = io.BytesIO()
    repo.export_car(roots[0], out)
    assert out.getvalue() == raw
    assert repo.gc().count == 0


@pytest.mark.parametrize(
    "name",
    [
        "dag-pb.car",
        "dir-with-duplicate-files.car",
        "dir-with-percent-encoded-filename.car",
        "gocar-sample-unixfs-v2.car",
        "gocar-sample-v1.car",
        "gocar-simple-unixfs.car",
        "sample-wrapped-v2.car",
        "single-layer-hamt-with-multi-block-files.car",
        "subdir-with-mixed-block-files.car",
        "symlink.car",
    ],
)
def test_every_complete_fixture_imports(tmp_path: Path, ipfs_fixtures: Path, name: str) -> None:
    repo = Repo.open(tmp_path)
    path = ipfs_fixtures / name
    with path.open("rb") as f:
        roots = repo.import_car(f)
    with path.open("rb") as f, CarReader(f) as reader:
        expected = {c.multihash for c, _ in reader if not c.is_identity}
    assert {c.multihash for c in repo.blocks.iter_cids()} == expected
    assert repo.pins() == roots


def _failing_imports(fixtures: Path) -> dict[str, bytes]:
    good = (fixtures / "dir-with-files.car").read_bytes()
    flipped = bytearray(good)
    flipped[-5] ^= 0xFF  # inside the last block: it no longer matches its CID
    return {
        "truncated": good[: len(good) - 7],
        "flipped": bytes(flipped),
        "bad header": b"\x05hello" + good[60:],
        "empty": b"",
        "bad varint": good + b"\xff" * 11,
        "missing block": (fixtures / "file-3k-and-3-blocks-missing-block.car").read_bytes(),
    }


@pytest.mark.parametrize(
    "case", ["truncated", "flipped", "bad header", "empty", "bad varint", "missing block"]
)
def test_failed_import_changes_nothing(tmp_path: Path, ipfs_fixtures: Path, case: str) -> None:
    data_dir = tmp_path / "data"
    repo = Repo.open(data_dir)
    repo.import_car(io.BytesIO((ipfs_fixtures / "symlink.car").read_bytes()))
    repo.add_bytes(b"already here", resolve_profile())
    before = snapshot(data_dir)
    bad = _failing_imports(ipfs_fixtures)[case]
    with pytest.raises((DecodeError, IntegrityError)) as e:
        repo.import_car(io.BytesIO(bad))
    assert "\n" not in e.value.message
    assert snapshot(data_dir) == before


def test_failed_import_changes_nothing_in_memory(ipfs_fixtures: Path) -> None:
    repo = Repo.memory()
    good = (ipfs_fixtures / "dir-with-files.car").read_bytes()
    with pytest.raises(DecodeError):
        repo.import_car(io.BytesIO(good[:-3]))
    assert list(repo.blocks.iter_cids()) == [] and repo.pins() == []


def test_partial_car_imports_without_pinning(repo: Repo, ipfs_fixtures: Path) -> None:
    raw = (ipfs_fixtures / "file-3k-and-3-blocks-missing-block.car").read_bytes()
    with pytest.raises(IntegrityError) as e:
        repo.import_car(io.BytesIO(raw))
    assert "--no-pin" in (e.value.hint or "")
    roots = repo.import_car(io.BytesIO(raw), pin_roots=False)
    assert str(roots[0]) == "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk"
    assert repo.pins() == []
    assert len(list(repo.blocks.iter_cids())) == 3


def test_import_completes_a_dag_with_blocks_already_in_the_store(repo: Repo) -> None:
    """Completeness is checked over staged blocks plus the store."""
    from bacalao.ipld.car import write_car

    root, blocks = small_dag()
    leaf = next(c for c in blocks if c != root and c.codec == 0x55)
    repo.blocks.put(leaf, blocks[leaf])

    class Partial:
        def get(self, cid: CID) -> bytes:
            return blocks[cid]

    buf = io.BytesIO()
    write_car(Partial(), root, buf)
    assert repo.import_car(io.BytesIO(buf.getvalue())) == [root]


def test_big_blocks_are_refused_unless_allowed(repo: Repo) -> None:
    from bacalao.ipld.car import write_car

    cid, data = raw_block(b"\x01" * (2 * 1024 * 1024 + 1))

    class One:
        def get(self, c: CID) -> bytes:
            return data

    buf = io.BytesIO()
    write_car(One(), cid, buf)
    with pytest.raises(InvalidInput) as e:
        repo.import_car(io.BytesIO(buf.getvalue()))
    assert "--allow-big-block" in (e.value.hint or "")
    assert not repo.blocks.has(cid)
    assert repo.import_car(io.BytesIO(buf.getvalue()), allow_big_block=True) == [cid]
    assert repo.blocks.get(cid) == data


def test_gc_sweeps_debris_of_killed_writers(tmp_path: Path) -> None:
    repo = Repo.open(tmp_path)
    root, blocks = small_dag()
    _put_all(repo, blocks)
    repo.pin(root)
    shard = repo.blocks.path_for(root).parent
    (shard / ".tmp-dead.data.1-1-1").write_bytes(b"half")
    (tmp_path / "staging" / "123-4-5").mkdir(parents=True)
    repo.gc()
    assert list(repo.blocks.iter_tmp_files()) == []
    assert not (tmp_path / "staging").exists()
