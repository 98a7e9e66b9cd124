"""The executor contract: what a compute node hands an engine, and what it gets back.

A compute node materialises a job's inputs on the host, makes a run directory, and calls
``executor.run(request)``. The executor runs the engine in a sandbox and returns an
:class:`ExecutionResult`. It never raises for something the job did (non-zero exit, timeout, out of
memory, an unknown image): those are reported in the result. It raises :class:`InvalidInput` for
params it cannot parse and :class:`Unavailable` when the engine itself cannot be reached.

Run directory layout (the choice this module documents for every executor)::

    <run_dir>/            = request.outputs_dir.parent
        outputs/          = request.outputs_dir (any name works; mounted writable at /outputs)
        stdout            the job's stdout, written while it runs (capped, see ``truncated``)
        stderr            the job's stderr, likewise

:func:`write_result_layout` then adds ``exitCode`` (and moves things into place when the node chose
other names), which gives Bacalhau's published result layout: ``outputs/…``, ``stdout``,
``stderr``, ``exitCode`` at the root, so the node imports one directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pydantic import BaseModel

#: ``log(stream_name, chunk)``: stream_name is "stdout" or "stderr"; called on the loop thread.
LogCallback = Callable[[str, bytes], None]

NETWORK_MODES = ("none", "host", "full")
STDOUT = "stdout"
STDERR = "stderr"
EXIT_CODE_FILE = "exitCode"
OUTPUTS_DIR = "outputs"


@dataclass(frozen=True)
class Mount:
    """A host path (file or directory) made visible inside the sandbox at ``target``."""

    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContentRef:
    """Content an engine needs besides the job's inputs (a WebAssembly module, a script), named
    by CID and written out by the compute node before the run: ``path`` is on the host."""

    cid: str
    path: Path


@dataclass(frozen=True)
class ExecutionRequest:
    """Everything an executor needs to run one execution; built by the compute node.

    ``outputs_dir`` is a host directory mounted writable at ``/outputs``; its parent is the run
    directory where ``stdout`` and ``stderr`` are written. ``gpus`` are the exact device indexes the
    node assigned. ``network`` is ``"none"`` (only a private loopback), ``"host"`` (the host's
    network, so its loopback too) or ``"full"`` (outbound access). Limits left ``None`` are not
    applied. ``engine_params`` are the task's raw ``Engine.Params``; the executor validates them.
    """

    execution_id: str
    job_id: str
    engine_type: str
    engine_params: dict
    mounts: tuple[Mount, ...]
    outputs_dir: Path
    env: dict[str, str]
    cpu: float | None
    memory_bytes: int | None
    disk_bytes: int | None
    gpus: tuple[int, ...] = ()
    network: str = "none"
    timeout_s: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    #: name -> content the engine asked for through ``content_refs`` (see :class:`Executor`)
    content: dict[str, ContentRef] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """Where ``stdout`` and ``stderr`` go: the parent of ``outputs_dir``."""
        return self.outputs_dir.parent


@dataclass
class ExecutionResult:
    """What happened. ``error`` set means the execution failed (Bacalhau's ``ErrorMsg``).

    A non-zero ``exit_code`` with no ``error`` is the job's own answer, not a failure of the
    execution; the compute node decides what it means. ``exit_code`` is ``None`` when the node ended
    the process (timeout, cancel) or it never started. ``metering`` holds ``wall_s`` and, where the
    engine can measure it, ``cpu_s``.
    """

    exit_code: int | None
    stdout_path: Path
    stderr_path: Path
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    error: str | None = None
    oom: bool = False
    timed_out: bool = False
    cancelled: bool = False
    metering: dict[str, float] = field(default_factory=dict)
    outputs_dir: Path | None = None

    @property
    def ok(self) -> bool:
        """The execution ran to its end and the job exited 0."""
        return self.error is None and self.exit_code == 0

    def read_stdout(self, limit: int = 2048) -> str:
        """The first ``limit`` bytes of stdout as text (Bacalhau's inline preview is 2 KiB)."""
        return _head(self.stdout_path, limit)

    def read_stderr(self, limit: int = 2048) -> str:
        """The first ``limit`` bytes of stderr as text."""
        return _head(self.stderr_path, limit)


@runtime_checkable
class Executor(Protocol):
    """One engine (``docker``, ``shell``, ``noop``, …). Implementations own their params model."""

    engine_type: str

    def validate(self, params: dict) -> BaseModel:
        """Parse ``Engine.Params`` into the engine's model; unknown keys -> InvalidInput + hint."""
        ...

    async def is_installed(self) -> bool:
        """Whether this engine can run here (binary present, daemon up). Cheap; never raises."""
        ...

    async def run(
        self, req: ExecutionRequest, *, log: LogCallback | None = None
    ) -> ExecutionResult:
        """Run to completion; stream output through ``log`` while running. See the module doc."""
        ...

    async def cancel(self, execution_id: str) -> None:
        """Stop a running execution (its container or process tree); a no-op if none is running."""
        ...


def content_refs(executor: Executor, params: dict) -> dict[str, str]:
    """Name -> CID of the content an engine needs written out before it runs.

    An executor may define ``content_refs(params: dict) -> dict[str, str]`` (the wasm engine
    names its entry module, the python engine a script given by CID); the compute node resolves
    each CID in its store, writes it under the run directory and passes the paths in
    :attr:`ExecutionRequest.content`. Engines without such content need not define it.
    """
    refs = getattr(executor, "content_refs", None)
    return dict(refs(params)) if refs is not None else {}


#: A result directory's entry: a file's bytes, a path on disk, or a directory of entries.
Entry = bytes | Path | list[tuple[str, "Entry"]]


def makes_own_run_dir(executor: Executor) -> bool:
    """Whether an engine makes the run directory itself, and only when it writes something.

    The compute node makes ``<run_dir>/result/outputs`` before most engines start (a sandbox
    mounts it). An executor that sets ``makes_own_run_dir = True`` (the noop engine) is handed
    the paths alone and creates what it writes into: a job that writes nothing costs no
    directories. The result is laid out (:func:`result_entries`) the same either way.
    """
    return bool(getattr(executor, "makes_own_run_dir", False))


def write_result_layout(result_dir: Path, result: ExecutionResult) -> Path:
    """Lay ``result_dir`` out as Bacalhau's result: ``outputs/``, ``stdout``, ``stderr``,
    ``exitCode``.

    Files already in place (the usual case: ``result_dir`` is the run directory) are left alone;
    others are moved in. ``exitCode`` holds the decimal exit code with no newline, as Bacalhau
    writes it, and is absent when there is none (the node killed the job, or it never started).
    """
    result_dir.mkdir(parents=True, exist_ok=True)
    for name, source in result_entries(result_dir, result):
        if isinstance(source, bytes):
            (result_dir / name).write_bytes(source)
        elif isinstance(source, list):  # an empty directory, kept in memory
            (result_dir / name).mkdir(exist_ok=True)
    if result.exit_code is None:
        (result_dir / EXIT_CODE_FILE).unlink(missing_ok=True)
    return result_dir


def result_entries(result_dir: Path, result: ExecutionResult) -> list[tuple[str, Entry]]:
    """Bacalhau's result as directory entries: the streams and ``outputs/`` moved into
    ``result_dir`` where they are elsewhere, and what the engine did not write as bytes
    (``exitCode``, a stream never written) or ``[]`` (no ``outputs/``: an empty directory).
    Importing these (:meth:`~bacalao.blockstore.repo.Repo.add_entries`) gives the CID of
    importing :func:`write_result_layout`'s directory, without writing anything out first; a
    result with nothing to move touches no directory."""
    entries: list[tuple[str, Entry]] = []
    for name, src in ((STDOUT, result.stdout_path), (STDERR, result.stderr_path)):
        dst = result_dir / name
        if not _same(src, dst) and src.exists():
            result_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dst)
        entries.append((name, dst if dst.exists() else b""))  # none: the engine printed nothing
    outputs = result_dir / OUTPUTS_DIR
    if result.outputs_dir is not None and not _same(result.outputs_dir, outputs):
        if result.outputs_dir.exists():
            result_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(result.outputs_dir, outputs)
        result.outputs_dir = outputs
    entries.append((OUTPUTS_DIR, outputs if outputs.is_dir() else []))
    result.stdout_path, result.stderr_path = result_dir / STDOUT, result_dir / STDERR
    if result.exit_code is not None:
        entries.append((EXIT_CODE_FILE, str(result.exit_code).encode()))
    return entries


def failed_result(req: ExecutionRequest, error: str, **kw: object) -> ExecutionResult:
    """A result for an execution that ended before or without an exit code."""
    out, err = ensure_run_dir(req)
    for path in (out, err):
        if not path.exists():
            path.write_bytes(b"")
    return ExecutionResult(
        exit_code=None,
        stdout_path=out,
        stderr_path=err,
        error=error,
        outputs_dir=req.outputs_dir,
        **kw,  # type: ignore[arg-type]
    )


def ensure_run_dir(req: ExecutionRequest) -> tuple[Path, Path]:
    """Create the outputs directory; return the stdout and stderr paths beside it."""
    req.outputs_dir.mkdir(parents=True, exist_ok=True)
    return req.run_dir / STDOUT, req.run_dir / STDERR


def format_bytes(n: int) -> str:
    """``67108864`` -> ``"64 MiB"``: how limits appear in error messages."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"


def format_seconds(s: float) -> str:
    """``2.0`` -> ``"2s"``, ``0.5`` -> ``"0.5s"``."""
    return f"{s:g}s"


def _same(a: Path, b: Path) -> bool:
    return a.absolute() == b.absolute()


def _head(path: Path, limit: int) -> str:
    try:
        with open(path, "rb") as f:  # not Path.open: a missing file (a noop run) costs less
            return f.read(limit).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
