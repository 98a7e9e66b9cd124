"""The ``shell`` engine (bacalao's own): ``sh -c COMMAND`` in a bubblewrap sandbox.

Params: ``Command`` (required) and ``Stdin`` (optional: a path *inside* the sandbox, usually an
input file, fed to the command's stdin; it is opened inside the sandbox, so a symlink in the input
cannot reach a host file). See :mod:`bacalao.executors.sandbox` for what the sandbox sees and which
limits apply. CPU shares are not enforced by this engine (no cgroup is delegated to the node): the
node's capacity accounting bounds them. GPUs are refused: use the docker engine.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from pydantic import Field, field_validator

from bacalao.errors import Unavailable
from bacalao.executors.base import (
    ExecutionRequest,
    ExecutionResult,
    LogCallback,
    Mount,
    ensure_run_dir,
    failed_result,
    format_bytes,
    format_seconds,
)
from bacalao.executors.capture import DEFAULT_MAX_LOG_BYTES, OutputCapture
from bacalao.executors.cgroups import node_pids_cgroups
from bacalao.executors.params import EngineParams, parse_params
from bacalao.executors.process import ProcessHandle, run_process
from bacalao.executors.sandbox import (
    SandboxProfile,
    bwrap_argv,
    check_target,
    prlimit_argv,
    probe_layout,
    process_limit,
    sandbox_env,
    write_etc,
)

#: How an allocation failure under ``RLIMIT_AS`` reads in stderr (glibc, coreutils, Python, C++).
_OOM_PATTERNS = re.compile(
    rb"Cannot allocate memory|memory exhausted|MemoryError|std::bad_alloc|out of memory",
    re.IGNORECASE,
)
_STDIN_WRAPPER = 'exec 0<"$0" && exec /bin/sh -c "$1"'


class ShellParams(EngineParams):
    """``Engine.Params`` of the shell engine."""

    command: str = Field(alias="Command", min_length=1)
    stdin: str | None = Field(None, alias="Stdin")

    @field_validator("stdin")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not PurePosixPath(value).is_absolute():
            raise ValueError(f"{value!r} must be an absolute path inside the sandbox")
        return value


class ShellExecutor:
    """Runs shell one-liners under ``prlimit … bwrap …``; one instance per node.

    ``state_dir`` holds the generated ``/etc`` files (a fresh temporary directory when ``None``);
    ``pids_limit`` is ``RLIMIT_NPROC`` (and, on a root node, each execution's pids cgroup unless
    ``use_cgroups`` is off) and ``tmp_bytes`` the size of ``/tmp`` and ``/dev/shm``.
    """

    engine_type = "shell"

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        bwrap: str = "bwrap",
        prlimit: str = "prlimit",
        tmp_bytes: int = 64 << 20,
        pids_limit: int | None = 1024,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        clock: Callable[[], float] = time.monotonic,
        use_cgroups: bool = True,
    ) -> None:
        self._use_cgroups = use_cgroups
        self._state_dir = state_dir
        self._bwrap, self._prlimit = bwrap, prlimit
        self._tmp_bytes, self._pids_limit = tmp_bytes, pids_limit
        self._max_log_bytes = max_log_bytes
        self._clock = clock
        self._profile: SandboxProfile | None = None
        # execution id -> its process, or None between run() starting and the process spawning
        self._running: dict[str, ProcessHandle | None] = {}
        self._cancel_early: set[str] = set()

    def validate(self, params: dict) -> ShellParams:
        """Parse the params; unknown keys are refused with the list of valid ones."""
        return parse_params(ShellParams, self.engine_type, params)

    async def is_installed(self) -> bool:
        """``bwrap`` and ``prlimit`` are here and a trivial sandbox runs (user namespaces work)."""
        if not (shutil.which(self._bwrap) and shutil.which(self._prlimit)):
            return False
        with tempfile.TemporaryDirectory(prefix="bacalao-shell-probe-") as tmp:
            req = ExecutionRequest(
                execution_id="probe", job_id="probe", engine_type="shell",
                engine_params={"Command": "true"}, mounts=(), outputs_dir=Path(tmp) / "outputs",
                env={}, cpu=None, memory_bytes=None, disk_bytes=None, timeout_s=10,
            )  # fmt: skip
            try:
                result = await self.run(req)
            except Unavailable:
                return False
        return result.ok

    def profile(self) -> SandboxProfile:
        """The node's sandbox settings, probed from the host once."""
        if self._profile is None:
            state = self._state_dir or Path(tempfile.mkdtemp(prefix="bacalao-shell-"))
            self._profile = SandboxProfile(
                etc_dir=write_etc(state / "etc"),
                bwrap=self._bwrap,
                prlimit=self._prlimit,
                tmp_bytes=self._tmp_bytes,
                pids_limit=self._pids_limit,
                disable_userns=_bwrap_has_disable_userns(self._bwrap),
                layout=probe_layout(),
                # no prlimit, no cgroup: the shell in front of it would hide the OSError that
                # makes a missing prlimit the engine's failure (Unavailable), not the job's
                pids_cgroups=(
                    node_pids_cgroups()
                    if self._use_cgroups and shutil.which(self._prlimit)
                    else None
                ),
            )
        return self._profile

    def command_line(self, req: ExecutionRequest, params: ShellParams) -> list[str]:
        """The exact argv run for ``req``: ``prlimit … -- bwrap … -- /bin/sh -c COMMAND``."""
        profile = self.profile()
        if params.stdin is None:
            command = ["/bin/sh", "-c", params.command]
        else:
            command = ["/bin/sh", "-c", _STDIN_WRAPPER, params.stdin, params.command]
        return [*prlimit_argv(profile, req), *bwrap_argv(profile, req, command)]

    async def run(
        self, req: ExecutionRequest, *, log: LogCallback | None = None
    ) -> ExecutionResult:
        """Run the command in the sandbox; see the module doc for what is enforced."""
        params = self.validate(req.engine_params)
        problem = _check_request(req)
        if problem is not None:
            return failed_result(req, problem)
        out_path, err_path = ensure_run_dir(req)
        argv = self.command_line(req, params)
        env = sandbox_env(req)
        self._running[req.execution_id] = None
        try:
            with (
                process_limit(self.profile()) as prefix,
                OutputCapture(
                    out_path, err_path, log=log, max_bytes=self._max_log_bytes
                ) as capture,
            ):
                ended = await run_process(
                    [*prefix, *argv],
                    env=env,
                    capture=capture,
                    timeout_s=req.timeout_s,
                    on_start=lambda handle: self._started(req.execution_id, handle),
                    clock=self._clock,
                )
        except OSError as exc:  # prlimit or bwrap missing, fork refused: the engine, not the job
            raise Unavailable(
                f"cannot start the shell sandbox: {exc}",
                hint="install bubblewrap and util-linux (prlimit): scripts/test-env.sh",
            ) from None
        finally:
            self._running.pop(req.execution_id, None)
            self._cancel_early.discard(req.execution_id)
        result = ExecutionResult(
            exit_code=ended.returncode,
            stdout_path=out_path,
            stderr_path=err_path,
            stdout_truncated=capture.truncated["stdout"],
            stderr_truncated=capture.truncated["stderr"],
            outputs_dir=req.outputs_dir,
            metering=_metering(ended.wall_s, ended.cpu_s),
        )
        _explain(result, req, ended.timed_out, ended.cancelled)
        return result

    async def cancel(self, execution_id: str) -> None:
        """Kill the execution's process tree; it then reports ``cancelled``."""
        if execution_id not in self._running:
            return
        handle = self._running[execution_id]
        if handle is None:
            self._cancel_early.add(execution_id)
        else:
            handle.kill(cancelled=True)

    def _started(self, execution_id: str, handle: ProcessHandle) -> None:
        self._running[execution_id] = handle
        if execution_id in self._cancel_early:
            handle.kill(cancelled=True)


def _check_request(req: ExecutionRequest) -> str | None:
    if req.gpus:
        return "the shell engine cannot attach GPUs; use the docker engine for GPU jobs"
    if req.network not in ("none", "host", "full"):
        return f"unknown network mode {req.network!r}: use none, host or full"
    for mount in req.mounts:
        problem = check_target(mount.target)
        if problem is None and not _exists(mount):
            problem = f"input {mount.source} for {mount.target} does not exist on the node"
        if problem is not None:
            return problem
    return None


def _exists(mount: Mount) -> bool:
    return Path(mount.source).exists()


def _explain(
    result: ExecutionResult, req: ExecutionRequest, timed_out: bool, cancelled: bool
) -> None:
    """Turn how the process ended into the result's flags and one readable ``error``."""
    if timed_out:
        result.exit_code, result.timed_out = None, True
        result.error = f"timed out after {format_seconds(req.timeout_s or 0)}"
    elif cancelled:
        result.exit_code, result.cancelled, result.error = None, True, "cancelled"
    elif result.exit_code == 128 + signal.SIGXFSZ and req.disk_bytes:
        result.error = f"file size limit exceeded (limit {format_bytes(req.disk_bytes)})"
    elif result.exit_code not in (0, None):
        tail = _tail(result.stderr_path)
        if result.exit_code in (1, 126, 127) and tail.startswith((b"bwrap: ", b"prlimit: ")):
            result.error = f"sandbox setup failed: {tail.decode(errors='replace').strip()}"
        elif req.memory_bytes and _OOM_PATTERNS.search(tail):
            result.oom = True
            result.error = f"out of memory (limit {format_bytes(req.memory_bytes)})"


def _tail(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - size))
        return f.read()


def _metering(wall_s: float, cpu_s: float | None) -> dict[str, float]:
    return {"wall_s": wall_s} if cpu_s is None else {"wall_s": wall_s, "cpu_s": cpu_s}


def _bwrap_has_disable_userns(bwrap: str) -> bool:
    """``--disable-userns`` (bubblewrap >= 0.8) stops the job from making nested user namespaces."""
    try:
        proc = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=5)
    except OSError:
        return False
    match = re.search(r"(\d+)\.(\d+)", proc.stdout)
    return bool(match) and (int(match[1]), int(match[2])) >= (0, 8)
