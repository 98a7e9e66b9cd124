"""A started stack builds its models' validators on the loop, one a turn, not in its first job."""

from __future__ import annotations

import asyncio

from pydantic import ConfigDict

from bacalao.models._wire import WireModel
from bacalao.node.stack import bacalao_models, build_validators_soon


async def test_validators_are_built_one_a_turn_after_start() -> None:
    class A(WireModel):
        x: int = 0

    class B(WireModel):
        y: str = ""

    class C(WireModel):
        model_config = ConfigDict(defer_build=True)
        z: list[int] = []

    models = [A, B, C]
    assert not any(m.__pydantic_complete__ for m in models)  # deferred to first use
    build_validators_soon(models)
    built = []
    for _ in range(10):
        await asyncio.sleep(0)
        built.append(sum(m.__pydantic_complete__ for m in models))
    assert built[:3] == [1, 2, 3]  # one model a turn: the loop keeps serving in between
    assert A.model_validate({"x": 1}).x == 1


def test_every_bacalao_model_is_found() -> None:
    from bacalao.models.job import Job
    from bacalao.transport.messages import AskForBid

    found = bacalao_models()
    assert Job in found and AskForBid in found
    assert all(m.__module__.startswith("bacalao.") for m in found)
