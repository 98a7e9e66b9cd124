"""The importer's contract: profiles, errors with hints, sink order, workers, bounded memory."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest
from tests.unit.ipld import vectors

from bacalao.errors import InvalidInput
from bacalao.ipld import dagpb, unixfs
from bacalao.ipld.cid import CID, RAW
from bacalao.ipld.importer import import_bytes, import_entries, import_path, import_stream
from bacalao.ipld.profiles import PROFILES, parse_chunker, resolve_profile


class ListSink:
    def __init__(self) -> None:
        self.puts: list[tuple[CID, bytes]] = []

    def put(self, cid: CID, data: bytes) -> None:
        self.puts.append((cid, data))


# -- profiles -------------------------------------------------------------------------------------
def test_resolve_profile() -> None:
    assert resolve_profile() is PROFILES["kubo-v0"]
    assert resolve_profile(cid_version=0) is PROFILES["kubo-v0"]
    assert resolve_profile(cid_version=1) is PROFILES["cid-v1"]
    assert resolve_profile("kubo-v0", 1) is PROFILES["cid-v1"]
    assert resolve_profile("cid-v1", 0) is PROFILES["kubo-v0"]
    assert resolve_profile("unixfs-v0-2015") is PROFILES["kubo-v0"]
    assert resolve_profile("unixfs-v1-2025") is PROFILES["unixfs-v1-2025"]
    p = resolve_profile("unixfs-v1-2025", 0)  # the profile's raw leaves count as "set"
    assert (p.cid_version, p.raw_leaves, p.chunk_size) == (0, True, 1048576)
    p = resolve_profile(cid_version=1, raw_leaves=False, chunk_size=1024)
    assert (p.cid_version, p.raw_leaves, p.chunk_size) == (1, False, 1024)


def test_unknown_profile_lists_valid_names() -> None:
    with pytest.raises(InvalidInput) as e:
        resolve_profile("nope")
    assert all(name in (e.value.hint or "") for name in PROFILES)


@pytest.mark.parametrize(
    "change",
    [
        {"chunk_size": 0},
        {"chunk_size": 2 << 20},
        {"max_links": 1},
        {"cid_version": 2},
        {"hamt_fanout": 100},
        {"hamt_estimation": "bytes"},
    ],
)
def test_bad_profile_settings(change: dict) -> None:
    with pytest.raises(InvalidInput):
        PROFILES["kubo-v0"].replace(**change)


def test_parse_chunker() -> None:
    assert parse_chunker("size-262144") == 262144
    for bad in ("rabin-1-2-3", "size-0", "size-x", "buzhash"):
        with pytest.raises(InvalidInput):
            parse_chunker(bad)


# -- paths and errors ---------------------------------------------------------------------------
def test_missing_path_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as e:
        import_path(tmp_path / "nope")
    assert e.value.hint
    assert "nope" in e.value.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_and_dir(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_bytes(b"x")
    f.chmod(0)
    with pytest.raises(InvalidInput) as e:
        import_path(f)
    assert "permission denied" in e.value.message and e.value.hint
    d = tmp_path / "d"
    d.mkdir()
    d.chmod(0)
    try:
        with pytest.raises(InvalidInput):
            import_path(d)
    finally:
        d.chmod(0o755)


def test_permission_error_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same check where the tests run as root: open() itself refuses."""
    from bacalao.ipld import importer

    def refuse(*args: object, **kw: object) -> None:
        raise PermissionError(13, "Permission denied")

    (tmp_path / "f").write_bytes(b"x")
    monkeypatch.setattr(importer, "open", refuse, raising=False)
    with pytest.raises(InvalidInput) as e:
        import_path(tmp_path)
    assert "permission denied" in e.value.message and e.value.hint


def test_special_file_rejected(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InvalidInput) as e:
        import_path(tmp_path)
    assert e.value.hint


def test_symlinks_are_nodes_not_followed(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to("does/not/exist")
    node = import_path(tmp_path / "dangling")
    sink = ListSink()
    import_path(tmp_path / "dangling", sink=sink)
    fs = unixfs.decode(dagpb.decode(sink.puts[-1][1]).data)
    assert (fs.type, fs.data) == (unixfs.DataType.SYMLINK, b"does/not/exist")
    assert (node.size, node.tsize) == (0, len(sink.puts[-1][1]))
    (tmp_path / "loop").symlink_to(tmp_path)  # a loop is harmless: never followed
    import_path(tmp_path)


def test_hidden_path_itself_is_imported(tmp_path: Path) -> None:
    d = tmp_path / ".dot"
    d.mkdir()
    (d / "a").write_bytes(b"a")
    (d / ".b").write_bytes(b"b")
    assert import_path(d).size == 1
    assert import_path(d, hidden=True).size == 2


def test_non_utf8_names_kept_as_bytes(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/\xff\xfe"
    with open(raw, "wb") as f:
        f.write(b"x")
    sink = ListSink()
    import_path(tmp_path, sink=sink)
    assert b"\x12\x02\xff\xfe" in sink.puts[-1][1]  # Name field, raw bytes


def test_import_path_of_a_file_equals_import_bytes(tmp_path: Path) -> None:
    data = vectors.pattern(700_000)
    (tmp_path / "f").write_bytes(data)
    for profile in PROFILES.values():
        assert import_path(tmp_path / "f", profile) == import_bytes(data, profile)


# -- streams ------------------------------------------------------------------------------------
def test_text_stream_rejected() -> None:
    with pytest.raises(InvalidInput):
        import_stream(io.StringIO("hello"))  # type: ignore[arg-type]


def test_stream_read_error_is_invalid_input() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, mv) -> int:  # type: ignore[no-untyped-def, override]
            raise OSError(5, "Input/output error")

    with pytest.raises(InvalidInput):
        import_stream(Broken())  # type: ignore[arg-type]


def test_stream_with_read_only() -> None:
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self.f = io.BytesIO(data)

        def read(self, n: int) -> bytes:
            return self.f.read(min(n, 1000))

    data = vectors.pattern(300_000)
    assert import_stream(ReadOnly(data)) == import_bytes(data)  # type: ignore[arg-type]


class Generated(io.RawIOBase):
    """``size`` bytes made on the fly (nothing held): for the memory bound."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = vectors.chacha_bytes("mem", 1 << 20)

    def readable(self) -> bool:
        return True

    def readinto(self, mv) -> int:  # type: ignore[no-untyped-def, override]
        n = min(len(mv), self.left, len(self.block))
        mv[:n] = self.block[:n]
        self.left -= n
        return n


@pytest.mark.parametrize("workers", [1, 2])
def test_memory_is_bounded(workers: int) -> None:
    size = 96 << 20
    stream = Generated(size)
    tracemalloc.start()
    try:
        node = import_stream(stream, PROFILES["kubo-v0"], workers=workers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert node.size == size
    assert peak < 12 << 20, peak


@pytest.mark.parametrize("name", list(PROFILES))
def test_workers_and_progress(tmp_path: Path, name: str) -> None:
    profile = PROFILES[name]
    path = vectors.write_chacha(tmp_path / "f", "w", 5 * (1 << 20) + 12345)
    one, two = ListSink(), ListSink()
    seen: list[int] = []
    a = import_path(path, profile, one)
    b = import_path(path, profile, two, workers=2, progress=seen.append)
    assert a == b
    assert one.puts == two.puts
    assert seen[-1] == a.size and seen == sorted(seen)


def test_sink_order_children_first_in_a_tree(tmp_path: Path) -> None:
    tree = vectors.make_tree(tmp_path / "tree")
    for i in range(40):
        (tree / "b" / f"n{i}").write_bytes(vectors.pattern(1000 + i))
    profile = PROFILES["cid-v1"].replace(hamt_threshold=500, chunk_size=256)
    sink = ListSink()
    root = import_path(tree, profile, sink, hidden=True)
    seen: set[CID] = set()
    for cid, block in sink.puts:
        if cid.codec != RAW:
            assert all(link.cid in seen for link in dagpb.decode(block).links)
        seen.add(cid)
    assert sink.puts[-1][0] == root.cid
    assert len({c for c, _ in sink.puts}) == len(seen)


def test_entries_nest_and_an_empty_list_is_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "d" / "b").write_bytes(b"y")
    (tmp_path / "d" / "c").write_bytes(b"z")
    entries = [("a", b"x"), ("d", [("b", b"y"), ("c", tmp_path / "d" / "c"), ("e", [])])]
    assert import_entries(entries).cid == import_path(tmp_path).cid
