"""Block exchange: prefetching what a reader is about to load, and counting local bytes."""

from __future__ import annotations

import asyncio
import base64
import os
import threading

import pytest

from bacalao.blockstore.repo import Repo
from bacalao.compute.exchange import PeerFetcher, held_bytes
from bacalao.errors import IntegrityError
from bacalao.ipld.cid import CID
from bacalao.ipld.importer import import_bytes
from bacalao.ipld.profiles import PROFILES
from bacalao.transport import messages as m


class PeerBus:
    """Answers GetBlock from per-peer block maps, after a short wait, counting overlaps."""

    def __init__(self, held: dict[str, dict[CID, bytes]]) -> None:
        self.held = held
        self.asked: list[tuple[str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def request(self, subject: str, env, timeout: float):  # type: ignore[no-untyped-def]
        peer = subject.split(".")[2]
        cid = CID.decode(m.GetBlock.from_envelope(env).cid)
        self.asked.append((peer, str(cid)))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        data = self.held.get(peer, {}).get(cid)
        reply = m.BlockReply(found=data is not None, data=base64.b64encode(data or b"").decode())
        return reply.to_envelope(peer)


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _blocks(data: bytes) -> tuple[CID, dict[CID, bytes]]:
    got: dict[CID, bytes] = {}

    class Sink:
        def put(self, cid: CID, block: bytes) -> None:
            got[cid] = block

    return import_bytes(data, PROFILES["cid-v1"].replace(chunk_size=1024), Sink()).cid, got


def test_prefetch_asks_for_every_missing_block_at_once_and_holds_them(tmp_path, loop) -> None:
    roots, held = [], {}
    for i in range(8):
        root, blocks = _blocks(bytes([i]) * 3000)
        roots.append(root)
        held.update(blocks)
    tampered = roots[7]
    bus = PeerBus({"a": {}, "b": {**held, tampered: b"not the block"}})
    repo = Repo.open(tmp_path / "repo")
    local = roots[0]
    repo.blocks.put(local, held[local])
    fetcher = PeerFetcher(repo, bus, loop, node_id="me", peers=["me", "a", "b"])  # type: ignore[arg-type]
    fetcher.prefetch(roots + roots[:2])
    assert bus.most_in_flight == 7  # all at once, not one round trip each
    assert {c for _, c in bus.asked} == {str(c) for c in roots[1:]}  # the local one not asked
    assert all(peer in ("a", "b") for peer, _ in bus.asked)
    asked = len(bus.asked)
    for root in roots[1:7]:
        assert fetcher.has(root) and fetcher.get(root) == held[root]
        assert not repo.blocks.has(root)  # held for this reader, not stored
    assert len(bus.asked) == asked  # read from what prefetch holds
    assert not fetcher.has(tampered)  # a wrong block is never kept
    assert fetcher.fetched_blocks == 6
    assert fetcher.fetched_bytes == sum(len(held[r]) for r in roots[1:7])
    fetcher.prefetch(roots)  # nothing left to ask for but the tampered one
    assert {c for _, c in bus.asked[asked:]} == {str(tampered)}
    # what prefetch left out (the leaves), get fetches, checks and stores as before
    from bacalao.ipld.exporter import write_tree

    out = write_tree(fetcher, roots[1], tmp_path / "out", name="f")
    assert out.read_bytes() == bytes([1]) * 3000


def test_prefetch_stores_when_asked_or_when_memory_is_full(tmp_path, loop) -> None:
    one, held = _blocks(os.urandom(3000))
    two, more = _blocks(os.urandom(3000))
    bus = PeerBus({"a": {**held, **more}})
    repo = Repo.open(tmp_path / "repo")
    fetcher = PeerFetcher(repo, bus, loop, node_id="me", peers=["a"])  # type: ignore[arg-type]
    fetcher.prefetch([one], store=True)  # e.g. the roots an aggregate links and keeps
    assert repo.blocks.has(one)
    fetcher.PREFETCH_MEMORY = 0
    fetcher.prefetch([two])
    assert repo.blocks.has(two) and fetcher.fetched_blocks == 2


def test_held_bytes_counts_what_is_here_and_skips_what_is_not(tmp_path) -> None:
    repo = Repo.open(tmp_path / "repo")
    src = tmp_path / "f"
    src.write_bytes(os.urandom(5000))  # no two chunks alike
    whole = repo.add_path(src, PROFILES["cid-v1"].replace(chunk_size=1024))  # an extent
    assert held_bytes(repo, whole.cid) == whole.tsize
    root, blocks = _blocks(os.urandom(5000))
    repo.blocks.put(root, blocks[root])  # the root only: its leaves live elsewhere
    assert held_bytes(repo, root) == len(blocks[root])
    assert held_bytes(repo, CID.hash(b"absent")) == 0


def test_a_local_copy_that_fails_its_hash_is_fetched_again(tmp_path, loop) -> None:
    root, held = _blocks(os.urandom(3000))
    bus = PeerBus({"a": held})
    repo = Repo.open(tmp_path / "repo")
    fetcher = PeerFetcher(repo, bus, loop, node_id="me", peers=["a"])  # type: ignore[arg-type]
    assert fetcher.get(root) == held[root]
    path = repo.blocks.path_for(root)
    path.write_bytes(bytes(len(held[root])))  # damaged on disk
    assert fetcher.get(root) == held[root]  # refused locally, fetched again
    assert path.read_bytes() == held[root]
    assert fetcher.fetched_blocks == 2
    alone = PeerFetcher(repo, bus, loop, node_id="me", peers=[])  # type: ignore[arg-type]
    path.write_bytes(bytes(len(held[root])))
    with pytest.raises(IntegrityError):  # no peer to ask: the damage is reported
        alone.get(root)
