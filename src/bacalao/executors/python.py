"""The ``python`` engine (bacalao's own): a Python script with its requirements, in bubblewrap.

Params: ``Script`` (the file's text) or ``ScriptCID`` (a file in the content store), optional
``ScriptName`` (the name tracebacks show; default ``main.py``), ``Requirements`` (requirements.txt
text) or ``RequirementsCID``, ``Function`` (function mode) and ``Args`` (``sys.argv[1:]``).

Per execution:

1. the venv for the requirements comes from the node's :class:`~.venvs.VenvCache` (built once
   per requirements hash, then reused). The build runs ``python -m venv`` and ``pip install -r``
   in the sandbox *with* the node's network and pip settings, so package build scripts never run
   with the node's privileges; a failing install fails the execution with pip's output as stderr
   and its ``ERROR:`` line as the error;
2. the job runs in the sandbox of :mod:`.sandbox` (the shell engine's profile) with no network:
   the venv read-only at ``/opt/bacalao/venv``, the script read-only under ``/opt/bacalao/job``,
   the node's interpreter read-only where it lives, inputs read-only, ``/outputs`` writable;
3. :mod:`.python_runner` runs the script as ``__main__`` or, in function mode, calls the function
   on every input file. A user exception exits 1 with the user's traceback (no runner frames) in
   stderr, and the error names the exception.

Metering adds ``venv_reused`` (1.0 or 0.0) and ``venv_build_s`` to ``wall_s``/``cpu_s``, which
cover the user's code only. ``PYTHONHASHSEED`` is 0 unless the job sets it, so replicas of a job
agree. GPUs are refused, as in the shell engine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydantic import Field, field_validator, model_validator

from bacalao.executors.base import (
    ExecutionRequest,
    ExecutionResult,
    LogCallback,
    Mount,
    ensure_run_dir,
    failed_result,
    format_seconds,
)
from bacalao.executors.capture import DEFAULT_MAX_LOG_BYTES, OutputCapture
from bacalao.executors.params import EngineParams, parse_params
from bacalao.executors.process import ProcessHandle, run_process
from bacalao.executors.sandbox import (
    SYSTEM_DIRS,
    bwrap_argv,
    check_target,
    prlimit_argv,
    process_limit,
)
from bacalao.executors.sandbox import sandbox_env as base_env
from bacalao.executors.shell import ShellExecutor, _explain
from bacalao.executors.venvs import BuildOutcome, PipHostConfig, VenvCache, pip_host_config

log = logging.getLogger(__name__)

#: Where things appear inside the sandbox; user inputs may not be mounted under it.
SANDBOX_ROOT = "/opt/bacalao"
VENV_TARGET = f"{SANDBOX_ROOT}/venv"
JOB_TARGET = f"{SANDBOX_ROOT}/job"
RUNNER_TARGET = f"{SANDBOX_ROOT}/runner.py"
BUILD_TARGET = f"{SANDBOX_ROOT}/build"
RUNNER_FILE = Path(__file__).with_name("python_runner.py")
DEFAULT_SCRIPT_NAME = "main.py"
DEFAULT_BUILD_TIMEOUT_S = 900.0
#: Environment defaults for the job (the job's own env wins).
JOB_ENV_DEFAULTS = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2"}
_SCRIPT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.py")
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception)(: |$)")
_PROBE = (
    "import sys, os, glob, json, ensurepip\n"
    "wheels = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled',"
    " 'pip-*.whl')))\n"
    "print(json.dumps({'prefix': sys.prefix, 'executable': sys.executable,"
    " 'version': sys.version, 'pip_wheel': wheels[-1] if wheels else None}))\n"
)


class PythonParams(EngineParams):
    """``Engine.Params`` of the python engine."""

    script: str | None = Field(None, alias="Script")
    script_cid: str | None = Field(None, alias="ScriptCID")
    script_name: str = Field(DEFAULT_SCRIPT_NAME, alias="ScriptName")
    requirements: str | None = Field(None, alias="Requirements")
    requirements_cid: str | None = Field(None, alias="RequirementsCID")
    function: str | None = Field(None, alias="Function")
    args: tuple[str, ...] = Field((), alias="Args")

    @field_validator("script_name")
    @classmethod
    def _script_name(cls, value: str) -> str:
        if not _SCRIPT_NAME.fullmatch(value):
            raise ValueError(f"{value!r} must be a plain file name ending in .py, e.g. main.py")
        return value

    @field_validator("function")
    @classmethod
    def _function(cls, value: str | None) -> str | None:
        if value is not None and not value.isidentifier():
            raise ValueError(f"{value!r} is not a Python function name")
        return value

    @field_validator("script_cid", "requirements_cid")
    @classmethod
    def _cid(cls, value: str | None) -> str | None:
        if value is not None:
            from bacalao.ipld.cid import CID

            try:
                CID.decode(value.partition("/")[0])
            except Exception as e:  # any decoding failure is the user's malformed CID
                raise ValueError(f"{value!r} is not a CID ({e})") from None
        return value

    @model_validator(mode="after")
    def _one_of_each(self) -> PythonParams:
        if (self.script is None) == (self.script_cid is None):
            raise ValueError("give exactly one of Script (the file's text) or ScriptCID")
        if self.requirements is not None and self.requirements_cid is not None:
            raise ValueError("give Requirements or RequirementsCID, not both")
        return self


@dataclass(frozen=True)
class Interpreter:
    """The node's Python that builds the venvs (probed once)."""

    executable: str
    prefix: str
    version: str
    pip_wheel: str | None

    def mounts(self) -> tuple[Mount, ...]:
        """Bind the interpreter's prefix read-only where it lives, unless a system dir has it."""
        prefix = PurePosixPath(self.prefix)
        if any(prefix == PurePosixPath(d) or prefix.is_relative_to(d) for d in SYSTEM_DIRS):
            return ()
        return (Mount(Path(self.prefix), self.prefix, read_only=True),)


class PythonExecutor:
    """Runs Python scripts and functions in the sandbox, with cached venvs; one per node."""

    engine_type = "python"

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        python: str | None = None,
        bwrap: str = "bwrap",
        prlimit: str = "prlimit",
        tmp_bytes: int = 64 << 20,
        pids_limit: int | None = 1024,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        build_timeout_s: float = DEFAULT_BUILD_TIMEOUT_S,
        pip_config: PipHostConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        use_cgroups: bool = True,
    ) -> None:
        import sys

        self._state = state_dir or Path(tempfile.mkdtemp(prefix="bacalao-python-"))
        self._python = python or getattr(sys, "_base_executable", None) or sys.executable
        self._sandbox = ShellExecutor(
            state_dir=self._state / "sandbox", bwrap=bwrap, prlimit=prlimit,
            tmp_bytes=tmp_bytes, pids_limit=pids_limit, use_cgroups=use_cgroups,
        )  # fmt: skip
        self._bwrap, self._prlimit = bwrap, prlimit
        self._max_log_bytes = max_log_bytes
        self._build_timeout_s = build_timeout_s
        self._pip_config = pip_config
        self._clock = clock
        self.venvs = VenvCache(self._state / "venvs", clock=clock)
        self._interpreter: Interpreter | None = None
        self._running: dict[str, ProcessHandle | None] = {}
        self._cancelled: set[str] = set()

    # -- the Executor protocol ------------------------------------------------------------------
    def validate(self, params: dict) -> PythonParams:
        """Parse the params; unknown keys are refused with the list of valid ones."""
        return parse_params(PythonParams, self.engine_type, params)

    def content_refs(self, params: dict) -> dict[str, str]:
        """The script and requirements given by CID, for the node to write out before the run."""
        p = self.validate(params)
        refs = {"script": p.script_cid, "requirements": p.requirements_cid}
        return {name: cid for name, cid in refs.items() if cid}

    async def is_installed(self) -> bool:
        """bwrap and prlimit work, and the node's interpreter runs inside the sandbox."""
        if not (shutil.which(self._bwrap) and shutil.which(self._prlimit)):
            return False
        try:
            interp = await self.interpreter()
        except (OSError, ValueError, subprocess.SubprocessError):
            return False
        with tempfile.TemporaryDirectory(prefix="bacalao-python-probe-") as tmp:
            req = ExecutionRequest(
                execution_id="probe", job_id="probe", engine_type="python", engine_params={},
                mounts=interp.mounts(), outputs_dir=Path(tmp) / "outputs", env={}, cpu=None,
                memory_bytes=None, disk_bytes=None, timeout_s=30,
            )  # fmt: skip
            ensure_run_dir(req)
            argv = self._argv(req, [interp.executable, "-c", "import venv"])
            with OutputCapture(*ensure_run_dir(req)) as capture:
                try:
                    ended = await run_process(
                        argv, env=base_env(req), capture=capture, timeout_s=30
                    )
                except OSError:
                    return False
        return ended.returncode == 0

    async def run(
        self, req: ExecutionRequest, *, log: LogCallback | None = None
    ) -> ExecutionResult:
        """Build or reuse the venv, then run the script or function; see the module doc."""
        params = self.validate(req.engine_params)
        eid = req.execution_id
        self._running[eid] = None
        try:
            return await self._run(req, params, log)
        finally:
            self._running.pop(eid, None)
            self._cancelled.discard(eid)
            shutil.rmtree(self._state / "runs" / eid, ignore_errors=True)

    async def cancel(self, execution_id: str) -> None:
        """Kill the execution's pip build or job process; it then reports ``cancelled``."""
        if execution_id not in self._running:
            return
        self._cancelled.add(execution_id)
        handle = self._running[execution_id]
        if handle is not None:
            handle.kill(cancelled=True)

    # -- the pieces -----------------------------------------------------------------------------
    async def interpreter(self) -> Interpreter:
        """Probe the node's Python once: prefix, version, the pip wheel ensurepip bundles."""
        if self._interpreter is None:
            proc = await asyncio.to_thread(
                subprocess.run,
                [self._python, "-I", "-c", _PROBE],
                capture_output=True, text=True, timeout=30, check=True,
            )  # fmt: skip
            data = json.loads(proc.stdout)
            self._interpreter = Interpreter(
                executable=data["executable"], prefix=data["prefix"],
                version=data["version"], pip_wheel=data["pip_wheel"],
            )  # fmt: skip
        return self._interpreter

    async def _run(
        self, req: ExecutionRequest, params: PythonParams, log_cb: LogCallback | None
    ) -> ExecutionResult:
        problem = _check_request(req)
        if problem is not None:
            return failed_result(req, problem)
        out_path, err_path = ensure_run_dir(req)
        try:
            script = _text_of(req, "script", params.script)
            requirements = _text_of(req, "requirements", params.requirements)
            interp = await self.interpreter()
        except _Unusable as e:
            return failed_result(req, str(e))
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            return failed_result(req, f"the node's Python interpreter is not usable: {e}")
        venv = await self.venvs.ensure(
            requirements, interp.version,
            lambda scratch, reqs: self._build(req, interp, scratch, reqs),
            build_id=req.execution_id,
        )  # fmt: skip
        metering = {"venv_reused": 1.0 if venv.reused else 0.0, "venv_build_s": venv.build_s}
        if venv.error is not None:
            err_path.write_bytes(venv.log[-self._max_log_bytes :])
            return failed_result(
                req, venv.error, cancelled=venv.cancelled, timed_out=venv.timed_out,
                metering=metering,
            )  # fmt: skip
        assert venv.path is not None
        if venv.reused:
            log.info("python venv %s reused by execution %s", venv.key[:12], req.execution_id)
        if req.execution_id in self._cancelled:
            return failed_result(req, "cancelled", cancelled=True, metering=metering)
        job_dir = self._write_job(req, params, script)
        run_req = dataclasses.replace(
            req,
            mounts=(
                *req.mounts,
                *interp.mounts(),
                Mount(venv.path, VENV_TARGET, read_only=True),
                Mount(RUNNER_FILE, RUNNER_TARGET, read_only=True),
                Mount(job_dir, JOB_TARGET, read_only=True),
            ),
        )
        argv = self._argv(
            run_req, [f"{VENV_TARGET}/bin/python", "-B", "-s", RUNNER_TARGET, f"{JOB_TARGET}/spec"]
        )
        with (
            process_limit(self._sandbox.profile()) as prefix,
            OutputCapture(out_path, err_path, log=log_cb, max_bytes=self._max_log_bytes) as cap,
        ):
            ended = await run_process(
                [*prefix, *argv], env=_job_env(req), capture=cap, timeout_s=req.timeout_s,
                on_start=lambda h: self._started(req.execution_id, h), clock=self._clock,
            )  # fmt: skip
        result = ExecutionResult(
            exit_code=ended.returncode,
            stdout_path=out_path,
            stderr_path=err_path,
            stdout_truncated=cap.truncated["stdout"],
            stderr_truncated=cap.truncated["stderr"],
            outputs_dir=req.outputs_dir,
            metering={"wall_s": ended.wall_s, **metering},
        )
        if ended.cpu_s is not None:
            result.metering["cpu_s"] = ended.cpu_s
        _explain(result, req, ended.timed_out, ended.cancelled)
        if result.error is None and result.exit_code not in (0, None):
            result.error = _user_error(err_path, result.exit_code)
        return result

    async def _build(
        self, req: ExecutionRequest, interp: Interpreter, scratch: Path, requirements: str
    ) -> BuildOutcome:
        """``python -m venv`` + ``pip install -r`` in the sandbox with the node's network."""
        if self._pip_config is None:
            self._pip_config = await asyncio.to_thread(pip_host_config)
        pip = self._pip_config
        (scratch / "venv").mkdir()
        (scratch / "tmp").mkdir()
        (scratch / "outputs").mkdir()
        (scratch / "requirements.txt").write_text(requirements)
        mounts = [
            *interp.mounts(),
            Mount(scratch / "venv", VENV_TARGET, read_only=False),
            Mount(scratch / "tmp", f"{BUILD_TARGET}/tmp", read_only=False),
            Mount(scratch / "requirements.txt", f"{BUILD_TARGET}/requirements.txt"),
            *(Mount(p, str(p)) for p in pip.paths),
        ]
        if pip.config:
            (scratch / "pip.conf").write_text(pip.config)
            mounts.append(Mount(scratch / "pip.conf", "/etc/pip.conf"))
        build_req = dataclasses.replace(
            req, mounts=tuple(mounts), outputs_dir=scratch / "outputs", network="full",
            memory_bytes=None, disk_bytes=None, env={}, timeout_s=self._build_timeout_s,
        )  # fmt: skip
        env = base_env(build_req, {**pip.env, "TMPDIR": f"{BUILD_TARGET}/tmp"})
        env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        command = ["/bin/sh", "-c", build_script(interp, bool(requirements.strip()))]
        log.info("building python venv for execution %s", req.execution_id)
        with (
            process_limit(self._sandbox.profile()) as prefix,
            OutputCapture(scratch / "build.out", scratch / "build.log") as capture,
        ):
            ended = await run_process(
                [*prefix, *self._argv(build_req, command)], env=env, capture=capture,
                timeout_s=self._build_timeout_s,
                on_start=lambda h: self._started(req.execution_id, h), clock=self._clock,
            )  # fmt: skip
        self._running[req.execution_id] = None
        output = (scratch / "build.out").read_bytes() + (scratch / "build.log").read_bytes()
        if ended.cancelled or req.execution_id in self._cancelled:
            return BuildOutcome("cancelled", output, cancelled=True)
        if ended.timed_out:
            why = f"installing requirements timed out after {format_seconds(self._build_timeout_s)}"
            return BuildOutcome(why, output, timed_out=True)
        if ended.returncode != 0:
            return BuildOutcome(pip_error(output, ended.returncode), output)
        return BuildOutcome(None, output)

    def _write_job(self, req: ExecutionRequest, params: PythonParams, script: str) -> Path:
        job_dir = self._state / "runs" / req.execution_id / "job"
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / params.script_name).write_text(script)
        spec = {
            "script": f"{JOB_TARGET}/{params.script_name}",
            "args": list(params.args),
            "function": params.function,
            "inputs": sorted(m.target for m in req.mounts),
            "outputs": "/outputs",
        }
        (job_dir / "spec").write_text(json.dumps(spec))
        return job_dir

    def _argv(self, req: ExecutionRequest, command: list[str]) -> list[str]:
        profile = self._sandbox.profile()
        return [*prlimit_argv(profile, req), *bwrap_argv(profile, req, command)]

    def _started(self, execution_id: str, handle: ProcessHandle) -> None:
        self._running[execution_id] = handle
        if execution_id in self._cancelled:
            handle.kill(cancelled=True)


class _Unusable(Exception):
    """The params name content the node could not use (a directory where a file was expected)."""


def build_script(interp: Interpreter, install: bool) -> str:
    """The ``sh -c`` text that creates the venv at ``/opt/bacalao/venv`` and installs into it.

    With the pip wheel that ensurepip bundles, pip runs from that wheel and the venv gets no pip
    of its own (seconds faster than ensurepip); without one, the venv is made with pip.
    """
    python = shlex.quote(interp.executable)
    reqs = f"{BUILD_TARGET}/requirements.txt"
    flags = "--no-input --no-cache-dir --disable-pip-version-check --no-warn-script-location"
    if not install:
        return f"exec {python} -m venv --without-pip {VENV_TARGET}"
    if interp.pip_wheel:
        venv = f"{python} -m venv --without-pip {VENV_TARGET}"
        pip = f"{VENV_TARGET}/bin/python {shlex.quote(interp.pip_wheel + '/pip')}"
    else:
        venv, pip = f"{python} -m venv {VENV_TARGET}", f"{VENV_TARGET}/bin/python -m pip"
    return f"{venv} && exec {pip} install {flags} -r {reqs}"


def pip_error(output: bytes, returncode: int) -> str:
    """One line for a failed install: pip's last ``ERROR:`` line, else the last line it wrote."""
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    last = errors[-1] if errors else next((line for line in reversed(lines) if line), "")
    detail = f": {last.removeprefix('ERROR: ')}" if last else f" (exit code {returncode})"
    return f"installing requirements failed{detail}"


def _user_error(stderr_path: Path, exit_code: int) -> str | None:
    """``user code raised ValueError: boom`` when stderr ends in a traceback (or a runner line)."""
    with stderr_path.open("rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 8192))
        tail = f.read().decode("utf-8", "replace")
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1].strip()
    if exit_code == 2 and last.startswith("bacalao: "):
        return last.removeprefix("bacalao: ")
    if exit_code == 1 and (
        "Traceback (most recent call last):" in tail or _EXCEPTION_LINE.match(last)
    ):
        return f"user code raised {last}"
    return None


def _text_of(req: ExecutionRequest, name: str, inline: str | None) -> str | None:
    if inline is not None:
        return inline
    ref = req.content.get(name)
    if ref is None:
        return None
    if not ref.path.is_file():
        raise _Unusable(f"the {name} CID {ref.cid} is not a file")
    try:
        return ref.path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _Unusable(f"the {name} CID {ref.cid} is not UTF-8 text") from None


def _check_request(req: ExecutionRequest) -> str | None:
    if req.gpus:
        return "the python engine cannot attach GPUs; use the docker engine for GPU jobs"
    if req.network not in ("none", "host", "full"):
        return f"unknown network mode {req.network!r}: use none, host or full"
    for mount in req.mounts:
        problem = check_target(mount.target)
        target = PurePosixPath(mount.target)
        if problem is None and (
            target == PurePosixPath(SANDBOX_ROOT) or target.is_relative_to(SANDBOX_ROOT)
        ):
            problem = f"mount target {mount.target!r} would hide the python engine's {SANDBOX_ROOT}"
        if problem is None and not Path(mount.source).exists():
            problem = f"input {mount.source} for {mount.target} does not exist on the node"
        if problem is not None:
            return problem
    return None


def _job_env(req: ExecutionRequest) -> dict[str, str]:
    env = base_env(req)
    for key, value in JOB_ENV_DEFAULTS.items():
        if key not in req.env:
            env[key] = value
    env["VIRTUAL_ENV"] = VENV_TARGET
    env["PATH"] = f"{VENV_TARGET}/bin:{env['PATH']}"
    return env
