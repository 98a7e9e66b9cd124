"""WaitAll: the I/O-free rounds of long-polls behind both clients' wait_all."""

from __future__ import annotations

import pytest

from bacalao.client._base import LONG_POLL_S, BaseClient, WaitAll
from bacalao.errors import BacalaoError


def _client() -> BaseClient:
    return BaseClient("http://127.0.0.1:1", timeout=5.0)


def test_rounds_ask_only_for_jobs_not_yet_terminal_1000_a_call():
    ids = [f"j-{i}" for i in range(1500)] + ["j-0"]  # a repeat is asked for once
    waiting = WaitAll(_client(), ids, None, now=0.0)
    calls = waiting.round(now=0.0)
    assert [len(c.json["JobIDs"]) for c, _ in calls] == [1000, 500]
    assert all(c.json["Timeout"] == LONG_POLL_S for c, _ in calls)
    assert all(limit == LONG_POLL_S + 5.0 for _, limit in calls)
    waiting.states.update({j: "Completed" for j in ids[:1499]} | {"j-1499": "Running"})
    (last,) = waiting.round(now=1.0)
    assert last[0].json["JobIDs"] == ["j-1499"]
    waiting.states["j-1499"] = "Failed"
    assert waiting.pending == []
    result = waiting.result()
    assert list(result) == ids[:1500] and result["j-1499"] == "Failed"


def test_the_deadline_shortens_the_poll_then_ends_the_wait():
    waiting = WaitAll(_client(), ["j-1"], 10.0, now=100.0)
    ((call, limit),) = waiting.round(now=104.0)
    assert call.json["Timeout"] == pytest.approx(6.0) and limit == pytest.approx(11.0)
    with pytest.raises(BacalaoError) as info:
        waiting.round(now=110.0)
    assert info.value.code == "wait_timeout" and info.value.retryable
