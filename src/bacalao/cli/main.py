"""Entry point of the ``bacalao`` command. Each command group lives in its own module.

Every :class:`~bacalao.errors.BacalaoError` becomes a one-line message plus its hint on stderr and a
non-zero exit code; no traceback reaches the user.
"""

from __future__ import annotations

import atexit
import copy
import gc
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


def _only(group: typer.Typer, sub: str | None) -> typer.Typer:
    """``group`` with just its command named ``sub`` when it has one, else all of it.

    Typer turns every registered command into a click command (signatures, type hints, params)
    before it parses anything: ~2 ms a command, and ``bacalao job list`` needs one of eight.
    """
    if sub is None or group.registered_groups:
        return group
    named = [
        info
        for info in group.registered_commands
        if (info.name or getattr(info.callback, "__name__", "").lower().replace("_", "-")) == sub
    ]
    if not named:  # --help, an option or an unknown name: the whole group answers
        return group
    pruned = copy.copy(group)
    pruned.registered_commands = named
    return pruned


def _data(app: typer.Typer, sub: str | None) -> None:
    from bacalao.cli import data

    app.add_typer(_only(data.app, sub), name="data")


def _serve(app: typer.Typer, sub: str | None) -> None:
    from bacalao.cli import serve

    app.command("serve")(serve.serve)
    app.command("devstack")(serve.devstack)


def _job(app: typer.Typer, sub: str | None) -> None:
    from bacalao.cli import job

    group = _only(job.app, sub)
    if group is job.app:  # not one of job.py's commands: submit's module (docker's flags) too
        from bacalao.cli import submit

        job.app.command("submit")(submit.submit)
        group = _only(job.app, sub)
    app.add_typer(group, name="job")


def _docker(app: typer.Typer, sub: str | None) -> None:
    from bacalao.cli import docker

    app.add_typer(_only(docker.app, sub), name="docker")


def _node(app: typer.Typer, sub: str | None) -> None:
    from bacalao.cli import node

    app.add_typer(_only(node.app, sub), name="node")


def _get(app: typer.Typer, sub: str | None) -> None:
    from bacalao.cli import get

    app.command("get")(get.get)


def _python(app: typer.Typer, sub: str | None) -> None:
    from bacalao.cli import python

    app.add_typer(_only(python.app, sub), name="python")


def _wasm(app: typer.Typer, sub: str | None) -> None:
    from bacalao.cli import wasm

    app.add_typer(_only(wasm.app, sub), name="wasm")


#: top-level command -> what registers it. Typer builds the whole command tree on every call, so
#: ``run()`` registers only the group the user named, and of it only the command named (``bacalao
#: job list`` never imports the server, docker, wasm or submit modules); ``--help``, options and
#: unknown names get everything.
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


def build_app(only: str | None = None, sub: str | None = None) -> typer.Typer:
    """The CLI with every command group, or with just ``only`` when that names one (and of it
    just its command ``sub`` when that names one)."""
    app = _new_app()
    register = GROUPS.get(only or "")
    if register:
        register(app, sub)
    else:
        for fn in dict.fromkeys(GROUPS.values()):
            fn(app, None)
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
    # The process ends with the command: spare it the interpreter's last full garbage collection
    # over every object the imports made (~15-20 ms of `bacalao job list`). Atexit handlers still
    # run and the standard streams are still flushed; only cyclic garbage is left to the OS.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    try:
        args = sys.argv[1:]
        build_app(args[0] if args else None, args[1] if len(args) > 1 else None)()
    except BacalaoError as err:
        report_error(err)
        sys.exit(2 if err.http_status == 400 else 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
