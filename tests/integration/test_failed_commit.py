"""A commit that fails (a full disk) leaves no trace outside the store, and the job goes on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from bacalao.models.parse import parse_job
from bacalao.node.config import NodeConfig
from bacalao.node.stack import start_stack

NOOP = {"Type": "batch", "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]}


async def test_a_failed_evaluation_commit_asks_no_node_and_is_retried(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stack = await start_stack(NodeConfig(data_dir=tmp_path, engines=["noop"]))
    orch = stack.orchestrator
    assert orch is not None
    store = orch.store
    real_transaction = store.transaction
    asked: list[str] = []
    real_ask = orch._ask_for_bid

    async def ask(job, ex, inputs, peers):  # type: ignore[no-untyped-def]
        asked.append(ex.id)
        await real_ask(job, ex, inputs, peers)

    orch._ask_for_bid = ask  # type: ignore[method-assign]
    failures = {"left": 1}

    @contextlib.contextmanager
    def flaky(*args, **kwargs) -> Iterator[None]:  # type: ignore[no-untyped-def]
        outermost = not store._db.in_transaction()
        with real_transaction(*args, **kwargs):
            yield
            if outermost and failures["left"] and store.list_executions():
                failures["left"] -= 1
                raise OSError("disk full")  # the whole transaction rolls back

    store.transaction = flaky  # type: ignore[method-assign]
    try:
        # two jobs: a batch is stored, then placed by the evaluation worker, whose first commit
        # fails; the job it was placing is evaluated again a second later
        ids = [r.job_id for r in await orch.submit_jobs([parse_job(NOOP), parse_job(NOOP)])]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        for job_id in ids:
            while not store.get_job(job_id).is_terminal and loop.time() < deadline:
                await orch.wait(job_id, since_seq=store.last_seq(job_id), timeout=1)
            assert store.get_job(job_id).state_type.value == "Completed"
        assert failures["left"] == 0  # the failure did happen
        committed = [e.id for e in store.list_executions()]
        assert sorted(asked) == sorted(committed)  # no node heard of the rolled-back one
    finally:
        store.transaction = real_transaction  # type: ignore[method-assign]
        await stack.stop()
