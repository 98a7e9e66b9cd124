"""``bacalao python run -f FILE [-r REQS] [-c CID]… [--function NAME] [-- ARGS]``.

The python engine's own command: the same job as ``bacalao job submit -f``, with the same common
flags (see :mod:`bacalao.cli.submit`). Without ``-c`` the script runs once with no inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bacalao.cli import shard_options as so
from bacalao.cli import submit as s
from bacalao.cli._api import Api
from bacalao.cli.wait import DEFAULT_WAIT_TIMEOUT_S

app = typer.Typer(
    help="Run Python scripts and functions as jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command("run")
def run(
    script: Annotated[Path, typer.Option("--file", "-f", help="The Python script to run.")],
    requirements: s.Requirements = None,
    function: s.Function = None,
    data: s.Data = None,
    args: s.Args = None,
    cpu: s.Cpu = "",
    memory: s.Memory = "",
    disk: s.Disk = "",
    timeout: s.Timeout = 0,
    queue_timeout: s.QueueTimeout = 0,
    labels: s.Labels = None,
    selector: s.Selector = None,
    env: s.Env = None,
    network: s.Network = "none",
    name: s.Name = "",
    namespace: s.Namespace = "",
    publisher: s.Publisher = "ipfs",
    wait: s.Wait = True,
    id_only: s.IdOnly = False,
    wait_timeout: s.WaitTimeout = DEFAULT_WAIT_TIMEOUT_S,
    dry_run: s.DryRun = False,
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
    """Run a Python script (as __main__, or --function NAME once per input file) in a sandbox,
    with its requirements installed into a venv cached on the node.

    Prints the job ID, waits with a live status line (unless --no-wait), prints the result CID.
    """
    engine = s.python_engine(script, requirements, function, s._after_dashes(args))
    s.submit_job(
        engine, data=data or [], env=env or [], wait=wait, id_only=id_only,
        wait_timeout=wait_timeout, dry_run=dry_run, api=api, cpu=cpu, memory=memory, disk=disk,
        timeout=timeout, queue_timeout=queue_timeout, labels=labels or [],
        constraints=selector or [], network=network, name=name, namespace=namespace,
        publisher=publisher.lower(),
        sharding=so.fields_from(locals()),
    )  # fmt: skip
