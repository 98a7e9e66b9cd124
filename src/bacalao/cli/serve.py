"""``bacalao serve`` and ``bacalao devstack``: run an orchestrator and compute nodes here."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer


def _parse_labels(labels: list[str]) -> dict[str, str]:
    from bacalao.errors import InvalidInput

    out = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"invalid label {item!r}", hint="use -l key=value")
        out[key] = value
    return out


def _run(config) -> None:  # type: ignore[no-untyped-def]
    from bacalao.node import runtime

    runtime.run(_serve(config))


async def _serve(config) -> None:  # type: ignore[no-untyped-def]
    import logging

    import uvicorn

    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

    from bacalao import __version__
    from bacalao.api.app import create_app
    from bacalao.api.datasets import serve_datasets
    from bacalao.node.runtime import tune_gc_for_serving
    from bacalao.node.stack import start_stack
    from bacalao.orchestrator.datasets import Datasets

    sock = _listen(config.host, config.port)  # before anything starts: fail fast and clearly
    stack = await start_stack(config)
    app = create_app(stack.orchestrator, blocks=stack.blocks, version=__version__)
    serve_datasets(
        app, Datasets(stack.orchestrator) if stack.orchestrator else None, stack.computes
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", lifespan="off")
    )
    tune_gc_for_serving()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    nodes = ", ".join(c.id for c in stack.computes) or "none"
    print(
        f"bacalao {__version__} serving on http://{config.host}:{config.port} "
        f"(orchestrator {stack.orchestrator.node_id if stack.orchestrator else 'off'}; "
        f"compute nodes: {nodes}; data in {config.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        await stack.stop()


def _listen(host: str, port: int):  # type: ignore[no-untyped-def]
    """The API's listening socket, bound now so a taken port is a one-line error."""
    import socket

    from bacalao.errors import Unavailable

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise Unavailable(
            f"cannot listen on {host}:{port}: {e.strerror or e}",
            hint="another bacalao serve may be running there; pick another --port",
        ) from None
    sock.listen(2048)
    return sock


def _config(**kw):  # type: ignore[no-untyped-def]
    """The NodeConfig for a command's options (its parameter names; unset ones left out)."""
    from bacalao.models.resources import parse_size
    from bacalao.node.config import NodeConfig

    renames = {"engine": "engines", "allow_local_path": "allow_local_paths"}
    kw = {renames.get(k, k): v for k, v in kw.items()}
    memory = kw.pop("max_memory")
    labels = _parse_labels(kw.pop("label") or [])
    values = {k: v for k, v in kw.items() if v is not None}
    if memory:
        try:
            values["max_memory"] = parse_size(memory)
        except ValueError:
            from bacalao.errors import InvalidInput

            raise InvalidInput(f"invalid --max-memory {memory!r}", hint="e.g. 4gb, 512Mi") from None
    if labels:
        values["labels"] = labels
    return NodeConfig(**values)


DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where jobs and blocks live (BACALAO_DATA_DIR).")
]
Host = Annotated[str | None, typer.Option(help="Address the API listens on.")]
Port = Annotated[int | None, typer.Option(help="Port of the API (default 1234).")]
MaxCpu = Annotated[float | None, typer.Option("--max-cpu", help="CPU cores jobs may use here.")]
MaxMem = Annotated[str | None, typer.Option("--max-memory", help="Memory jobs may use, e.g. 4gb.")]
MaxJobs = Annotated[int | None, typer.Option("--max-jobs", help="Executions at once (0: no cap).")]
Labels = Annotated[
    list[str] | None, typer.Option("--label", "-l", help="Node label key=value (repeatable).")
]
AllowPaths = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-local-path",
        help="A host directory jobs may mount with a localDirectory input (repeatable).",
    ),
]
Engines = Annotated[
    list[str] | None, typer.Option("--engine", help="Engines to offer (default: all installed).")
]


def serve(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    max_cpu: MaxCpu = None,
    max_memory: MaxMem = None,
    max_jobs: MaxJobs = None,
    label: Labels = None,
    engine: Engines = None,
    allow_local_path: AllowPaths = None,
    compute: Annotated[bool, typer.Option(help="Also run a compute node here.")] = True,
) -> None:
    """Run an orchestrator (REST API on :1234) and a compute node in one process."""
    _run(_config(**locals()))


def devstack(
    nodes: Annotated[int, typer.Option("--nodes", "-n", help="Compute nodes to run.")] = 3,
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    max_cpu: MaxCpu = None,
    max_memory: MaxMem = None,
    max_jobs: MaxJobs = None,
    label: Labels = None,
    engine: Engines = None,
    allow_local_path: AllowPaths = None,
) -> None:
    """Run an orchestrator and N compute nodes, each with its own store, in one process."""
    if nodes < 1:
        from bacalao.errors import InvalidInput

        raise InvalidInput("--nodes must be at least 1")
    _run(_config(**locals()))
