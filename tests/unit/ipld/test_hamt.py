"""HAMT-sharded directories: the reference §4.4 vectors, IPIP-499 directory fixtures, the
js-ipfs-unixfs 1343/1344-entry parity vectors, and properties of the layout."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.ipld import vectors

from bacalao.errors import InvalidInput
from bacalao.ipld import dagpb, unixfs
from bacalao.ipld.cid import CID
from bacalao.ipld.directory import build_directory
from bacalao.ipld.hamt import build_hamt, murmur64
from bacalao.ipld.importer import ImportedNode, import_bytes, import_path
from bacalao.ipld.profiles import PROFILES, ImportProfile

V0 = PROFILES["kubo-v0"]
V1 = PROFILES["cid-v1"]
V2025 = PROFILES["unixfs-v1-2025"]


class DictSink(dict):
    """Blocks by CID; ``puts`` counts every put (duplicates included)."""

    puts = 0
    put_bytes = 0

    def put(self, cid: CID, data: bytes) -> None:
        self[cid] = data
        self.puts += 1
        self.put_bytes += len(data)


def x_dir(profile: ImportProfile, seed: str, count: int, name_len: int, last: int, sink=None):
    """The IPIP-499 directory fixture: ``count`` files holding ``x``."""
    x = import_bytes(b"x", profile)
    names = vectors.hamt_names(seed, count, name_len, last)
    return build_directory([(n, x) for n in names], profile, sink)


HAMT_ROWS = [
    # reference §4.4 (CIDv0, links-bytes, Kubo >= 0.40 '>')
    (V0, "hamt-unixfs-v0-2015", 4095, 30, 30, "QmRG8oHEYpdxnES2Ry7QHMP5mX25nFzZgadaBH8H4rZVpB"),
    (V0, "hamt-unixfs-v0-2015", 4096, 30, 30, "QmX5GtRk3TSSEHtdrykgqm4eqMEn3n2XhfkFAis5fjyZmN"),
    (V0, "hamt-unixfs-v0-2015", 4033, 31, 31, "QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP"),
    # Kubo <= 0.39 ('>=') is threshold 262143 under '>'
    (
        V0.replace(hamt_threshold=262143),
        "hamt-unixfs-v0-2015",
        4096,
        30,
        30,
        "QmWCW8YwPBGWx2DGftBBKeack73sRpxaFYSh9sGmxpgcKb",
    ),
    # fixtures README §9.1, --cid-version=1 column
    (
        V1,
        "hamt-unixfs-v0-2015",
        4096,
        30,
        30,
        "bafybeif7apk4kp43k6sz4vmknu4e6as4zgincuq35iuhwsq4pnqxviqzpq",
    ),
    (
        V1,
        "hamt-unixfs-v0-2015",
        4033,
        31,
        31,
        "bafybeihg5a7qei2gdpmmkokpy3tozvf7trvq5xn3z5ifqymjj7jo4h55p4",
    ),
    # §9.2 IPIP-499 (block-bytes)
    (
        V2025,
        "hamt-unixfs-v1-2025",
        4766,
        11,
        21,
        "bafybeic3h7rwruealwxkacabdy45jivq2crwz6bufb5ljwupn36gicplx4",
    ),
    (
        V2025,
        "hamt-unixfs-v1-2025",
        4766,
        11,
        22,
        "bafybeiegvuterwurhdtkikfhbxcldohmxp566vpjdofhzmnhv6o4freidu",
    ),
]


@pytest.mark.parametrize(
    ("profile", "seed", "count", "name_len", "last", "expected"),
    HAMT_ROWS,
    ids=[f"{r[0].name}-{r[0].hamt_threshold}-{r[2]}x{r[3]}+{r[4]}" for r in HAMT_ROWS],
)
def test_threshold_vectors(
    profile: ImportProfile, seed: str, count: int, name_len: int, last: int, expected: str
) -> None:
    assert str(x_dir(profile, seed, count, name_len, last).cid) == expected


def test_block_estimate_at_threshold_is_exact() -> None:
    """The v1-2025 'at threshold' directory is a basic directory of exactly 262144 bytes."""
    sink = DictSink()
    node = x_dir(V2025, "hamt-unixfs-v1-2025", 4766, 11, 21, sink)
    block = sink[node.cid]
    assert len(block) == 262144
    assert unixfs.decode(dagpb.decode(block).data).type == unixfs.DataType.DIRECTORY


def test_threshold_vector_on_disk(tmp_path: Path) -> None:
    """The same vector through import_path (real files), with every block checked."""
    names = vectors.hamt_names("hamt-unixfs-v0-2015", 4033, 31, 31)
    d = tmp_path / "d"
    d.mkdir()
    for n in names:
        (d / n).write_bytes(b"x")
    sink = DictSink()
    node = import_path(d, V0, sink)
    assert str(node.cid) == "QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP"
    assert node.size == 4033
    assert node.tsize == sink.put_bytes  # each file's block counts once per link
    assert sorted(hamt_entries(sink, node.cid)) == sorted(names)


@pytest.mark.parametrize(
    ("count", "expected", "tsize"),
    [
        (1343, "bafybeihecq4rpl4nw3cgfb2uiwltgsmw5sutouvuldv5fxn4gfbihvnalq", 490665),
        (1344, "bafybeigyvxs6og5jbmpaa43qbhhd5swklqcfzqdrtjgfh53qjon6hpjaye", 515735),
    ],
)
def test_js_hash_parity_vectors(count: int, expected: str, tsize: int) -> None:
    names = vectors.js_shard_names(count)
    node = build_directory([(n, import_bytes(n.encode(), V1)) for n in names], V1)
    assert (str(node.cid), node.tsize) == (expected, tsize)


def test_murmur_and_bitfield_conventions() -> None:
    # h1 of murmur3 x64_128, seed 0 (spaolacci Sum64 of the empty string is 0)
    assert murmur64(b"") == 0
    # a one-entry HAMT: bitfield holds one bit, leading zero bytes stripped
    x = import_bytes(b"x")
    sink = DictSink()
    node = build_hamt([(b"a", x)], fanout=256, cid_version=0, put=sink.put)
    pb = dagpb.decode(sink[node.cid])
    fs = unixfs.decode(pb.data)
    index = murmur64(b"a") >> 56
    assert fs.type == unixfs.DataType.HAMT_SHARD
    assert (fs.hash_type, fs.fanout, fs.filesize) == (0x22, 256, None)
    assert fs.data == (1 << index).to_bytes(32, "big").lstrip(b"\0")
    assert [link.name for link in pb.links] == [f"{index:02X}a"]
    assert node.tsize == len(sink[node.cid]) + x.tsize


def hamt_entries(blocks: dict[CID, bytes], cid: CID, pad: int = 2) -> list[str]:
    """Names in a HAMT (walking sub-shards)."""
    pb = dagpb.decode(blocks[cid])
    out = []
    for link in pb.links:
        if len(link.name) > pad:
            out.append(link.name[pad:])
        else:
            out.extend(hamt_entries(blocks, link.cid, pad))
    return out


names_st = st.lists(
    st.text(
        st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=8,
    ),
    min_size=1,
    max_size=300,
    unique=True,
)


@settings(max_examples=40, deadline=None)
@given(names=names_st, fanout=st.sampled_from([16, 256]), seed=st.integers(0, 2**32))
def test_hamt_is_canonical_and_complete(names: list[str], fanout: int, seed: int) -> None:
    """Same entries in any order give the same HAMT; every entry is reachable; Tsize adds up."""
    profile = V1.replace(hamt_threshold=0, hamt_fanout=fanout)
    x = ImportedNode(import_bytes(b"x", profile).cid, 1, 1)
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    a, b = DictSink(), DictSink()
    node_a = build_directory([(n, x) for n in names], profile, a)
    node_b = build_directory([(n, x) for n in shuffled], profile, b)
    assert node_a == node_b
    assert a == b
    pad = len(f"{fanout - 1:X}")
    assert sorted(hamt_entries(a, node_a.cid, pad)) == sorted(names)
    assert node_a.tsize == sum(len(blk) for blk in a.values()) + len(names)
    assert node_a.size == len(names)
    for blk in a.values():  # every shard uses at most `fanout` buckets, in increasing order
        prefixes = [link.name[:pad] for link in dagpb.decode(blk).links]
        assert prefixes == sorted(set(prefixes))


def test_duplicate_and_bad_names_rejected() -> None:
    x = import_bytes(b"x")
    with pytest.raises(InvalidInput):
        build_directory([("a", x), ("a", x)], V0)
    with pytest.raises(InvalidInput):
        build_directory([("a/b", x)], V0)
    with pytest.raises(InvalidInput):
        build_directory([("", x)], V0)


def test_dir_max_links_switches_to_hamt() -> None:
    x = import_bytes(b"x")
    entries = [(f"f{i}", x) for i in range(5)]
    sink = DictSink()
    node = build_directory(entries, V0.replace(dir_max_links=4), sink)
    assert unixfs.decode(dagpb.decode(sink[node.cid]).data).type == unixfs.DataType.HAMT_SHARD
    node = build_directory(entries, V0.replace(dir_max_links=5), sink)
    assert unixfs.decode(dagpb.decode(sink[node.cid]).data).type == unixfs.DataType.DIRECTORY
