"""``bacalao docker run``: a Docker container as a job, Bacalhau's flags, waiting by default.

Everything after the image is the command (``bacalao docker run ubuntu -- echo hi``; options go
before the image). The job is built in Bacalhau's v1 shape — Engine ``docker`` {Image,
Entrypoint, Parameters, EnvironmentVariables, WorkingDirectory}, Publisher ``ipfs`` (the node's
store), ``-i CID[:/path]`` inputs — and validated locally, so a bad flag fails before anything is
sent.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from bacalao.cli import shard_options as so
from bacalao.cli._api import Api, connect
from bacalao.cli.wait import DEFAULT_WAIT_TIMEOUT_S, submit_and_follow
from bacalao.errors import InvalidInput

app = typer.Typer(
    help="Run Docker containers as jobs.", no_args_is_help=True, pretty_exceptions_enable=False
)

DEFAULT_TARGET = "/inputs"
NETWORKS = {"none": "None", "host": "Host", "full": "Full", "http": "HTTP"}


def parse_input(text: str) -> dict[str, Any]:
    """``-i`` -> an InputSource: ``CID``, ``CID:/target``, ``ipfs://CID[:/target]``, an
    ``http(s)://`` URL, or Bacalhau's ``src=URI,dst=/target``."""
    text = text.strip()
    if text.startswith("src=") or ",dst=" in text:
        parts = dict(p.partition("=")[::2] for p in text.split(","))
        uri, target = parts.get("src", ""), parts.get("dst", "") or DEFAULT_TARGET
    elif text.startswith(("http://", "https://")):
        uri, target = text, DEFAULT_TARGET
    else:
        body = text.removeprefix("ipfs://").removeprefix("/ipfs/")
        cid, sep, target = body.partition(":")
        uri, target = f"ipfs://{cid}", (target if sep else DEFAULT_TARGET)
    if not uri or uri == "ipfs://":
        raise InvalidInput(
            f"-i {text!r}: no source", hint="use -i CID, -i CID:/path or -i src=URI,dst=/path"
        )
    if not target.startswith("/"):
        raise InvalidInput(
            f"-i {text!r}: the mount path must be absolute", hint="e.g. -i CID:/inputs/data"
        )
    if uri.startswith(("http://", "https://")):
        source = {"Type": "urlDownload", "Params": {"URL": uri}}
    else:
        source = {"Type": "ipfs", "Params": {"CID": uri.removeprefix("ipfs://")}}
    return {"Source": source, "Target": target}


def _pairs(items: Sequence[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not key.strip() or (flag == "-e" and not sep):
            raise InvalidInput(f"{flag} {item!r}: expected key=value", hint=f"e.g. {flag} A=1")
        out.append((key.strip(), value))
    return out


def build_job(
    image: str,
    command: list[str],
    *,
    inputs: Sequence[str] = (),
    cpu: str = "",
    memory: str = "",
    disk: str = "",
    gpu: int = 0,
    network: str = "none",
    timeout: int = 0,
    queue_timeout: int = 0,
    labels: Sequence[str] = (),
    constraints: Sequence[str] = (),
    env: Sequence[str] = (),
    workdir: str = "",
    entrypoint: str | None = None,
    name: str = "",
    namespace: str = "",
    count: int = 1,
    priority: int = 0,
    publisher: str = "ipfs",
) -> dict[str, Any]:
    """The Bacalhau v1 job (a dict) the flags describe."""
    from bacalao.models import parse_constraints

    sources = [parse_input(i) for i in inputs]
    targets = [s["Target"] for s in sources]
    for target in targets:
        if targets.count(target) > 1:
            raise InvalidInput(
                f"-i: two inputs are mounted at {target}",
                hint="give each its own path: -i CID1:/inputs/a -i CID2:/inputs/b",
            )
    params: dict[str, Any] = {"Image": image}
    if entrypoint is not None:
        params["Entrypoint"] = shlex.split(entrypoint)
    if command:
        params["Parameters"] = list(command)
    if env:
        params["EnvironmentVariables"] = [f"{k}={v}" for k, v in _pairs(env, "-e")]
    if workdir:
        params["WorkingDirectory"] = workdir
    resources = {
        k: v
        for k, v in {"CPU": cpu, "Memory": memory, "Disk": disk, "GPU": str(gpu or "")}.items()
        if v
    }
    timeouts = {
        k: v for k, v in {"TotalTimeout": timeout, "QueueTimeout": queue_timeout}.items() if v
    }
    task: dict[str, Any] = {
        "Name": "main",
        "Engine": {"Type": "docker", "Params": params},
        "Publisher": {"Type": publisher} if publisher != "none" else {},
        "InputSources": sources,
        "Resources": resources,
        "Network": {"Type": NETWORKS[network]},
        "Timeouts": timeouts,
    }
    job: dict[str, Any] = {
        "Type": "batch",
        "Count": count,
        "Priority": priority,
        "Labels": dict(_pairs(labels, "-l")),
        "Constraints": [c.to_wire() for text in constraints for c in parse_constraints(text)],
        "Tasks": [task],
    }
    if name:
        job["Name"] = name
    if namespace:
        job["Namespace"] = namespace
    return job


# Where a spec error found by the models points back to the flag that set that field.
FLAGS = {
    "Tasks[0].Resources.CPU": "--cpu",
    "Tasks[0].Resources.Memory": "--memory",
    "Tasks[0].Resources.Disk": "--disk",
    "Tasks[0].Resources.GPU": "--gpu",
    "Tasks[0].Network": "--network",
    "Tasks[0].InputSources": "--input",
    "Tasks[0].Publisher": "--publisher",
    "Labels": "--label",
    "Constraints": "--constraints",
    "Namespace": "--namespace",
    **so.FLAGS,
}


def flag_error(err: InvalidInput, flags: dict[str, str] = FLAGS) -> InvalidInput:
    """``err`` from the models, reworded to name the command-line flag that set the field."""
    for path, flag in flags.items():
        if err.message.startswith(path):
            return err.prefixed(f"{flag}: ")
    return err


Repeat = list[str] | None


@app.command(
    "run",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": False},
)
def run(
    image: Annotated[str, typer.Argument(help="The image, e.g. ubuntu:24.04 or alpine@sha256:….")],
    command: Annotated[
        list[str] | None, typer.Argument(help="The command and its arguments (after --).")
    ] = None,
    inputs: Annotated[
        Repeat,
        typer.Option("--input", "-i", help="Mount a CID: CID, CID:/path, or src=URI,dst=/path."),
    ] = None,
    cpu: Annotated[str, typer.Option("--cpu", help="CPU cores: 1, 0.5, 500m.")] = "",
    memory: Annotated[str, typer.Option("--memory", help="Memory: 512Mb, 2Gi.")] = "",
    disk: Annotated[str, typer.Option("--disk", help="Disk: 10Gb.")] = "",
    gpu: Annotated[int, typer.Option("--gpu", min=0, help="Whole GPUs.")] = 0,
    network: Annotated[
        str, typer.Option("--network", help="none (default), host, full or http.")
    ] = "none",
    timeout: Annotated[
        int, typer.Option("--timeout", min=0, help="Seconds before the job fails (total).")
    ] = 0,
    queue_timeout: Annotated[
        int, typer.Option("--queue-timeout", min=0, help="Seconds it may wait for a node.")
    ] = 0,
    labels: Annotated[Repeat, typer.Option("--label", "-l", help="A job label key=value.")] = None,
    constraints: Annotated[
        Repeat,
        typer.Option(
            "--constraints",
            "-c",
            "--selector",
            "-s",
            help="Node label selector: 'region=eu,gpu in (a100,h100),!spot'.",
        ),
    ] = None,  # fmt: skip
    env: Annotated[Repeat, typer.Option("--env", "-e", help="An environment variable K=V.")] = None,
    workdir: Annotated[str, typer.Option("--workdir", "-w", help="Working directory.")] = "",
    entrypoint: Annotated[
        str | None, typer.Option("--entrypoint", help="Override the image's entrypoint.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Job name (default: its ID).")] = "",
    namespace: Annotated[str, typer.Option("--namespace", help="Job namespace.")] = "",
    count: Annotated[int, typer.Option("--count", min=1, help="How many copies to run.")] = 1,
    priority: Annotated[int, typer.Option("--priority", help="Queue priority.")] = 0,
    publisher: Annotated[
        str,
        typer.Option(
            "--publisher", "-p", help="Where results go: ipfs (the node's store) or none."
        ),
    ] = "ipfs",
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the job, showing its status.")
    ] = True,
    id_only: Annotated[bool, typer.Option("--id-only", help="Print only the job ID.")] = False,
    wait_timeout: Annotated[
        float, typer.Option("--wait-timeout", help="Stop waiting after this many seconds.")
    ] = DEFAULT_WAIT_TIMEOUT_S,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the job as YAML; submit nothing.")
    ] = False,
    api: Api = None,
    shard_glob: so.ShardGlob = "",
    shard_batch: so.ShardBatch = None,
    shards: so.ShardCount = None,
    merge: so.Merge = None,
    reduce: so.Reduce = None,
    reduce_engine: so.ReduceEngine = None,
    reduce_image: so.ReduceImage = None,
    reduce_cmd: so.ReduceCmd = None,
) -> None:
    """Run IMAGE [-- CMD …] as a job where the data is; print the result CID and the output.

    Exit 0 when the job completes, 1 when it fails or is stopped (with the reason and a hint).
    """
    from bacalao.models import dump_job, parse_job
    from bacalao.models.parse import SYSTEM_FIELDS

    if network.lower() not in NETWORKS:
        raise InvalidInput(f"--network {network!r}: unknown", hint="use none, host, full or http")
    args = list(command or [])
    if args[:1] == ["--"]:  # `IMAGE -- CMD`: the separator is not part of the command
        args = args[1:]
    data = build_job(
        image,
        args,
        inputs=inputs or [],
        cpu=cpu,
        memory=memory,
        disk=disk,
        gpu=gpu,
        network=network.lower(),
        timeout=timeout,
        queue_timeout=queue_timeout,
        labels=labels or [],
        constraints=constraints or [],
        env=env or [],
        workdir=workdir,
        entrypoint=entrypoint,
        name=name,
        namespace=namespace,
        count=count,
        priority=priority,
        publisher=publisher.lower(),
    )
    data.update(so.fields_from(locals()))
    try:
        job = parse_job(data)
    except InvalidInput as err:
        raise flag_error(err) from None
    if dry_run:
        import yaml

        spec = {k: v for k, v in dump_job(job).items() if k not in SYSTEM_FIELDS and v != ""}
        print(yaml.safe_dump(spec, sort_keys=False), end="")
        return
    with connect(api) as client:
        submit_and_follow(client, job, wait=wait, id_only=id_only, wait_timeout=wait_timeout)
