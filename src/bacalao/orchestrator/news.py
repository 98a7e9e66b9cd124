"""What a node's news does to an execution: the decisions of applying it, without the store.

An accepted bid and a node's "running" change nothing anyone waits for. The orchestrator holds
them for a moment and writes them with the execution's next news, which is most often its end: one
write of the row that passes through each state, with a history entry for each, instead of one
write a state. :func:`progress` maps the stored state and the news, in the order they came, to the
states to pass through and the update that ends the execution, if one came. Applying the news in
one go decides exactly what applying each on its own would have. :class:`Held` keeps the news
until its deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bacalao.models.job_state import ExecutionStateType
from bacalao.transport import messages as m

ES = ExecutionStateType


@dataclass(frozen=True, slots=True)
class BidAccepted:
    """The node's answer to an ask for a bid: it takes the execution."""

    node_id: str


News = BidAccepted | m.ExecutionUpdate


@dataclass(slots=True)
class Progress:
    #: compute states to pass through, each with the message its history entry gets
    steps: list[tuple[ExecutionStateType, str]]
    #: the update that ends the execution (completed, failed, cancelled), if one came
    final: m.ExecutionUpdate | None = None


def progress(state: ExecutionStateType, node_id: str, news: Sequence[News]) -> Progress:
    """What ``news`` does to an execution now in ``state`` on ``node_id``.

    - A bid's acceptance counts only while the execution still asks for it (a node's own update
      may have overtaken the reply, or the execution may have been cancelled meanwhile).
    - Updates from another node than the execution's are ignored.
    - A node's update implies the bid was accepted: an execution still new or asking for a bid
      passes through those states first (unless the update is a failure).
    - "Running" is recorded once; an end stops everything after it.
    """
    out = Progress(steps=[])
    for item in news:
        if state.is_terminal:
            break
        if isinstance(item, BidAccepted):
            if state is ES.ASK_FOR_BID:
                out.steps.append((ES.BID_ACCEPTED, f"bid accepted by {item.node_id}"))
                state = ES.BID_ACCEPTED
            continue
        if item.node_id != node_id:
            continue
        new = ES(item.state)
        if state in (ES.NEW, ES.ASK_FOR_BID) and new is not ES.FAILED:
            if state is ES.NEW:
                out.steps.append((ES.ASK_FOR_BID, ""))
            out.steps.append((ES.BID_ACCEPTED, f"bid accepted by {node_id}"))
            state = ES.BID_ACCEPTED
        if new is ES.RUNNING:
            if state is not ES.RUNNING:
                out.steps.append((ES.RUNNING, "running"))
                state = ES.RUNNING
            continue
        out.final = item
        break
    return out


class Held:
    """News held per execution, until a deadline: the earliest of its items' own.

    ``release(execution_id, news)`` gets what is still held when the deadline passes;
    :meth:`take` hands it over sooner, to ride with news written at once.
    """

    def __init__(self, release: Callable[[str, list[News]], None]) -> None:
        self._release = release
        self._news: dict[str, list[News]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def hold(self, execution_id: str, news: News, for_s: float) -> None:
        self._news.setdefault(execution_id, []).append(news)
        loop = asyncio.get_running_loop()
        due = loop.time() + for_s
        timer = self._timers.get(execution_id)
        if timer is not None:
            if timer.when() <= due:
                return
            timer.cancel()
        self._timers[execution_id] = loop.call_at(due, self._due, execution_id)

    def take(self, execution_id: str) -> list[News]:
        """What is held for the execution (now no longer held)."""
        timer = self._timers.pop(execution_id, None)
        if timer is not None:
            timer.cancel()
        return self._news.pop(execution_id, [])

    def take_all(self) -> dict[str, list[News]]:
        """Everything held (on shutdown)."""
        return {eid: self.take(eid) for eid in list(self._news)}

    def _due(self, execution_id: str) -> None:
        self._timers.pop(execution_id, None)
        news = self._news.pop(execution_id, None)
        if news:
            self._release(execution_id, news)
