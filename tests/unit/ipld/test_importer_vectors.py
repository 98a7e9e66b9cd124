"""Every file/tree CID of ../shared/fixtures/ipfs/README.md §9.1 and §9.2, reproduced.

Big inputs are generated once per session under the session tmp dir; the 1 GiB IPIP-499 files
are marked slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.ipld import vectors

from bacalao.ipld.cid import CID
from bacalao.ipld.importer import import_bytes, import_path, import_stream
from bacalao.ipld.profiles import PROFILES, ImportProfile, resolve_profile

V0 = PROFILES["kubo-v0"]
V1 = PROFILES["cid-v1"]
V2025 = PROFILES["unixfs-v1-2025"]


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where generated inputs are cached for the session."""
    return tmp_path_factory.mktemp("ipfs-inputs")


def chacha_file(inputs: Path, seed: str, size: int) -> Path:
    return vectors.write_chacha(inputs / f"{seed}-{size}.bin", seed, size)


# -- §9.1 small inputs --------------------------------------------------------------------------
SMALL = {
    "empty": b"",
    "hello_nl": b"hello world\n",
    "hello": b"hello world",
    "x": b"x",
    "pattern_1MiB": vectors.pattern(1 << 20),
}

SMALL_ROWS = [
    ("empty", V0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", 6),
    ("empty", V1, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", 0),
    ("empty", V2025, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", 0),
    ("hello_nl", V0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", 20),
    ("hello_nl", V1, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", 12),
    ("hello_nl", V2025, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", 12),
    ("hello", V0, "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD", None),
    ("hello", V2025, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e", 11),
    ("x", V0, "QmULKig5Fxrs2sC4qt9nNduucXfb92AFYQ6Hi3YRqDmrYC", None),
    ("x", V1, "bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe", 1),
    ("x", V2025, "bafkreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe", 1),
    ("pattern_1MiB", V0, "QmNVwWg6N5yixbSukgRFyXez5HdRY52RhEbg823ejW3cHn", 1048832),
    ("pattern_1MiB", V1, "bafybeiclphklsx6bfzfb5aezogjldbkeicyyvma6wrfnielfg7haplwahy", None),
    ("pattern_1MiB", V2025, "bafkreih3xkzit57zjmsxg3cyxzdktfgeih6qevjmyybcguxd3bws7k34qm", None),
]


@pytest.mark.parametrize(
    ("name", "profile", "expected", "tsize"),
    SMALL_ROWS,
    ids=[f"{r[0]}-{r[1].name}" for r in SMALL_ROWS],
)
def test_small_inputs(name: str, profile: ImportProfile, expected: str, tsize: int | None) -> None:
    node = import_bytes(SMALL[name], profile)
    assert str(node.cid) == expected
    assert node.size == len(SMALL[name])
    if tsize is not None:
        assert node.tsize == tsize


# Extra variants (JS and ref): --raw-leaves under CIDv0, --cid-version=1 --raw-leaves=false.
VARIANT_ROWS = [
    ("pattern_1MiB", 0, True, "QmTRH2yGCphtuEtMbigaXfpp5awx3DWMujWQR7x6evhCnH"),
    ("hello_nl", 0, True, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
    ("pattern_1MiB", 1, False, "bafybeicik4tjcnysawryccsfe5tplbv3z3xmfjqiqvg364bpdymbpdedxq"),
    ("hello_nl", 1, False, "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"),
    ("empty", 1, False, "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"),
]


@pytest.mark.parametrize(("name", "version", "raw", "expected"), VARIANT_ROWS)
def test_leaf_variants(name: str, version: int, raw: bool, expected: str) -> None:
    profile = resolve_profile(cid_version=version, raw_leaves=raw)
    assert str(import_bytes(SMALL[name], profile).cid) == expected


def test_two_chunk_file_worked_bytes() -> None:
    """Reference §2.2: ``hello world\\n`` with --chunker=size-8."""
    node = import_bytes(b"hello world\n", resolve_profile(chunk_size=8))
    assert str(node.cid) == "Qmf9wDYqzq1bM9wheWMQrRC8qh5RPfdPiiezaNPhmhfmYL"
    assert node.tsize == 122


def test_unixfs_spec_appendix_file() -> None:
    """A 40-byte dag-pb leaf under CIDv1 without raw leaves."""
    data = b"Hello from IPFS Gateway Checker\n"
    node = import_bytes(data, resolve_profile(cid_version=1, raw_leaves=False))
    assert str(node.cid) == "bafybeifx7yeb55armcsxwwitkymga5xf53dxiarykms3ygqic223w5sk3m"
    assert node.tsize == 40


# -- §9.1 generated big inputs --------------------------------------------------------------------
BIG_ROWS = [
    ("ipfs-md-10MiB", 10485760, V0, "QmTyJphTgfKLVmjj8TAGmsKZTnqgaxP4LGZSJht7KeHBiF", 10488250),
    (
        "ipfs-md-10MiB",
        10485760,
        V1,
        "bafybeihb3v3rbw23jw5kdglg55qo7jri6wwfyb4fpjvsicwjdt3guh6jki",
        None,
    ),
    (
        "ipfs-md-10MiB",
        10485760,
        V2025,
        "bafybeif53r7jvayt2vys3ulbvxrjamw6badren3rcs6wekillv6rqc2dha",
        None,
    ),
    ("v0-seed", 174 * 262144 + 1, V0, "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW", 45624016),
    (
        "v0-seed",
        174 * 262144 + 1,
        V1,
        "bafybeifr472xiwfk53w5s7bayijk3lq2go6ocqqcfch6ygy5qwza5hkdl4",
        None,
    ),
    (
        "v0-seed",
        174 * 262144 + 1,
        V2025,
        "bafybeiavabaoi5xtbkquyel6tjimh6g2dk6xsbh4uxj4eh3wqvopljzzja",
        None,
    ),
]


@pytest.mark.parametrize(
    ("seed", "size", "profile", "expected", "tsize"),
    BIG_ROWS,
    ids=[f"{r[0]}-{r[2].name}" for r in BIG_ROWS],
)
def test_chacha_inputs(
    inputs: Path, seed: str, size: int, profile: ImportProfile, expected: str, tsize: int | None
) -> None:
    node = import_path(chacha_file(inputs, seed, size), profile)
    assert str(node.cid) == expected
    assert node.size == size
    if tsize is not None:
        assert node.tsize == tsize


# -- §9.1 tree/ ----------------------------------------------------------------------------------
TREE_ROWS = [
    (V0, True, "QmYUuL2VdoamorVceZboFi3Wr76DhrX96MqtU7bqBN9Dr1"),
    (V1, True, "bafybeib4seeejdz2vahndnmlffo6x57npmyxhmj7fzf5udseumzauuwpoa"),
    (V2025, True, "bafybeia2fwqfp3eqotnoo3z453it6khy74dkvafvr7n3q2emmhgxsg4bwa"),
    (V0, False, "QmQeHJxxXcUkry9HQgjubePMHKvtQShd8t8HU3tU4M684F"),
    (V1, False, "bafybeidd7s5xw25o7c4tnhj4zj3td23cp74x4sge7bnaxxt4adpj3zvv34"),
    (V2025, False, "bafybeihxo6szqoujp54xaokzi6jbme3yoc6cv4ucbbrz3ab5acafxyimne"),
]


@pytest.mark.parametrize(
    ("profile", "hidden", "expected"),
    TREE_ROWS,
    ids=[f"{r[0].name}-hidden={r[1]}" for r in TREE_ROWS],
)
def test_tree(tmp_path: Path, profile: ImportProfile, hidden: bool, expected: str) -> None:
    tree = vectors.make_tree(tmp_path / "tree")
    assert str(import_path(tree, profile, hidden=hidden).cid) == expected


NO_SYMLINK_ROWS = [
    (V0, "QmQUhKRnevs1TdK4T2KDQPEnYxrQ9nR74b2Zz9tYRS9oeR"),
    (V1, "bafybeib6ek7alidncf4fat6vxc23gjbegtmqx7qllqchraccicbqoo5oiu"),
    (V2025, "bafybeibrovwjflvavu2plbjgyikmj5lp6p7y6j4ckgxh6cqznnujkygwka"),
]


@pytest.mark.parametrize(("profile", "expected"), NO_SYMLINK_ROWS, ids=lambda v: str(v)[:12])
def test_tree_without_symlink(tmp_path: Path, profile: ImportProfile, expected: str) -> None:
    """What the JS importer gives (it cannot add symlinks): all entries but the symlink."""
    tree = vectors.make_tree(tmp_path / "tree")
    (tree / "link-to-a").unlink()
    assert str(import_path(tree, profile, hidden=True).cid) == expected


def test_tree_subdir_and_empty_dir(tmp_path: Path) -> None:
    tree = vectors.make_tree(tmp_path / "tree")
    b = import_path(tree / "b")
    assert str(b.cid) == "QmcGNmqc5NEZY4Ra3vdiRfdhzzWjPym7pEx4Uw2TDzrZGP"
    assert (b.tsize, b.size) == (300236, 300000)
    for profile, expected in [
        (V0, "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"),
        (V1, "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"),
        (V2025, "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"),
    ]:
        node = import_path(tree / "b" / "empty", profile)
        assert (str(node.cid), node.tsize, node.size) == (expected, 4, 0)


def test_wrap_with_directory(tmp_path: Path) -> None:
    """``ipfs add -w hello.txt``: the reference's worked block. Its "CIDv1 form" is the
    ``--cid-version=1`` import (raw leaf inside), not the v0 CID converted to v1."""
    d = tmp_path / "w"
    d.mkdir()
    (d / "hello.txt").write_bytes(b"hello world\n")
    node = import_path(d)
    assert str(node.cid) == "QmfLiVjH2vujCVP2e75zyzBYmpcjktmDeU1YBz6Ct8BBsc"
    assert str(import_path(d, V1).cid) == (
        "bafybeidhkumeonuwkebh2i4fc7o7lguehauradvlk57gzake6ggjsy372a"
    )


# -- §9.2 IPIP-499 / Kubo cid_profiles_test.go ------------------------------------------------
IPIP_ROWS = [
    (V0, "chunk-v0-seed", 262144, "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE"),
    (V0, "chunk-v0-seed", 262145, "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ"),
    (V0, "v0-seed", 174 * 262144, "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2"),
    (V0, "v0-seed", 174 * 262144 + 1, "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW"),
    (
        V2025,
        "chunk-v1-seed",
        1048576,
        "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta",
    ),
    (
        V2025,
        "chunk-v1-seed",
        1048577,
        "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64",
    ),
]
IPIP_SLOW_ROWS = [
    (
        V2025,
        "v1-2025-seed",
        1024 << 20,
        "bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm",
    ),
    (
        V2025,
        "v1-2025-seed",
        (1024 << 20) + 1,
        "bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe",
    ),
]


@pytest.mark.parametrize(
    ("profile", "seed", "size", "expected"), IPIP_ROWS, ids=[f"{r[1]}-{r[2]}" for r in IPIP_ROWS]
)
def test_ipip499_files(inputs: Path, profile: ImportProfile, seed: str, size: int, expected: str):
    assert str(import_path(chacha_file(inputs, seed, size), profile).cid) == expected


@pytest.fixture(scope="module")
def gib_file(inputs: Path):  # type: ignore[no-untyped-def]
    """1 GiB + 1 byte of the ``v1-2025-seed`` keystream, removed after the module."""
    path = chacha_file(inputs, "v1-2025-seed", (1024 << 20) + 1)
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("profile", "size", "expected"),
    [(p, n, cid) for p, _seed, n, cid in IPIP_SLOW_ROWS],
    ids=[str(r[2]) for r in IPIP_SLOW_ROWS],
)
def test_ipip499_files_1gib(gib_file: Path, profile: ImportProfile, size: int, expected: str):
    """Both rows from one file: the +1 byte is the next keystream byte. workers=2 on purpose."""
    with open(gib_file, "rb", buffering=0) as f:
        node = import_stream(Prefix(f, size), profile, workers=2)  # type: ignore[arg-type]
    assert str(node.cid) == expected
    assert node.size == size


class Prefix:
    """The first ``size`` bytes of a raw file object."""

    def __init__(self, f, size: int) -> None:  # type: ignore[no-untyped-def]
        self.f = f
        self.left = size

    def readinto(self, mv: memoryview) -> int:
        n = self.f.readinto(mv[: min(len(mv), self.left)])
        self.left -= n
        return n


def test_ipip499_small_file() -> None:
    assert str(import_bytes(b"hello world", V0).cid) == (
        "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    )
    assert str(import_bytes(b"hello world", V2025).cid) == (
        "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    )


def test_cid_strings_round_trip() -> None:
    cid = import_bytes(b"hello world\n", V0).cid
    assert CID.decode(str(cid)) == cid
