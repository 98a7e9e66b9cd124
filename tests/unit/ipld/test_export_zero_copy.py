"""Exporting files from local block files with copy_file_range gives the same bytes."""

from __future__ import annotations

import os

import pytest

from bacalao.blockstore.fs import FsBlockStore
from bacalao.errors import BacalaoError
from bacalao.ipld.export_fs import write_tree
from bacalao.ipld.importer import import_bytes, import_path
from bacalao.ipld.profiles import PROFILES


class LocalFiles:
    """A getter over an FsBlockStore that offers its block files (as the compute node does)."""

    def __init__(self, store: FsBlockStore) -> None:
        self.store = store
        self.sliced = 0

    def get(self, cid):
        return self.store.get(cid)

    def block_file(self, cid):
        path = self.store.path_for(cid)
        if path.exists():
            self.sliced += 1
            return str(path)
        return None


@pytest.mark.parametrize("profile", ["kubo-v0", "cid-v1", "unixfs-v1-2025"])
def test_same_bytes_as_the_plain_export(tmp_path, profile) -> None:
    store = FsBlockStore(tmp_path / "blocks")
    data = os.urandom(2 * 1048576 + 1234)  # several leaves under every profile
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "big.bin").write_bytes(data)
    (src / "small.txt").write_bytes(b"hello\n")
    (src / "empty").write_bytes(b"")
    root = import_path(src, PROFILES[profile], store).cid
    getter = LocalFiles(store)
    out = write_tree(getter, root, tmp_path / "out", name="x")
    assert (out / "d" / "big.bin").read_bytes() == data
    assert (out / "small.txt").read_bytes() == b"hello\n"
    assert (out / "empty").read_bytes() == b""
    assert getter.sliced >= 3  # the leaves of big.bin were copied, not read into Python


def test_a_truncated_block_file_is_an_error_not_a_short_file(tmp_path) -> None:
    store = FsBlockStore(tmp_path / "blocks")
    node = import_bytes(os.urandom(2 * 262144), PROFILES["cid-v1"], store)
    getter = LocalFiles(store)
    leaves = [c for c in store.iter_cids() if c.codec == 0x55]
    path = store.path_for(leaves[0])
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BacalaoError):
        write_tree(getter, node.cid, tmp_path / "out", name="f")
    assert not (tmp_path / "out" / "f").exists()  # no half-written file is left


class WholeFiles(LocalFiles):
    """Also offers whole files (the compute node's ``whole_file``) from a map."""

    def __init__(self, store: FsBlockStore, whole: dict) -> None:
        super().__init__(store)
        self.whole = whole

    def whole_file(self, cid):
        return self.whole.get(cid)


def test_link_hard_links_a_whole_file_of_the_right_size_and_only_when_asked(tmp_path) -> None:
    store = FsBlockStore(tmp_path / "blocks")
    data = os.urandom(3 * 262144 + 9)
    node = import_bytes(data, PROFILES["cid-v1"], store)
    whole = tmp_path / "whole.bin"
    whole.write_bytes(data)
    getter = WholeFiles(store, {node.cid: str(whole)})
    linked = write_tree(getter, node.cid, tmp_path / "a", name="f", link=True)
    assert linked.stat().st_ino == whole.stat().st_ino
    copied = write_tree(getter, node.cid, tmp_path / "b", name="f")  # an export: never linked
    assert copied.stat().st_ino != whole.stat().st_ino and copied.read_bytes() == data
    whole.write_bytes(data[:-1])  # not the file's size: copied from the blocks instead
    again = write_tree(getter, node.cid, tmp_path / "c", name="f", link=True)
    assert again.stat().st_ino != whole.stat().st_ino and again.read_bytes() == data


def test_link_replaces_what_is_in_the_way_and_falls_back_across_filesystems(
    tmp_path, monkeypatch
) -> None:
    import errno

    store = FsBlockStore(tmp_path / "blocks")
    data = os.urandom(2 * 262144)
    node = import_bytes(data, PROFILES["cid-v1"], store)
    whole = tmp_path / "whole.bin"
    whole.write_bytes(data)
    getter = WholeFiles(store, {node.cid: str(whole)})
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").symlink_to("/etc/passwd")  # replaced, never followed
    out = write_tree(getter, node.cid, tmp_path / "a", name="f", link=True)
    assert not out.is_symlink() and out.stat().st_ino == whole.stat().st_ino

    def exdev(*a, **kw):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", exdev)
    out = write_tree(getter, node.cid, tmp_path / "b", name="f", link=True)
    assert out.read_bytes() == data and out.stat().st_ino != whole.stat().st_ino


def test_cat_reads_verified_bytes_from_a_getter_that_offers_files(tmp_path) -> None:
    """``cat`` streams bytes even when the getter offers local files: it never hands out
    slices, and it loads (and so verifies) every block through the getter."""
    from bacalao.ipld.exporter import cat

    store = FsBlockStore(tmp_path / "blocks")
    data = os.urandom(3 * 262144 + 99)
    root = import_bytes(data, PROFILES["kubo-v0"], store).cid
    getter = LocalFiles(store)
    assert b"".join(cat(getter, root)) == data
    assert getter.sliced == 0
