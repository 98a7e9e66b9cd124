"""Sharding and reduce flags shared by the job-running commands (docker run, job submit, wasm run,
python run).

A command declares the options with the ``Annotated`` aliases below and turns them into the job's
``Sharding``/``Reduce`` blocks with :func:`shard_fields`::

    from bacalao.cli import shard_options as so

    def run(…,
            shard_glob: so.ShardGlob = "", shard_batch: so.ShardBatch = None,
            shards: so.ShardCount = None, merge: so.Merge = None,
            reduce: so.Reduce = None, reduce_engine: so.ReduceEngine = None,
            reduce_image: so.ReduceImage = None, reduce_cmd: so.ReduceCmd = None) -> None:
        job = build_job(…)
        job.update(so.shard_fields(shard_glob=shard_glob, shard_batch=shard_batch,
                                   shards=shards, merge=merge, reduce=reduce,
                                   reduce_engine=reduce_engine, reduce_image=reduce_image,
                                   reduce_cmd=reduce_cmd))

Any sharding flag makes the job sharded over its (first) ipfs input: ``--shard-glob`` picks the
entries, ``--shard-batch N`` puts N in each shard, ``--shards N`` makes N shards of about equal
bytes. A reduce stage runs once over the merged shard outputs: ``--reduce CMD`` in the shell
engine, or ``--reduce-image IMAGE [--reduce-cmd CMD]`` in docker. Other engines' reduce stages
go in a spec's ``Reduce`` block (``bacalao job run``). Errors are :class:`InvalidInput` naming
the flag (exit 2 before anything is sent). Only typer and the standard library are imported here.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Any

import typer

from bacalao.errors import InvalidInput

PANEL = "Sharding and reduce"
MERGE_LAYOUTS = ("union", "per-shard")
REDUCE_ENGINES = ("shell", "docker")
SPEC_ENGINES = ("wasm", "python")

ShardGlob = Annotated[
    str,
    typer.Option(
        "--shard-glob",
        help="Shard the input directory's files matching this glob, e.g. '**/*.log'.",
        rich_help_panel=PANEL,
    ),
]
ShardBatch = Annotated[
    int | None,
    typer.Option(
        "--shard-batch", min=1, help="Files per shard (default 1).", rich_help_panel=PANEL
    ),
]
ShardCount = Annotated[
    int | None,
    typer.Option(
        "--shards", min=1, help="Split into N shards of about equal bytes.", rich_help_panel=PANEL
    ),
]
Merge = Annotated[
    str | None,
    typer.Option(
        "--merge",
        help="How shard outputs join: union (one tree, the default) or per-shard (shard-0000/…).",
        rich_help_panel=PANEL,
    ),
]
Reduce = Annotated[
    str | None,
    typer.Option(
        "--reduce",
        help="A shell command run once over the merged outputs (in /inputs).",
        rich_help_panel=PANEL,
    ),
]
ReduceEngine = Annotated[
    str | None,
    typer.Option(
        "--reduce-engine",
        help="Engine of the reduce stage: shell (with --reduce) or docker (with --reduce-image).",
        rich_help_panel=PANEL,
    ),
]
ReduceImage = Annotated[
    str | None,
    typer.Option(
        "--reduce-image", help="Run the reduce stage in this image.", rich_help_panel=PANEL
    ),
]
ReduceCmd = Annotated[
    str | None,
    typer.Option(
        "--reduce-cmd",
        help="With --reduce-image: the command, e.g. \"sh -c 'cat /inputs/*'\".",
        rich_help_panel=PANEL,
    ),
]

#: Where a spec error the models raise points back to the flag that set the field.
FLAGS = {
    "Sharding.Glob": "--shard-glob",
    "Sharding.BatchSize": "--shard-batch",
    "Sharding.Shards": "--shards",
    "Sharding.Merge": "--merge",
    "Sharding": "--shard-batch/--shards",
    "Reduce": "--reduce",
}


#: the parameter names a command declares for these flags (``shard_glob: ShardGlob = ""`` …)
OPTION_NAMES = (
    "shard_glob",
    "shard_batch",
    "shards",
    "merge",
    "reduce",
    "reduce_engine",
    "reduce_image",
    "reduce_cmd",
)


def fields_from(options: dict[str, Any]) -> dict[str, Any]:
    """:func:`shard_fields` from a command's parameters (pass ``locals()``)."""
    return shard_fields(**{name: options[name] for name in OPTION_NAMES if name in options})


def shard_fields(
    *,
    shard_glob: str = "",
    shard_batch: int | None = None,
    shards: int | None = None,
    merge: str | None = None,
    reduce: str | None = None,
    reduce_engine: str | None = None,
    reduce_image: str | None = None,
    reduce_cmd: str | None = None,
) -> dict[str, Any]:
    """The job keys the flags set: ``{"Sharding": {…}, "Reduce": {…}}``, either or neither.

    Merge the result into the job dict (``job.update(...)``); it is ``{}`` when no flag is given.
    """
    out: dict[str, Any] = {}
    sharding = _sharding(shard_glob, shard_batch, shards, merge)
    if sharding is not None:
        out["Sharding"] = sharding
    stage = _reduce(reduce, reduce_engine, reduce_image, reduce_cmd)
    if stage is not None:
        if sharding is None:
            raise InvalidInput(
                "a reduce stage needs a sharded job",
                hint="add --shard-glob, --shard-batch or --shards (the reduce runs over the "
                "merged shard outputs)",
            )
        out["Reduce"] = stage
    return out


def _sharding(
    glob: str, batch: int | None, shards: int | None, merge: str | None
) -> dict[str, Any] | None:
    if not (glob or batch is not None or shards is not None or merge):
        return None
    if batch is not None and shards is not None:
        raise InvalidInput(
            "--shard-batch and --shards both split the input",
            hint="give one: --shard-batch N files per shard, or --shards N by size",
        )
    for flag, value in (("--shard-batch", batch), ("--shards", shards)):
        if value is not None and value < 1:
            raise InvalidInput(f"{flag} must be at least 1", hint=f"e.g. {flag} 4")
    spec: dict[str, Any] = {}
    if glob.strip():
        spec["Glob"] = glob.strip()
    if batch is not None:
        spec["BatchSize"] = batch
    if shards is not None:
        spec["Shards"] = shards
    if merge:
        layout = merge.strip().lower().replace("_", "-")
        if layout not in MERGE_LAYOUTS:
            raise InvalidInput(f"--merge {merge!r}: unknown layout", hint="use union or per-shard")
        spec["Merge"] = layout
    return spec


def _reduce(
    command: str | None, engine: str | None, image: str | None, cmd: str | None
) -> dict[str, Any] | None:
    if command is None and engine is None and image is None and cmd is None:
        return None
    chosen = (engine or ("docker" if image or cmd else "shell")).strip().lower()
    if chosen in SPEC_ENGINES:
        raise InvalidInput(
            f"--reduce-engine {chosen}: a {chosen} reduce stage is set in a job spec",
            hint="write a Reduce block (Engine, Params) in the spec and run it with "
            "`bacalao job run SPEC`",
        )
    if chosen not in REDUCE_ENGINES:
        raise InvalidInput(
            f"--reduce-engine {engine!r}: unknown engine", hint="use shell or docker"
        )
    if chosen == "shell":
        if image or cmd:
            raise InvalidInput(
                "--reduce-image/--reduce-cmd run in docker",
                hint="drop --reduce-engine shell, or use --reduce CMD for a shell command",
            )
        if not (command or "").strip():
            raise InvalidInput(
                "the shell reduce stage needs a command", hint="--reduce 'sort /inputs/*'"
            )
        params: dict[str, Any] = {"Command": command}
    else:
        if command is not None:
            raise InvalidInput(
                "--reduce is a shell command; the docker reduce stage takes --reduce-cmd",
                hint="--reduce-image IMAGE --reduce-cmd \"sh -c '…'\"",
            )
        if not (image or "").strip():
            raise InvalidInput(
                "the docker reduce stage needs an image", hint="--reduce-image alpine:3.20"
            )
        params = {"Image": image.strip()}  # type: ignore[union-attr]
        if cmd:
            try:
                params["Parameters"] = shlex.split(cmd)
            except ValueError as e:
                raise InvalidInput(f"--reduce-cmd {cmd!r}: {e}", hint="check the quotes") from None
    return {"Name": "reduce", "Engine": {"Type": chosen, "Params": params}}


def flag_for(message: str) -> str | None:
    """The flag behind a spec error message that starts with a field path, if one of ours."""
    for path, flag in sorted(FLAGS.items(), key=lambda kv: -len(kv[0])):
        if message.startswith(path):
            return flag
    return None
