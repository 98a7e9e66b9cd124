"""The ``wasm`` engine: a WASI module run by wasmtime, in this process, with no host access.

Params (Bacalhau's, plus bacalao's limits and determinism switch):

- ``EntryModule`` (required): the module, as a CID in the content store (``Qm…``, ``bafy…``,
  ``ipfs://…``), an InputSource (``ipfs`` or ``inline`` data URL), or the absolute path of a
  ``.wasm`` file inside one of the job's inputs (Bacalhau's newer form).
- ``Entrypoint`` (default ``_start``): an exported function with no parameters. If it returns
  one i32, that is the exit code; WASI ``proc_exit(n)`` exits with ``n``.
- ``Parameters``: argv[1:] (argv[0] is ``""``, as in Bacalhau).
- ``EnvironmentVariables``: ``{K: V}`` or ``["K=V"]``; the task's env comes first.
- ``ImportModules``: modules that satisfy the entry module's non-WASI imports, each linked under
  its InputSource ``Alias`` or, without one, under the import-module name whose functions it
  exports. WASI reactors (``_initialize``) are initialised first.
- ``Fuel``: an instruction budget (wasmtime fuel; about one unit per instruction). Fuel used is
  always metered (``metering["fuel"]``).
- ``MemoryPages`` (64 KiB pages) or ``MaxMemory`` (``"64Mi"``): the cap on linear memory; the
  task's memory resource caps it too. 4 GiB at most.
- ``Deterministic`` (default true) and ``Seed``: virtual clocks, seeded randomness and scrubbed
  file metadata (see :mod:`.wasm_wasi`), so the same module on the same input gives the same
  output CID on every node.

The module sees the job's inputs read-only at their targets, ``/outputs`` writable, and nothing
else: no other host path, no network, no stdin. The node writes the modules named by CID out of
its store before the run (:meth:`WasmExecutor.content_refs`); compiled modules are cached by CID
(:mod:`.wasm_cache`), so a module that already ran here starts in well under a millisecond.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bacalao.executors.base import (
    ExecutionRequest,
    ExecutionResult,
    LogCallback,
    ensure_run_dir,
    failed_result,
    format_bytes,
    format_seconds,
)
from bacalao.executors.capture import DEFAULT_MAX_LOG_BYTES, OutputCapture
from bacalao.executors.params import EngineParams, parse_env_list, parse_params

PAGE = 65536
MAX_PAGES = 65536  # 4 GiB, wasm32's whole address space
ENTRY = "entry"
#: How an allocation failure reads in stderr (C, C++, Rust, Go, AssemblyScript).
_OOM_PATTERNS = re.compile(
    rb"out of memory|Cannot allocate memory|memory allocation of|bad_alloc|memory exhausted",
    re.IGNORECASE,
)


class ModuleRef(BaseModel):
    """One module: exactly one of ``cid``, ``inline`` (a data URL) or ``path`` (in an input)."""

    model_config = ConfigDict(frozen=True)

    cid: str | None = None
    inline: str | None = None
    path: str | None = None
    #: the name an import module is linked under ("" to infer it)
    alias: str = ""

    @property
    def label(self) -> str:
        """How messages name it."""
        if self.cid:
            return f"module {self.cid}"
        return f"module {self.path}" if self.path else "inline module"


def parse_module_ref(value: Any) -> ModuleRef:
    """``"Qm…"``, ``"ipfs://…"``, ``"/inputs/m.wasm"`` or an InputSource dict -> ModuleRef."""
    if isinstance(value, ModuleRef):
        return value
    if isinstance(value, str):
        return _ref_from_text(value.strip())
    if isinstance(value, dict):
        return _ref_from_source(value)
    raise ValueError("must be a CID, a path inside an input, or an InputSource")


def _ref_from_text(text: str) -> ModuleRef:
    from bacalao.errors import DecodeError
    from bacalao.ipld.cid import CID

    if text.startswith("/") and not text.startswith("/ipfs/"):
        path = PurePosixPath(text)
        if ".." in path.parts or str(path) != text:
            raise ValueError(f"{text!r} must be a normalised absolute path")
        return ModuleRef(path=text)
    body = text.removeprefix("ipfs://").removeprefix("/ipfs/")
    try:
        CID.decode(body.partition("/")[0])
    except DecodeError:
        raise ValueError(
            f"{text!r} is neither a CID nor an absolute path inside an input"
        ) from None
    return ModuleRef(cid=body)


def _ref_from_source(value: dict) -> ModuleRef:
    from pydantic import ValidationError

    from bacalao.errors import BacalaoError
    from bacalao.models.input_source import InputSource

    try:
        source = InputSource.model_validate(value)
    except (ValidationError, BacalaoError) as e:
        first = e.errors()[0]["msg"] if isinstance(e, ValidationError) else e.message
        raise ValueError(f"invalid InputSource: {first}") from None
    params = source.source.params
    if source.type == "ipfs":
        return _ref_from_text(params["CID"]).model_copy(update={"alias": source.alias})
    if source.type == "inline":
        return ModuleRef(inline=params["URL"], alias=source.alias)
    raise ValueError(
        f"a module cannot come from a {source.type!r} source here: use ipfs (a CID) or inline"
    )


class WasmParams(EngineParams):
    """``Engine.Params`` of the wasm engine."""

    entry_module: ModuleRef = Field(alias="EntryModule")
    entrypoint: str = Field("_start", alias="Entrypoint", min_length=1)
    parameters: tuple[str, ...] = Field((), alias="Parameters")
    environment_variables: tuple[str, ...] = Field((), alias="EnvironmentVariables")
    import_modules: tuple[ModuleRef, ...] = Field((), alias="ImportModules")
    fuel: int | None = Field(None, alias="Fuel", gt=0, lt=1 << 63)
    memory_pages: int | None = Field(None, alias="MemoryPages", ge=1, le=MAX_PAGES)
    max_memory: int | None = Field(None, alias="MaxMemory", ge=PAGE, le=MAX_PAGES * PAGE)
    deterministic: bool = Field(True, alias="Deterministic")
    seed: int = Field(0, alias="Seed", ge=0, lt=1 << 64)

    @field_validator("entry_module", mode="before")
    @classmethod
    def _entry(cls, value: Any) -> ModuleRef:
        return parse_module_ref(value)

    @field_validator("import_modules", mode="before")
    @classmethod
    def _imports(cls, value: Any) -> tuple[ModuleRef, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of CIDs or InputSources")
        return tuple(parse_module_ref(v) for v in value)

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _env(cls, value: Any) -> tuple[str, ...]:
        return parse_env_list(value)

    @field_validator("max_memory", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if isinstance(value, str):
            from bacalao.models.resources import parse_size

            return parse_size(value)
        return value

    def memory_limit(self) -> int | None:
        """The module's own memory cap in bytes, if it set one."""
        if self.memory_pages is not None:
            return self.memory_pages * PAGE
        return self.max_memory

    def content_refs(self) -> dict[str, str]:
        """Name -> CID of every module given by CID (see :meth:`WasmExecutor.content_refs`)."""
        refs = {ENTRY: self.entry_module.cid} if self.entry_module.cid else {}
        for i, ref in enumerate(self.import_modules):
            if ref.cid:
                refs[f"import-{i}"] = ref.cid
        return refs


class _Refused(Exception):
    """The job asked for something this engine cannot give; becomes the result's error."""


class WasmExecutor:
    """Runs WASI modules in this process under wasmtime; one instance per node.

    ``state_dir`` holds the on-disk cache of compiled modules (none when None). ``tick_s`` is the
    resolution of timeouts and cancels (the engine's epoch tick).
    """

    engine_type = "wasm"

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        tick_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state_dir = state_dir
        self._max_log_bytes = max_log_bytes
        self._tick_s = tick_s
        self._clock = clock
        self._host: Any = None
        self._running: dict[str, Any] = {}

    @property
    def host(self) -> Any:
        """The wasmtime side (:class:`~.wasm_host.Host`), built on first use."""
        if self._host is None:
            from bacalao.executors.wasm_host import Host

            cache = self._state_dir / "modules" if self._state_dir is not None else None
            self._host = Host(cache, tick_s=self._tick_s)
        return self._host

    def validate(self, params: dict) -> WasmParams:
        """Parse the params; unknown keys are refused with the list of valid ones."""
        return parse_params(WasmParams, self.engine_type, params)

    def content_refs(self, params: dict) -> dict[str, str]:
        """The modules given by CID that the node must write out before the run (``entry``,
        ``import-<i>``): those not compiled here already. The node asks right before it runs
        the execution, so a module cached now is still cached then."""
        refs = self.validate(params).content_refs()
        if self._host is None:
            return refs
        cache = self._host.modules
        return {name: cid for name, cid in refs.items() if not cache.has(f"cid:{cid}")}

    async def is_installed(self) -> bool:
        """wasmtime imports and an engine can be built."""
        try:
            await asyncio.to_thread(lambda: self.host)
        except Exception:
            return False
        return True

    async def run(
        self, req: ExecutionRequest, *, log: LogCallback | None = None
    ) -> ExecutionResult:
        """Run the module to its end; see the module doc for what it sees and what is enforced."""
        from bacalao.executors.wasm_host import Control

        params = self.validate(req.engine_params)
        control = self._running[req.execution_id] = Control(req.timeout_s, self._clock)
        try:
            try:
                plan = self._plan(req, params)
            except _Refused as e:
                return failed_result(req, str(e))
            except OSError as e:  # staging a file input
                return failed_result(req, f"cannot prepare the inputs: {e}")
            return await self._execute(req, plan, control, log)
        finally:
            self._running.pop(req.execution_id, None)

    async def cancel(self, execution_id: str) -> None:
        """Stop a running module at its next epoch tick; it then reports ``cancelled``."""
        control = self._running.get(execution_id)
        if control is not None:
            control.cancel()

    # -- internals ------------------------------------------------------------------------------
    def _plan(self, req: ExecutionRequest, params: WasmParams) -> Any:
        from bacalao.executors.wasm_host import RunPlan

        problem = _check_request(req)
        if problem is not None:
            raise _Refused(problem)
        env = dict(req.env)
        env.update(item.split("=", 1) for item in params.environment_variables)  # type: ignore[misc]
        return RunPlan(
            entry=_source(params.entry_module, ENTRY, req),
            imports=[
                _source(ref, f"import-{i}", req) for i, ref in enumerate(params.import_modules)
            ],
            entrypoint=params.entrypoint,
            argv=["", *params.parameters],
            env=sorted(env.items()),
            preopens=preopens(req),
            memory_limit=_memory_limit(params, req),
            fuel=params.fuel,
            deterministic=params.deterministic,
            seed=params.seed,
        )

    async def _execute(
        self, req: ExecutionRequest, plan: Any, control: Any, log: LogCallback | None
    ) -> ExecutionResult:
        out_path, err_path = ensure_run_dir(req)
        loop = asyncio.get_running_loop()
        started = self._clock()
        forward = None
        if log is not None:  # the module writes on its thread; log callbacks run on the loop

            def forward(stream: str, chunk: bytes) -> None:
                loop.call_soon_threadsafe(log, stream, chunk)

        with OutputCapture(
            out_path, err_path, log=forward, max_bytes=self._max_log_bytes, create_empty=False
        ) as capture:
            plan.stdout = functools.partial(capture.write, "stdout")
            plan.stderr = functools.partial(capture.write, "stderr")
            try:
                outcome = await asyncio.to_thread(self.host.execute, plan, control)
            except asyncio.CancelledError:
                control.cancel()  # the thread stops at its next tick
                raise
            result = ExecutionResult(
                exit_code=outcome.exit_code,
                stdout_path=out_path,
                stderr_path=err_path,
                outputs_dir=req.outputs_dir,
                metering=_metering(self._clock() - started, outcome),
            )
            explain(result, outcome, req, plan.memory_limit)
            if result.error and outcome.detail:
                capture.write(
                    "stderr", f"\n[bacalao wasm] {result.error}\n{outcome.detail}\n".encode()
                )
            result.stdout_truncated = capture.truncated["stdout"]
            result.stderr_truncated = capture.truncated["stderr"]
        return result


def explain(
    result: ExecutionResult, outcome: Any, req: ExecutionRequest, limit: int | None
) -> None:
    """Turn how the module ended into the result's flags and one readable ``error``."""
    if outcome.failure:
        result.exit_code, result.error = None, outcome.failure
        result.oom = outcome.failure.startswith("out of memory")
    elif outcome.stopped == "timeout":
        result.exit_code, result.timed_out = None, True
        result.error = f"timed out after {format_seconds(req.timeout_s or 0)}"
    elif outcome.stopped == "cancelled":
        result.exit_code, result.cancelled, result.error = None, True, "cancelled"
    elif outcome.out_of_fuel:
        result.exit_code = None
        result.error = f"out of fuel after {outcome.fuel_limit} instructions"
    elif outcome.trap:
        result.exit_code, result.error = None, f"trap: {outcome.trap}"
    if limit and _ran_out_of_memory(result, outcome, limit):
        result.oom = True
        why = result.error or f"exited with code {result.exit_code}"
        result.error = f"out of memory (limit {format_bytes(limit)}): {why}"
    if not result.error and req.disk_bytes:
        used = _du(req.outputs_dir)
        if used > req.disk_bytes:
            result.error = (
                f"outputs use {format_bytes(used)}, over the disk limit of "
                f"{format_bytes(req.disk_bytes)}"
            )


def _metering(wall_s: float, outcome: Any) -> dict[str, float]:
    metering = {"wall_s": wall_s, "cpu_s": outcome.cpu_s}
    if not outcome.stopped:  # wasmtime's fuel count is not kept up to date when cut short
        metering["fuel"] = float(outcome.fuel_used)
    return metering


def _ran_out_of_memory(result: ExecutionResult, outcome: Any, limit: int) -> bool:
    """A guess, as the shell engine makes one: wasmtime answers a refused ``memory.grow`` with -1
    and says nothing, so a module that failed (trapped, or exited non-zero saying so on stderr)
    with its memory within a quarter of the cap is taken to have hit the cap."""
    if outcome.failure or outcome.stopped or outcome.out_of_fuel:
        return False
    if not (outcome.trap or result.exit_code) or outcome.memory_bytes * 4 < limit * 3:
        return False
    return bool(outcome.trap) or bool(_OOM_PATTERNS.search(_tail(result.stderr_path)))


def _tail(path: Path, size: int = 4096) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - size))
            return f.read()
    except OSError:
        return b""


def _check_request(req: ExecutionRequest) -> str | None:
    if req.gpus:
        return "the wasm engine cannot attach GPUs; use the docker engine for GPU jobs"
    if req.network != "none":
        return (
            f"the wasm engine has no network (the job asks for {req.network!r}); "
            "use the docker engine for networked jobs"
        )
    return None


def _memory_limit(params: WasmParams, req: ExecutionRequest) -> int:
    own = params.memory_limit()
    limit = min(own, req.memory_bytes) if own and req.memory_bytes else own or req.memory_bytes
    return min(limit or MAX_PAGES * PAGE, MAX_PAGES * PAGE)


def _source(ref: ModuleRef, name: str, req: ExecutionRequest) -> Any:
    from bacalao.executors.wasm_cache import content_key
    from bacalao.executors.wasm_host import ModuleSource

    if ref.cid:
        content = req.content.get(name)
        if content is None:  # compiled here already (see content_refs): loading needs no bytes

            def missing() -> bytes:
                raise OSError(f"the node did not write out {ref.label} before the run")

            return ModuleSource(f"cid:{ref.cid}", missing, ref.label, ref.alias)
        path = content.path
        return ModuleSource(f"cid:{ref.cid}", lambda: _read_module(path, ref), ref.label, ref.alias)
    if ref.inline:
        data = _decode_data_url(ref.inline)
        return ModuleSource(content_key(data), lambda: data, ref.label, ref.alias)
    assert ref.path is not None
    host = _host_path(ref.path, req)
    if host is None:
        raise _Refused(f"{ref.label} is not inside any of the job's inputs")
    return ModuleSource("", lambda: _read_module(host, ref), ref.label, ref.alias)


def _read_module(path: Path, ref: ModuleRef) -> bytes:
    if path.is_dir():
        raise OSError(f"{ref.label} is a directory, not a .wasm file")
    return path.read_bytes()


def _decode_data_url(url: str) -> bytes:
    header, _, payload = url.partition(",")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=False)
        return urllib.parse.unquote_to_bytes(payload)
    except ValueError as e:
        raise _Refused(f"the inline module is not valid base64: {e}") from None


def _host_path(path: str, req: ExecutionRequest) -> Path | None:
    """Where sandbox ``path`` is on the host, through the job's mounts (longest target wins)."""
    target = PurePosixPath(path)
    for mount in sorted(req.mounts, key=lambda m: len(m.target), reverse=True):
        root = PurePosixPath(mount.target)
        if target == root:
            return Path(mount.source)
        if target.is_relative_to(root) and Path(mount.source).is_dir():
            return Path(mount.source).joinpath(*target.relative_to(root).parts)
    return None


def preopens(req: ExecutionRequest) -> list[tuple[str, str, bool]]:
    """The directories the module sees: ``(host dir, guest path, writable)``.

    Directory inputs are preopened at their targets; a file input is hard-linked (or copied) into
    a directory of its own under the run directory, named as its target, and that directory is
    preopened at the target's parent. ``/outputs`` is the one writable directory.
    """
    dirs: list[tuple[str, str, bool]] = [(str(req.outputs_dir), "/outputs", True)]
    dir_targets: set[str] = set()
    files: dict[str, list[tuple[Path, str, bool]]] = {}
    for mount in req.mounts:
        target = mount.target.rstrip("/") or "/"
        path = PurePosixPath(target)
        if not path.is_absolute() or ".." in path.parts:
            raise _Refused(f"mount target {mount.target!r} must be a normalised absolute path")
        if path == PurePosixPath("/outputs") or path.is_relative_to("/outputs"):
            raise _Refused(f"mount target {mount.target!r} would replace /outputs")
        source = Path(mount.source)
        if not source.exists():
            raise _Refused(f"input {source} for {target} does not exist on the node")
        if source.is_dir():
            dirs.append((str(source), target, not mount.read_only))
            dir_targets.add(target)
        else:
            files.setdefault(str(path.parent), []).append((source, path.name, mount.read_only))
    stage = req.run_dir / "wasm-files"
    for i, (parent, entries) in enumerate(sorted(files.items())):
        if parent in dir_targets:
            raise _Refused(
                f"a file input inside the directory input at {parent} cannot be mounted by the "
                "wasm engine; give it a target of its own"
            )
        folder = stage / str(i)
        folder.mkdir(parents=True, exist_ok=True)
        for source, name, _ in entries:
            _link_or_copy(source, folder / name)
        dirs.append((str(folder), parent, not all(ro for _, _, ro in entries)))
    return dirs


def _link_or_copy(source: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def _du(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                continue
    return total
