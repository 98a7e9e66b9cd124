"""Bid strategies: each answers "can this node run this execution?" with a reason when not.

Strategies are chained: the first refusal wins, so the orchestrator (and the user, through
``job describe``) hears exactly why a node declined. They are pure functions of the request and
a :class:`NodePolicy`; the node's live capacity check lives in :class:`~.state.ComputeState`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bacalao.compute.state import Need


@dataclass(frozen=True, slots=True)
class NodePolicy:
    """What the node operator allows."""

    engines: frozenset[str]
    accept_networked: bool = True
    min_timeout_s: float = 0.5
    max_timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class BidRequest:
    engine: str
    need: Need
    network: str
    timeout_s: float


Strategy = Callable[[BidRequest, NodePolicy], str | None]


def engine_installed(req: BidRequest, policy: NodePolicy) -> str | None:
    if req.engine in policy.engines:
        return None
    return f"engine {req.engine!r} is not installed here"


def networking(req: BidRequest, policy: NodePolicy) -> str | None:
    if req.network == "http":
        return "domain-filtered (HTTP) networking is not supported here; use Full or Host"
    if req.network == "none" or policy.accept_networked:
        return None
    return f"node does not accept jobs with network {req.network!r}"


def timeout_bounds(req: BidRequest, policy: NodePolicy) -> str | None:
    if req.timeout_s and req.timeout_s < policy.min_timeout_s:
        return (
            f"execution timeout {req.timeout_s:g}s is below the minimum {policy.min_timeout_s:g}s"
        )
    if policy.max_timeout_s and req.timeout_s > policy.max_timeout_s:
        return f"execution timeout {req.timeout_s:g}s is above this node's maximum"
    return None


STRATEGIES: tuple[Strategy, ...] = (engine_installed, networking, timeout_bounds)


def decide(
    req: BidRequest, policy: NodePolicy, strategies: Sequence[Strategy] = STRATEGIES
) -> str | None:
    """None to bid, else the first strategy's reason to decline."""
    for strategy in strategies:
        reason = strategy(req, policy)
        if reason is not None:
            return reason
    return None
