"""The bus contract: publish, request/reply and subscribe over string subjects.

Both the in-process :class:`~bacalao.transport.memory.MemoryBus` and the NATS bus implement it, and
the same contract tests run against each.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bacalao.transport.envelope import Envelope

#: A subscriber: gets an envelope, returns the reply for requests (or None for publishes).
Handler = Callable[[Envelope], Awaitable[Envelope | None]]


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class Bus(Protocol):
    """A message bus. Handlers of one subject may run concurrently."""

    async def publish(self, subject: str, message: Envelope) -> None:
        """Fire and forget: deliver to every subscriber of ``subject`` (none is fine)."""

    async def request(self, subject: str, message: Envelope, *, timeout: float = 5.0) -> Envelope:
        """Send to one subscriber and wait for its reply.

        Raises :class:`~bacalao.errors.Unavailable` when nobody listens or no reply comes in time.
        """

    async def subscribe(self, subject: str, handler: Handler) -> Subscription:
        """Deliver messages on ``subject`` to ``handler`` until unsubscribed."""

    async def close(self) -> None: ...
