"""The shared sharding/reduce flags: what job blocks they make, how they fail, how a command
declares them."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bacalao.cli import shard_options as so
from bacalao.errors import InvalidInput
from bacalao.models.parse import parse_job

CID = "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"


def job_with(fields: dict[str, Any]) -> dict[str, Any]:
    task = {
        "Name": "main",
        "Engine": {"Type": "shell", "Params": {"Command": "true"}},
        "InputSources": [{"Source": {"Type": "ipfs", "Params": {"CID": CID}}}],
    }
    return {"Type": "batch", "Tasks": [task], **fields}


def test_no_flags_no_blocks() -> None:
    assert so.shard_fields() == {}


def test_sharding_blocks_parse_as_the_model_reads_them() -> None:
    fields = so.shard_fields(shard_glob=" **/*.log ", shard_batch=4, merge="Per_Shard")
    assert fields == {"Sharding": {"Glob": "**/*.log", "BatchSize": 4, "Merge": "per-shard"}}
    job = parse_job(job_with(fields))
    assert job.sharding.glob == "**/*.log" and job.sharding.batch_size == 4
    assert job.sharding.merge.value == "per-shard"
    assert so.shard_fields(shards=16) == {"Sharding": {"Shards": 16}}
    assert so.shard_fields(merge="union") == {"Sharding": {"Merge": "union"}}


def test_reduce_shell_and_docker() -> None:
    shell = so.shard_fields(shard_batch=2, reduce="awk '{s+=$1} END {print s}' /inputs/*")
    assert shell["Reduce"] == {
        "Name": "reduce",
        "Engine": {"Type": "shell", "Params": {"Command": "awk '{s+=$1} END {print s}' /inputs/*"}},
    }
    docker = so.shard_fields(
        shards=2, reduce_image="alpine:3.20", reduce_cmd="sh -c 'cat /inputs/* > /outputs/all'"
    )
    assert docker["Reduce"]["Engine"] == {
        "Type": "docker",
        "Params": {
            "Image": "alpine:3.20",
            "Parameters": ["sh", "-c", "cat /inputs/* > /outputs/all"],
        },
    }
    explicit = so.shard_fields(shards=2, reduce_engine="docker", reduce_image="alpine")
    assert explicit["Reduce"]["Engine"]["Params"] == {"Image": "alpine"}
    for fields in (shell, docker):
        assert parse_job(job_with(fields)).reduce.engine.type in ("shell", "docker")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"shard_batch": 2, "shards": 3}, "--shard-batch and --shards"),
        ({"shard_batch": 0}, "--shard-batch must be at least 1"),
        ({"merge": "zip"}, "--merge 'zip'"),
        ({"reduce": "sort"}, "a reduce stage needs a sharded job"),
        ({"shards": 2, "reduce": "  "}, "needs a command"),
        ({"shards": 2, "reduce_engine": "docker"}, "needs an image"),
        ({"shards": 2, "reduce_engine": "shell", "reduce_image": "x"}, "run in docker"),
        ({"shards": 2, "reduce": "sort", "reduce_image": "x"}, "--reduce is a shell command"),
        ({"shards": 2, "reduce_engine": "wasm"}, "is set in a job spec"),
        ({"shards": 2, "reduce_engine": "cobol"}, "unknown engine"),
        ({"shards": 2, "reduce_image": "x", "reduce_cmd": "sh -c 'oops"}, "check the quotes"),
    ],
)
def test_bad_flags_are_invalid_input_naming_the_flag(flags: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        so.shard_fields(**flags)
    assert message in err.value.message + " " + (err.value.hint or "")
    assert err.value.hint


def test_flag_for_maps_spec_errors_back() -> None:
    assert so.flag_for("Sharding.BatchSize: Input should be greater") == "--shard-batch"
    assert so.flag_for("Sharding: set BatchSize or Shards, not both") == "--shard-batch/--shards"
    assert so.flag_for("Reduce.Engine: unknown") == "--reduce"
    assert so.flag_for("Tasks[0].Engine") is None


def test_a_command_declares_them_with_the_aliases() -> None:
    app = typer.Typer()
    seen: dict[str, Any] = {}

    @app.command()
    def run(
        shard_glob: so.ShardGlob = "",
        shard_batch: so.ShardBatch = None,
        shards: so.ShardCount = None,
        merge: so.Merge = None,
        reduce: so.Reduce = None,
        reduce_engine: so.ReduceEngine = None,
        reduce_image: so.ReduceImage = None,
        reduce_cmd: so.ReduceCmd = None,
    ) -> None:
        seen.update(
            so.shard_fields(
                shard_glob=shard_glob,
                shard_batch=shard_batch,
                shards=shards,
                merge=merge,
                reduce=reduce,
                reduce_engine=reduce_engine,
                reduce_image=reduce_image,
                reduce_cmd=reduce_cmd,
            )
        )

    args = ["--shard-glob", "*.log", "--shard-batch", "3", "--reduce", "wc -l /inputs/*"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen["Sharding"] == {"Glob": "*.log", "BatchSize": 3}
    assert seen["Reduce"]["Engine"]["Params"]["Command"] == "wc -l /inputs/*"
    assert CliRunner().invoke(app, ["--shards", "0"]).exit_code == 2  # min=1, before any call
    help_text = CliRunner().invoke(app, ["--help"]).output
    assert "Sharding and reduce" in help_text and "--reduce-image" in help_text


def test_docker_run_takes_the_flags() -> None:
    import yaml

    from bacalao.cli import docker

    docker_app = typer.Typer()
    docker_app.command("run")(docker.run)
    docker_app.command("other")(lambda: None)  # two commands: "run" is a subcommand

    args = ["run", "--dry-run", "-i", CID, "--shard-glob", "**/*.log", "--shards", "4"]
    args += ["--merge", "per-shard", "--reduce-image", "alpine", "--reduce-cmd", "ls /inputs"]
    result = CliRunner().invoke(docker_app, [*args, "alpine", "--", "wc", "-l"])
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.output)
    assert spec["Sharding"] == {"Glob": "**/*.log", "Shards": 4, "Merge": "per-shard"}
    assert spec["Reduce"]["Engine"]["Params"] == {
        "Image": "alpine",
        "Parameters": ["ls", "/inputs"],
    }
    bad = CliRunner().invoke(docker_app, ["run", "--dry-run", "--reduce", "sort", "alpine"])
    assert isinstance(bad.exception, InvalidInput)
    assert "needs a sharded job" in bad.exception.message
