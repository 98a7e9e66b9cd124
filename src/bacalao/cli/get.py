"""``bacalao get JOB [-o DIR]``: download a job's results, verified block by block.

Each ``ipfs`` result CID is fetched from the API's gateway as a CAR; every block is checked
against its CID, the CAR's root against the CID asked for, and the DAG for completeness before
anything is written (:mod:`bacalao.client.results`). The path written is printed on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bacalao.cli._api import Api, connect
from bacalao.cli.output import note


def get(
    job_id: Annotated[str, typer.Argument(help="Job ID (or a unique prefix of it).")],
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            help="Where to write [default: ./job-<short id>].",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes on stderr.")] = False,
    api: Api = None,
) -> None:
    """Download a job's results into a directory, checking every block against its CID."""
    from bacalao.client.results import download_job

    with connect(api, timeout=60.0) as client:
        done = download_job(client, job_id, output_dir.expanduser() if output_dir else None)
    if not quiet:
        for kind in done.skipped:
            note(f"Skipped a result of type {kind!r}: bacalao get fetches ipfs results only")
        cids = ", ".join(done.cids)
        note(f"Verified {done.blocks} blocks of {cids}")
    print(done.path, flush=True)
