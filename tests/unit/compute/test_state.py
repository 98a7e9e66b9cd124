"""The compute state machine, driven by events alone: no Docker, no event loop."""

from __future__ import annotations

import pytest

from bacalao.compute.state import (
    Accepted,
    CancelRequested,
    ComputeState,
    Failed,
    InvalidTransition,
    KillRun,
    LocalState,
    Need,
    Notify,
    Publish,
    Published,
    RunStarted,
    RunSucceeded,
    StartRun,
)

GiB = 1 << 30


@pytest.fixture
def ws():
    state = ComputeState(cpu=2.0, memory=4 * GiB, gpu_indexes=(0, 1))
    yield state
    state.validate()


def run_to_completion(ws: ComputeState, eid: str, cid: str = "bafyresult") -> list:
    out = ws.handle(RunStarted(eid))
    out += ws.handle(RunSucceeded(eid))
    out += ws.handle(Published(eid, cid))
    return out


def test_happy_path_emits_running_publish_completed(ws: ComputeState) -> None:
    assert ws.handle(Accepted("e1", Need(cpu=1, memory=GiB), stimulus_id="s1")) == [StartRun("e1")]
    assert ws.handle(RunStarted("e1")) == [Notify("e1", "Running")]
    assert ws.handle(RunSucceeded("e1")) == [Publish("e1")]
    assert ws.handle(Published("e1", "bafyx")) == [Notify("e1", "Completed", result_cid="bafyx")]
    assert ws.executions["e1"].state is LocalState.COMPLETED
    assert ws.stimulus_log[0] == ("s1", "Accepted")


def test_queue_waits_for_capacity_and_priority_goes_first(ws: ComputeState) -> None:
    assert ws.handle(Accepted("big", Need(cpu=2))) == [StartRun("big")]
    assert ws.handle(Accepted("low", Need(cpu=1), priority=0)) == []
    assert ws.handle(Accepted("high", Need(cpu=1), priority=5)) == []
    assert ws.queue == ["high", "low"]  # kept in start order: priority, then arrival
    out = run_to_completion(ws, "big")
    starts = [i for i in out if isinstance(i, StartRun)]
    assert starts == [StartRun("high"), StartRun("low")]


def test_small_job_overtakes_a_large_one_that_does_not_fit(ws: ComputeState) -> None:
    ws.handle(Accepted("a", Need(cpu=1.5)))
    assert ws.handle(Accepted("b", Need(cpu=1))) == []
    assert ws.handle(Accepted("c", Need(cpu=0.5))) == [StartRun("c")]


def test_gpus_are_exact_indexes_never_shared(ws: ComputeState) -> None:
    assert ws.handle(Accepted("g1", Need(gpus=1))) == [StartRun("g1", (0,))]
    assert ws.handle(Accepted("g2", Need(gpus=1))) == [StartRun("g2", (1,))]
    assert ws.handle(Accepted("g3", Need(gpus=1))) == []
    out = ws.handle(Failed("g1", "boom"))
    assert out == [Notify("g1", "Failed", "boom"), StartRun("g3", (0,))]


def test_max_jobs_bounds_concurrency() -> None:
    ws = ComputeState(cpu=8, memory=8 * GiB, max_jobs=1)
    assert ws.handle(Accepted("a", Need())) == [StartRun("a")]
    assert ws.handle(Accepted("b", Need())) == []
    assert StartRun("b") in run_to_completion(ws, "a")
    ws.validate()


def test_cancel_running_kills_and_queued_does_not(ws: ComputeState) -> None:
    ws.handle(Accepted("run", Need(cpu=2)))
    ws.handle(RunStarted("run"))
    ws.handle(Accepted("wait", Need(cpu=2)))
    assert ws.handle(CancelRequested("wait", "stop")) == [Notify("wait", "Cancelled", "stop")]
    out = ws.handle(CancelRequested("run", "stop"))
    assert out[:2] == [KillRun("run"), Notify("run", "Cancelled", "stop")]
    assert ws.handle(CancelRequested("run")) == []  # idempotent


def test_late_events_after_cancel_are_ignored(ws: ComputeState) -> None:
    ws.handle(Accepted("e", Need()))
    ws.handle(RunStarted("e"))
    ws.handle(CancelRequested("e"))
    assert ws.handle(RunSucceeded("e")) == []
    assert ws.handle(Failed("e", "killed")) == []
    assert ws.executions["e"].state is LocalState.CANCELLED


def test_out_of_order_event_is_a_typed_error(ws: ComputeState) -> None:
    ws.handle(Accepted("e", Need()))
    with pytest.raises(InvalidTransition):
        ws.handle(Published("e", "bafy"))  # never ran
    with pytest.raises(InvalidTransition):
        ws.handle(RunStarted("nope"))


def test_duplicate_accept_is_ignored(ws: ComputeState) -> None:
    assert ws.handle(Accepted("e", Need())) == [StartRun("e")]
    assert ws.handle(Accepted("e", Need())) == []


def test_fits_at_all_explains(ws: ComputeState) -> None:
    assert ws.fits_at_all(Need(cpu=1)) is None
    assert "CPU" in ws.fits_at_all(Need(cpu=3))
    assert "GPU" in ws.fits_at_all(Need(gpus=3))
    assert "memory" in ws.fits_at_all(Need(memory=5 * GiB))


def test_a_burst_drains_in_order_and_keeps_the_books(ws: ComputeState) -> None:
    started = []
    for i in range(50):
        started += ws.handle(Accepted(f"e{i:02d}", Need(cpu=1)))
    assert [s.execution_id for s in started] == ["e00", "e01"]
    ws.handle(CancelRequested("e10"))
    done = 0
    while ws.queue or ws._holding:
        eid = sorted(ws._holding)[0]
        started += run_to_completion(ws, eid)
        done += 1
        ws.validate()
    order = [s.execution_id for s in started if isinstance(s, StartRun)]
    assert order == sorted(order) and "e10" not in order and done == 49
