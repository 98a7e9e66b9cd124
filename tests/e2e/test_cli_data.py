"""``bacalao data …`` as a user types it: every command, malformed inputs, property round-trips.

Most tests run the real entry point (``bacalao.cli.main.run``, which formats errors) inside Click's
test isolation for speed; a few run the installed console script in a subprocess.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bacalao.cli import output
from bacalao.cli.main import run
from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.car import write_car
from bacalao.ipld.cid import CID, RAW
from bacalao.ipld.dagpb import PBLink, PBNode
from bacalao.ipld.unixfs import DataType, UnixFSData

HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_V1 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
HELLO_NO_NL_2025 = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
DIR_WITH_FILES = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"
SYMLINK_ROOT = "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt"
MISSING_BLOCK_ROOT = "QmYhmPjhFjYFyaoiuNzYv8WGavpSRDwdHWe5B4M5du5Rtk"
BACALAO = Path(sys.executable).with_name("bacalao")


@dataclass
class Result:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode()


def bacalao(*args: str | Path, data_dir: Path | None = None, stdin: bytes | None = None) -> Result:
    """Run ``bacalao ARGS`` through the real entry point, capturing stdout (bytes) and stderr."""
    argv = ["bacalao", *map(str, args)]
    env = {"BACALAO_DATA_DIR": str(data_dir) if data_dir is not None else None}
    runner = CliRunner()
    saved = sys.argv
    code = 0
    with runner.isolation(input=stdin, env=env) as streams:
        sys.argv = argv
        try:
            run()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            sys.argv = saved
            sys.stdout.flush()
            sys.stderr.flush()
        out, err = streams[0].getvalue(), streams[1].getvalue().decode()
    return Result(code, out, err)


def assert_one_line_error(r: Result, *words: str) -> None:
    """Exit != 0, stderr is exactly ``Error: …`` and ``Hint: …``, no traceback, no stdout."""
    assert r.code != 0, r
    assert "Traceback" not in r.err
    lines = r.err.strip().splitlines()
    assert lines[0].startswith("Error: "), r.err
    assert len(lines) == 2 and lines[1].startswith("Hint: "), r.err
    for w in words:
        assert w in lines[0], r.err


def snapshot(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def dd(tmp_path: Path) -> Path:
    return tmp_path / "data"


def make_fixture_tree(root: Path) -> Path:
    """The ``tree/`` input of ../shared/fixtures/ipfs/README.md."""
    (root / "b" / "empty").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"hello world\n")
    (root / "b" / "c.bin").write_bytes((bytes(range(256)) * 1200)[:300000])
    (root / ".hidden").write_bytes(b"h")
    (root / "Z-upper.txt").write_bytes(b"Z")
    (root / "ütf8-näme.txt").write_bytes(b"unicode")
    (root / "link-to-a").symlink_to("a.txt")
    return root


# -- add -----------------------------------------------------------------------------------------


def test_add_prints_only_the_root_cid(tmp_path: Path, dd: Path) -> None:
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello world\n")
    r = bacalao("data", "add", f, data_dir=dd)
    assert r.code == 0 and r.text == HELLO_V0 + "\n" and r.err == ""
    assert bacalao("data", "add", f, "--cid-version", "1", data_dir=dd).text.strip() == HELLO_V1
    assert bacalao("data", "pins", data_dir=dd).text.split() == [HELLO_V0, HELLO_V1]


def test_add_profiles_and_only_hash(tmp_path: Path, dd: Path) -> None:
    f = tmp_path / "hello"
    f.write_bytes(b"hello world")
    r = bacalao("data", "add", "--profile", "unixfs-v1-2025", "--only-hash", f, data_dir=dd)
    assert r.text.strip() == HELLO_NO_NL_2025
    assert not dd.exists()  # only-hash stores nothing, not even a data dir


def test_add_fixture_tree_matches_kubo(tmp_path: Path, dd: Path) -> None:
    tree = make_fixture_tree(tmp_path / "tree")
    assert bacalao("data", "add", tree, data_dir=dd).text.strip() == (
        "QmQeHJxxXcUkry9HQgjubePMHKvtQShd8t8HU3tU4M684F"
    )
    assert bacalao("data", "add", "--hidden", tree, data_dir=dd).text.strip() == (
        "QmYUuL2VdoamorVceZboFi3Wr76DhrX96MqtU7bqBN9Dr1"
    )
    assert bacalao("data", "add", "--cid-version", "1", tree, data_dir=dd).text.strip() == (
        "bafybeidd7s5xw25o7c4tnhj4zj3td23cp74x4sge7bnaxxt4adpj3zvv34"
    )


def test_add_verbose_and_stdin(tmp_path: Path, dd: Path) -> None:
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello world\n")
    r = bacalao("data", "add", "-v", f, data_dir=dd)
    assert r.text.splitlines() == [f"added {HELLO_V0} hello.txt", HELLO_V0]
    assert "12 bytes" in r.err
    r = bacalao("data", "add", "-", data_dir=dd, stdin=b"hello world\n")
    assert r.text.strip() == HELLO_V0


def test_add_errors(tmp_path: Path, dd: Path) -> None:
    assert_one_line_error(bacalao("data", "add", tmp_path / "nope", data_dir=dd), "does not exist")
    f = tmp_path / "f"
    f.write_bytes(b"x")
    assert_one_line_error(
        bacalao("data", "add", "--profile", "bogus", f, data_dir=dd), "unknown import profile"
    )
    assert_one_line_error(
        bacalao("data", "add", "--cid-version", "7", f, data_dir=dd), "CID version"
    )
    assert not dd.exists()


# -- cat / ls / get ---------------------------------------------------------------------------


@pytest.fixture
def tree_cid(tmp_path: Path, dd: Path) -> str:
    tree = make_fixture_tree(tmp_path / "tree")
    return bacalao("data", "add", tree, data_dir=dd).text.strip()


def test_cat(tree_cid: str, dd: Path) -> None:
    assert bacalao("data", "cat", f"{tree_cid}/a.txt", data_dir=dd).out == b"hello world\n"
    r = bacalao("data", "cat", f"/ipfs/{tree_cid}/b/c.bin", data_dir=dd)
    assert r.out == (bytes(range(256)) * 1200)[:300000]
    assert_one_line_error(bacalao("data", "cat", tree_cid, data_dir=dd))
    assert_one_line_error(bacalao("data", "cat", f"{tree_cid}/zzz", data_dir=dd), "zzz")
    assert_one_line_error(bacalao("data", "cat", f"{tree_cid}/../a.txt", data_dir=dd))


def test_ls_formats(tree_cid: str, dd: Path) -> None:
    r = bacalao("data", "ls", tree_cid, data_dir=dd)
    lines = r.text.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "SIZE", "CID"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["Z-upper.txt", "a.txt", "b", "link-to-a", "ütf8-näme.txt"]
    assert all(line == line.rstrip() for line in lines)
    rows = json.loads(bacalao("data", "ls", tree_cid, "--output", "json", data_dir=dd).out)
    assert rows[1] == {
        "name": "a.txt",
        "type": "file",
        "size": 12,
        "cid": "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
    }
    assert {r["type"] for r in rows} == {"file", "directory", "symlink"}
    assert yaml.safe_load(bacalao("data", "ls", tree_cid, "--output", "yaml", data_dir=dd).out) == (
        rows
    )
    sub = json.loads(bacalao("data", "ls", f"{tree_cid}/b", "--output", "json", data_dir=dd).out)
    assert [(e["name"], e["type"]) for e in sub] == [("c.bin", "file"), ("empty", "directory")]
    r = bacalao("data", "ls", f"{tree_cid}/a.txt", "--output", "json", data_dir=dd)
    one = json.loads(r.out)
    assert [e["cid"] for e in one] == [HELLO_V0]


def test_get_writes_the_tree(tree_cid: str, tmp_path: Path, dd: Path) -> None:
    out = tmp_path / "out"
    r = bacalao("data", "get", tree_cid, "-o", out, data_dir=dd)
    assert r.code == 0 and r.text.strip() == str(out)
    assert (out / "a.txt").read_bytes() == b"hello world\n"
    assert (out / "b" / "empty").is_dir()
    assert os.readlink(out / "link-to-a") == "a.txt"
    assert not (out / ".hidden").exists()
    os.chdir(tmp_path)
    r = bacalao("data", "get", f"{tree_cid}/b/c.bin", data_dir=dd)
    assert (tmp_path / "c.bin").stat().st_size == 300000


def test_read_commands_on_a_missing_data_dir(tmp_path: Path) -> None:
    r = bacalao("data", "cat", HELLO_V0, data_dir=tmp_path / "never")
    assert_one_line_error(r, "no bacalao data")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("cmd", ["cat", "ls", "get", "export", "pin", "unpin"])
@pytest.mark.parametrize("bad", ["nonsense", "Qm123", "bafy!!", "/ipfs/", ""])
def test_bad_cid_strings(cmd: str, bad: str, tree_cid: str, dd: Path) -> None:
    assert_one_line_error(bacalao("data", cmd, bad, data_dir=dd))


# -- export / import ---------------------------------------------------------------------------


def test_import_export_round_trip(ipfs_fixtures: Path, tmp_path: Path, dd: Path) -> None:
    car = ipfs_fixtures / "dir-with-files.car"
    r = bacalao("data", "import", car, data_dir=dd)
    assert r.code == 0 and r.text == DIR_WITH_FILES + "\n"
    out = tmp_path / "x.car"
    assert bacalao("data", "export", DIR_WITH_FILES, "-o", out, data_dir=dd).code == 0
    assert out.read_bytes() == car.read_bytes()
    assert bacalao("data", "export", DIR_WITH_FILES, data_dir=dd).out == car.read_bytes()
    assert not list(tmp_path.glob(".x.car.partial-*"))
    assert bacalao("data", "cat", f"{DIR_WITH_FILES}/hello.txt", data_dir=dd).out == (
        b"hello world\n"
    )


def test_import_several_and_symlinks(ipfs_fixtures: Path, tmp_path: Path, dd: Path) -> None:
    r = bacalao(
        "data", "import", ipfs_fixtures / "symlink.car", ipfs_fixtures / "dag-pb.car", data_dir=dd
    )
    roots = r.text.split()
    assert roots[0] == SYMLINK_ROOT and len(roots) == 2
    bacalao("data", "get", SYMLINK_ROOT, "-o", tmp_path / "s", data_dir=dd)
    assert os.readlink(tmp_path / "s" / "bar") == "foo"
    assert (tmp_path / "s" / "foo").read_bytes() == b"content\n"


def test_import_from_stdin(ipfs_fixtures: Path, dd: Path) -> None:
    raw = (ipfs_fixtures / "symlink.car").read_bytes()
    assert bacalao("data", "import", "-", data_dir=dd, stdin=raw).text.strip() == SYMLINK_ROOT


def test_export_of_a_missing_root_writes_no_file(tmp_path: Path, dd: Path) -> None:
    bacalao("data", "import", "--no-pin", "-", data_dir=dd, stdin=b"")  # creates nothing useful
    f = tmp_path / "f"
    f.write_bytes(b"x")
    bacalao("data", "add", f, data_dir=dd)
    out = tmp_path / "o.car"
    r = bacalao("data", "export", HELLO_V0, "-o", out, data_dir=dd)
    assert_one_line_error(r, HELLO_V0, "not found")
    assert not out.exists() and not list(tmp_path.glob(".o.car*"))


def _bad_cars(fixtures: Path) -> dict[str, bytes]:
    good = (fixtures / "dir-with-files.car").read_bytes()
    flipped = bytearray(good)
    flipped[-5] ^= 0xFF  # a byte inside the last block: it no longer matches its CID
    return {
        "truncated": good[:-7],
        "truncated header": good[:30],
        "flipped": bytes(flipped),
        "bad varint": good + b"\xff" * 11,
        "garbage": b"this is not a CAR file at all",
        "missing block": (fixtures / "file-3k-and-3-blocks-missing-block.car").read_bytes(),
    }


@pytest.mark.parametrize(
    "case",
    ["truncated", "truncated header", "flipped", "bad varint", "garbage", "missing block"],
)
def test_malformed_car_is_one_line_and_changes_nothing(
    case: str, ipfs_fixtures: Path, tmp_path: Path, dd: Path
) -> None:
    bacalao("data", "import", ipfs_fixtures / "symlink.car", data_dir=dd)
    before = snapshot(dd)
    bad = tmp_path / "bad.car"
    bad.write_bytes(_bad_cars(ipfs_fixtures)[case])
    r = bacalao("data", "import", bad, data_dir=dd)
    assert_one_line_error(r)
    assert r.out == b""
    assert snapshot(dd) == before


def test_flipped_block_error_names_the_cid(ipfs_fixtures: Path, tmp_path: Path, dd: Path) -> None:
    bad = tmp_path / "bad.car"
    bad.write_bytes(_bad_cars(ipfs_fixtures)["flipped"])
    r = bacalao("data", "import", bad, data_dir=dd)
    assert_one_line_error(r, "bafk", "does not match")


def test_partial_car_needs_no_pin(ipfs_fixtures: Path, dd: Path) -> None:
    car = ipfs_fixtures / "file-3k-and-3-blocks-missing-block.car"
    r = bacalao("data", "import", car, data_dir=dd)
    assert_one_line_error(r, "incomplete")
    assert "--no-pin" in r.err
    r = bacalao("data", "import", "--no-pin", car, data_dir=dd)
    assert r.text.strip() == MISSING_BLOCK_ROOT
    r = bacalao("data", "cat", MISSING_BLOCK_ROOT, data_dir=dd)
    assert_one_line_error(r, "not found")
    assert_one_line_error(bacalao("data", "pin", MISSING_BLOCK_ROOT, data_dir=dd), "incomplete")


def test_import_missing_file(tmp_path: Path, dd: Path) -> None:
    assert_one_line_error(bacalao("data", "import", tmp_path / "no.car", data_dir=dd), "no.car")


def _crafted_car(name: str) -> tuple[str, bytes]:
    """A valid DAG whose directory names an entry ``name`` (e.g. ``../evil``)."""
    blocks = DictBlocks()
    leaf = b"pwned\n"
    leaf_cid = CID.hash(leaf, codec=RAW)
    blocks.put(leaf_cid, leaf)
    node = PBNode((PBLink(leaf_cid, name, len(leaf)),), UnixFSData(DataType.DIRECTORY).encode())
    block = node.encode()
    root = CID.hash(block, version=1)
    blocks.put(root, block)
    buf = io.BytesIO()
    write_car(blocks, root, buf)
    return str(root), buf.getvalue()


@pytest.mark.parametrize("name", ["../evil", "..", "a/b", "/tmp/abs", "nul\0byte"])
def test_unsafe_names_in_a_crafted_dag_are_refused(name: str, tmp_path: Path, dd: Path) -> None:
    root, car = _crafted_car(name)
    assert bacalao("data", "import", "-", data_dir=dd, stdin=car).text.strip() == root
    before = snapshot(dd)
    work = tmp_path / "work"
    work.mkdir()
    r = bacalao("data", "get", root, "-o", work / "out", data_dir=dd)
    assert_one_line_error(r, "unsafe")
    assert not (tmp_path / "evil").exists() and not (work / "evil").exists()
    assert not Path("/tmp/abs").exists() or name != "/tmp/abs"
    assert snapshot(dd) == before


def test_corrupt_block_on_disk_is_a_clear_error(tmp_path: Path, dd: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello world\n")
    bacalao("data", "add", f, data_dir=dd)
    (block,) = (dd / "blocks").rglob("*.data")
    block.write_bytes(b"hello world?")
    r = bacalao("data", "cat", HELLO_V0, data_dir=dd)
    assert_one_line_error(r, HELLO_V0)


def test_corrupt_pin_database_is_a_clear_error(tmp_path: Path, dd: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello world\n")
    bacalao("data", "add", f, data_dir=dd)
    for leftover in dd.glob("pins.db-*"):  # the WAL and its index, if a connection left them
        leftover.unlink()
    (dd / "pins.db").write_bytes(b"not sqlite" * 1000)
    assert_one_line_error(bacalao("data", "pins", data_dir=dd), "pins.db", "corrupt")
    assert_one_line_error(bacalao("data", "add", f, data_dir=dd), "pins.db", "corrupt")


# -- pins and gc --------------------------------------------------------------------------------


def test_pin_unpin_gc(tmp_path: Path, dd: Path) -> None:
    a = tmp_path / "a"
    a.write_bytes(b"hello world\n")
    b = tmp_path / "b"
    b.write_bytes(b"other")
    cid_a = bacalao("data", "add", a, data_dir=dd).text.strip()
    cid_b = bacalao("data", "add", "--no-pin", b, data_dir=dd).text.strip()
    assert bacalao("data", "pins", data_dir=dd).text.split() == [cid_a]
    r = bacalao("data", "gc", "-v", data_dir=dd)
    assert r.text.splitlines()[-1].startswith("removed 1 blocks")
    assert_one_line_error(bacalao("data", "cat", cid_b, data_dir=dd), "not found")
    assert bacalao("data", "pin", cid_a, data_dir=dd).text.strip() == f"pinned {cid_a} recursively"
    assert bacalao("data", "unpin", cid_a, data_dir=dd).text.strip() == f"unpinned {cid_a}"
    assert_one_line_error(bacalao("data", "unpin", cid_a, data_dir=dd), "not pinned")
    summary = json.loads(bacalao("data", "gc", "--output", "json", data_dir=dd).out)
    assert summary == {"removed": 1, "bytes": 20}
    assert bacalao("data", "pins", "--output", "json", data_dir=dd).out.strip() == b"[]"
    assert_one_line_error(bacalao("data", "pin", cid_a, data_dir=dd), "incomplete")


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello world\n")
    env_dir, group_dir, cmd_dir = tmp_path / "env", tmp_path / "group", tmp_path / "cmd"
    bacalao("data", "--data-dir", group_dir, "add", "--data-dir", cmd_dir, f, data_dir=env_dir)
    assert (cmd_dir / "pins.db").exists()
    assert not group_dir.exists() and not env_dir.exists()
    bacalao("data", "--data-dir", group_dir, "add", f, data_dir=env_dir)
    assert (group_dir / "pins.db").exists() and not env_dir.exists()
    bacalao("data", "add", f, data_dir=env_dir)
    assert (env_dir / "pins.db").exists()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BACALAO_DATA_DIR", raising=False)
    bacalao("data", "add", f)
    assert (tmp_path / "home" / ".bacalao" / "pins.db").exists()


# -- property tests -----------------------------------------------------------------------------

PROFILE_ARGS = [[], ["--cid-version", "1"], ["--profile", "unixfs-v1-2025"]]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        st.binary(max_size=2048),
        # Big inputs (several chunks, chunk boundaries) from a seed: drawing them byte by byte
        # would be slow.
        st.builds(
            lambda seed, n: random.Random(seed).randbytes(n),
            st.integers(0, 2**32),
            st.one_of(st.integers(2049, 1_100_000), st.sampled_from([262143, 262144, 262145])),
        ),
    ),
    profile=st.sampled_from(PROFILE_ARGS),
)
def test_property_add_then_cat_returns_the_bytes(
    data: bytes, profile: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    f = work / "input.bin"
    f.write_bytes(data)
    r = bacalao("data", "add", *profile, f, data_dir=work / "data")
    assert r.code == 0, r.err
    cid = r.text.strip()
    assert bacalao("data", "cat", cid, data_dir=work / "data").out == data


_NAME = st.text(
    alphabet=st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..") and len(s.encode()) < 200)
_TREE = st.recursive(
    st.binary(max_size=300),
    lambda children: st.dictionaries(_NAME, children, max_size=5),
    max_leaves=12,
)


def _write(path: Path, node: bytes | dict) -> None:
    if isinstance(node, bytes):
        path.write_bytes(node)
        return
    path.mkdir()
    for name, child in node.items():
        _write(path / name, child)


def _read(path: Path) -> bytes | dict:
    if path.is_file():
        return path.read_bytes()
    return {p.name: _read(p) for p in path.iterdir()}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tree=st.dictionaries(_NAME, _TREE, max_size=6), profile=st.sampled_from(PROFILE_ARGS))
def test_property_random_trees_round_trip_through_get(
    tree: dict, profile: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    _write(work / "src", tree)
    r = bacalao("data", "add", "--hidden", *profile, work / "src", data_dir=work / "data")
    assert r.code == 0, r.err
    cid = r.text.strip()
    r = bacalao("data", "get", cid, "-o", work / "out", data_dir=work / "data")
    assert r.code == 0, r.err
    assert _read(work / "out") == tree
    # and the same tree through a CAR into a fresh store
    car = work / "t.car"
    assert bacalao("data", "export", cid, "-o", car, data_dir=work / "data").code == 0
    assert bacalao("data", "import", car, data_dir=work / "fresh").text.strip() == cid


# -- output helpers -----------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_for_large_inputs_on_a_terminal() -> None:
    big = output.PROGRESS_THRESHOLD
    assert output.show_progress(big, stream=_Tty())
    assert not output.show_progress(big - 1, stream=_Tty())
    assert not output.show_progress(big, stream=io.StringIO())
    assert not output.show_progress(big, quiet=True, stream=_Tty())
    assert not output.show_progress(None, stream=_Tty())
    with output.progress_bar(big, "x") as update:  # stderr is not a terminal under pytest
        assert update is None


def test_render_formats() -> None:
    rows = [{"name": "a", "size": 1, "cid": CID.decode(HELLO_V0)}]
    buf = io.StringIO()
    output.render(rows, "json", out=buf)
    assert json.loads(buf.getvalue()) == [{"name": "a", "size": 1, "cid": HELLO_V0}]
    buf = io.StringIO()
    output.render(rows, "yaml", out=buf)
    assert yaml.safe_load(buf.getvalue()) == [{"name": "a", "size": 1, "cid": HELLO_V0}]
    buf = io.StringIO()
    output.render(rows, "table", out=buf, columns=["cid", "name"])
    assert buf.getvalue().splitlines() == ["CID" + " " * 45 + "NAME", f"{HELLO_V0}  a"]


# -- the installed console script ------------------------------------------------------------------


def _script(*args: str | Path, dd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BACALAO_DATA_DIR": str(dd)}
    return subprocess.run(
        [str(BACALAO), *map(str, args)], input=stdin, capture_output=True, env=env, timeout=60
    )


@pytest.fixture
def script() -> Path:
    if not BACALAO.exists():
        pytest.skip(f"console script not installed at {BACALAO}")
    return BACALAO


def test_console_script_add_cat(script: Path, tmp_path: Path, dd: Path) -> None:
    f = tmp_path / "hello.txt"
    f.write_bytes(b"hello world\n")
    p = _script("data", "add", f, dd=dd)
    assert p.returncode == 0 and p.stdout == f"{HELLO_V0}\n".encode() and p.stderr == b""
    p = _script("data", "cat", HELLO_V0, dd=dd)
    assert p.stdout == b"hello world\n"


@pytest.mark.parametrize(
    "args",
    [
        ["data", "cat", "not-a-cid"],
        ["data", "add", "/definitely/not/here"],
        ["data", "import", "CORRUPT"],
        ["data", "cat", HELLO_V1],
    ],
)
def test_console_script_errors_have_no_traceback(
    script: Path, args: list[str], ipfs_fixtures: Path, tmp_path: Path, dd: Path
) -> None:
    corrupt = tmp_path / "corrupt.car"
    corrupt.write_bytes((ipfs_fixtures / "dir-with-files.car").read_bytes()[:100])
    _script("data", "import", ipfs_fixtures / "symlink.car", dd=dd)
    p = _script(*[str(corrupt) if a == "CORRUPT" else a for a in args], dd=dd)
    err = p.stderr.decode()
    assert p.returncode != 0
    assert "Traceback" not in err
    assert err.startswith("Error: ") and "\nHint: " in err
    assert len(err.strip().splitlines()) == 2


def test_console_script_cat_into_a_closed_pipe(script: Path, tmp_path: Path, dd: Path) -> None:
    f = tmp_path / "big"
    f.write_bytes(os.urandom(3 * 1024 * 1024))
    _script("data", "add", f, dd=dd)
    cid = _script("data", "add", "--only-hash", f, dd=dd).stdout.decode().strip()
    env = {**os.environ, "BACALAO_DATA_DIR": str(dd)}
    p = subprocess.run(
        f"{script} data cat {cid} | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert b"Traceback" not in p.stderr, p.stderr
    assert p.stdout.strip() == b"0"
