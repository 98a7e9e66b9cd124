"""The in-process bus: the embedded default and the test double of NATS.

Publishes are delivered on tasks of the running loop, so a publisher never runs its subscriber's
code inline (the same re-entrancy NATS gives). ``drain()`` waits until every delivery has finished,
which tests use instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging

from bacalao.errors import Unavailable
from bacalao.transport.base import Handler
from bacalao.transport.envelope import Envelope

log = logging.getLogger(__name__)


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, subject: str, handler: Handler) -> None:
        self._bus = bus
        self.subject = subject
        self.handler = handler

    async def unsubscribe(self) -> None:
        subs = self._bus._subs.get(self.subject)
        if subs and self in subs:
            subs.remove(self)


class MemoryBus:
    """A bus whose subscribers live in this process."""

    def __init__(self) -> None:
        self._subs: dict[str, list[_MemorySubscription]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def subscribe(self, subject: str, handler: Handler) -> _MemorySubscription:
        sub = _MemorySubscription(self, subject, handler)
        self._subs.setdefault(subject, []).append(sub)
        return sub

    async def publish(self, subject: str, message: Envelope) -> None:
        if self._closed:
            return
        for sub in list(self._subs.get(subject, ())):
            task = asyncio.get_running_loop().create_task(self._deliver(sub, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, sub: _MemorySubscription, message: Envelope) -> None:
        try:
            await sub.handler(message)
        except Exception:  # a subscriber's bug must not kill the bus
            log.exception("subscriber of %s failed on %s", sub.subject, message.type)

    async def request(self, subject: str, message: Envelope, *, timeout: float = 5.0) -> Envelope:
        subs = self._subs.get(subject)
        if not subs or self._closed:
            raise Unavailable(
                f"no responder on {subject}",
                hint="the node may have left the cluster; check `bacalao node list`",
            )
        try:
            async with asyncio.timeout(timeout):  # in this task: no task of its own, as wait_for
                reply = await subs[0].handler(message)
        except TimeoutError:
            raise Unavailable(f"request on {subject} timed out after {timeout}s") from None
        if reply is None:
            raise Unavailable(f"responder on {subject} sent no reply")
        return reply

    async def drain(self) -> None:
        """Wait until every published message has been handled (including cascades)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        await self.drain()
        self._subs.clear()
