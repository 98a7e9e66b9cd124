"""Executions, history, nodes, bids, SpecConfig decoding, timeouts, network, extensions."""

from __future__ import annotations

import pytest
from pydantic import Field, ValidationError

from bacalao.errors import InvalidInput, NotFound
from bacalao.models import (
    GPU,
    Bid,
    DesiredStateType,
    Event,
    Execution,
    ExecutionStateType,
    HistoryType,
    JobHistory,
    Metering,
    Network,
    NetworkType,
    NodeInfo,
    RunCommandResult,
    SpecConfig,
    StateChange,
    Timeouts,
    dump_execution,
    dump_history,
    gpu_labels,
    parse_execution,
)
from bacalao.models._wire import WireModel
from bacalao.models.parse import ns_to_rfc3339
from bacalao.models.spec_config import require_type


class DockerParams(WireModel):
    image: str = Field(alias="Image")
    entrypoint: list[str] = Field(default_factory=list, alias="Entrypoint")


def test_spec_config_normalises_and_decodes_params() -> None:
    spec = SpecConfig.model_validate({"type": " Docker ", "params": {"image": "ubuntu"}})
    assert spec.type == "docker" and not spec.is_empty()
    assert spec.get("IMAGE") == "ubuntu" and spec.get("missing", 1) == 1
    params = spec.decode_params(DockerParams, path="Tasks[0].Engine.Params")
    assert params.image == "ubuntu" and params.entrypoint == []
    assert SpecConfig.model_validate({"Type": None, "Params": None}).is_empty()


def test_decode_params_errors_carry_the_path() -> None:
    spec = SpecConfig(type="docker", params={"Imagee": "ubuntu"})
    with pytest.raises(InvalidInput) as info:
        spec.decode_params(DockerParams, path="Tasks[0].Engine.Params")
    assert str(info.value) == "Tasks[0].Engine.Params.Imagee: unknown field 'Imagee'"
    assert info.value.hint.startswith("did you mean 'Image'?")
    with pytest.raises(InvalidInput, match=r"^Tasks\[0\].Engine.Params.Image: required"):
        SpecConfig(type="docker").decode_params(DockerParams, path="Tasks[0].Engine.Params")


def test_require_type_lists_known_types() -> None:
    known = {"docker": 1, "wasm": 2}
    assert require_type(SpecConfig(type="wasm"), known, what="engine") == 2
    with pytest.raises(InvalidInput) as info:
        require_type(SpecConfig(type="podman"), known, what="engine")
    assert str(info.value) == "unknown engine type 'podman'"
    assert info.value.hint == "valid engine types: docker, wasm"


def make_execution(**kw) -> Execution:
    return Execution(id="e-1", job_id="j-1", node_id="n-1", **kw)


def test_execution_round_trip_and_bacalhau_shape() -> None:
    ex = make_execution(
        shard_index=3,
        compute_state={"StateType": "Completed"},
        desired_state={"StateType": "Stopped", "Message": "execution completed"},
        run_output=RunCommandResult(stdout="hi\n", stderr="", exit_code=0),
        metering=Metering(cpu_seconds=1.5, bytes_fetched=10),
        result_cid="bafyresult",
        allocated={"CPU": "500m", "Memory": "1Gi"},
    )
    wire = ex.to_wire()
    assert wire["ComputeState"] == {"StateType": "Completed"}
    assert wire["RunOutput"]["stderr"] == "" and "Stderr" not in wire["RunOutput"]
    assert wire["Metering"] == {"CPUSeconds": 1.5, "BytesFetched": 10}
    assert parse_execution(wire) == ex
    bac = dump_execution(ex, task_name="main")
    assert bac["ComputeState"] == {"StateType": 7}
    assert bac["DesiredState"] == {"StateType": 2, "Message": "execution completed"}
    assert bac["AllocatedResources"] == {"Tasks": {"main": {"CPU": 0.5, "Memory": 1 << 30}}}
    assert bac["ShardIndex"] == 3 and bac["FollowupEvalID"] == ""
    back = parse_execution(bac)
    assert back.compute_state.state_type is ExecutionStateType.COMPLETED
    assert back.allocated == ex.allocated and back.shard_index == 3


def test_execution_accepts_bacalhau_integer_states() -> None:
    ex = parse_execution(
        {"ID": "e-2", "JobID": "j-1", "ComputeState": {"StateType": 5}, "DesiredState": 1}
    )
    assert ex.state is ExecutionStateType.RUNNING
    assert ex.desired_state.state_type is DesiredStateType.RUNNING
    with pytest.raises(InvalidInput, match=r"^ComputeState.StateType"):
        parse_execution({"ID": "e-2", "JobID": "j-1", "ComputeState": {"StateType": 77}})


def test_execution_error_message() -> None:
    assert make_execution().error_message == ""
    failed = make_execution(compute_state={"StateType": "Failed", "Message": "node lost"})
    assert failed.error_message == "node lost" and failed.is_terminal
    oom = failed.model_copy(update={"run_output": RunCommandResult(error_msg="OOM killed")})
    assert oom.error_message == "OOM killed"
    assert RunCommandResult().exit_code == -1


def test_metering_sums() -> None:
    total = Metering(cpu_seconds=1, bytes_fetched=5) + Metering(cpu_seconds=2, fuel_consumed=7)
    assert (total.cpu_seconds, total.bytes_fetched, total.fuel_consumed) == (3, 5, 7)


def test_history_entries_and_bacalhau_shape() -> None:
    entry = JobHistory(
        seq=7,
        type=HistoryType.EXECUTION_LEVEL,
        job_id="j-1",
        execution_id="e-1",
        node_id="n-1",
        execution_state=StateChange(previous="BidAccepted", new="Completed"),
        new_revision=5,
        event=Event(message="done", topic="Execution", timestamp=1_719_930_421_100_000_000),
        time=1_719_930_421_100_000_000,
        stimulus_id="compute-done-1",
    )
    assert entry.describe() == "BidAccepted -> Completed: done"
    wire = entry.to_wire()
    assert JobHistory.model_validate(wire) == entry
    bac = dump_history(entry)
    assert bac["Time"] == "2024-07-02T14:27:01.1Z"
    assert bac["ExecutionState"] == {"Previous": 5, "New": 7}
    assert bac["Comment"] == "done" and bac["Type"] == "ExecutionLevel"
    with pytest.raises(ValidationError):
        entry.seq = 8  # history is immutable


def test_event_from_error() -> None:
    event = Event.from_error(NotFound("no such job", hint="bacalao job list"), topic="Scheduling")
    assert event.is_error and event.details["Hint"] == "bacalao job list"
    assert event.details["Retryable"] == "false"


def test_rfc3339() -> None:
    assert ns_to_rfc3339(0) == "0001-01-01T00:00:00Z"
    assert ns_to_rfc3339(1_000_000_000) == "1970-01-01T00:00:01Z"
    assert ns_to_rfc3339(1_000_000_123) == "1970-01-01T00:00:01.000000123Z"


def test_node_info() -> None:
    gpus = [GPU(index=0, model="NVIDIA H100 80GB HBM3", memory_mb=81559, vendor="NVIDIA")]
    node = NodeInfo.model_validate(
        {
            "id": "n-1",
            "labels": {"region": "eu"},
            "engines": ["Docker", "shell"],
            "MaxCapacity": {"CPU": 16, "Memory": "128Gi", "GPU": 1},
            "AvailableCapacity": {"CPU": "15500m", "Memory": "120Gi", "GPU": 1},
            "gpus": [g.to_wire() for g in gpus],
        }
    )
    assert node.supports_engine("DOCKER") and not node.supports_engine("wasm")
    assert node.available.cpu == 15.5 and node.total.memory == 128 << 30
    assert node.gpus == gpus and node.is_schedulable
    assert node.gpus[0].to_wire() == {
        "Index": 0,
        "Name": "NVIDIA H100 80GB HBM3",
        "Vendor": "NVIDIA",
        "Memory": 81559,
    }
    assert gpu_labels(gpus) == {"GPU-0": "NVIDIA H100 80GB HBM3", "GPU-0-Memory": "81559-MiB"}
    assert NodeInfo.model_validate(node.to_wire()) == node


def test_bid() -> None:
    bid = Bid.model_validate(
        {"jobid": "j-1", "executionid": "e-1", "nodeid": "n-1", "accepted": False, "reason": "busy"}
    )
    assert bid.to_wire() == {
        "JobID": "j-1",
        "ExecutionID": "e-1",
        "NodeID": "n-1",
        "Accepted": False,
        "Reason": "busy",
    }


def test_timeouts() -> None:
    t = Timeouts.model_validate({"ExecutionTimeout": "1h30m", "QueueTimeout": 90})
    assert (t.execution_timeout, t.queue_timeout) == (5400, 90)
    assert t.with_defaults().total_timeout == 5490  # longer than the 30-minute default
    assert Timeouts().with_defaults().total_timeout == 1800
    assert Timeouts().with_defaults(long_running=True).total_timeout == 0
    assert Timeouts().effective_execution_timeout() == 600
    assert Timeouts(total_timeout=100).effective_execution_timeout() == 100
    assert Timeouts().to_wire() == {}
    with pytest.raises(ValidationError):
        Timeouts(execution_timeout=-1)


def test_network() -> None:
    n = Network.model_validate(
        {"type": "http", "domains": ["Example.COM", ".github.com", "1.2.3.4"]}
    )
    assert n.type is NetworkType.HTTP and n.domains == ["example.com", ".github.com", "1.2.3.4"]
    assert Network.model_validate({"Type": "none"}).disabled
    assert Network.model_validate({"Type": ""}).type is NetworkType.NONE
    assert Network(type=NetworkType.FULL).to_wire() == {"Type": "Full"}
    with pytest.raises(ValidationError, match="Domains need network type HTTP"):
        Network.model_validate({"Type": "Full", "Domains": ["example.com"]})
