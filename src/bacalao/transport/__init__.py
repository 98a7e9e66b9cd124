"""The wire between orchestrator and compute nodes: subjects, envelopes, and buses."""

from bacalao.transport.base import Bus, Handler, Subscription
from bacalao.transport.envelope import Envelope
from bacalao.transport.memory import MemoryBus

__all__ = ["Bus", "Envelope", "Handler", "MemoryBus", "Subscription"]
