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
