"""Zero-copy tree operations: listing with globs, union merge, aggregation."""

from __future__ import annotations

import pytest

from bacalao.blockstore.memory import MemoryBlockStore
from bacalao.errors import InvalidInput
from bacalao.ipld.exporter import cat, resolve
from bacalao.ipld.importer import import_path
from bacalao.ipld.profiles import PROFILES
from bacalao.ipld.tree import aggregate, glob_match, list_files, merge_union

P = PROFILES["kubo-v0"]


def add_tree(store, tmp_path, name: str, files: dict[str, bytes]):
    root = tmp_path / name
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return import_path(root, P, store).cid


@pytest.mark.parametrize(
    ("pattern", "path", "ok"),
    [
        ("**/*.log", "a.log", True),
        ("**/*.log", "x/y/a.log", True),
        ("*.log", "x/a.log", False),
        ("x/*.log", "x/a.log", True),
        ("x/?.log", "x/ab.log", False),
        ("", "anything", True),
        ("data/**", "data/a/b", True),
    ],
)
def test_glob(pattern: str, path: str, ok: bool) -> None:
    assert glob_match(pattern, path) is ok


def test_list_files_recurses_and_filters(tmp_path) -> None:
    store = MemoryBlockStore()
    root = add_tree(store, tmp_path, "d", {"a.log": b"1", "s/b.log": b"22", "s/c.txt": b"333"})
    assert [(e.path, e.size) for e in list_files(store, root)] == [
        ("a.log", 1),
        ("s/b.log", 2),
        ("s/c.txt", 3),
    ]
    assert [e.path for e in list_files(store, root, "**/*.log")] == ["a.log", "s/b.log"]


def test_union_equals_importing_the_union(tmp_path) -> None:
    store = MemoryBlockStore()
    a = add_tree(store, tmp_path, "a", {"x/1.txt": b"one", "top.txt": b"t"})
    b = add_tree(store, tmp_path, "b", {"x/2.txt": b"two"})
    merged = merge_union(store, [("shard 0", a), ("shard 1", b)], P, store)
    expected = add_tree(
        MemoryBlockStore(), tmp_path, "u", {"x/1.txt": b"one", "x/2.txt": b"two", "top.txt": b"t"}
    )
    assert merged.cid == expected  # byte-identical to importing the merged tree
    assert b"".join(cat(store, resolve(store, merged.cid, "x/2.txt"))) == b"two"


def test_union_conflict_names_both(tmp_path) -> None:
    store = MemoryBlockStore()
    a = add_tree(store, tmp_path, "a", {"same.txt": b"A"})
    b = add_tree(store, tmp_path, "b", {"same.txt": b"B"})
    with pytest.raises(InvalidInput, match="shard 0 and shard 1"):
        merge_union(store, [("shard 0", a), ("shard 1", b)], P, store)


def test_aggregate_links_without_copying(tmp_path) -> None:
    store = MemoryBlockStore()
    a = add_tree(store, tmp_path, "a", {"f": b"x" * 1000})
    b = add_tree(store, tmp_path, "b", {"g": b"y"})
    before = set(store.iter_cids())
    agg = aggregate(store, [("first", a), ("second", b)], P, store)
    assert len(set(store.iter_cids()) - before) == 1  # one new directory block
    assert resolve(store, agg.cid, "first") == a
    assert [e.path for e in list_files(store, agg.cid)] == ["first/f", "second/g"]


class Prefetching:
    """A getter over a store that records the levels a reader announces."""

    def __init__(self, store) -> None:
        self.store = store
        self.levels: list[set] = []

    def get(self, cid):
        return self.store.get(cid)

    def prefetch(self, cids) -> None:
        self.levels.append(set(cids))


def test_list_files_announces_each_level_once_and_never_file_data(tmp_path) -> None:
    from bacalao.ipld.tree import prefetch_tree
    from bacalao.ipld.unixfs_read import load

    store = MemoryBlockStore()
    files = {"a/x.log": b"1" * 200, "a/b/y.log": b"2" * 300, "z.txt": b"3" * 10}
    root = tmp_path / "t"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    cid = import_path(root, P.replace(chunk_size=64), store).cid
    getter = Prefetching(store)
    listed = list_files(getter, cid, "**/*.log")
    assert [e.path for e in listed] == ["a/b/y.log", "a/x.log"]

    def at(path: str):
        return resolve(store, cid, path)

    assert getter.levels == [
        {cid},
        {at("a"), at("z.txt")},
        {at("a/b"), at("a/x.log")},
        {at("a/b/y.log")},
    ]
    leaves = {link.cid for link in load(store, at("a/b/y.log")).links}
    assert leaves and not leaves & set().union(*getter.levels)  # file data is never announced
    prefetch_tree(store, [cid])  # a getter without prefetch: nothing to do
