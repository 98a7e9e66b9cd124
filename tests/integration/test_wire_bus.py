"""Messages as they cross processes: every envelope through bytes, never the sender's object.

The in-process bus hands the receiver the sender's own message; a transport between processes
(NATS) sends ``Envelope.to_bytes()``. This bus does the latter on the memory bus, so the whole
stack is proven to work from the wire payloads alone.
"""

from __future__ import annotations

from tests.integration.test_stack import wait_terminal

from bacalao.errors import InvalidInput
from bacalao.models.job_state import JobStateType as JS
from bacalao.models.parse import parse_job
from bacalao.node.config import NodeConfig
from bacalao.node.stack import start_stack
from bacalao.transport import Envelope, MemoryBus
from bacalao.transport import messages as m

JOB = {
    "Type": "batch",
    "Tasks": [
        {
            "Name": "t",
            "Engine": {"Type": "noop", "Params": {"Stdout": "hi\n", "Outputs": {"a.txt": "A"}}},
            "Publisher": {"Type": "ipfs"},
        }
    ],
}


def _over_the_wire(env: Envelope) -> Envelope:
    return Envelope.from_bytes(env.to_bytes())


class WireBus(MemoryBus):
    """The memory bus, with every message and reply serialised and parsed again."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def publish(self, subject: str, message: Envelope) -> None:
        self.sent += 1
        await super().publish(subject, _over_the_wire(message))

    async def request(self, subject: str, message: Envelope, *, timeout: float = 5.0) -> Envelope:
        self.sent += 1
        reply = await super().request(subject, _over_the_wire(message), timeout=timeout)
        return _over_the_wire(reply)


def test_an_ask_keeps_its_job_in_process_and_writes_it_on_the_wire():
    job = parse_job(JOB).with_id("j-1")
    ask = m.AskForBid.for_job(job, execution_id="e-1")
    env = ask.to_envelope("orch")
    assert m.AskForBid.from_envelope(env).parsed_job() is job  # nothing copied in-process
    wired = m.AskForBid.from_envelope(_over_the_wire(env))
    assert wired.parsed_job().to_wire() == job.to_wire()
    assert wired.execution_id == "e-1"


def test_a_malformed_job_on_the_wire_is_invalid_input():
    env = Envelope("AskForBid", "orch", {"Job": {"Type": "batch"}, "ExecutionID": "e-1"})
    ask = m.AskForBid.from_envelope(env)
    try:
        ask.parsed_job()
    except InvalidInput as e:
        assert "Tasks" in e.message
    else:
        raise AssertionError("a job without tasks was accepted")


async def test_a_job_runs_end_to_end_over_serialised_messages(tmp_path):
    bus = WireBus()
    stack = await start_stack(NodeConfig(data_dir=tmp_path, engines=["noop"]), bus=bus)
    try:
        orch = stack.orchestrator
        result = await orch.submit_job(parse_job(JOB))
        job = await wait_terminal(orch, result.job_id)
        assert job.state_type is JS.COMPLETED, job.state
        (ex,) = orch.list_executions(job.id)
        assert ex.run_output is not None and ex.run_output.stdout == "hi\n"
        assert ex.result_cid and orch.results(job.id)[0].params["CID"] == ex.result_cid
        assert bus.sent >= 3  # the ask, and the node's updates, all went through bytes
    finally:
        await stack.stop()
