"""``bacalao data …``: the local content store, offline.

Commands: add, cat, ls, get, export, import, pin, unpin, pins, gc; and, against a running
cluster (:mod:`bacalao.cli.data_remote`): ``add --node``, where, aggregate.

The data dir is ``--data-dir`` (on ``data`` or on the command), else ``$BACALAO_DATA_DIR``, else
``~/.bacalao``. stdout carries only data (a CID, file bytes, a listing) so commands compose in
pipes and ``$(…)``; notes and progress go to stderr. Heavy modules are imported inside commands.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, TypeVar

import typer

from bacalao.cli.output import OutputFormat

if TYPE_CHECKING:
    from bacalao.blockstore import Repo
    from bacalao.ipld.cid import CID

ENV_DATA_DIR = "BACALAO_DATA_DIR"

app = typer.Typer(
    help="Add, read and move content-addressed data in the local store (works offline).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help=f"Where blocks and pins live (default: ${ENV_DATA_DIR}, else ~/.bacalao).",
        show_default=False,
    ),
]
Output = Annotated[OutputFormat, typer.Option("--output", help="How to print the result.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Say more (on stdout and stderr).")]
Target = Annotated[str, typer.Argument(help="CID, optionally followed by /path/inside.")]

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _group(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """Add, read and move content-addressed data in the local store (works offline)."""
    ctx.obj = {"data_dir": data_dir}


# -- helpers ------------------------------------------------------------------------------------


def data_dir_for(ctx: typer.Context | None, option: Path | None) -> Path:
    """The data dir: the command's option, the group's, ``$BACALAO_DATA_DIR``, ``~/.bacalao``."""
    if option is not None:
        return option.expanduser()
    group = (ctx.obj or {}).get("data_dir") if ctx is not None and ctx.obj else None
    if group is not None:
        return Path(group).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".bacalao"


def _repo(ctx: typer.Context, option: Path | None, *, create: bool) -> Repo:
    from bacalao.blockstore import Repo

    return Repo.open(data_dir_for(ctx, option), create=create)


def parse_target(text: str) -> tuple[CID, str]:
    """Split ``CID[/path]`` (also ``/ipfs/CID/path``) into the CID and the path inside it."""
    from bacalao.errors import DecodeError, InvalidInput
    from bacalao.ipld.cid import CID

    body = text.strip()
    if body.startswith("/ipfs/"):
        body = body[len("/ipfs/") :]
    head, _, rest = body.partition("/")
    if not head:
        raise InvalidInput(
            f"missing CID in {text!r}", hint="give a CID, e.g. bafy…/path/inside or Qm…"
        )
    try:
        cid = CID.decode(head)
    except DecodeError as e:
        raise InvalidInput(
            f"invalid CID {head!r}: {e.message.removeprefix(f'invalid CID {head!r}: ')}",
            hint="a CID looks like Qm… (v0) or bafy…/bafk… (v1); check for a copy-paste slip",
        ) from None
    return cid, rest


def _resolve(repo: Repo, target: str) -> CID:
    from bacalao.ipld.exporter import resolve

    cid, path = parse_target(target)
    if not path:
        return cid
    with default_hint("paths are plain names separated by /; see what is there with `data ls`"):
        return resolve(repo.reader(), cid, path)


def fs_errors(fn: F) -> F:
    """Turn an ``OSError`` escaping a command into a one-line BacalaoError (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            # The reader went away (`… | head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            with contextlib.suppress(OSError):
                os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None
        except OSError as e:
            from bacalao.errors import BacalaoError

            where = f": {e.filename}" if e.filename else ""
            raise BacalaoError(
                f"{e.strerror or e}{where}",
                code="io",
                hint="check the path, its permissions and the free disk space",
            ) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def default_hint(hint: str) -> Iterator[None]:
    """Give a BacalaoError raised inside the block this hint if it came without one."""
    from bacalao.errors import BacalaoError

    try:
        yield
    except BacalaoError as e:
        if not e.hint:
            e.hint = hint
        raise


CAR_HINT = (
    "the file is not a complete CAR (v1 or v2): it may be truncated or corrupt;"
    " export it again (bacalao data export, ipfs dag export)"
)


def _tree_size(path: Path, hidden: bool) -> int:
    """Bytes under ``path`` (only computed when a progress bar may be drawn)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, dirs, files in os.walk(path):
        if not hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".")]
        for f in files:
            with contextlib.suppress(OSError):
                p = os.path.join(root, f)
                if not os.path.islink(p):
                    total += os.path.getsize(p)
    return total


@contextlib.contextmanager
def _open_output(path: Path | None) -> Iterator[BinaryIO]:
    """Write to ``path`` atomically (temp file, then rename), or to stdout for ``None``/``-``."""
    from bacalao.errors import InvalidInput

    if path is None or str(path) == "-":
        if sys.stdout.isatty():
            raise InvalidInput(
                "refusing to write a binary CAR to the terminal",
                hint="pass -o FILE.car or redirect stdout",
            )
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = path.expanduser()
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            yield f
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


# -- commands -----------------------------------------------------------------------------------


@app.command()
@fs_errors
def add(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="File or directory to add; - reads stdin.")],
    cid_version: Annotated[
        int | None, typer.Option("--cid-version", help="0 (Qm…, default) or 1 (bafy…).")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="kubo-v0 (default), cid-v1 or unixfs-v1-2025."),
    ] = None,
    only_hash: Annotated[
        bool, typer.Option("--only-hash", "-n", help="Compute the CID, store nothing.")
    ] = False,
    hidden: Annotated[
        bool, typer.Option("--hidden", "-H", help="Include files whose name starts with '.'.")
    ] = False,
    pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin the root.")] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Threads hashing chunks [default: a CPU each, up to 4].",
        ),
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    data_dir: DataDir = None,
    node: Annotated[
        str | None,
        typer.Option(
            "--node",
            help="Store it on this node of a running cluster (ID or unique prefix; '' for the "
            "server's first) instead of the local store.",
            show_default=False,
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="With --node: the cluster's API (default: $BACALAO_API, else "
            "http://127.0.0.1:1234); alone: store it on that server's first node.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Add a file or directory; print its root CID (the last line of stdout).

    With --node or --api it goes to a node of a running cluster instead of the local store.
    """
    from bacalao.errors import InvalidInput
    from bacalao.ipld.profiles import resolve_profile

    chosen = resolve_profile(profile, cid_version)
    if workers is None:  # hashlib releases the GIL: each free CPU hashes chunks
        workers = max(1, min(4, len(os.sched_getaffinity(0))))
    src = Path(path)
    from_stdin = path == "-"
    if not from_stdin and not os.path.lexists(src):
        raise InvalidInput(f"path {path} does not exist", hint="check the path and try again")
    if node is not None or api is not None:
        if only_hash or not pin:
            flag = "--only-hash" if only_hash else "--no-pin"
            raise InvalidInput(
                f"{flag} cannot be used with --node/--api", hint="data sent to a node is pinned"
            )
        from bacalao.cli.data_remote import add_to_node

        add_to_node(
            path,
            node=(node or "").strip(),
            api=api,
            profile=chosen,
            hidden=hidden,
            workers=workers,
            quiet=quiet,
            verbose=verbose,
        )
        return
    total = None if from_stdin or quiet or not sys.stderr.isatty() else _tree_size(src, hidden)
    name = "-" if from_stdin else src.name or str(src)
    from bacalao.cli.output import note, progress_bar

    with progress_bar(total, f"adding {name}", quiet=quiet) as progress:
        if only_hash:
            from bacalao.ipld.importer import import_path, import_stream

            if from_stdin:
                node = import_stream(
                    sys.stdin.buffer, chosen, None, workers=workers, progress=progress
                )
            else:
                node = import_path(
                    src, chosen, None, hidden=hidden, workers=workers, progress=progress
                )
        else:
            repo = _repo(ctx, data_dir, create=True)
            if from_stdin:
                node = repo.add_stream(
                    sys.stdin.buffer, chosen, workers=workers, progress=progress, pin=pin
                )
            else:
                node = repo.add_path(
                    src, chosen, hidden=hidden, workers=workers, progress=progress, pin=pin
                )
    if verbose:
        typer.echo(f"added {node.cid} {name}")
        if not quiet:
            note(f"{node.size} bytes of content, {node.tsize} bytes of DAG, profile {chosen.name}")
    typer.echo(str(node.cid))


@app.command()
@fs_errors
def cat(ctx: typer.Context, target: Target, data_dir: DataDir = None) -> None:
    """Write a file's bytes to stdout."""
    from bacalao.ipld.exporter import cat as cat_file

    repo = _repo(ctx, data_dir, create=False)
    cid = _resolve(repo, target)
    out = sys.stdout.buffer
    with default_hint("cat reads files: list a directory with `bacalao data ls`"):
        for chunk in cat_file(repo.reader(), cid):
            out.write(chunk)
    out.flush()


@app.command("ls")
@fs_errors
def ls_(
    ctx: typer.Context,
    target: Target,
    output: Output = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """List a directory (a file lists as itself)."""
    from bacalao.cli.output import render
    from bacalao.ipld.exporter import ls, stat

    repo = _repo(ctx, data_dir, create=False)
    cid = _resolve(repo, target)
    getter = repo.reader()
    top = stat(getter, cid)
    entries = ls(getter, cid) if top.type == "directory" else [top]
    rows = [{"name": e.name, "type": e.type, "size": e.size, "cid": str(e.cid)} for e in entries]
    render(rows, output, columns=["name", "type", "size", "cid"])


@app.command()
@fs_errors
def get(
    ctx: typer.Context,
    target: Target,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where to write it (default: ./NAME, or ./CID)."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write a file or directory tree to disk; print the path written."""
    from bacalao.ipld.exporter import write_tree

    repo = _repo(ctx, data_dir, create=False)
    cid = _resolve(repo, target)
    if out is None:
        _, path = parse_target(target)
        segments = [s for s in path.split("/") if s]
        dest, name = Path.cwd(), segments[-1] if segments else str(cid)
    else:
        out = Path(os.path.abspath(out.expanduser()))
        dest, name = out.parent, out.name
    written = write_tree(repo.reader(), cid, dest, name)
    typer.echo(str(written))


@app.command()
@fs_errors
def export(
    ctx: typer.Context,
    target: Target,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="CAR file to write; - for stdout.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Export a DAG as a CARv1 file (blocks in `ipfs dag export` order)."""
    repo = _repo(ctx, data_dir, create=False)
    cid = _resolve(repo, target)
    with _open_output(out) as f:
        repo.export_car(cid, f)


@app.command("import")
@fs_errors
def import_(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="CAR files (v1 or v2); - reads stdin.")],
    pin: Annotated[
        bool, typer.Option("--pin/--no-pin", help="Pin the roots (needs complete DAGs).")
    ] = True,
    allow_big_block: Annotated[
        bool, typer.Option("--allow-big-block", help="Accept blocks over 2 MiB.")
    ] = False,
    quiet: Quiet = False,
    data_dir: DataDir = None,
) -> None:
    """Import CAR files into the store (all or nothing per file); print their roots."""
    from bacalao.errors import InvalidInput

    for name in files:
        if name != "-" and not os.path.isfile(name):
            raise InvalidInput(f"CAR file {name} does not exist", hint="check the path")
    repo = _repo(ctx, data_dir, create=True)
    options: dict[str, Any] = {"pin_roots": pin, "allow_big_block": allow_big_block}
    for name in files:
        with default_hint(CAR_HINT):
            if name == "-":
                roots = repo.import_car(sys.stdin.buffer, **options)
            else:
                roots = _import_file(repo, Path(name), quiet=quiet, options=options)
        for root in roots:
            typer.echo(str(root))


def _import_file(repo: Repo, path: Path, *, quiet: bool, options: dict[str, Any]) -> list[CID]:
    from bacalao.cli.output import progress_bar

    total = path.stat().st_size
    with open(path, "rb") as f, progress_bar(total, f"importing {path.name}", quiet=quiet) as bar:
        stream = f if bar is None else _CountingReader(f, bar)
        return repo.import_car(stream, **options)  # type: ignore[arg-type]


class _CountingReader:
    """A read-only stream that reports how many bytes were read (for the progress bar)."""

    def __init__(self, raw: BinaryIO, update: Callable[[int], None]) -> None:
        self._raw = raw
        self._update = update
        self._done = 0
        self._shown = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._done += len(data)
        # The CAR reader reads varints byte by byte: redraw once per MiB, not per read.
        if self._done - self._shown >= 1 << 20 or not data:
            self._shown = self._done
            self._update(self._done)
        return data

    def close(self) -> None:
        self._raw.close()


@app.command("pin")
@fs_errors
def pin_(ctx: typer.Context, target: Target, data_dir: DataDir = None) -> None:
    """Pin a root recursively (its whole DAG must be in the store)."""
    repo = _repo(ctx, data_dir, create=False)
    cid = _resolve(repo, target)
    repo.pin(cid)
    typer.echo(f"pinned {cid} recursively")


@app.command()
@fs_errors
def unpin(ctx: typer.Context, target: Target, data_dir: DataDir = None) -> None:
    """Remove a pin; the blocks stay until `bacalao data gc`."""
    repo = _repo(ctx, data_dir, create=False)
    cid, path = parse_target(target)
    if path:
        cid = _resolve(repo, target)
    repo.unpin(cid)
    typer.echo(f"unpinned {cid}")


@app.command()
@fs_errors
def pins(ctx: typer.Context, output: Output = OutputFormat.table, data_dir: DataDir = None) -> None:
    """List the pinned roots (the data this node holds)."""
    from bacalao.cli.output import render

    repo = _repo(ctx, data_dir, create=False)
    rows = [{"cid": str(c), "type": "recursive"} for c in repo.pins()]
    if output is OutputFormat.table:
        for row in rows:
            typer.echo(row["cid"])
        return
    render(rows, output)


@app.command()
@fs_errors
def gc(
    ctx: typer.Context,
    verbose: Verbose = False,
    output: Output = OutputFormat.table,
    data_dir: DataDir = None,
) -> None:
    """Delete every block that no pinned root reaches."""
    repo = _repo(ctx, data_dir, create=False)
    result = repo.gc()
    if output is not OutputFormat.table:
        from bacalao.cli.output import render

        summary = {"removed": result.count, "bytes": result.bytes}
        if verbose:
            summary["cids"] = [str(c) for c in result.removed]  # type: ignore[assignment]
        render(summary, output)
        return
    if verbose:
        for cid in result.removed:
            typer.echo(f"removed {cid}")
    typer.echo(f"removed {result.count} blocks ({result.bytes} bytes)")


def _register_remote() -> None:
    from bacalao.cli import data_remote

    data_remote.register(app)


_register_remote()
