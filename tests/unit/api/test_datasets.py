"""``/api/v1/bacalao/…`` data routes over a real in-process stack (two compute nodes, noop
engine): a CAR stored on a chosen node, where a CID is, aggregates; errors in the API's shape."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.unit.api.test_api_jobs import assert_error

from bacalao.api import create_app
from bacalao.api.datasets import serve_datasets
from bacalao.blockstore import Repo
from bacalao.ipld.cid import CID
from bacalao.ipld.profiles import resolve_profile
from bacalao.node.config import NodeConfig
from bacalao.node.stack import start_stack
from bacalao.orchestrator.datasets import Datasets

V1 = resolve_profile(None, 1)
BASE = "/api/v1/bacalao"


@pytest.fixture
async def stack(tmp_path):
    cfg = NodeConfig(data_dir=tmp_path / "stack", nodes=2, engines=["noop"], max_cpu=2)
    stack = await start_stack(cfg)
    yield stack
    await stack.stop()


@pytest.fixture
async def client(stack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stack.orchestrator, blocks=stack.blocks, version="test")
    serve_datasets(app, Datasets(stack.orchestrator), stack.computes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bacalao.test") as c:
        yield c


def car_of(tmp_path, files: dict[str, bytes]) -> tuple[CID, bytes]:
    """A CARv1 of a directory holding ``files``, made in a throwaway store."""
    src = tmp_path / f"src-{len(list(tmp_path.iterdir()))}"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    repo = Repo.memory()
    root = repo.add_path(src, V1).cid
    out = io.BytesIO()
    repo.export_car(root, out)
    return root, out.getvalue()


def registered(stack, node_id: str) -> dict[str, int]:
    now = stack.orchestrator.clock()
    return next(n.held for n in stack.orchestrator.nodes.snapshot(now) if n.node_id == node_id)


async def test_car_lands_on_the_named_node_pinned_and_indexed(stack, client, tmp_path) -> None:
    a, b = stack.computes
    root, car = car_of(tmp_path, {"a.txt": b"alpha\n", "d/b.txt": b"beta" * 1000})
    r = await client.post(f"{BASE}/nodes/{b.id[:10]}/car", content=car)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == {
        "CID": str(root),
        "Roots": [str(root)],
        "Node": b.id,
        "Bytes": len(car),
        "Size": body["Size"],
    }
    assert body["Size"] > 4006
    assert root in b.repo.pins() and root not in a.repo.pins()
    assert not a.repo.blocks.has(root)
    assert str(root) in registered(stack, b.id)  # re-registered: the index knows at once


async def test_car_without_a_node_goes_to_the_first(stack, client, tmp_path) -> None:
    root, car = car_of(tmp_path, {"x": b"x"})

    async def chunks():  # a streamed (chunked) body, as the CLI sends it
        for i in range(0, len(car), 7):
            yield car[i : i + 7]

    r = await client.post(f"{BASE}/data/car", content=chunks())
    assert r.status_code == 200, r.text
    assert r.json()["Node"] == stack.computes[0].id
    assert root in stack.computes[0].repo.pins()


async def test_bad_cars_store_nothing(stack, client, tmp_path) -> None:
    node = stack.computes[0]
    root, car = car_of(tmp_path, {"f": b"payload-" * 100})
    bad = bytearray(car)
    bad[car.index(b"payload-") + 3] ^= 0xFF
    assert_error(await client.post(f"{BASE}/nodes/{node.id}/car", content=bytes(bad)), 422)
    assert_error(await client.post(f"{BASE}/nodes/{node.id}/car", content=car[:-10]), 400)
    assert_error(await client.post(f"{BASE}/nodes/{node.id}/car", content=b""), 400)
    assert node.repo.pins() == [] and not node.repo.blocks.has(root)


async def test_unknown_or_ambiguous_node(stack, client, tmp_path) -> None:
    _, car = car_of(tmp_path, {"f": b"1"})
    body = assert_error(await client.post(f"{BASE}/nodes/n-nope/car", content=car), 404)
    assert stack.computes[0].id in body["hint"]
    assert_error(await client.post(f"{BASE}/nodes/n-/car", content=car), 400)


async def test_car_route_takes_bodies_over_the_10_mb_limit(stack, client, tmp_path) -> None:
    big = os.urandom(11 << 20)
    root, car = car_of(tmp_path, {"big.bin": big})
    r = await client.post(f"{BASE}/nodes/{stack.computes[1].id}/car", content=car)
    assert r.status_code == 200, r.text
    assert r.json()["Size"] > len(big)  # a directory: its cumulative DAG size
    # every other route keeps the limit
    assert_error(await client.put("/api/v1/orchestrator/jobs", content=b"{" * (11 << 20)), 413)


async def test_where_and_aggregate(stack, client, tmp_path) -> None:
    a, b = stack.computes
    one, car1 = car_of(tmp_path, {"1.log": b"1" * 1000})
    two, car2 = car_of(tmp_path, {"2.log": b"2" * 1000})
    assert (await client.post(f"{BASE}/nodes/{a.id}/car", content=car1)).status_code == 200
    assert (await client.post(f"{BASE}/nodes/{b.id}/car", content=car2)).status_code == 200
    r = await client.post(
        f"{BASE}/data/aggregate", json={"CIDs": [str(one), str(two)], "Names": ["one", "two"]}
    )
    assert r.status_code == 200, r.text
    agg = r.json()
    assert agg["Node"] in (a.id, b.id)
    # the aggregate is pinned partial on its node: kept there, but not claimed as data it holds
    assert agg["CID"] not in registered(stack, agg["Node"])
    node = a if agg["Node"] == a.id else b
    assert any(str(p) == agg["CID"] for p in node.repo.pins())
    where = (await client.get(f"{BASE}/data/{agg['CID']}/where")).json()
    assert where["CID"] == agg["CID"] and where["Type"] == "directory"
    items = {(i["Node"], i["Path"]): i for i in where["Items"]}
    assert items[(a.id, "/one")]["Complete"] and items[(b.id, "/two")]["Complete"]
    assert not items[(agg["Node"], "/")]["Complete"]
    assert set(items[(a.id, "/one")]) == {"Node", "Path", "CID", "Bytes", "Total", "Complete"}


async def test_where_and_aggregate_errors(client) -> None:
    assert_error(await client.get(f"{BASE}/data/not-a-cid/where"), 400)
    missing = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert_error(await client.get(f"{BASE}/data/{missing}/where"), 404)
    agg = f"{BASE}/data/aggregate"
    assert_error(await client.post(agg, json={"CIDs": [missing], "Names": ["a", "b"]}), 400)
    assert_error(await client.post(agg, json={"CIDs": []}), 400)
    assert_error(await client.post(agg, json={"CIDs": [missing], "Colour": 1}), 400)
    assert_error(await client.post(agg, json={"CIDs": [missing], "Node": "n-zzz"}), 404)
    body = assert_error(await client.post(agg, json={"CIDs": [missing]}), 422)
    assert "hint" in body


async def test_without_a_stack_the_routes_say_why(api: httpx.AsyncClient) -> None:
    """The app over the fake orchestrator: no dataset service, no compute node here."""
    assert_error(
        await api.get(f"{BASE}/data/QmYEqqNDdDrsRhPRShKHzsnZwBq3F59Ti3kQmv9En4i5Sw/where"), 503
    )
    assert_error(await api.post(f"{BASE}/data/car", content=b"x"), 503)
