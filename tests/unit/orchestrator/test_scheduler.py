"""The scheduler as a pure function: snapshots in, plans out. No store, bus or event loop."""

from __future__ import annotations

from bacalao.models.execution import ComputeState, Execution, RunCommandResult
from bacalao.models.job_state import ExecutionStateType as ES
from bacalao.models.job_state import JobStateType as JS
from bacalao.models.parse import parse_job
from bacalao.orchestrator.scheduler import MAX_ATTEMPTS, NS, Snapshot, schedule
from bacalao.orchestrator.selection import NodeSnapshot, Requirements

NOW = 1_000 * NS


def job(**kw):
    spec = {
        "ID": "j-1",
        "Type": kw.pop("type", "batch"),
        "Count": kw.pop("count", 1),
        "CreateTime": kw.pop("created", NOW),
        "Tasks": [
            {
                "Name": "main",
                "Engine": {"Type": "shell", "Params": {"Command": "true"}},
                "Timeouts": kw.pop("timeouts", {}),
            }
        ],
    }
    if "state" in kw:
        spec["State"] = {"StateType": kw.pop("state")}
    return parse_job(spec)


def node(nid: str, **kw) -> NodeSnapshot:
    base = dict(
        node_id=nid, engines=frozenset({"shell"}), labels={}, cpu=2.0, memory=1 << 32, gpus=0
    )
    base.update(kw)
    return NodeSnapshot(**base)


def ex(eid: str, state: ES, node_id: str = "n-1", slot: int = 0, error: str = "") -> Execution:
    return Execution(
        ID=eid,
        JobID="j-1",
        NodeID=node_id,
        ShardIndex=slot,
        ComputeState=ComputeState(StateType=state, Message=error),
        RunOutput=RunCommandResult(ErrorMsg=error) if error else None,
    )


def snap(j, execs=(), nodes=(node("n-1"),), now=NOW, slots=None, fatal=frozenset()):
    slots = slots if slots is not None else [Requirements(engine="shell")] * max(j.count, 1)
    return Snapshot(j, list(execs), list(nodes), now, slots, frozenset(fatal))


def test_new_job_is_placed_and_running() -> None:
    plan = schedule(snap(job()))
    assert [(p.slot, p.node_id) for p in plan.placements] == [(0, "n-1")]
    assert plan.job_state is JS.RUNNING


def test_count_spreads_over_nodes() -> None:
    plan = schedule(snap(job(count=2), nodes=[node("n-1"), node("n-2")]))
    assert sorted(p.node_id for p in plan.placements) == ["n-1", "n-2"]


def test_in_flight_execution_is_left_alone_and_completion_completes() -> None:
    assert schedule(snap(job(), [ex("e1", ES.RUNNING)])).placements == []
    plan = schedule(snap(job(), [ex("e1", ES.COMPLETED)]))
    assert plan.job_state is JS.COMPLETED


def test_failure_is_retried_on_another_node_then_gives_up() -> None:
    nodes = [node("n-1"), node("n-2")]
    plan = schedule(snap(job(), [ex("e1", ES.FAILED, "n-1", error="docker died")], nodes))
    assert [p.node_id for p in plan.placements] == ["n-2"]
    failed = [ex(f"e{i}", ES.FAILED, error=f"err {i}") for i in range(MAX_ATTEMPTS)]
    plan = schedule(snap(job(), failed, nodes))
    assert plan.job_state is JS.FAILED
    assert f"failed {MAX_ATTEMPTS} times" in plan.message and "err 2" in plan.message


def test_user_error_is_not_retried() -> None:
    e = ex("e1", ES.FAILED, error="exited with code 3")
    plan = schedule(snap(job(), [e], fatal={"e1"}))
    assert plan.job_state is JS.FAILED and plan.placements == []
    assert "exited with code 3" in plan.message and "n-1" in plan.message


def test_no_feasible_node_fails_with_every_reason() -> None:
    nodes = [node("n-1", engines=frozenset({"docker"})), node("n-2", connected=False)]
    plan = schedule(snap(job(), nodes=nodes))
    assert plan.job_state is JS.FAILED
    assert "n-1: does not support engine 'shell'" in plan.message
    assert "n-2: node is disconnected" in plan.message
    assert plan.hint


def test_queue_timeout_keeps_the_job_queued_then_fails() -> None:
    j = job(timeouts={"QueueTimeout": 60})
    plan = schedule(snap(j, nodes=[]))
    assert plan.job_state is JS.QUEUED and plan.reevaluate_after_s
    assert "no compute node" in plan.message
    plan = schedule(snap(j, nodes=[], now=NOW + 61 * NS))
    assert plan.job_state is JS.FAILED


def test_total_timeout_fails_and_stops_active_executions() -> None:
    j = job(timeouts={"TotalTimeout": 10})
    plan = schedule(snap(j, [ex("e1", ES.RUNNING)], now=NOW + 11 * NS))
    assert plan.job_state is JS.FAILED and "TotalTimeout=10s" in plan.message
    assert plan.stops == [("e1", "job failed")]


def test_stopped_job_stops_everything() -> None:
    plan = schedule(snap(job(state="Stopped"), [ex("e1", ES.RUNNING), ex("e2", ES.COMPLETED)]))
    assert plan.stops == [("e1", "job is stopped")]
    assert plan.placements == [] and plan.job_state is None


def test_execution_on_lost_node_is_stopped_and_replaced() -> None:
    plan = schedule(snap(job(), [ex("e1", ES.RUNNING, "n-gone")], [node("n-1")]))
    assert ("e1", "node n-gone is gone") in plan.stops
    assert [p.node_id for p in plan.placements] == ["n-1"]


def test_ops_job_runs_once_on_every_node() -> None:
    nodes = [node("n-1"), node("n-2"), node("n-3", engines=frozenset())]
    plan = schedule(snap(job(type="ops"), nodes=nodes))
    assert sorted(p.node_id for p in plan.placements) == ["n-1", "n-2"]
    execs = [ex("e1", ES.COMPLETED, "n-1"), ex("e2", ES.FAILED, "n-2", error="boom")]
    plan = schedule(snap(job(type="ops"), execs, nodes))
    assert plan.job_state is JS.FAILED and "boom" in plan.message


def test_same_snapshot_same_plan() -> None:
    s = snap(job(count=3), nodes=[node("n-1"), node("n-2")])
    assert schedule(s) == schedule(s)


def test_delay_scheduling_waits_for_a_busy_holder_then_falls_back() -> None:
    from bacalao.orchestrator.scheduler import LOCALITY_WAIT_S

    holder = node("n-holder", held={"bafyshard": 100}, used_cpu=2.0)  # full
    other = node("n-other")
    req = [Requirements(engine="shell", cpu=1.0, input_cids=("bafyshard",), input_bytes=100)]
    plan = schedule(snap(job(), nodes=[holder, other], slots=req))
    assert plan.placements == [] and plan.reevaluate_after_s
    assert plan.job_state is JS.QUEUED and "busy holder" in plan.message
    later = NOW + int((LOCALITY_WAIT_S + 0.1) * NS)
    plan = schedule(snap(job(), nodes=[holder, other], slots=req, now=later))
    assert [p.node_id for p in plan.placements] == ["n-other"]


def test_free_holder_is_taken_at_once() -> None:
    holder = node("n-holder", held={"bafyshard": 100}, running=3)
    req = [Requirements(engine="shell", cpu=1.0, input_cids=("bafyshard",), input_bytes=100)]
    plan = schedule(snap(job(), nodes=[node("n-idle"), holder], slots=req))
    assert [p.node_id for p in plan.placements] == ["n-holder"]
