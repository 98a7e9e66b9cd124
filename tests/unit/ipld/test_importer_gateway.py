"""Kubo-made CAR fixtures (gateway-conformance, go-car): rebuild each tree from the CAR on disk,
import it with the settings its DAG reveals, and get the same root and the same blocks, byte for
byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.ipld import vectors

from bacalao.ipld.cid import CID
from bacalao.ipld.importer import import_path
from bacalao.ipld.profiles import PROFILES


class DictSink(dict):
    """Collects blocks by CID bytes."""

    def put(self, cid: CID, data: bytes) -> None:
        self[cid.bytes] = data


CASES = {
    # file: (expected root, HAMT threshold used when the fixture was made)
    "symlink.car": ("QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt", None),
    "dir-with-files.car": ("bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy", None),
    "dir-with-duplicate-files.car": (
        "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy",
        None,
    ),
    "dir-with-percent-encoded-filename.car": (
        "bafybeig675grnxcmshiuzdaz2xalm6ef4thxxds6o6ypakpghm5kghpc34",
        None,
    ),
    "subdir-with-mixed-block-files.car": (
        "bafybeidh6k2vzukelqtrjsmd4p52cpmltd2ufqrdtdg6yigi73in672fwu",
        None,
    ),
    "dag-pb.car": ("bafybeiegxwlgmoh2cny7qlolykdf7aq7g6dlommarldrbm7c4hbckhfcke", None),
    "gocar-simple-unixfs.car": ("QmPLPpnptHc1DMhJAWNYMTqBTqqRQNy5WsY7F9pZgsBfMT", None),
    # made with a tiny sharding threshold: every directory is a HAMT
    "single-layer-hamt-with-multi-block-files.car": (
        "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i",
        0,
    ),
}
# Not here: gocar-sample-unixfs-v2.car (made by go-unixfsnode with Tsize 0, not by Kubo), the
# dag-cbor samples, and the partial CARs (a block is missing, so the tree cannot be rebuilt).


@pytest.mark.parametrize("name", sorted(CASES))
def test_rebuild_fixture(ipfs_fixtures: Path, tmp_path: Path, name: str) -> None:
    expected, threshold = CASES[name]
    roots, blocks = vectors.read_car(ipfs_fixtures / name)
    assert str(CID.from_bytes(roots[0])) == expected
    info = vectors.materialize(blocks, roots[0], tmp_path / "tree")
    profile = PROFILES["kubo-v0" if info["cid_version"] == 0 else "cid-v1"].replace(
        raw_leaves=info["raw_leaves"], chunk_size=info["chunk_size"]
    )
    if threshold is not None:
        profile = profile.replace(hamt_threshold=threshold)
    sink = DictSink()
    node = import_path(tmp_path / "tree", profile, sink, hidden=True)
    assert str(node.cid) == expected
    assert sink == blocks


def test_multiblock_txt(ipfs_fixtures: Path, tmp_path: Path) -> None:
    """gateway-conformance ``multiblock.txt``: 1026 bytes, --cid-version=1 --chunker=size-256."""
    roots, blocks = vectors.read_car(ipfs_fixtures / "dir-with-files.car")
    vectors.materialize(blocks, roots[0], tmp_path / "d")
    data = (tmp_path / "d" / "multiblock.txt").read_bytes()
    assert len(data) == 1026
    node = import_path(
        tmp_path / "d" / "multiblock.txt", PROFILES["cid-v1"].replace(chunk_size=256)
    )
    assert str(node.cid) == "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa"
    dir_node = import_path(tmp_path / "d", PROFILES["cid-v1"].replace(chunk_size=256))
    assert dir_node.tsize == 1572
