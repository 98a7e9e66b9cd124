"""Contract tests of the in-process bus (the NATS bus runs the same contract later)."""

from __future__ import annotations

import asyncio

import pytest

from bacalao.errors import DecodeError, Unavailable
from bacalao.transport import Envelope, MemoryBus, subjects


async def test_publish_reaches_every_subscriber_and_drain_waits() -> None:
    bus = MemoryBus()
    got: list[tuple[str, str]] = []

    async def a(msg: Envelope) -> None:
        got.append(("a", msg.payload["n"]))

    async def b(msg: Envelope) -> None:
        got.append(("b", msg.payload["n"]))

    await bus.subscribe("s", a)
    await bus.subscribe("s", b)
    await bus.publish("s", Envelope("T", "me", {"n": "1"}))
    assert got == []  # never delivered inline
    await bus.drain()
    assert sorted(got) == [("a", "1"), ("b", "1")]


async def test_request_gets_the_reply() -> None:
    bus = MemoryBus()

    async def echo(msg: Envelope) -> Envelope:
        return msg.reply("Echo", "srv", {"x": msg.payload["x"] * 2})

    await bus.subscribe(subjects.compute("n1", subjects.ASK_FOR_BID), echo)
    reply = await bus.request(
        subjects.compute("n1", subjects.ASK_FOR_BID), Envelope("Ask", "cli", {"x": 21})
    )
    assert reply.payload == {"x": 42}
    assert reply.sender == "srv"


async def test_a_request_that_gets_no_reply_in_time_is_unavailable() -> None:
    bus = MemoryBus()
    stopped = asyncio.Event()

    async def stuck(msg: Envelope) -> Envelope:
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()  # the responder is stopped, not left running
        raise AssertionError("unreachable")

    await bus.subscribe("slow", stuck)
    with pytest.raises(Unavailable, match="timed out after 0.05s"):
        await bus.request("slow", Envelope("T", "me"), timeout=0.05)
    assert stopped.is_set()
    # the caller's task is usable afterwards (its cancellation was taken back)
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_request_without_responder_is_unavailable() -> None:
    bus = MemoryBus()
    with pytest.raises(Unavailable, match="no responder"):
        await bus.request("nobody", Envelope("T", "me"))


async def test_unsubscribe_and_failing_subscriber_do_not_break_the_bus() -> None:
    bus = MemoryBus()
    seen: list[int] = []

    async def bad(msg: Envelope) -> None:
        raise RuntimeError("boom")

    async def good(msg: Envelope) -> None:
        seen.append(1)

    await bus.subscribe("s", bad)
    sub = await bus.subscribe("s", good)
    await bus.publish("s", Envelope("T", "me"))
    await bus.drain()
    await sub.unsubscribe()
    await bus.publish("s", Envelope("T", "me"))
    await bus.drain()
    assert seen == [1]


def test_envelope_round_trips_and_rejects_garbage() -> None:
    env = Envelope("OnRunComplete", "node-1", {"ExecutionID": "e-1", "n": [1, 2]})
    assert Envelope.from_bytes(env.to_bytes()) == env
    with pytest.raises(DecodeError):
        Envelope.from_bytes(b"{not json")
    with pytest.raises(DecodeError):
        Envelope.from_bytes(b'{"v":1}')
