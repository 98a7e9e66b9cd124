"""The IPFS gateway: CARs verified by CarReader, byte-identical to write_car; raw blocks; files."""

from __future__ import annotations

import io

import httpx
import pytest
from tests.support.fake_orchestrator import FakeOrchestrator
from tests.unit.api.conftest import VERSION, Content
from tests.unit.api.test_api_jobs import assert_error

from bacalao.api import create_app
from bacalao.api.gateway import car_chunks
from bacalao.errors import BlockNotFound
from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.car import CarReader, load_car, write_car
from bacalao.ipld.cid import CID
from bacalao.ipld.exporter import cat, check_dag, resolve

CAR = "application/vnd.ipld.car"


def expected_car(content: Content, root: CID | None = None) -> bytes:
    out = io.BytesIO()
    write_car(content.blocks, root or content.root, out)
    return out.getvalue()


async def test_car_is_write_car_and_verifies(api: httpx.AsyncClient, content: Content) -> None:
    response = await api.get(f"/ipfs/{content.root}?format=car")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(CAR)
    assert "immutable" in response.headers["cache-control"]
    assert response.content == expected_car(content)
    reader = CarReader(io.BytesIO(response.content))  # verifies every block against its CID
    assert reader.header.roots == [content.root]
    got = DictBlocks()
    for cid, block in reader:
        got.put(cid, block)
    check_dag(got, content.root)
    assert len(got) == len(content.blocks)


async def test_car_by_accept_header(api: httpx.AsyncClient, content: Content) -> None:
    response = await api.get(f"/ipfs/{content.root}", headers={"Accept": CAR})
    assert response.content == expected_car(content)


async def test_car_of_a_path_carries_the_path_blocks(
    api: httpx.AsyncClient, content: Content
) -> None:
    response = await api.get(f"/ipfs/{content.root}/outputs/deep?format=car")
    header, got = load_car(io.BytesIO(response.content))
    assert header.roots == [content.root]
    target = resolve(got, content.root, "outputs/deep")  # the path verifies from the root
    check_dag(got, target)
    assert b"".join(cat(got, resolve(got, target, "note.txt"))) == b"deep\n"
    # Only the path, not the whole tree: outputs/data.bin is not in it.
    data = resolve(content.blocks, content.root, "outputs/data.bin")
    assert not got.has(data)


def test_car_chunks_are_bounded() -> None:
    blocks = DictBlocks()
    cids = []
    for i in range(40):
        data = bytes([i]) * 10_000
        cid = CID.hash(data, codec=0x55)
        blocks.put(cid, data)
        cids.append(cid)
    chunks = list(car_chunks(blocks, cids[0], cids[0]))
    assert len(chunks) == 1 and len(chunks[0]) < 11_000


async def test_raw_block(api: httpx.AsyncClient, content: Content) -> None:
    response = await api.get(f"/ipfs/{content.root}?format=raw")
    assert response.headers["content-type"] == "application/vnd.ipld.raw"
    assert response.content == content.blocks.get(content.root)
    content.root.verify(response.content)
    leaf = await api.get(
        f"/ipfs/{content.root}/stdout", headers={"Accept": "application/vnd.ipld.raw"}
    )
    resolve(content.blocks, content.root, "stdout").verify(leaf.content)


async def test_file_bytes_and_directory_refusal(api: httpx.AsyncClient, content: Content) -> None:
    response = await api.get(f"/ipfs/{content.root}/outputs/data.bin")
    assert response.content == bytes(range(256)) * 2000
    assert response.headers["content-length"] == str(256 * 2000)
    body = assert_error(await api.get(f"/ipfs/{content.root}/outputs"), 400)
    assert "format=car" in body["hint"]


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/ipfs/not-a-cid?format=car", 400, None),
        ("/ipfs/{root}?format=tar", 400, "invalid_input"),
        ("/ipfs/{root}/missing?format=car", 404, "not_found"),
        ("/ipfs/bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4?format=car", 404, None),
        ("/ipfs/{root}/outputs/%2E%2E/x?format=car", 400, "invalid_input"),
    ],
)
async def test_gateway_errors(
    api: httpx.AsyncClient, content: Content, url: str, status: int, code: str | None
) -> None:
    response = await api.get(url.format(root=content.root))
    if response.headers.get("content-type", "").startswith("application/json"):
        assert_error(response, status, code)
    else:
        assert response.status_code == status


async def test_block_missing_deep_in_the_dag_truncates(
    api: httpx.AsyncClient, content: Content
) -> None:
    missing = resolve(content.blocks, content.root, "outputs/deep/note.txt")
    content.blocks.delete(missing)
    response = await api.get(f"/ipfs/{content.root}?format=car")
    assert response.status_code == 200  # headers went out before the walk reached the hole
    got = DictBlocks()
    for cid, block in CarReader(io.BytesIO(response.content)):
        got.put(cid, block)
    with pytest.raises(BlockNotFound, match=str(missing)):  # names the block the server lacked
        check_dag(got, content.root)
    assert 0 < len(got) < len(content.blocks)  # the blocks before the hole did arrive


async def test_no_store_is_503() -> None:
    app = create_app(FakeOrchestrator(), blocks=None, version=VERSION)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as api:
        root = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
        assert_error(await api.get(f"/ipfs/{root}?format=car"), 503, "unavailable")
