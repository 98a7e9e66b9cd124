"""Node filters and rankers: every rejection has a reason, every pick a score breakdown."""

from __future__ import annotations

from bacalao.models.constraint import parse_constraints
from bacalao.orchestrator.selection import (
    NodeSnapshot,
    Requirements,
    explain_rejections,
    select,
)

GiB = 1 << 30


def node(nid: str, **kw) -> NodeSnapshot:
    base = dict(
        node_id=nid,
        engines=frozenset({"docker", "shell", "noop"}),
        labels={},
        cpu=2.0,
        memory=4 * GiB,
        gpus=0,
    )
    base.update(kw)
    return NodeSnapshot(**base)


def test_every_rejected_node_has_its_own_reason() -> None:
    nodes = [
        node("n-engine", engines=frozenset({"noop"})),
        node("n-label", labels={"region": "us"}),
        node("n-small", labels={"region": "eu"}, cpu=0.5),
        node("n-gpu", labels={"region": "eu"}),
        node("n-down", labels={"region": "eu"}, connected=False),
        node("n-busy", labels={"region": "eu"}, gpus=1, used_cpu=3.0),
        node("n-ok", labels={"region": "eu"}, gpus=1),
    ]
    req = Requirements(
        engine="docker", cpu=1.0, gpus=1, constraints=tuple(parse_constraints("region=eu"))
    )
    ranked, rejected = select(nodes, req)
    assert [r.node.node_id for r in ranked] == ["n-ok"]
    assert "does not support engine 'docker'" in rejected["n-engine"]
    assert "region" in rejected["n-label"]
    assert "needs 1 CPU" in rejected["n-small"]
    assert "needs 1 GPU" in rejected["n-gpu"]
    assert "disconnected" in rejected["n-down"]
    assert "busy" in rejected["n-busy"]
    text = explain_rejections(rejected)
    assert text.count(";") == len(rejected) - 1 and "n-engine:" in text


def test_locality_beats_spare_capacity_and_scores_are_kept() -> None:
    holder = node("n-holder", held={"bafydata": 1000}, running=1)
    idle = node("n-idle")
    req = Requirements(engine="shell", input_cids=("bafydata",), input_bytes=1000)
    ranked, rejected = select([idle, holder], req)
    assert not rejected
    assert ranked[0].node.node_id == "n-holder"
    assert ranked[0].scores["locality"] == 100.0
    assert ranked[1].scores["locality"] == 0.0


def test_spread_prefers_idle_node_and_retry_avoids_failed_node() -> None:
    a, b = node("n-a", running=2), node("n-b")
    ranked, _ = select([a, b], Requirements(engine="shell"))
    assert ranked[0].node.node_id == "n-b"
    ranked, _ = select(
        [node("n-a"), node("n-b")], Requirements(engine="shell", failed_on=frozenset({"n-a"}))
    )
    assert ranked[0].node.node_id == "n-b"


def test_soft_constraint_only_scores() -> None:
    req = Requirements(engine="shell", constraints=tuple(parse_constraints("favour_ssd=true")))
    ranked, rejected = select([node("n-plain"), node("n-ssd", labels={"favour_ssd": "true"})], req)
    assert not rejected
    assert len(ranked) == 2


def test_no_nodes_at_all_is_explained() -> None:
    assert "no compute node" in explain_rejections({})
