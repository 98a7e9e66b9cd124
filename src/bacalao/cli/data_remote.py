"""``bacalao data`` against a running cluster: add to a chosen node, where, aggregate.

* ``data add PATH --node NODE`` (or ``--api URL``): PATH is imported here into a throwaway store
  (under ``$TMPDIR``) with the chosen profile, exported as a CAR and streamed — never held in
  memory — to ``POST /api/v1/bacalao/nodes/{node}/car``; the node checks every block and pins
  the root. Without ``--node``/``--api`` ``data add`` stays offline (:mod:`bacalao.cli.data`).
* ``data where CID``: which nodes hold the root and each top-level entry, and whether fully.
* ``data aggregate CID… [--name NAME …] [--node NODE]``: one directory linking the datasets,
  wherever they are, without copying their bytes.

The root CID (of ``add``, ``aggregate``) is the last line of stdout; notes go to stderr.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from bacalao.cli._api import Api, connect
from bacalao.cli.output import OutputFormat

if TYPE_CHECKING:
    from bacalao.blockstore import Repo
    from bacalao.client import Client
    from bacalao.ipld.cid import CID
    from bacalao.ipld.profiles import ImportProfile

BASE = "/api/v1/bacalao"
CAR_TYPE = "application/vnd.ipld.car"
CHUNK = 1 << 20
#: How long the server may take to check and store a CAR once it has it all.
IMPORT_READ_TIMEOUT_S = 3600.0

Output = Annotated[OutputFormat, typer.Option("--output", help="How to print it.")]
Wide = Annotated[bool, typer.Option("--wide", help="Full node IDs instead of short ones.")]
Node = Annotated[
    str,
    typer.Option("--node", help="The node (ID or unique prefix) (default: the server's first)."),
]


def register(app: typer.Typer) -> None:
    """Add ``where`` and ``aggregate`` to the ``data`` group."""
    app.command("where")(where)
    app.command("aggregate")(aggregate)


# -- add ------------------------------------------------------------------------------------------
def add_to_node(
    path: str,
    *,
    node: str,
    api: str | None,
    profile: ImportProfile,
    hidden: bool = False,
    workers: int = 1,
    quiet: bool = False,
    verbose: bool = False,
) -> str:
    """Import ``path`` (``-``: stdin) locally, send it to ``node`` as a CAR; print and return
    the root CID."""
    import sys

    from bacalao.blockstore import Repo
    from bacalao.cli.output import note, progress_bar

    from_stdin = path == "-"
    name = "-" if from_stdin else Path(path).name or path
    with tempfile.TemporaryDirectory(prefix="bacalao-add-") as tmp:
        repo = Repo.open(Path(tmp) / "store", sync=False)
        total = None if from_stdin or quiet else _size(Path(path), hidden)
        with progress_bar(total, f"importing {name}", quiet=quiet) as progress:
            if from_stdin:
                root = repo.add_stream(sys.stdin.buffer, profile, workers=workers)
            else:
                root = repo.add_path(
                    path, profile, hidden=hidden, workers=workers, progress=progress
                )
        with (
            connect(api) as client,
            progress_bar(root.tsize, f"sending {name}", quiet=quiet) as progress,
        ):
            target = f"{BASE}/nodes/{quote(node, safe='')}/car" if node else f"{BASE}/data/car"
            answer = post_car(client, target, repo, root.cid, progress)
    if str(root.cid) != answer.get("CID"):
        from bacalao.errors import IntegrityError

        raise IntegrityError(
            f"the server stored {answer.get('CID')} for {root.cid}",
            hint="this is a bug in bacalao: report it with the server's log",
        )
    if verbose:
        typer.echo(f"added {root.cid} {name}")
    if not quiet:
        note(
            f"stored on node {answer.get('Node')}: {answer.get('Bytes')} bytes sent, profile "
            f"{profile.name}"
        )
    typer.echo(str(root.cid))
    return str(root.cid)


def _size(path: Path, hidden: bool) -> int | None:
    from bacalao.cli.data import _tree_size

    try:
        return _tree_size(path, hidden)
    except OSError:
        return None


def post_car(
    client: Client,
    path: str,
    repo: Repo,
    root: CID,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Stream ``root``'s DAG from ``repo`` as a CARv1 in the body of ``POST path``; the answer.

    A thread writes the CAR into a pipe that the request body reads, so neither the CAR nor the
    data is ever whole in memory or on disk twice.
    """
    import httpx

    from bacalao.client._base import Call

    read_fd, write_fd = os.pipe()
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            with open(write_fd, "wb", buffering=CHUNK) as out:
                repo.export_car(root, out)
        except BrokenPipeError:
            pass  # the server stopped reading: its answer says why
        except BaseException as e:  # re-raised below, after the request
            failed.append(e)

    writer = threading.Thread(target=produce, name="car-export", daemon=True)
    writer.start()
    try:
        with open(read_fd, "rb") as body, client._translate():
            response = client._http.post(
                path,
                content=_chunks(body, progress),
                headers={"Content-Type": CAR_TYPE},
                timeout=httpx.Timeout(client.timeout, read=IMPORT_READ_TIMEOUT_S),
            )
    finally:
        writer.join()
    if failed:
        raise failed[0]
    return client._read(Call("POST", path), response.status_code, response.content)


def _chunks(body: Any, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    sent = 0
    while data := body.read(CHUNK):
        sent += len(data)
        if progress is not None:
            progress(sent)
        yield data


# -- where ----------------------------------------------------------------------------------------
def where(
    cid: Annotated[str, typer.Argument(help="The dataset's CID.")],
    output: Output = OutputFormat.table,
    wide: Wide = False,
    api: Api = None,
) -> None:
    """Which nodes of the cluster hold which part of a dataset.

    One row per node and part — the root (/) and each top-level entry — with the bytes the node
    holds, the part's total, and whether it holds all of it (complete) or some (partial).
    """
    from bacalao.cli.output import render
    from bacalao.cli.wait import short
    from bacalao.client._base import Call

    with connect(api) as client:
        answer = client._send(Call("GET", f"{BASE}/data/{quote(cid.strip(), safe='')}/where"))
    if output is not OutputFormat.table:
        render(answer, output)
        return
    rows = [
        {
            "node": item["Node"] if wide else short(item["Node"]),
            "path": item["Path"],
            "bytes": item["Bytes"],
            "total": item["Total"],
            "state": "complete" if item["Complete"] else "partial",
        }
        for item in answer.get("Items", [])
    ]
    render(rows, output, columns=["node", "path", "bytes", "total", "state"])


# -- aggregate ------------------------------------------------------------------------------------
def aggregate(
    cids: Annotated[list[str], typer.Argument(help="The datasets' CIDs.")],
    name: Annotated[
        list[str] | None,
        typer.Option("--name", help="Entry name of each CID, in order (default: the CIDs)."),
    ] = None,
    node: Annotated[
        str,
        typer.Option("--node", help="Build it on this node (default: the one holding most)."),
    ] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No notes on stderr.")] = False,
    api: Api = None,
) -> None:
    """Link datasets into one directory; print its CID.

    The datasets may sit on different nodes: no byte is copied (only their root blocks reach the
    node that builds the directory). A sharded job over the new CID runs on all their holders.
    """
    from bacalao.cli.output import note
    from bacalao.client._base import Call

    body = {"CIDs": list(cids), "Names": list(name or []), "Node": node}
    with connect(api) as client:
        answer = client._send(Call("POST", f"{BASE}/data/aggregate", json=body))
    if not quiet:
        note(f"aggregated {len(cids)} datasets on node {answer['Node']}")
    typer.echo(answer["CID"])
