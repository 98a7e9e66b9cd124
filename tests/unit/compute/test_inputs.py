"""Materialising each input source type as a read-only mount."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from bacalao.blockstore.repo import Repo
from bacalao.compute.inputs import materialise
from bacalao.errors import BlockNotFound, InvalidInput
from bacalao.ipld.profiles import PROFILES
from bacalao.models.input_source import InputSource


def source(kind: str, target: str, **params) -> InputSource:
    return InputSource.model_validate(
        {"Source": {"Type": kind, "Params": params}, "Target": target}
    )


def test_ipfs_inline_and_local_directory(tmp_path: Path) -> None:
    repo = Repo.memory()
    cid = repo.add_bytes(b"from the store\n", PROFILES["kubo-v0"]).cid
    allowed = tmp_path / "shared"
    (allowed / "sub").mkdir(parents=True)
    (allowed / "sub" / "x.txt").write_text("local\n")
    mounts, size = materialise(
        [
            source("ipfs", "/inputs/a.txt", CID=str(cid)),
            source("inline", "/inputs/b.txt", URL="data:text/plain;base64,aGVsbG8K"),
            source("inline", "/inputs/c.txt", URL="data:,caf%C3%A9"),
            source("localDirectory", "/inputs/local", SourcePath=str(allowed / "sub")),
        ],
        repo.reader(),
        tmp_path / "run",
        allowed_paths=[allowed],
    )
    got = {m.target: m for m in mounts}
    assert got["/inputs/a.txt"].source.read_bytes() == b"from the store\n"
    assert got["/inputs/b.txt"].source.read_bytes() == b"hello\n"
    assert got["/inputs/c.txt"].source.read_bytes() == "café".encode()
    assert got["/inputs/local"].source == (allowed / "sub").resolve()
    assert all(m.read_only for m in mounts)
    assert size == len(b"from the store\n") + 6 + len("café".encode())


def test_local_directory_outside_the_allow_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not allowed"):
        materialise(
            [source("localDirectory", "/inputs", SourcePath="/etc")],
            Repo.memory().reader(),
            tmp_path / "run",
            allowed_paths=[tmp_path],
        )


def test_missing_block_names_the_cid(tmp_path: Path) -> None:
    absent = "bafkreiabqjtlwmhgdxdhnbyurvt7b4nsfwnmsgcqcwbbdjtmc6adkvtvxi"
    with pytest.raises(BlockNotFound, match=absent):
        materialise([source("ipfs", "/inputs", CID=absent)], Repo.memory().reader(), tmp_path)


def test_url_download_from_a_loopback_server(tmp_path: Path) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "data.csv").write_text("a,b\n1,2\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path / "www"), **kw)

        def log_message(self, *a) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.csv"
        (mount,), size = materialise(
            [source("urlDownload", "/inputs/data.csv", URL=url)],
            Repo.memory().reader(),
            tmp_path / "run",
        )
        assert mount.source.read_text() == "a,b\n1,2\n" and size == 8
        with pytest.raises(InvalidInput, match="cannot download"):
            materialise(
                [source("urlDownload", "/inputs/x", URL=url.replace("data.csv", "nope"))],
                Repo.memory().reader(),
                tmp_path / "run2",
            )
    finally:
        server.shutdown()
        server.server_close()


def _fetcher(repo: Repo, *, verify_local: bool = False):
    from bacalao.compute.exchange import PeerFetcher

    # no peers: the bus and the loop are never used
    return PeerFetcher(repo, None, None, node_id="n", verify_local=verify_local)  # type: ignore[arg-type]


def test_files_the_store_holds_whole_are_hard_linked_not_copied(tmp_path: Path) -> None:
    import os

    repo = Repo.open(tmp_path / "repo")
    data = os.urandom(3 * 1048576 + 5)
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "big.log").write_bytes(data)  # three raw leaves: kept as one extent
    (src / "small.txt").write_bytes(b"one chunk\n")  # its own block file
    root = repo.add_path(src, PROFILES["unixfs-v1-2025"]).cid
    old = repo.add_bytes(data, PROFILES["kubo-v0"]).cid  # dag-pb leaves: their chunks, whole
    mounts, size = materialise(
        [source("ipfs", "/inputs", CID=str(root)), source("ipfs", "/old", CID=str(old))],
        _fetcher(repo),
        tmp_path / "run",
    )
    tree, kubo = mounts[0].source, mounts[1].source
    assert (tree / "d" / "big.log").read_bytes() == data and kubo.read_bytes() == data
    extent = repo.blocks.whole_file(_entry(repo, root, "d/big.log"))
    assert (tree / "d" / "big.log").stat().st_ino == extent.stat().st_ino
    assert (tree / "small.txt").stat().st_nlink == 2  # the block file, linked
    assert kubo.stat().st_ino == repo.blocks.whole_file(old).stat().st_ino
    assert size == 2 * len(data) + len(b"one chunk\n")
    # a node that re-hashes local reads copies (and verifies) instead
    mounts, _ = materialise(
        [source("ipfs", "/inputs", CID=str(root))],
        _fetcher(repo, verify_local=True),
        tmp_path / "run2",
    )
    assert (mounts[0].source / "d" / "big.log").stat().st_nlink == 1


def _entry(repo: Repo, root, path: str):
    from bacalao.ipld.exporter import resolve

    return resolve(repo.reader(), root, path)
