"""``bacalao node …``: the compute nodes an orchestrator knows."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bacalao.cli._api import Api, connect
from bacalao.cli.output import OutputFormat, render

app = typer.Typer(
    help="Inspect the compute nodes.", no_args_is_help=True, pretty_exceptions_enable=False
)

Output = Annotated[OutputFormat, typer.Option("--output", help="How to print it.")]
COLUMNS = ["id", "type", "status", "approval", "engines", "cpu", "memory", "gpu", "labels"]


def human_bytes(n: Any) -> str:
    """``17179869184`` -> ``16GiB`` (no model import: the table reads the wire dicts)."""
    try:
        value = float(n or 0)
    except (TypeError, ValueError):
        return str(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.3g}{unit}" if unit != "B" else f"{int(value)}B"
        value /= 1024
    return str(n)


def _free_of(free: Any, total: Any, fmt: Any = str) -> str:
    if not total:
        return ""
    return f"{fmt(free or 0)}/{fmt(total)}"


def node_row(state: dict[str, Any]) -> dict[str, Any]:
    """A table row from a Bacalhau ``NodeState``."""
    info = state.get("Info") or {}
    compute = info.get("ComputeNodeInfo") or {}
    total = compute.get("MaxCapacity") or {}
    free = compute.get("AvailableCapacity") or {}
    labels = info.get("Labels") or {}
    return {
        "id": info.get("NodeID", ""),
        "type": info.get("NodeType", ""),
        "status": state.get("Connection", ""),
        "approval": state.get("Membership", ""),
        "engines": ",".join(compute.get("ExecutionEngines") or []),
        "cpu": _free_of(free.get("CPU"), total.get("CPU"), lambda c: f"{float(c):g}"),
        "memory": _free_of(free.get("Memory"), total.get("Memory"), human_bytes),
        "gpu": _free_of(free.get("GPU"), total.get("GPU")),
        "labels": " ".join(f"{k}={v}" for k, v in sorted(labels.items())),
    }


@app.command("list")
def list_nodes(output: Output = OutputFormat.table, api: Api = None) -> None:
    """List the nodes: connection, engines, free/total CPU, memory and GPUs, labels."""
    with connect(api) as client:
        page = client.list_nodes()
    if output is not OutputFormat.table:
        render(page.raw, output)
        return
    render([node_row(n) for n in page.raw], output, columns=COLUMNS)
