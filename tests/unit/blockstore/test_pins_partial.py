"""Partial pins: keep the blocks a node made (a merged result), tolerate the rest elsewhere."""

from __future__ import annotations

import pytest

from bacalao.blockstore.repo import Repo
from bacalao.errors import BlockNotFound
from bacalao.ipld.imported import ImportedNode
from bacalao.ipld.profiles import PROFILES
from bacalao.ipld.tree import aggregate

P = PROFILES["kubo-v0"]


@pytest.fixture(params=["memory", "disk"])
def repos(request, tmp_path):
    make = (
        (lambda n: Repo.memory())
        if request.param == "memory"
        else (lambda n: Repo.open(tmp_path / n))
    )
    return make("a"), make("b")


def test_gc_keeps_a_partial_pin_whose_data_is_elsewhere(repos, tmp_path) -> None:
    here, there = repos
    remote = there.add_bytes(b"held by another node" * 1000, P)
    local = here.add_bytes(b"held here", P)

    class Both:
        def get(self, cid):
            return (here if here.blocks.has(cid) else there).blocks.get(cid)

    with here.adding() as sink:
        agg = aggregate(Both(), [("local", local.cid), ("remote", remote.cid)], P, sink)
    here.pin_partial(agg.cid)
    here.unpin(local.cid)
    assert here.roots() == []  # a partial pin is not data this node holds
    result = here.gc()
    assert here.blocks.has(agg.cid) and here.blocks.has(local.cid)  # reached through the pin
    assert agg.cid not in result.removed
    here.pin_store.add(agg.cid)  # a recursive pin over the same DAG would need it all here
    with pytest.raises(BlockNotFound):
        here.gc()


def test_recursive_pin_wins_over_partial(repos) -> None:
    here, _ = repos
    node = here.add_bytes(b"x", P)
    here.pin_partial(node.cid)
    assert node.cid in here.roots()  # already recursively pinned by add
    assert isinstance(node, ImportedNode)
