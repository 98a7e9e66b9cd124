"""``bacalao.client.results``: download a CAR, verify every block and the DAG, write the tree."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from tests.unit.client.mock_api import error

from bacalao.api.gateway import _ending_cleanly, car_chunks
from bacalao.client import Client
from bacalao.client.results import default_dir, download, download_job
from bacalao.errors import IntegrityError, NotFound
from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.car import write_car
from bacalao.ipld.cid import CID
from bacalao.ipld.exporter import resolve
from bacalao.ipld.importer import import_bytes, import_path

JOB_ID = "j-df836f6a-6920-44e4-9683-27f6ec1921e2"
JOBS = "/api/v1/orchestrator/jobs"


def make_tree(root: Path, stdout: str) -> Path:
    (root / "outputs").mkdir(parents=True)
    (root / "stdout").write_text(stdout)
    (root / "exitCode").write_text("0")
    (root / "outputs" / "big.bin").write_bytes(b"0123456789" * 60_000)  # several chunks
    (root / "outputs" / "small.txt").write_text("small\n")
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


class Gateway:
    """A MockTransport handler serving results and CARs from a DictBlocks."""

    def __init__(self) -> None:
        self.blocks = DictBlocks()
        self.results: list[dict] = []
        self.state = "Completed"
        self.tamper = None  # a function bytes -> bytes applied to every CAR

    def add(self, tree: Path) -> CID:
        cid = import_path(tree, sink=self.blocks).cid
        self.results.append({"Type": "ipfs", "Params": {"CID": str(cid)}})
        return cid

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith(f"{JOBS}/j-df8"):
            if path.endswith("/results"):
                return httpx.Response(200, json={"Items": self.results, "NextToken": ""})
            job = {"ID": JOB_ID, "State": {"StateType": self.state}}
            return httpx.Response(200, json={"Job": job})
        if path.startswith("/ipfs/"):
            assert request.url.params["format"] == "car"
            root = CID.decode(path.removeprefix("/ipfs/"))
            if not self.blocks.has(root):
                return error(404, "block_not_found", f"block {root} not found")
            body = b"".join(car_chunks(self.blocks, root, root))
            if self.tamper:
                body = self.tamper(body)
            return httpx.Response(200, content=body)
        return error(404, "not_found", "no such job")


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture
def client(gateway: Gateway) -> Client:
    return Client("http://api.test", transport=httpx.MockTransport(gateway))


def test_download_one_result_verifies_and_writes(
    gateway: Gateway, client: Client, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", "hello\n")
    gateway.add(tree)
    done = download_job(client, JOB_ID[:6], tmp_path / "out")
    assert done.path == tmp_path / "out"
    assert read_tree(tmp_path / "out") == read_tree(tree)
    assert done.blocks == len(gateway.blocks) and len(done.cids) == 1


def test_download_several_results_by_cid(
    gateway: Gateway, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = gateway.add(make_tree(tmp_path / "a", "a\n"))
    b = gateway.add(make_tree(tmp_path / "b", "b\n"))
    gateway.results.append({"Type": "s3", "Params": {"Bucket": "x"}})
    monkeypatch.chdir(tmp_path)
    done = download_job(client, JOB_ID)
    assert done.path == Path("job-df836f6a") == default_dir(JOB_ID)
    assert (tmp_path / "job-df836f6a" / str(a) / "stdout").read_text() == "a\n"
    assert (tmp_path / "job-df836f6a" / str(b) / "stdout").read_text() == "b\n"
    assert done.skipped == ["s3"]


def test_no_result_is_not_found(gateway: Gateway, client: Client, tmp_path: Path) -> None:
    gateway.state = "Running"
    with pytest.raises(NotFound, match="no result to download.*Running") as info:
        download_job(client, JOB_ID, tmp_path / "out")
    assert "job describe" in (info.value.hint or "")
    assert not (tmp_path / "out").exists()


def test_unknown_job(client: Client, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such job"):
        download_job(client, "j-zzz", tmp_path / "out")


def _flip_last_byte(body: bytes) -> bytes:
    return body[:-1] + bytes([body[-1] ^ 1])


@pytest.mark.parametrize(
    ("tamper", "fragment"),
    [
        (_flip_last_byte, "does not match"),
        (lambda body: body[: len(body) // 2], "truncated"),
        (lambda body: body[:5], "truncated"),
    ],
)
def test_corrupt_or_cut_downloads_write_nothing(
    gateway: Gateway, client: Client, tmp_path: Path, tamper, fragment: str
) -> None:
    gateway.add(make_tree(tmp_path / "src", "x\n"))
    gateway.tamper = tamper
    with pytest.raises(IntegrityError) as info:
        download_job(client, JOB_ID, tmp_path / "out")
    assert fragment in info.value.message.lower() or fragment in str(info.value).lower()
    assert "failed verification" in info.value.message
    assert not (tmp_path / "out").exists()


def test_missing_block_is_named(gateway: Gateway, client: Client, tmp_path: Path) -> None:
    root = gateway.add(make_tree(tmp_path / "src", "x\n"))
    missing = resolve(gateway.blocks, root, "outputs/small.txt")
    gateway.blocks.delete(missing)
    # What the gateway sends when a block is missing: the CAR up to it, then a clean end.
    chunks = list(_ending_cleanly(car_chunks(gateway.blocks, root, root)))
    with pytest.raises(IntegrityError, match=f"block {missing} not found"):
        download(client, str(root), tmp_path / "out", chunks=chunks)
    assert not (tmp_path / "out").exists()


def test_wrong_root_is_refused(gateway: Gateway, client: Client, tmp_path: Path) -> None:
    wanted = import_bytes(b"what I asked for", sink=DictBlocks()).cid
    other = DictBlocks()
    sent = import_bytes(b"something else", sink=other).cid
    out = io.BytesIO()
    write_car(other, sent, out)
    with pytest.raises(IntegrityError, match="wrong DAG"):
        download(client, str(wanted), tmp_path / "x", chunks=[out.getvalue()])


def test_single_file_result(gateway: Gateway, client: Client, tmp_path: Path) -> None:
    cid = import_bytes(b"just a file\n" * 1000, sink=gateway.blocks).cid
    path, blocks = download(client, str(cid), tmp_path / "file.txt")
    assert path.read_bytes() == b"just a file\n" * 1000 and blocks >= 1
