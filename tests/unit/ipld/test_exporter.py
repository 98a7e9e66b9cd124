"""The UnixFS exporter over the public fixtures and hand-built (some hostile) DAGs."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bacalao.errors import BlockNotFound, DecodeError, IntegrityError, InvalidInput, NotFound
from bacalao.ipld import dagpb, varint
from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.car import load_car
from bacalao.ipld.cid import CID, DAG_CBOR, RAW
from bacalao.ipld.export_fs import MAX_DEPTH
from bacalao.ipld.exporter import Entry, cat, check_dag, ls, resolve, stat, write_tree
from bacalao.ipld.unixfs import HAMT_HASH_MURMUR3, DataType, UnixFSData
from bacalao.ipld.unixfs_read import hamt_key

MISSING = "QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W"
ASCII = b"hello application/vnd.ipld.car\n"


def _load(path: Path) -> tuple[DictBlocks, CID]:
    header, store = load_car(io.BytesIO(path.read_bytes()))
    return store, header.roots[0]


def _tree(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file bytes, ``"-> target"`` for links, ``"dir"``."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
    return out


# -- hand-built DAGs -------------------------------------------------------------------------


class Dag:
    """Build UnixFS blocks straight from dagpb/unixfs (no importer needed)."""

    def __init__(self) -> None:
        self.store = DictBlocks()

    def put(self, block: bytes, codec: int = 0x70) -> CID:
        cid = CID.hash(block, codec=codec)
        self.store.put(cid, block)
        return cid

    def raw(self, data: bytes) -> CID:
        return self.put(data, RAW)

    def file(self, data: bytes, type_: DataType = DataType.FILE) -> CID:
        fs = UnixFSData(type_, data or None, len(data))
        return self.put(dagpb.PBNode((), fs.encode()).encode())

    def multi(self, *chunks: CID, sizes: tuple[int, ...], filesize: int | None = None) -> CID:
        fs = UnixFSData(DataType.FILE, None, sum(sizes) if filesize is None else filesize, sizes)
        links = tuple(dagpb.PBLink(c, "", s) for c, s in zip(chunks, sizes, strict=True))
        return self.put(dagpb.PBNode(links, fs.encode()).encode())

    def dir(self, entries: dict[str, CID]) -> CID:
        links = tuple(dagpb.PBLink(c, n, 1) for n, c in entries.items())
        return self.put(dagpb.PBNode(links, b"\x08\x01").encode())

    def symlink(self, target: bytes) -> CID:
        return self.put(dagpb.PBNode((), UnixFSData(DataType.SYMLINK, target).encode()).encode())

    def shard(self, links: list[tuple[str, CID]], fanout: int = 256) -> CID:
        fs = UnixFSData(DataType.HAMT_SHARD, b"\x01", hash_type=HAMT_HASH_MURMUR3, fanout=fanout)
        pb = tuple(dagpb.PBLink(c, n, 1) for n, c in links)
        return self.put(dagpb.PBNode(pb, fs.encode()).encode())


# -- fixtures: unpack, list, stat, resolve ----------------------------------------------------


def test_dir_with_files_unpacks(ipfs_fixtures: Path, tmp_path: Path) -> None:
    store, root = _load(ipfs_fixtures / "dir-with-files.car")
    out = write_tree(store, root, tmp_path, "d")
    assert out == tmp_path / "d"
    tree = _tree(out)
    assert set(tree) == {"ascii.txt", "ascii-copy.txt", "hello.txt", "multiblock.txt"}
    assert tree["ascii.txt"] == tree["ascii-copy.txt"] == ASCII
    assert tree["hello.txt"] == b"hello world\n"
    multi = tree["multiblock.txt"]
    assert isinstance(multi, bytes) and len(multi) == 1026 and multi.startswith(b"Lorem ipsum")


def test_symlink_fixture_recreates_the_link(ipfs_fixtures: Path, tmp_path: Path) -> None:
    store, root = _load(ipfs_fixtures / "symlink.car")
    out = write_tree(store, root, tmp_path)
    assert out.name == "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt"
    assert _tree(out) == {"foo": b"content\n", "bar": "-> foo"}
    assert [(e.name, e.type, e.size) for e in ls(store, root)] == [
        ("bar", "symlink", 3),
        ("foo", "file", 8),
    ]


def test_percent_encoded_name_is_kept_verbatim(ipfs_fixtures: Path, tmp_path: Path) -> None:
    store, root = _load(ipfs_fixtures / "dir-with-percent-encoded-filename.car")
    name = "Portugal%2C+España=Peninsula Ibérica.txt"
    tree = _tree(write_tree(store, root, tmp_path, "p"))
    assert list(tree) == [name]
    assert resolve(store, root, name) == CID.decode(
        "bafkreihfmctcb2kuvoljqeuphqr2fg2r45vz5cxgq5c2yrxnqg5erbitmq"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "dag-pb.car",
            {"foo": "dir", "foo/bar.txt": b"Hello, world!\n", "foo.txt": b"Hello, IPFS!\n"},
        ),
        ("gocar-sample-unixfs-v2.car", {"a": "dir", "a/b.txt": b"hello world\n"}),
        (
            "subdir-with-mixed-block-files.car",
            {"subdir": "dir", "subdir/ascii.txt": ASCII, "subdir/hello.txt": b"hello world\n"},
        ),
    ],
)
def test_small_fixtures_unpack(
    ipfs_fixtures: Path, tmp_path: Path, name: str, expected: dict[str, object]
) -> None:
    store, root = _load(ipfs_fixtures / name)
    tree = _tree(write_tree(store, root, tmp_path, "x"))
    for key, value in expected.items():
        assert tree[key] == value
    if name.startswith("subdir"):
        assert len(tree["subdir/multiblock.txt"]) == 1026


def test_gocar_simple_unixfs_unpacks(ipfs_fixtures: Path, tmp_path: Path) -> None:
    store, root = _load(ipfs_fixtures / "gocar-simple-unixfs.car")
    tree = _tree(write_tree(store, root, tmp_path, "s"))
    files = {k: v for k, v in tree.items() if v != "dir"}
    assert len(files) == 9
    assert files["a/1/A.txt"] == b"a1A\n"
    assert files["c/9/I.txt"] == b"c9I\n"


def test_hamt_fixture_lists_resolves_and_unpacks(ipfs_fixtures: Path, tmp_path: Path) -> None:
    store, root = _load(ipfs_fixtures / "single-layer-hamt-with-multi-block-files.car")
    entries = ls(store, root)
    names = [e.name for e in entries]
    assert names == sorted(names) and set(names) == {f"{i}.txt" for i in range(1, 1001)}
    assert all(e.type == "file" and e.size == 1026 for e in entries)
    for e in entries[::37]:
        assert resolve(store, root, e.name) == e.cid
    with pytest.raises(NotFound, match="'1001.txt'"):
        resolve(store, root, "1001.txt")
    tree = _tree(write_tree(store, root, tmp_path, "h"))
    assert len(tree) == 1000 and all(len(v) == 1026 for v in tree.values())
    s = stat(store, root)
    assert (s.type, s.size) == ("directory", 1344711)


def test_hamt_resolve_in_partial_wikipedia_car(ipfs_fixtures: Path) -> None:
    """Real multi-level HAMTs: the path's blocks are all that the CAR holds."""
    store, root = _load(ipfs_fixtures / "gocar-wikipedia-cryptographic-hash-function.car")
    article = resolve(store, root, "/wiki/Cryptographic_hash_function")
    assert str(article) == "bafkreicxwdh6zroscaxxdmz547eegkj2627lkcqh24csqygq26kd4bp6gm"
    assert b"hash" in b"".join(cat(store, article))
    assert stat(store, article) == Entry(str(article), article, "raw", 125785)
    with pytest.raises(NotFound, match="'nope'"):
        resolve(store, root, "nope")
    with pytest.raises(BlockNotFound):  # the HAMT bucket for this name is not in the CAR
        resolve(store, root, "wiki/Nope")


def test_resolve_errors_and_paths(ipfs_fixtures: Path) -> None:
    store, root = _load(ipfs_fixtures / "dag-pb.car")
    bar = resolve(store, root, "foo/bar.txt")
    assert resolve(store, root, "/foo//bar.txt/") == bar
    assert resolve(store, root, "") == root
    with pytest.raises(NotFound, match="no entry 'baz' in .*/foo"):
        resolve(store, root, "foo/baz")
    with pytest.raises(NotFound, match="not a directory"):
        resolve(store, root, "foo.txt/x")
    with pytest.raises(InvalidInput):
        resolve(store, root, "foo/../foo.txt")


def test_stat_kinds(ipfs_fixtures: Path) -> None:
    store, root = _load(ipfs_fixtures / "dir-with-files.car")
    assert stat(store, root).type == "directory"
    assert stat(store, root).size == 1572  # the directory's Tsize
    multi = resolve(store, root, "multiblock.txt")
    assert (stat(store, multi).type, stat(store, multi).size) == ("file", 1026)
    hello = resolve(store, root, "hello.txt")
    assert (stat(store, hello).type, stat(store, hello).size) == ("raw", 12)


def test_cat_a_directory_is_refused(ipfs_fixtures: Path) -> None:
    store, root = _load(ipfs_fixtures / "dir-with-files.car")
    with pytest.raises(InvalidInput, match="not a file"):
        list(cat(store, root))
    with pytest.raises(InvalidInput, match="not a directory"):
        ls(store, resolve(store, root, "hello.txt"))


def test_missing_block_is_named(ipfs_fixtures: Path, tmp_path: Path) -> None:
    store, root = _load(ipfs_fixtures / "file-3k-and-3-blocks-missing-block.car")
    chunks = cat(store, root)
    assert len(next(chunks)) == 1024  # streaming: the first block comes out first
    with pytest.raises(BlockNotFound, match=MISSING) as e:
        next(chunks)
    assert str(e.value.cid) == MISSING
    with pytest.raises(BlockNotFound, match=MISSING):
        check_dag(store, root)
    with pytest.raises(BlockNotFound, match=MISSING):
        write_tree(store, root, tmp_path, "f")
    assert not (tmp_path / "f").exists()  # no half-written file left behind


@pytest.mark.parametrize(
    "name",
    [
        "dir-with-files.car",
        "symlink.car",
        "single-layer-hamt-with-multi-block-files.car",
        "gocar-simple-unixfs.car",
        "gocar-sample-v1.car",
    ],
)
def test_check_dag_on_complete_fixtures(ipfs_fixtures: Path, name: str) -> None:
    store, root = _load(ipfs_fixtures / name)
    check_dag(store, root)


def test_check_dag_catches_a_corrupt_block() -> None:
    d = Dag()
    leaf = d.raw(b"data")
    root = d.dir({"f": leaf})
    d.store.put(leaf, b"dat4", verify=False)
    with pytest.raises(IntegrityError, match=str(leaf)):
        check_dag(d.store, root)
    with pytest.raises(IntegrityError):
        list(cat(d.store, leaf))


# -- hand-built DAGs: file shapes -------------------------------------------------------------


def test_multi_level_file_with_legacy_raw_leaves() -> None:
    d = Dag()
    a = d.file(b"ab", DataType.RAW)
    b = d.raw(b"cde")
    inner = d.multi(a, b, sizes=(2, 3))
    top = d.multi(inner, d.file(b"f"), sizes=(5, 1))
    assert b"".join(cat(d.store, top)) == b"abcdef"
    assert stat(d.store, top).size == 6


def test_declared_filesize_must_match() -> None:
    d = Dag()
    leaf = d.raw(b"abc")
    too_big = d.multi(leaf, sizes=(3,), filesize=10)
    with pytest.raises(IntegrityError, match="declared 10"):
        list(cat(d.store, too_big))
    too_small = d.multi(leaf, leaf, sizes=(3, 3), filesize=4)
    with pytest.raises(IntegrityError, match="more than its declared 4"):
        list(cat(d.store, too_small))


def test_file_linking_a_directory_is_a_decode_error() -> None:
    d = Dag()
    bad = d.multi(d.dir({}), sizes=(0,))
    with pytest.raises(DecodeError, match="not file data"):
        list(cat(d.store, bad))


def test_non_unixfs_blocks() -> None:
    d = Dag()
    cbor = d.put(b"\xa0", DAG_CBOR)
    with pytest.raises(DecodeError, match="not UnixFS"):
        stat(d.store, cbor)
    no_data = d.put(dagpb.PBNode((), None).encode())
    with pytest.raises(DecodeError, match="no UnixFS Data"):
        stat(d.store, no_data)
    meta = d.put(dagpb.PBNode((), b"\x08\x03").encode())
    with pytest.raises(DecodeError, match="METADATA"):
        stat(d.store, meta)


def test_data_first_directory_is_read() -> None:
    d = Dag()
    a, b = d.raw(b"A"), d.raw(b"B")
    links = b"".join(dagpb.PBLink(c, n, 1).encode() for n, c in (("a", a), ("b", b)))
    root = d.put(b"\x0a\x02\x08\x01" + links)
    assert [e.name for e in ls(d.store, root)] == ["a", "b"]
    assert resolve(d.store, root, "b") == b


# -- hand-built DAGs: HAMT ------------------------------------------------------------------------


def _bucket(name: str, depth: int = 0) -> str:
    return f"{(hamt_key(name) >> (56 - 8 * depth)) & 0xFF:02X}"


def test_hand_built_two_level_hamt() -> None:
    """Two names sharing their first hash byte go into a sub-shard, as boxo lays them out."""
    by_bucket: dict[str, list[str]] = {}
    for i in range(300):
        by_bucket.setdefault(_bucket(f"n{i}"), []).append(f"n{i}")
    pair = next(v[:2] for v in by_bucket.values() if len(v) >= 2)
    lone = next(v[0] for k, v in by_bucket.items() if len(v) == 1)
    d = Dag()
    files = {n: d.raw(n.encode()) for n in [*pair, lone]}
    sub = d.shard(sorted((_bucket(n, 1) + n, files[n]) for n in pair))
    root = d.shard(sorted([(_bucket(lone) + lone, files[lone]), (_bucket(pair[0]), sub)]))
    assert [e.name for e in ls(d.store, root)] == sorted([*pair, lone])
    for name, cid in files.items():
        assert resolve(d.store, root, name) == cid
    with pytest.raises(NotFound):
        resolve(d.store, root, "absent")


@pytest.mark.parametrize(
    ("links", "fanout", "needle"),
    [
        ([("ZZname", "leaf")], 256, "bad link name"),
        ([("0", "leaf")], 256, "bad link name"),
        ([("00x", "leaf")], 3, "invalid fanout"),
        ([("00", "file")], 256, "sub-shard"),
    ],
)
def test_malformed_hamts(links: list[tuple[str, str]], fanout: int, needle: str) -> None:
    d = Dag()
    targets = {"leaf": d.raw(b"x"), "file": d.file(b"y")}
    root = d.shard([(n, targets[t]) for n, t in links], fanout=fanout)
    with pytest.raises(DecodeError, match=needle):
        ls(d.store, root)


def test_hamt_with_a_repeated_sub_shard_is_refused() -> None:
    d = Dag()
    sub = d.shard([("00a", d.raw(b"a"))])
    root = d.shard([("00", sub), ("01", sub)])
    with pytest.raises(DecodeError, match="malformed sub-shard"):
        ls(d.store, root)


def test_hamt_with_a_wrong_hash_function() -> None:
    d = Dag()
    fs = UnixFSData(DataType.HAMT_SHARD, b"\x01", hash_type=0x12, fanout=256)
    root = d.put(dagpb.PBNode((), fs.encode()).encode())
    with pytest.raises(DecodeError, match="unsupported hash function"):
        resolve(d.store, root, "x")


# -- write_tree safety --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../evil", "a/b", "/abs", "", ".", "..", "nul\0byte"])
def test_unsafe_names_are_refused(tmp_path: Path, bad: str) -> None:
    d = Dag()
    root = d.dir({"ok": d.raw(b"fine"), bad: d.raw(b"evil")})
    dest = tmp_path / "dest"
    with pytest.raises(InvalidInput, match="unsafe entry name") as e:
        write_tree(d.store, root, dest, "out")
    assert repr(bad) in str(e.value)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dest"]  # nothing written at all


def test_unsafe_top_level_name(tmp_path: Path) -> None:
    d = Dag()
    with pytest.raises(InvalidInput):
        write_tree(d.store, d.raw(b"x"), tmp_path, "../up")


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    d = Dag()
    x = d.raw(b"x")
    block = dagpb.PBNode((dagpb.PBLink(x, "a", 1), dagpb.PBLink(x, "a", 1)), b"\x08\x01")
    root = d.put(block.encode())
    with pytest.raises(DecodeError, match="two entries named 'a'"):
        write_tree(d.store, root, tmp_path, "out")


def test_pre_existing_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"keep me")
    dest = tmp_path / "dest"
    (dest / "out" / "sub").mkdir(parents=True)
    os.symlink(outside / "victim", dest / "out" / "file")  # where a file goes
    os.symlink(outside, dest / "out" / "dir")  # where a directory goes
    os.symlink(outside / "victim", dest / "out" / "sub" / "deep")
    d = Dag()
    root = d.dir(
        {
            "dir": d.dir({"victim": d.raw(b"PWNED")}),
            "file": d.raw(b"PWNED"),
            "sub": d.dir({"deep": d.raw(b"new")}),
        }
    )
    write_tree(d.store, root, dest, "out")
    assert (outside / "victim").read_bytes() == b"keep me"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert not (dest / "out" / "dir").is_symlink()
    assert (dest / "out" / "dir" / "victim").read_bytes() == b"PWNED"
    assert (dest / "out" / "file").read_bytes() == b"PWNED"
    assert (dest / "out" / "sub" / "deep").read_bytes() == b"new"


def test_hard_links_are_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "victim"
    outside.write_bytes(b"keep me")
    (tmp_path / "dest").mkdir()
    os.link(outside, tmp_path / "dest" / "f")
    d = Dag()
    write_tree(d.store, d.raw(b"new"), tmp_path / "dest", "f")
    assert outside.read_bytes() == b"keep me"
    assert (tmp_path / "dest" / "f").read_bytes() == b"new"


def test_dag_symlinks_are_links_not_paths(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    d = Dag()
    root = d.dir({"esc": d.symlink(str(outside).encode()), "up": d.symlink(b"../../..")})
    out = write_tree(d.store, root, tmp_path / "dest", "out")
    assert os.readlink(out / "esc") == str(outside)
    assert os.readlink(out / "up") == "../../.."
    # writing again over the same tree replaces the links instead of following them
    write_tree(d.store, root, tmp_path / "dest", "out")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("target", [b"", b"a\0b"])
def test_bad_symlink_targets(tmp_path: Path, target: bytes) -> None:
    d = Dag()
    with pytest.raises(InvalidInput, match="target"):
        write_tree(d.store, d.symlink(target), tmp_path, "l")


def test_directory_in_the_way_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    d = Dag()
    with pytest.raises(InvalidInput, match="directory is in the way"):
        write_tree(d.store, d.raw(b"x"), tmp_path, "f")


def test_file_in_the_way_of_a_directory_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "d").write_bytes(b"old")
    d = Dag()
    write_tree(d.store, d.dir({"x": d.raw(b"x")}), tmp_path, "d")
    assert (tmp_path / "d" / "x").read_bytes() == b"x"


def test_merging_into_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_bytes(b"k")
    d = Dag()
    write_tree(d.store, d.dir({"new": d.raw(b"n")}), tmp_path, "d")
    assert _tree(tmp_path / "d") == {"keep": b"k", "new": b"n"}


def test_too_deep_trees_are_refused(tmp_path: Path) -> None:
    d = Dag()
    node = d.raw(b"bottom")
    for _ in range(MAX_DEPTH + 1):
        node = d.dir({"d": node})
    with pytest.raises(InvalidInput, match="too deep"):
        write_tree(d.store, node, tmp_path, "deep")


def test_io_errors_are_bacalao_errors(tmp_path: Path) -> None:
    from bacalao.errors import BacalaoError

    d = Dag()
    with pytest.raises(BacalaoError, match="cannot write"):
        write_tree(d.store, d.raw(b"x"), tmp_path, "n" * 300)  # ENAMETOOLONG


def test_identity_cid_file() -> None:
    data = b"inline!"
    cid = CID(1, RAW, b"\x00" + varint.encode(len(data)) + data)
    assert b"".join(cat(DictBlocks(), cid)) == data
