"""Entry point of the ``bacalao`` command. Each command group lives in its own module.

Every :class:`~bacalao.errors.BacalaoError` becomes a one-line message plus its hint on stderr and a
non-zero exit code; no traceback reaches the user.
"""

from __future__ import annotations

import sys

import typer

from bacalao.errors import BacalaoError


def _new_app() -> typer.Typer:
    app = typer.Typer(
        name="bacalao",
        help="Compute over data: run jobs where the content-addressed data lives.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    # A callback keeps the app a group even with a single command registered (``bacalao get``):
    # Typer would otherwise run that command with "get" as its first argument.
    app.callback()(_root)
    return app


def _root() -> None:
    """Compute over data: run jobs where the content-addressed data lives."""


def _data(app: typer.Typer) -> None:
    from bacalao.cli import data

    app.add_typer(data.app, name="data")


def _serve(app: typer.Typer) -> None:
    from bacalao.cli import serve

    app.command("serve")(serve.serve)
    app.command("devstack")(serve.devstack)


def _job(app: typer.Typer) -> None:
    from bacalao.cli import job, submit

    job.app.command("submit")(submit.submit)
    app.add_typer(job.app, name="job")


def _docker(app: typer.Typer) -> None:
    from bacalao.cli import docker

    app.add_typer(docker.app, name="docker")


def _node(app: typer.Typer) -> None:
    from bacalao.cli import node

    app.add_typer(node.app, name="node")


def _get(app: typer.Typer) -> None:
    from bacalao.cli import get

    app.command("get")(get.get)


def _python(app: typer.Typer) -> None:
    from bacalao.cli import python

    app.add_typer(python.app, name="python")


def _wasm(app: typer.Typer) -> None:
    from bacalao.cli import wasm

    app.add_typer(wasm.app, name="wasm")


#: top-level command -> what registers it. Typer builds the whole command tree on every call, so
#: ``run()`` registers only the group the user named (``bacalao job list`` never imports the
#: server, docker or wasm modules); ``--help`` and unknown names get everything.
GROUPS = {
    "data": _data,
    "serve": _serve,
    "devstack": _serve,
    "job": _job,
    "docker": _docker,
    "node": _node,
    "get": _get,
    "python": _python,
    "wasm": _wasm,
}


def build_app(only: str | None = None) -> typer.Typer:
    """The CLI with every command group, or with just ``only`` when that names one."""
    app = _new_app()
    register = GROUPS.get(only or "")
    for fn in [register] if register else dict.fromkeys(GROUPS.values()):
        fn(app)
    return app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the full app, built on first use (tests drive it with CliRunner)
        app = build_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)


def report_error(err: BacalaoError) -> None:
    """Print a BacalaoError as the user should see it: one line, then the hint."""
    print(f"Error: {err.message}", file=sys.stderr)
    if err.hint:
        print(f"Hint: {err.hint}", file=sys.stderr)


def run() -> None:
    """Console-script entry point."""
    try:
        build_app(sys.argv[1] if len(sys.argv) > 1 else None)()
    except BacalaoError as err:
        report_error(err)
        sys.exit(2 if err.http_status == 400 else 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
