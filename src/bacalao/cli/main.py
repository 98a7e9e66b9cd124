"""Entry point of the ``bacalao`` command. Each command group lives in its own module.

Every :class:`~bacalao.errors.BacalaoError` becomes a one-line message plus its hint on stderr and a
non-zero exit code; no traceback reaches the user.
"""

from __future__ import annotations

import sys

import typer

from bacalao.errors import BacalaoError

app = typer.Typer(
    name="bacalao",
    help="Compute over data: run jobs where the content-addressed data lives.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from bacalao.cli import data

    app.add_typer(data.app, name="data")

    from bacalao.cli import serve

    app.command("serve")(serve.serve)
    app.command("devstack")(serve.devstack)

    from bacalao.cli import docker, get, job, node

    app.add_typer(job.app, name="job")
    app.add_typer(docker.app, name="docker")
    app.add_typer(node.app, name="node")
    app.command("get")(get.get)

    from bacalao.cli import python, submit

    job.app.command("submit")(submit.submit)
    app.add_typer(python.app, name="python")

    from bacalao.cli import wasm

    app.add_typer(wasm.app, name="wasm")


_register()


def report_error(err: BacalaoError) -> None:
    """Print a BacalaoError as the user should see it: one line, then the hint."""
    print(f"Error: {err.message}", file=sys.stderr)
    if err.hint:
        print(f"Hint: {err.hint}", file=sys.stderr)


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except BacalaoError as err:
        report_error(err)
        sys.exit(2 if err.http_status == 400 else 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
