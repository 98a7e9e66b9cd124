"""State enums, terminal sets and transition tables."""

from __future__ import annotations

import pytest

from bacalao.errors import Conflict
from bacalao.models import (
    DESIRED_TRANSITIONS,
    EXECUTION_TRANSITIONS,
    JOB_TRANSITIONS,
    DesiredStateType,
    ExecutionStateType,
    JobStateType,
    can_transition,
    check_transition,
)

J, E, D = JobStateType, ExecutionStateType, DesiredStateType


def test_terminal_sets() -> None:
    assert {s for s in J if s.is_terminal} == {J.COMPLETED, J.FAILED, J.STOPPED}
    assert {s for s in E if s.is_terminal} == {E.COMPLETED, E.FAILED, E.CANCELLED}
    assert {s for s in D if s.is_terminal} == {D.STOPPED}


@pytest.mark.parametrize("table", [JOB_TRANSITIONS, EXECUTION_TRANSITIONS, DESIRED_TRANSITIONS])
def test_tables_are_complete_and_terminal_states_are_sinks(table: dict) -> None:
    enum = type(next(iter(table)))
    assert set(table) == set(enum)
    for state, targets in table.items():
        assert state not in targets  # no self-loops: a "change" must change something
        assert (not targets) == state.is_terminal


@pytest.mark.parametrize("table", [JOB_TRANSITIONS, EXECUTION_TRANSITIONS, DESIRED_TRANSITIONS])
def test_every_state_reachable_and_every_path_ends(table: dict) -> None:
    first = next(iter(table))
    seen, todo = {first}, [first]
    while todo:
        for nxt in table[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(table)


def test_expected_lifecycles() -> None:
    for path in (
        [J.PENDING, J.RUNNING, J.COMPLETED],
        [J.PENDING, J.QUEUED, J.RUNNING, J.QUEUED, J.RUNNING, J.FAILED],
        [J.PENDING, J.COMPLETED],
        [J.QUEUED, J.STOPPED],
    ):
        for a, b in zip(path, path[1:], strict=False):
            check_transition(a, b)
    for path in (
        [E.NEW, E.ASK_FOR_BID, E.BID_ACCEPTED, E.RUNNING, E.COMPLETED],
        [E.NEW, E.BID_ACCEPTED, E.COMPLETED],
        [E.ASK_FOR_BID, E.CANCELLED],
        [E.RUNNING, E.FAILED],
    ):
        for a, b in zip(path, path[1:], strict=False):
            check_transition(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (J.COMPLETED, J.RUNNING),
        (J.STOPPED, J.STOPPED),
        (J.QUEUED, J.PENDING),
        (J.QUEUED, J.COMPLETED),
        (E.COMPLETED, E.FAILED),
        (E.NEW, E.RUNNING),
        (E.RUNNING, E.ASK_FOR_BID),
        (D.STOPPED, D.RUNNING),
    ],
)
def test_illegal_transitions_raise_conflict(a, b) -> None:
    assert not can_transition(a, b)
    with pytest.raises(Conflict) as info:
        check_transition(a, b, what="job j-1")
    assert f"job j-1 cannot go from {a.value} to {b.value}" == str(info.value)
    assert info.value.hint


def test_conflict_hint_explains() -> None:
    with pytest.raises(Conflict) as info:
        check_transition(J.COMPLETED, J.STOPPED)
    assert "already finished as Completed" in info.value.hint
    with pytest.raises(Conflict) as info:
        check_transition(J.QUEUED, J.PENDING)
    assert info.value.hint == "from Queued it can go to: Failed, Running, Stopped"


def test_mixed_enums_are_a_programming_error() -> None:
    with pytest.raises(TypeError):
        can_transition(J.PENDING, E.NEW)


def test_parsing_is_case_insensitive_and_accepts_bacalhau_integers() -> None:
    assert J("completed") is J.COMPLETED and J(" RUNNING ") is J.RUNNING
    assert E("askforbid") is E.ASK_FOR_BID
    assert E(5) is E.RUNNING and E(7) is E.COMPLETED and E(6) is E.CANCELLED
    assert D(0) is D.PENDING and D(2) is D.STOPPED
    with pytest.raises(ValueError):
        E(42)
    with pytest.raises(ValueError):
        J("Exploded")


def test_bacalhau_codes() -> None:
    assert [s.bacalhau_code for s in E] == [1, 2, 5, 5, 7, 8, 9]
    assert [s.bacalhau_code for s in D] == [0, 1, 2]
    assert E.from_bacalhau_code(3) is E.ASK_FOR_BID
    with pytest.raises(ValueError):
        E.from_bacalhau_code(0)


def test_states_are_strings() -> None:
    assert J.PENDING == "Pending" and f"{E.BID_ACCEPTED}" == "BidAccepted"
    assert E.RUNNING.is_active and not E.NEW.is_active
    assert E.FAILED.is_discarded and not E.COMPLETED.is_discarded
