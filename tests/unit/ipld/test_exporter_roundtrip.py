"""Export → import → export: write_tree and the importer agree byte for byte.

The Kubo-made fixtures, unpacked with ``write_tree`` and imported again with the settings Kubo
used, give back the same root CID and — through ``write_car`` — the same CAR file. Random trees
(hypothesis) go import → CAR → ``write_tree`` → import and must come back identical.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.car import load_car, write_car
from bacalao.ipld.cid import CID
from bacalao.ipld.exporter import cat, check_dag, ls, stat, write_tree
from bacalao.ipld.importer import import_path
from bacalao.ipld.profiles import PROFILES, ImportProfile

V0 = PROFILES["kubo-v0"]
V1_256 = PROFILES["cid-v1"].replace(chunk_size=256)  # --cid-version=1 --chunker=size-256

#: fixture -> (settings Kubo added it with, whether the CAR is in dag-export order).
#: (go-car's sample-unixfs-v2 is left out: not made by Kubo, its links carry Tsize 0.)
FIXTURES = {
    "symlink.car": (V0, True),
    "dir-with-files.car": (V1_256, True),
    "dir-with-duplicate-files.car": (V1_256, True),
    "subdir-with-mixed-block-files.car": (V1_256, True),
    "dag-pb.car": (V1_256, True),
    "gocar-simple-unixfs.car": (V0, True),
    "single-layer-hamt-with-multi-block-files.car": (V1_256.replace(hamt_threshold=0), True),
    "dir-with-percent-encoded-filename.car": (V1_256, True),
}


def _car_bytes(store: DictBlocks, root: CID) -> bytes:
    out = io.BytesIO()
    write_car(store, root, out)
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_export_import_export(ipfs_fixtures: Path, tmp_path: Path, name: str) -> None:
    profile, dfs_order = FIXTURES[name]
    original = (ipfs_fixtures / name).read_bytes()
    header, store = load_car(io.BytesIO(original))
    root = header.roots[0]
    unpacked = write_tree(store, root, tmp_path, "tree")
    again = DictBlocks()
    node = import_path(unpacked, profile, again, hidden=True)
    assert node.cid == root
    assert node.tsize == stat(store, root).size  # Tsize of the root directory
    exported = _car_bytes(again, node.cid)
    if dfs_order:
        assert exported == original
    assert exported == _car_bytes(store, root)


# -- random trees ----------------------------------------------------------------------------------

Tree = Union[bytes, tuple[str, str], dict[str, "Tree"]]  # noqa: UP007 - a recursive alias

_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
    min_size=1,
    max_size=10,
).filter(lambda n: n not in (".", "..") and len(n.encode()) <= 200)
_files = st.one_of(
    st.binary(max_size=40),
    st.binary(min_size=200, max_size=3000),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=7), st.integers(100, 900)),
)
_links = st.tuples(st.just("link"), _names | st.sampled_from(["../x", "/etc/passwd", "a/b/c"]))
_trees: st.SearchStrategy[Tree] = st.recursive(
    st.one_of(_files, _links),
    lambda children: st.dictionaries(_names, children, max_size=6),
    max_leaves=20,
)
_profiles = st.builds(
    lambda base, chunk, links, hamt, fanout: base.replace(
        chunk_size=chunk, max_links=links, hamt_threshold=hamt, hamt_fanout=fanout
    ),
    st.sampled_from(list(PROFILES.values())),
    st.sampled_from([64, 256, 1000, 262144]),
    st.sampled_from([2, 3, 174]),
    st.sampled_from([0, 100, 262144]),
    st.sampled_from([8, 16, 256]),
)


def _materialize(tree: Tree, path: Path) -> None:
    if isinstance(tree, bytes):
        path.write_bytes(tree)
    elif isinstance(tree, tuple):
        os.symlink(tree[1], path)
    else:
        path.mkdir()
        for name, child in tree.items():
            _materialize(child, path / name)


def _read_back(path: Path) -> Tree:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_dir():
        return {p.name: _read_back(p) for p in path.iterdir()}
    return path.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_trees, profile=_profiles)
def test_random_trees_round_trip(tree: Tree, profile: ImportProfile) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "src")
        _materialize(tree, src)
        first = DictBlocks()
        node = import_path(src, profile, first, hidden=True)
        car = _car_bytes(first, node.cid)

        header, loaded = load_car(io.BytesIO(car))
        assert header.roots == [node.cid]
        assert len(loaded) == len(first)  # the CAR holds the whole DAG, each block once
        check_dag(loaded, node.cid)
        out = write_tree(loaded, node.cid, Path(tmp, "out"), "tree")
        assert _read_back(out) == tree

        entry = stat(loaded, node.cid)
        if isinstance(tree, dict):
            assert entry.type == "directory"
            assert [e.name for e in ls(loaded, node.cid)] == sorted(tree, key=lambda n: n.encode())
        elif isinstance(tree, bytes):
            assert entry.type in ("file", "raw") and entry.size == len(tree)
            assert b"".join(cat(loaded, node.cid)) == tree

        second = DictBlocks()
        again = import_path(out, profile, second, hidden=True)
        assert again.cid == node.cid
        assert _car_bytes(second, again.cid) == car
