"""``bacalao job submit``: the three ways to hand bacalao code besides a container.

::

    bacalao job submit -x FUNCTION_CID -c DATA_CID [-- ARGS]     a WebAssembly function
    bacalao job submit -e "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'" -c DATA_CID
    bacalao job submit -f process.py [-r requirements.txt] -c DATA_CID [--function NAME] [-- ARGS]

The dataset is mounted read-only at ``/inputs`` (``-c CID:/path`` picks another place; ``-c`` may
be repeated). ``-e`` runs in the shell engine: the one-liner runs once per file of the dataset,
the file on its stdin and its stdout written to the same relative path under ``/outputs``; the job
fails if the command fails on any file. ``-f`` runs in the python engine with the script and its
requirements carried in the spec. The job is built in the Bacalhau v1 shape by
:func:`bacalao.cli.docker.build_job` (so the common flags mean what they mean for ``docker run``),
validated locally, submitted, and followed with the live status line until it ends; the result CID
is printed on stdout.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from bacalao.cli import shard_options as so
from bacalao.cli._api import Api, connect
from bacalao.cli.docker import FLAGS, NETWORKS, build_job, flag_error
from bacalao.cli.wait import DEFAULT_WAIT_TIMEOUT_S, submit_and_follow
from bacalao.errors import InvalidInput

#: One file's run of the one-liner: ``sh -c EACH sh ONE_LINER ROOT FILE…`` (from ``find -exec``).
EACH_FILE = """c=$1 root=$2
shift 2
for f do
  if [ "$f" = "$root" ]; then rel=${root##*/}; else rel=${f#"$root"/}; fi
  out=/outputs/$rel
  mkdir -p "${out%/*}" && /bin/sh -c "$c" <"$f" >"$out" || {
    s=$?; echo "bacalao: the command failed (exit $s) on $f" >&2; exit 1; }
done"""


def one_liner_command(one_liner: str, roots: Sequence[str]) -> str:
    """The shell engine's ``Command`` that runs ``one_liner`` over every file under ``roots``.

    Each file is fed on stdin and the output written to ``/outputs/<path relative to its root>``
    (a root that is itself a file keeps its own name). File names reach the command as arguments
    from ``find -exec … {} +``, never through a pipe or word splitting, so spaces, quotes and
    newlines in names are safe. The command fails on the first file it fails on.
    """
    lines = [f"c={shlex.quote(one_liner)}", f"each={shlex.quote(EACH_FILE)}"]
    for root in roots:
        quoted = shlex.quote(root)
        lines.append(
            f'find {quoted} -type f -exec /bin/sh -c "$each" sh "$c" {quoted} {{}} + || exit 1'
        )
    return "\n".join(lines) + "\n"


def engine_for(
    *,
    wasm: str | None = None,
    one_liner: str | None = None,
    script: Path | None = None,
    requirements: Path | None = None,
    function: str | None = None,
    args: Sequence[str] = (),
    targets: Sequence[str] = (),
) -> dict[str, Any]:
    """The task's ``Engine`` for exactly one of ``-x``, ``-e``, ``-f`` (InvalidInput otherwise)."""
    given = [flag for flag, v in (("-x", wasm), ("-e", one_liner), ("-f", script)) if v]
    if len(given) != 1:
        raise InvalidInput(
            "give exactly one of -x FUNCTION_CID, -e ONE_LINER or -f SCRIPT"
            + (f" (got {' and '.join(given)})" if given else ""),
            hint="e.g. bacalao job submit -f process.py -r requirements.txt -c DATA_CID",
        )
    if (requirements or function) and not script:
        raise InvalidInput("-r and --function go with -f SCRIPT", hint="add -f process.py")
    if wasm:
        return wasm_engine(wasm, args)
    if one_liner:
        if args:
            raise InvalidInput(
                f"-e takes no arguments after it (got {' '.join(args)})",
                hint="put everything in the one-liner: -e \"sed -n '/x/p'\"",
            )
        if not targets:
            raise InvalidInput(
                "-e runs over a dataset: give one with -c DATA_CID", hint="e.g. -c bafy…"
            )
        return {"Type": "shell", "Params": {"Command": one_liner_command(one_liner, targets)}}
    assert script is not None
    return python_engine(script, requirements, function, args)


def wasm_engine(module: str, args: Sequence[str] = ()) -> dict[str, Any]:
    """``-x``: Engine wasm with ``EntryModule`` the module's CID (args become ``Parameters``)."""
    if Path(module).expanduser().is_file():
        raise InvalidInput(
            f"-x takes the CID of a module, and {module} is a local file",
            hint=f"run it with `bacalao wasm run {module}`, which uploads it first",
        )
    params: dict[str, Any] = {"EntryModule": module.removeprefix("ipfs://")}
    if args:
        params["Parameters"] = list(args)
    return {"Type": "wasm", "Params": params}


def python_engine(
    script: Path,
    requirements: Path | None = None,
    function: str | None = None,
    args: Sequence[str] = (),
) -> dict[str, Any]:
    """``-f``: Engine python with the script (and requirements) text inline."""
    from bacalao.executors.python import DEFAULT_SCRIPT_NAME, PythonParams

    params: dict[str, Any] = {"Script": _read_text(script, "-f")}
    name = script.name
    params["ScriptName"] = name if _plain_name(name) else DEFAULT_SCRIPT_NAME
    if requirements is not None:
        params["Requirements"] = _read_text(requirements, "-r")
    if function:
        params["Function"] = function
    if args:
        params["Args"] = list(args)
    from bacalao.executors.params import parse_params

    try:  # a bad --function fails here, not on a node
        parse_params(PythonParams, "python", params)
    except InvalidInput as err:
        if "param Function" in err.message:
            why = err.message.partition(": ")[2]
            raise InvalidInput(f"--function: {why}", hint="e.g. --function downscale") from None
        raise
    return {"Type": "python", "Params": params}


def _plain_name(name: str) -> bool:
    from bacalao.executors.python import _SCRIPT_NAME

    return bool(_SCRIPT_NAME.fullmatch(name))


def _read_text(path: Path, flag: str) -> str:
    try:
        return path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{flag} {path}: no such file", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{flag} {path}: cannot read it as text ({e})") from None


def submit_job(
    engine: dict[str, Any],
    *,
    data: Sequence[str] = (),
    env: Sequence[str] = (),
    wait: bool = True,
    id_only: bool = False,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT_S,
    dry_run: bool = False,
    api: str | None = None,
    sharding: dict[str, Any] | None = None,
    **common: Any,
) -> None:
    """Build the job around ``engine`` with ``docker run``'s common flags, submit and follow.

    ``sharding`` is what :func:`bacalao.cli.shard_options.shard_fields` returns for the shard and
    reduce flags (``Sharding`` and ``Reduce`` blocks of the job)."""
    from bacalao.models import dump_job, parse_job
    from bacalao.models.parse import SYSTEM_FIELDS

    network = str(common.pop("network", "none")).lower()
    if network not in NETWORKS:
        raise InvalidInput(f"--network {network!r}: unknown", hint="use none, host, full or http")
    spec = build_job("", [], inputs=list(data), network=network, **common)
    task = spec["Tasks"][0]
    task["Engine"] = engine
    if env:
        task["Env"] = dict(_env_pairs(env))
    spec.update(sharding or {})
    try:
        job = parse_job(spec)
    except InvalidInput as err:
        raise flag_error(err, _FLAGS) from None
    if dry_run:
        import yaml

        shown = {k: v for k, v in dump_job(job).items() if k not in SYSTEM_FIELDS and v != ""}
        print(yaml.safe_dump(shown, sort_keys=False), end="")
        return
    with connect(api) as client:
        submit_and_follow(client, job, wait=wait, id_only=id_only, wait_timeout=wait_timeout)


def input_targets(data: Sequence[str]) -> list[str]:
    """Where each ``-c`` is mounted (``/inputs`` unless ``CID:/path`` says otherwise)."""
    from bacalao.cli.docker import parse_input

    return [parse_input(item)["Target"] for item in data]


def _env_pairs(items: Sequence[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not key.strip() or not sep:
            raise InvalidInput(f"--env {item!r}: expected KEY=VALUE", hint="e.g. --env DEBUG=1")
        out.append((key.strip(), value))
    return out


# docker run's flags, but the dataset is -c and constraints are --selector here
_FLAGS = {**FLAGS, "Tasks[0].InputSources": "-c", "Constraints": "--selector"}


Repeat = list[str] | None
Data = Annotated[
    Repeat,
    typer.Option("--cid", "-c", help="The dataset: CID (at /inputs) or CID:/path. Repeatable."),
]
Args = Annotated[Repeat, typer.Argument(help="Arguments for the function or script (after --).")]
Requirements = Annotated[
    Path | None, typer.Option("--requirements", "-r", help="requirements.txt for the script.")
]
Function = Annotated[
    str | None,
    typer.Option("--function", help="Call this function once per input file (function mode)."),
]
Cpu = Annotated[str, typer.Option("--cpu", help="CPU cores: 1, 0.5, 500m.")]
Memory = Annotated[str, typer.Option("--memory", help="Memory: 512Mb, 2Gi.")]
Disk = Annotated[str, typer.Option("--disk", help="Disk: 10Gb.")]
Timeout = Annotated[int, typer.Option("--timeout", min=0, help="Seconds before the job fails.")]
QueueTimeout = Annotated[
    int, typer.Option("--queue-timeout", min=0, help="Seconds it may wait for a node.")
]
Labels = Annotated[Repeat, typer.Option("--label", "-l", help="A job label key=value.")]
Selector = Annotated[
    Repeat,
    typer.Option("--selector", "-s", help="Node label selector: 'region=eu,!spot'."),
]
Env = Annotated[Repeat, typer.Option("--env", help="An environment variable K=V.")]
Network = Annotated[str, typer.Option("--network", help="none (default), host, full or http.")]
Name = Annotated[str, typer.Option("--name", help="Job name (default: its ID).")]
Namespace = Annotated[str, typer.Option("--namespace", help="Job namespace.")]
Publisher = Annotated[
    str,
    typer.Option("--publisher", "-p", help="Where results go: ipfs (the node's store) or none."),
]
Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the job, showing its status.")
]
IdOnly = Annotated[bool, typer.Option("--id-only", help="Print only the job ID; do not wait.")]
WaitTimeout = Annotated[
    float, typer.Option("--wait-timeout", help="Stop waiting after this many seconds.")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the job as YAML; submit nothing.")]


def submit(
    wasm: Annotated[
        str | None, typer.Option("--wasm", "-x", help="Run this WebAssembly module (its CID).")
    ] = None,
    one_liner: Annotated[
        str | None,
        typer.Option("--exec", "-e", help="A shell one-liner run on each file of the dataset."),
    ] = None,
    script: Annotated[
        Path | None, typer.Option("--file", "-f", help="A Python script to run.")
    ] = None,
    requirements: Requirements = None,
    function: Function = None,
    data: Data = None,
    args: Args = None,
    cpu: Cpu = "",
    memory: Memory = "",
    disk: Disk = "",
    timeout: Timeout = 0,
    queue_timeout: QueueTimeout = 0,
    labels: Labels = None,
    selector: Selector = None,
    env: Env = None,
    network: Network = "none",
    name: Name = "",
    namespace: Namespace = "",
    publisher: Publisher = "ipfs",
    wait: Wait = True,
    id_only: IdOnly = False,
    wait_timeout: WaitTimeout = DEFAULT_WAIT_TIMEOUT_S,
    dry_run: DryRun = False,
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
    """Run code over a dataset: -x a WebAssembly module CID, -e a shell one-liner per file, or
    -f a Python script (-r requirements.txt, --function NAME for one call per input file).

    Prints the job ID, waits with a live status line (unless --no-wait), prints the result CID.
    Exit 0 when the job completes, 1 when it fails (with the reason and a hint).
    """
    engine = engine_for(
        wasm=wasm, one_liner=one_liner, script=script, requirements=requirements,
        function=function, args=_after_dashes(args), targets=input_targets(data or []),
    )  # fmt: skip
    submit_job(
        engine, data=data or [], env=env or [], wait=wait, id_only=id_only,
        wait_timeout=wait_timeout, dry_run=dry_run, api=api, cpu=cpu, memory=memory, disk=disk,
        timeout=timeout, queue_timeout=queue_timeout, labels=labels or [],
        constraints=selector or [], network=network, name=name, namespace=namespace,
        publisher=publisher.lower(),
        sharding=so.fields_from(locals()),
    )  # fmt: skip


def _after_dashes(args: Sequence[str] | None) -> list[str]:
    items = list(args or [])
    return items[1:] if items[:1] == ["--"] else items
