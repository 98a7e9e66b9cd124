"""The registry: engine type -> executor, a cached install probe, helpful unknown-type errors."""

from __future__ import annotations

import asyncio

import pytest

from bacalao.errors import InvalidInput
from bacalao.executors.base import Executor
from bacalao.executors.noop import NoopExecutor
from bacalao.executors.registry import ExecutorRegistry


class FakeExecutor(NoopExecutor):
    def __init__(self, engine_type: str, installed=True, delay: float = 0.0) -> None:
        super().__init__()
        self.engine_type = engine_type
        self.installed = installed
        self.delay = delay
        self.probes = 0

    async def is_installed(self) -> bool:
        self.probes += 1
        await asyncio.sleep(self.delay)
        if isinstance(self.installed, Exception):
            raise self.installed
        return self.installed


def test_executors_satisfy_the_protocol():
    assert isinstance(NoopExecutor(), Executor)


def test_get_is_case_insensitive():
    noop = NoopExecutor()
    reg = ExecutorRegistry([noop, FakeExecutor("docker")])
    assert reg.get("noop") is noop and reg.get("NoOp") is noop
    assert reg.types() == ["docker", "noop"]
    assert reg.has("Docker") and not reg.has("wasm")


def test_unknown_type_lists_valid_ones():
    reg = ExecutorRegistry([NoopExecutor(), FakeExecutor("docker"), FakeExecutor("shell")])
    with pytest.raises(InvalidInput) as err:
        reg.get("dokcer")
    assert err.value.message == "unknown engine type 'dokcer'"
    assert err.value.hint == "did you mean 'docker'? valid engine types: docker, noop, shell"
    with pytest.raises(InvalidInput) as err:
        reg.get("wasm")
    assert err.value.hint == "valid engine types: docker, noop, shell"


def test_empty_registry_says_so():
    with pytest.raises(InvalidInput, match="unknown engine"):
        ExecutorRegistry().get("noop")


def test_registering_a_type_twice_is_a_bug():
    reg = ExecutorRegistry([NoopExecutor()])
    with pytest.raises(ValueError, match="twice"):
        reg.add(NoopExecutor())


def test_validate_delegates_to_the_engine():
    reg = ExecutorRegistry([NoopExecutor()])
    assert reg.validate("noop", {"ExitCode": 2}).exit_code == 2
    with pytest.raises(InvalidInput, match="unknown noop engine param 'Bogus'"):
        reg.validate("noop", {"Bogus": 1})


async def test_probe_runs_once_and_is_cached():
    docker = FakeExecutor("docker", installed=False)
    reg = ExecutorRegistry([docker])
    assert await reg.is_installed("docker") is False
    assert await reg.is_installed("DOCKER") is False
    assert docker.probes == 1
    reg.forget_probes()
    docker.installed = True
    assert await reg.is_installed("docker") is True
    assert docker.probes == 2


async def test_concurrent_first_probes_share_one_call():
    slow = FakeExecutor("docker", delay=0.05)
    reg = ExecutorRegistry([slow])
    answers = await asyncio.gather(*(reg.is_installed("docker") for _ in range(5)))
    assert answers == [True] * 5 and slow.probes == 1


async def test_a_failing_probe_counts_as_not_installed():
    broken = FakeExecutor("docker", installed=RuntimeError("socket gone"))
    reg = ExecutorRegistry([broken, NoopExecutor()])
    assert await reg.is_installed("docker") is False
    assert await reg.installed_types() == ["noop"]


async def test_probe_of_unknown_type_is_invalid_input():
    with pytest.raises(InvalidInput):
        await ExecutorRegistry([NoopExecutor()]).is_installed("wasm")
