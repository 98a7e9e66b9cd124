"""Files added with raw leaves are kept whole, as extents, and their leaves stay readable."""

from __future__ import annotations

import io
import os
import stat

import pytest

from bacalao.blockstore.extents import decode_ref, encode_ref
from bacalao.blockstore.fs import FsBlockStore
from bacalao.blockstore.repo import Repo
from bacalao.errors import BlockNotFound, IntegrityError
from bacalao.ipld.cid import RAW
from bacalao.ipld.exporter import cat
from bacalao.ipld.importer import import_bytes
from bacalao.ipld.profiles import PROFILES
from bacalao.ipld.unixfs_read import load

RAW_SMALL = PROFILES["cid-v1"].replace(chunk_size=1024)
DATA = os.urandom(5 * 1024 + 77)  # six leaves


def _add(tmp_path, data: bytes = DATA, profile=RAW_SMALL, name: str = "f.bin"):
    repo = Repo.open(tmp_path / "repo")
    src = tmp_path / name
    src.write_bytes(data)
    return repo, repo.add_path(src, profile)


def _leaves(repo: Repo, root) -> list:
    return [link.cid for link in load(repo.reader(), root).links]  # one level: all leaves


def test_refs_round_trip() -> None:
    assert decode_ref(encode_ref("CIQABC", 1048576, 4096)) == ("CIQABC", 1048576, 4096, False)
    pb = decode_ref(encode_ref("CIQABC", 0, 262144, dagpb=True))
    assert pb == ("CIQABC", 0, 262144, True) and pb.block_size == 262144 + 14
    for bad in ("", "1+2", "x+2@N", "1+2@", "1+2@a/b", "1+2@.tmp", "12@N", "pb:", "pb:1+2@"):
        assert decode_ref(bad) is None


def test_a_multi_chunk_file_is_one_read_only_extent_with_the_same_cid(tmp_path) -> None:
    repo, node = _add(tmp_path)
    assert node.cid == import_bytes(DATA, RAW_SMALL).cid  # the CIDs do not change
    store = repo.blocks
    assert isinstance(store, FsBlockStore)
    extent = store.whole_file(node.cid)
    assert extent is not None and extent.read_bytes() == DATA
    assert stat.S_IMODE(extent.stat().st_mode) == 0o444
    leaves = _leaves(repo, node.cid)
    assert len(leaves) == 6
    offset = 0
    for leaf in leaves:
        assert not store.path_for(leaf).exists()  # no block file per chunk
        assert store.has(leaf)
        chunk = DATA[offset : offset + 1024]
        assert store.get(leaf) == chunk
        assert store.size(leaf) == len(chunk)
        assert store.locate(leaf) == (str(extent), offset, len(chunk))
        offset += len(chunk)
    assert store.whole_file(leaves[0]) is None  # a chunk alone is not a whole file here
    assert b"".join(cat(repo.reader(), node.cid)) == DATA
    listed = list(store.iter_cids())
    assert len(listed) == len(set(listed)) == 7  # six leaves and the root, each once


def test_a_one_chunk_file_is_its_block_file(tmp_path) -> None:
    repo, node = _add(tmp_path, b"short\n")
    store = repo.blocks
    assert node.cid.codec == RAW
    assert store.whole_file(node.cid) == store.path_for(node.cid)
    assert store.path_for(node.cid).read_bytes() == b"short\n"
    assert not (store.root / "extents").exists() or not any(
        p.is_file() for p in (store.root / "extents").rglob("*")
    )


def test_dag_pb_leaves_keep_their_chunks_in_an_extent(tmp_path) -> None:
    """kubo-v0's leaves are dag-pb File nodes: the extent holds their chunks, a read frames
    them again, and every leaf still hashes to its CID."""
    profile = PROFILES["kubo-v0"].replace(chunk_size=1024)
    expected: dict = {}
    node_alone = import_bytes(DATA, profile, _Collect(expected))
    repo, node = _add(tmp_path, profile=profile)
    assert node.cid == node_alone.cid
    store = repo.blocks
    extent = store.whole_file(node.cid)
    assert extent is not None and extent.read_bytes() == DATA  # the file itself: linkable
    leaves = _leaves(repo, node.cid)
    assert len(leaves) == 6
    for leaf in leaves:
        assert not store.path_for(leaf).exists()
        assert store.get(leaf) == expected[leaf]  # framed again, byte for byte
        assert store.size(leaf) == len(expected[leaf])
        assert store.locate(leaf) is None  # no file holds the framed bytes
    assert b"".join(cat(repo.reader(), node.cid)) == DATA
    repo.unpin(node.cid)
    repo.gc()
    assert not list((store.root / "extents").rglob("*.data"))


def test_a_damaged_dag_pb_extent_is_never_read_as_good_bytes(tmp_path) -> None:
    repo, node = _add(tmp_path, profile=PROFILES["kubo-v0"].replace(chunk_size=1024))
    extent = repo.blocks.whole_file(node.cid)
    os.chmod(extent, 0o644)
    with extent.open("r+b") as f:
        f.seek(5)
        f.write(b"\xff")
    with pytest.raises(IntegrityError, match="corrupt"):
        repo.blocks.get(_leaves(repo, node.cid)[0])


class _Collect:
    def __init__(self, into: dict) -> None:
        self.into = into

    def put(self, cid, data: bytes) -> None:
        self.into[cid] = bytes(data)


def test_a_directory_of_files_and_the_same_file_added_twice(tmp_path) -> None:
    repo = Repo.open(tmp_path / "repo")
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a.bin").write_bytes(DATA)
    (src / "d" / "b.bin").write_bytes(DATA[::-1])
    (src / "d" / "same.bin").write_bytes(DATA)  # identical to a.bin: one extent for both
    (src / "empty").write_bytes(b"")
    root = repo.add_path(src, RAW_SMALL).cid
    again = repo.add_path(src / "a.bin", RAW_SMALL).cid
    store = repo.blocks
    extents = sorted(p for p in (store.root / "extents").rglob("*.data"))
    assert len(extents) == 2
    assert store.whole_file(again).read_bytes() == DATA
    assert not list(store.iter_tmp_files())
    out = tmp_path / "out"
    from bacalao.ipld.exporter import write_tree

    write_tree(repo.reader(), root, out, name="x")
    assert (out / "x" / "d" / "b.bin").read_bytes() == DATA[::-1]
    assert (out / "x" / "empty").read_bytes() == b""


def test_gc_removes_refs_and_the_extents_nothing_points_at(tmp_path) -> None:
    repo, kept = _add(tmp_path, name="kept.bin")
    dropped = repo.add_path(tmp_path / "kept.bin", RAW_SMALL.replace(chunk_size=2048))
    store = repo.blocks
    assert store.whole_file(dropped.cid) is not None
    repo.unpin(dropped.cid)
    result = repo.gc()
    assert result.count == 4  # three 2 KiB leaves and their root
    assert store.whole_file(dropped.cid) is None  # its extent went with its last ref
    assert store.whole_file(kept.cid) is not None
    assert b"".join(cat(repo.reader(), kept.cid)) == DATA
    repo.unpin(kept.cid)
    repo.gc()
    assert not list(store.iter_cids())
    assert not list((store.root / "extents").rglob("*.data"))


def test_a_failed_import_leaves_no_extent_behind(tmp_path) -> None:
    repo = Repo.open(tmp_path / "repo")

    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:
            if self.sent >= 3000:
                raise OSError(5, "Input/output error")
            n = min(len(buf), 1000)
            buf[:n] = b"x" * n
            self.sent += n
            return n

    with pytest.raises(Exception, match="Input/output error"):
        repo.add_stream(io.BufferedReader(Failing()), RAW_SMALL)
    assert not list(repo.blocks.iter_tmp_files())
    assert not list((repo.blocks.root / "extents").rglob("*.data"))


def test_a_damaged_extent_is_never_read_as_good_bytes(tmp_path) -> None:
    repo, node = _add(tmp_path)
    store = repo.blocks
    extent = store.whole_file(node.cid)
    leaves = _leaves(repo, node.cid)
    os.chmod(extent, 0o644)
    with extent.open("r+b") as f:
        f.seek(10)
        f.write(b"\0" * 4)  # first leaf's bytes changed
        f.truncate(len(DATA) - 10)  # last leaf cut short
    with pytest.raises(IntegrityError, match="corrupt"):
        store.get(leaves[0])
    with pytest.raises(IntegrityError, match="shorter"):
        store.get(leaves[-1])
    assert store.get(leaves[1]) == DATA[1024:2048]
    extent.unlink()
    assert not store.has(leaves[1])
    with pytest.raises(BlockNotFound):
        store.get(leaves[1])


def test_a_leaf_that_already_had_a_ref_keeps_it(tmp_path) -> None:
    repo, first = _add(tmp_path, name="one.bin")
    both = DATA + DATA[:1024]  # shares its first six leaves' bytes with one.bin
    second = repo.add_path(_write(tmp_path / "two.bin", both), RAW_SMALL)
    store = repo.blocks
    leaf = _leaves(repo, second.cid)[0]
    assert store.locate(leaf)[0] == str(store.whole_file(first.cid))
    assert store.whole_file(second.cid).read_bytes() == both
    assert b"".join(cat(repo.reader(), second.cid)) == both


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_small_files_need_no_extent_file_no_writer_thread_and_no_second_sync(
    tmp_path, monkeypatch
) -> None:
    """A job's result (a few tiny files) is written by the caller, and blocks already stored
    (an empty stderr, an exitCode of 0) are not synced again."""
    import threading

    from bacalao.blockstore import fs

    synced: list[str] = []
    real_fsync = fs._fsync_file
    monkeypatch.setattr(fs, "_fsync_file", lambda p: (synced.append(str(p)), real_fsync(p)))
    made: list[int] = []
    real_open = os.open
    monkeypatch.setattr(
        fs.os, "open", lambda p, *a, **k: (made.append(1) if "extents" in str(p) else None,
                                           real_open(p, *a, **k))[1]
    )  # fmt: skip
    repo = Repo.open(tmp_path / "repo")
    threads = threading.active_count()

    def result(i: int, out: str):  # type: ignore[no-untyped-def]
        d = tmp_path / f"r{i}"
        (d / "outputs").mkdir(parents=True)
        (d / "stdout").write_text(out)
        (d / "stderr").write_text("")
        (d / "exitCode").write_text("0")
        return repo.add_path(d, PROFILES["cid-v1"], hidden=True)

    result(0, "hello\n")
    first = len(synced)
    assert first >= 3  # stdout, stderr, exitCode, outputs/, the root: new blocks
    synced.clear()
    result(1, "other\n")
    assert len(synced) == 2  # only the new stdout and the new root
    assert made == []  # no extent file for one-chunk files
    assert threading.active_count() == threads
