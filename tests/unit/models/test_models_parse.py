"""Parsing job specs: the Bacalhau samples, key casing, round trips and error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bacalao.errors import InvalidInput, NotFound
from bacalao.models import (
    Job,
    JobStateType,
    JobType,
    MergeLayout,
    NetworkType,
    dump_job,
    load_job,
    load_job_file,
    parse_job,
    parse_job_text,
)

SPECS = Path(__file__).parent / "specs"
SAMPLES = sorted(p for p in SPECS.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_spec_parses_and_round_trips(path: Path) -> None:
    job = load_job_file(path)
    assert job.tasks and job.task.engine.type
    dumped = dump_job(job)
    again = parse_job(json.loads(json.dumps(dumped)))
    assert again == job
    assert dump_job(again) == dumped


def test_lower_case_keys_fill_the_same_fields() -> None:
    job = load_job_file(SPECS / "a1-docker-hello.yaml")
    assert job.name == "A Simple Docker Job"
    assert job.type is JobType.BATCH
    assert job.task.name == "My main task"
    assert job.task.engine.type == "docker"
    # Engine params are the executor's business: kept verbatim.
    assert job.task.engine.params["Parameters"] == ["-c", "echo Hello Bacalhau!"]


def test_defaults_follow_bacalhau() -> None:
    job = parse_job({"Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]})
    assert (job.namespace, job.count, job.type, job.priority) == ("default", 1, JobType.BATCH, 0)
    assert job.state.state_type is JobStateType.PENDING
    assert job.task.timeouts.total_timeout == 1800
    assert job.task.network.type is NetworkType.NONE
    assert job.task.publisher.is_none


def test_daemon_job_gets_no_timeout_defaults_and_count_one() -> None:
    job = load_job_file(SPECS / "a6-19-basic-daemon-job-v1.yml")
    assert job.type is JobType.DAEMON and job.type.is_long_running
    assert job.task.timeouts.total_timeout == 0
    assert parse_job({"Type": "ops", "Count": 0, "Tasks": job.to_wire()["Tasks"]}).count == 1


def test_input_sources_are_canonicalised() -> None:
    job = parse_job(
        {
            "tasks": [
                {
                    "name": "t",
                    "engine": {"type": "DOCKER", "params": {"Image": "x"}},
                    "inputSources": [
                        {
                            "source": {
                                "type": "IPFS",
                                "params": {"cid": "QmYEqqNDdDrsRhPRShKHzsnZw"},
                            }
                        },
                        {
                            "source": {"type": "localdirectory", "params": {"sourcepath": "/d"}},
                            "target": "/data",
                        },
                    ],
                }
            ]
        }
    )
    first, second = job.task.input_sources
    assert first.source.type == "ipfs" and first.target == "/inputs"
    assert first.source.params == {"CID": "QmYEqqNDdDrsRhPRShKHzsnZw"}
    assert first.cid == "QmYEqqNDdDrsRhPRShKHzsnZw"
    assert second.source.type == "localDirectory"
    assert second.source.params == {"SourcePath": "/d", "ReadWrite": False}
    assert job.task.engine.type == "docker"


def test_bacalao_extensions_parse_and_stay_out_of_plain_jobs() -> None:
    job = load_job_file(SPECS / "bacalao-sharded.yaml")
    assert job.sharding is not None and job.sharding.batch_size == 4
    assert job.sharding.merge is MergeLayout.PER_SHARD
    assert job.reduce is not None and job.reduce.timeouts.total_timeout == 1800
    assert job.verification is not None and job.verification.effective_quorum == 2
    assert job.task.timeouts.execution_timeout == 300
    assert job.task.resources.memory_bytes == 256_000_000
    plain = dump_job(load_job_file(SPECS / "a2-docker-output.yaml"))
    assert not {"Sharding", "Reduce", "Verification"} & set(plain)


def test_wire_shape_matches_the_reference_response() -> None:
    body = {
        "Name": "A Simple Docker Job",
        "Type": "batch",
        "Count": 1,
        "Tasks": [
            {
                "Name": "My Main task",
                "Publisher": {},
                "Engine": {"Type": "docker", "Params": {"Image": "ubuntu:latest"}},
            }
        ],
    }
    out = dump_job(parse_job(body).with_id("j-df836f6a"))
    assert out["ID"] == "j-df836f6a" and out["Name"] == "A Simple Docker Job"
    assert out["Constraints"] == [] and out["Labels"] == {} and out["Meta"] == {}
    task = out["Tasks"][0]
    assert task["Publisher"] == {"Type": ""}
    assert task["Resources"] == {} and task["Network"] == {"Type": "None"}
    assert task["Timeouts"] == {"TotalTimeout": 1800}
    assert "Env" not in task and "InputSources" not in task
    assert out["State"] == {"StateType": "Pending"}


def test_json_and_yaml_text_both_load() -> None:
    text = (SPECS / "a5-docker-output.json").read_text()
    assert parse_job_text(text) == load_job(text.encode()) == load_job(json.loads(text))
    assert load_job(SPECS / "a5-docker-output.json").name == "Docker Job With Output"


def test_with_id_names_a_nameless_job() -> None:
    job = parse_job({"Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]})
    assert job.id == "" and job.name == ""
    named = job.with_id("j-123")
    assert (named.id, named.name) == ("j-123", "j-123")
    assert job.id == ""  # the original is untouched


def test_scalar_map_values_become_strings() -> None:
    job = parse_job(
        {"Labels": {"gpu": 1, "spot": True}, "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]}
    )
    assert job.labels == {"gpu": "1", "spot": "true"}


def test_state_accepts_a_bare_string() -> None:
    job = parse_job({"State": "running", "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]})
    assert job.state_type is JobStateType.RUNNING


def test_system_fields_rejected_on_submission_only() -> None:
    data = {"id": "j-1", "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]}
    assert parse_job(data).id == "j-1"
    with pytest.raises(InvalidInput, match="id: not allowed") as info:
        parse_job(data, reject_system_fields=True)
    assert "orchestrator sets it" in (info.value.hint or "")


# -- malformed specs: the message starts with the field path, the hint says what to do ---------

TASK = "Tasks:\n  - Name: main\n    Engine: {Type: docker}\n"


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            TASK + "    Resources: {Memory: 12 potatoes}\n",
            "Tasks[0].Resources.Memory: invalid size '12 potatoes'",
            "512mb",
        ),
        (TASK + "    Resources: {CPU: lots}\n", "Tasks[0].Resources.CPU: invalid CPU", "500m"),
        (TASK + "    Resources: {GPU: '1.5'}\n", "Tasks[0].Resources.GPU: invalid GPU", "whole"),
        (
            TASK + "    Resorces: {}\n",
            "Tasks[0].Resorces: unknown field",
            "did you mean 'Resources'",
        ),
        ("Nmae: x\n" + TASK, "Nmae: unknown field 'Nmae'", "did you mean 'Name'"),
        ("Type: weekly\n" + TASK, "Type: unknown job type 'weekly'", "batch, ops"),
        ("Count: -1\n" + TASK, "Count: input should be greater than or equal to 0", "-1"),
        ("Tasks: []\n", "Tasks: a job needs a task", "Tasks"),
        ("Name: x\n", "Tasks: required field is missing", "add it"),
        ("Tasks:\n  - Name: main\n", "Tasks[0].Engine: required field is missing", "add it"),
        (
            "Tasks:\n  - Name: main\n    Engine: {Params: {}}\n",
            "Tasks[0].Engine: engine Type is blank",
            "docker",
        ),
        (
            TASK + "    InputSources:\n      - Source: {Type: ftp}\n",
            "Tasks[0].InputSources[0].Source.Type: unknown input source type 'ftp'",
            "ipfs, localDirectory, urlDownload, inline",
        ),
        (
            TASK + "    InputSources:\n      - Source: {Type: ipfs, Params: {CDI: Qm12345678}}\n",
            "Tasks[0].InputSources[0].Source.Params.CDI: unknown field",
            "CID",
        ),
        (
            TASK + "    InputSources:\n      - Source: {Type: ipfs, Params: {}}\n",
            "Tasks[0].InputSources[0].Source.Params.CID: required field is missing",
            "add it",
        ),
        (
            TASK + "    InputSources:\n      - Source: {Type: inline, Params: {URL: http://x}}\n",
            "Tasks[0].InputSources[0].Source.Params.URL: inline URL must be a data: URL",
            "data:text/plain",
        ),
        (
            TASK
            + "    InputSources:\n      - Source: {Type: urlDownload, Params: {URL: ftp://x}}\n",
            "Tasks[0].InputSources[0].Source.Params.URL: URL must be http(s)",
            "",
        ),
        (
            TASK
            + "    InputSources:\n"
            + "      - {Source: {Type: noop}}\n"
            + "      - {Source: {Type: noop}}\n",
            "Tasks[0].InputSources[1].Target: duplicate target '/inputs'",
            "own Target",
        ),
        (
            TASK + "    ResultPaths: [{Name: out, Path: relative}]\n",
            "Tasks[0].ResultPaths[0].Path: result Path must be absolute",
            "/outputs",
        ),
        (
            TASK + "    Network: {Type: wifi}\n",
            "Tasks[0].Network.Type: unknown network type 'wifi'",
            "None, Host, Full, HTTP",
        ),
        (
            TASK + "    Network: {Type: HTTP, Domains: ['not a domain']}\n",
            "Tasks[0].Network.Domains: invalid domain",
            "example.com",
        ),
        (
            TASK + "    Timeouts: {ExecutionTimeout: 600, TotalTimeout: 60}\n",
            "Tasks[0].Timeouts: ExecutionTimeout (600s) + QueueTimeout (0s) exceed TotalTimeout",
            "raise TotalTimeout",
        ),
        (
            TASK + "    Timeouts: {QueueTimeout: soon}\n",
            "Tasks[0].Timeouts.QueueTimeout: invalid duration 'soon'",
            "10m",
        ),
        (
            "Constraints: [{Key: region, Operator: '~', Values: [eu]}]\n" + TASK,
            "Constraints[0].Operator: unknown operator '~'",
            "notin",
        ),
        (
            "Constraints: [{Key: region, Operator: in}]\n" + TASK,
            "Constraints[0]: operator 'in' needs at least one value",
            "Values",
        ),
        (
            TASK + "  - Name: second\n    Engine: {Type: noop}\n",
            "Tasks: a job has exactly one task, got 2",
            "Reduce",
        ),
        ("Sharding: {BatchSize: 2, Shards: 3}\n" + TASK, "Sharding: set BatchSize or Shards", ""),
        ("Verification: {Replicas: 0}\n" + TASK, "Verification.Replicas: input should be", ""),
        ("- just\n- a list\n", "a job spec must be a mapping of fields, got list", "Tasks"),
        ("", "spec is empty", "YAML or JSON"),
        ("Name: [unclosed\n", "spec is not valid YAML", "indentation"),
        ('{"Name": "x",}', "spec is not valid JSON", "commas"),
    ],
)
def test_malformed_spec_names_the_field(text: str, message: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_job_text(text)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)
    assert hint in (info.value.hint or ""), info.value.hint


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_job_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(TASK + "    Resources: {Memory: 12 potatoes}\n")
    with pytest.raises(InvalidInput, match=r"^bad.yaml: Tasks\[0\].Resources.Memory"):
        load_job_file(bad)


def test_parse_job_passes_a_job_through() -> None:
    job = parse_job({"Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}]})
    assert parse_job(job) is job
    assert isinstance(Job.model_validate(dump_job(job)), Job)


def test_importing_models_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, bacalao.models\n"
        "heavy = {'yaml', 'sqlite3', 'fastapi', 'httpx', 'docker'} & set(sys.modules)\n"
        "project = {m for m in sys.modules if m.startswith('bacalao.')"
        " and not m.startswith(('bacalao.models', 'bacalao.errors'))}\n"
        "assert not heavy and not project, (heavy, project)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
