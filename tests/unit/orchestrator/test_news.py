"""An execution's news applied in one go decides what applying each on its own would have."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from bacalao.models.job_state import ExecutionStateType as ES
from bacalao.orchestrator.news import BidAccepted, Held, News, progress
from bacalao.transport import messages as m


def _update(state: str, node: str = "n-1", message: str = "") -> m.ExecutionUpdate:
    return m.ExecutionUpdate(
        execution_id="e-1", job_id="j-1", node_id=node, state=state, message=message
    )


def test_a_fast_run_passes_through_its_bid_and_start_to_its_end() -> None:
    done = progress(
        ES.ASK_FOR_BID, "n-1", [BidAccepted("n-1"), _update("Running"), _update("Completed")]
    )
    assert done.steps == [(ES.BID_ACCEPTED, "bid accepted by n-1"), (ES.RUNNING, "running")]
    assert done.final is not None and done.final.state == "Completed"


def test_a_start_that_overtook_the_bid_reply_implies_the_bid() -> None:
    done = progress(ES.ASK_FOR_BID, "n-1", [_update("Running"), BidAccepted("n-1")])
    assert done.steps == [(ES.BID_ACCEPTED, "bid accepted by n-1"), (ES.RUNNING, "running")]
    assert done.final is None


def test_a_failure_does_not_imply_an_accepted_bid() -> None:
    done = progress(ES.ASK_FOR_BID, "n-1", [_update("Failed", message="no such image")])
    assert done.steps == []
    assert done.final is not None and done.final.message == "no such image"


def test_a_new_execution_passes_through_asking_for_its_bid() -> None:
    done = progress(ES.NEW, "n-1", [_update("Completed")])
    assert [s for s, _ in done.steps] == [ES.ASK_FOR_BID, ES.BID_ACCEPTED]


def test_news_of_an_ended_execution_or_from_another_node_changes_nothing() -> None:
    assert progress(ES.CANCELLED, "n-1", [BidAccepted("n-1"), _update("Completed")]).steps == []
    other = progress(ES.BID_ACCEPTED, "n-1", [_update("Running", node="n-2")])
    assert other.steps == [] and other.final is None


def test_nothing_after_the_end_counts() -> None:
    done = progress(ES.RUNNING, "n-1", [_update("Completed"), _update("Failed")])
    assert done.final is not None and done.final.state == "Completed"


_NEWS = st.lists(
    st.one_of(
        st.builds(BidAccepted, st.sampled_from(["n-1", "n-2"])),
        st.builds(
            _update,
            st.sampled_from(["Running", "Completed", "Failed", "Cancelled"]),
            st.sampled_from(["n-1", "n-2"]),
        ),
    ),
    max_size=6,
)


@given(st.sampled_from(list(ES)), _NEWS)
def test_in_one_go_equals_one_at_a_time(start: ES, news: list[News]) -> None:
    together = progress(start, "n-1", news)
    steps: list[tuple[ES, str]] = []
    final = None
    state = start
    for item in news:  # each applied alone, as a write of its own would
        if final is not None:
            break
        alone = progress(state, "n-1", [item])
        steps += alone.steps
        if alone.steps:
            state = alone.steps[-1][0]
        if alone.final is not None:
            final = alone.final
    assert together.steps == steps
    assert together.final is final


async def test_held_news_is_released_at_its_earliest_deadline() -> None:
    released: list[tuple[str, list[News]]] = []
    held = Held(lambda eid, news: released.append((eid, news)))
    loop = asyncio.get_running_loop()
    start = loop.time()
    bid = BidAccepted("n-1")
    held.hold("e-1", bid, 60.0)
    running = _update("Running")
    held.hold("e-1", running, 0.02)  # an earlier deadline wins
    while not released:
        await asyncio.sleep(0.005)
        assert loop.time() - start < 5
    assert released == [("e-1", [bid, running])]


async def test_taken_news_is_not_released_again() -> None:
    released: list[tuple[str, list[News]]] = []
    held = Held(lambda eid, news: released.append((eid, news)))
    held.hold("e-1", BidAccepted("n-1"), 0.01)
    assert held.take("e-1") == [BidAccepted("n-1")]
    assert held.take("e-1") == []
    held.hold("e-2", BidAccepted("n-1"), 60.0)
    assert held.take_all() == {"e-2": [BidAccepted("n-1")]}
    await asyncio.sleep(0.03)
    assert released == []
