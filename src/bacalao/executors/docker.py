"""The ``docker`` engine: one hardened container per execution, over the real Docker Engine.

Params (Bacalhau's ``EngineSpec``, keys case-insensitive): ``Image`` (required), ``Entrypoint``,
``Parameters`` (the container's Cmd), ``EnvironmentVariables`` (``["K=V"]``) and
``WorkingDirectory`` (absolute). The container gets no network unless the request asks
(``host``: the host's network; ``full``: Docker's bridge), drops every capability, sets
no-new-privileges, has a read-only root filesystem with a size-capped tmpfs ``/tmp``, a pids
limit, ``nano_cpus``, and a memory limit with no swap (``memswap = mem``). Inputs are bind mounts
(read-only unless the mount says otherwise); ``outputs_dir`` is bound writable at ``/outputs``.
GPUs are a device request for exactly the assigned indexes.

It never pulls: an image missing locally is the error ``image not found locally: X`` unless the
executor was built with ``allow_pull=True``. The container is removed in every case: success,
failure, timeout, cancel, or the awaiting task being cancelled. Blocking SDK calls run in a thread
pool owned by the executor (not the loop's default one, which long ``wait`` and log-following calls
would starve). The container runs as root with no capabilities when the node runs as root, so the
outputs belong to the node; a non-root node runs it as its own uid/gid for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field, field_validator

from bacalao.errors import Unavailable
from bacalao.executors.base import (
    STDERR,
    STDOUT,
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

_logger = logging.getLogger(__name__)

LABEL_EXECUTOR = "bacalao.executor"
LABEL_EXECUTION = "bacalao.execution"
LABEL_JOB = "bacalao.job"
LABEL_NODE = "bacalao.node"
NETWORK_MODES = {"none": "none", "host": "host", "full": "bridge"}
_LOG_DRAIN_S = 5.0


class DockerParams(EngineParams):
    """``Engine.Params`` of the docker engine (Bacalhau v1 ``EngineSpec``)."""

    image: str = Field(alias="Image", min_length=1)
    entrypoint: tuple[str, ...] | None = Field(None, alias="Entrypoint")
    parameters: tuple[str, ...] = Field((), alias="Parameters")
    environment_variables: tuple[str, ...] = Field((), alias="EnvironmentVariables")
    working_directory: str | None = Field(None, alias="WorkingDirectory")

    @field_validator("entrypoint", mode="after")
    @classmethod
    def _empty_is_unset(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return value or None  # Bacalhau's CLI sends [] for "use the image's entrypoint"

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _env(cls, value: object) -> tuple[str, ...]:
        return parse_env_list(value)

    @field_validator("working_directory")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not PurePosixPath(value).is_absolute():
            raise ValueError(f"{value!r} must be an absolute path")
        return value


@dataclass
class _Run:
    """What ``cancel`` needs to reach one execution."""

    container_id: str | None = None
    cancelled: bool = False


class _JobFailed(Exception):
    """The execution failed for a reason the job owns (image, start); reported, never raised."""


def container_config(
    req: ExecutionRequest,
    params: DockerParams,
    *,
    node_uid: int,
    node_gid: int,
    pids_limit: int | None,
    tmp_bytes: int,
    node_id: str = "",
) -> dict[str, Any]:
    """docker-py ``create_container`` keyword arguments for ``req``; ``host_config`` holds the
    keyword arguments of ``create_host_config``. Pure, so the hardening is unit-tested."""
    env = dict(req.env)
    env.update(item.split("=", 1) for item in params.environment_variables)
    mounts = sorted(req.mounts, key=lambda m: PurePosixPath(m.target).parts)
    host: dict[str, Any] = {
        "network_mode": NETWORK_MODES[req.network],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={tmp_bytes}"},
        "mounts": [_bind(str(m.source), m.target, m.read_only) for m in mounts]
        + [_bind(str(req.outputs_dir), "/outputs", False)],
        # Output is captured through attach; a log file would be a second, unbounded copy.
        "log_config": {"Type": "none", "Config": {}},
    }
    if pids_limit:
        host["pids_limit"] = pids_limit
    if req.cpu:
        host["nano_cpus"] = int(req.cpu * 1e9)
    if req.memory_bytes:
        host["mem_limit"] = req.memory_bytes
        host["memswap_limit"] = req.memory_bytes  # no swap: the limit is the limit
    if req.gpus:
        host["device_requests"] = [
            {"Driver": "", "Count": 0, "DeviceIDs": [str(i) for i in req.gpus],
             "Capabilities": [["gpu"]]}
        ]  # fmt: skip
    labels = {**req.labels, LABEL_EXECUTOR: "docker", LABEL_EXECUTION: req.execution_id}
    labels[LABEL_JOB] = req.job_id
    labels[LABEL_NODE] = node_id
    config: dict[str, Any] = {
        "image": params.image,
        "command": list(params.parameters) or None,
        "entrypoint": list(params.entrypoint) if params.entrypoint else None,
        "environment": [f"{k}={v}" for k, v in env.items()],
        "working_dir": params.working_directory,
        "labels": labels,
        "name": container_name(req.execution_id),
        "host_config": host,
    }
    if node_uid != 0:
        config["user"] = f"{node_uid}:{node_gid}"
    return config


def container_name(execution_id: str) -> str:
    """``bacalao-<execution id>``, with characters Docker refuses replaced."""
    return "bacalao-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", execution_id)


def _bind(source: str, target: str, read_only: bool) -> dict[str, Any]:
    return {"Type": "bind", "Source": source, "Target": target, "ReadOnly": read_only}


class DockerExecutor:
    """Runs docker engine executions; one instance per node, sharing one Docker client.

    ``node_id`` labels every container (``bacalao.node``) so :meth:`remove_stale` sweeps only this
    node's. ``allow_pull`` lets a missing image be pulled (off: nodes run what they hold).
    """

    engine_type = "docker"

    def __init__(
        self,
        *,
        client_factory: Callable[[], Any] | None = None,
        allow_pull: bool = False,
        pids_limit: int | None = 1024,
        tmp_bytes: int = 64 << 20,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        max_threads: int = 64,
        clock: Callable[[], float] = time.monotonic,
        node_id: str = "",
    ) -> None:
        self._node_id = node_id
        self._client_factory = client_factory or _default_client
        self._client: Any = None
        self._allow_pull = allow_pull
        self._pids_limit, self._tmp_bytes = pids_limit, tmp_bytes
        self._max_log_bytes = max_log_bytes
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="bacalao-docker")
        self._clock = clock
        self._running: dict[str, _Run] = {}

    def validate(self, params: dict) -> DockerParams:
        """Parse the params; unknown keys are refused with the list of valid ones."""
        return parse_params(DockerParams, self.engine_type, params)

    async def is_installed(self) -> bool:
        """The Docker daemon answers a ping."""
        try:
            return bool(await self._call(lambda: self._api().ping()))
        except Exception:
            return False

    async def run(
        self, req: ExecutionRequest, *, log: LogCallback | None = None
    ) -> ExecutionResult:
        """Create, start, wait for and always remove the container; see the module doc."""
        params = self.validate(req.engine_params)
        problem = _check_request(req)
        if problem is not None:
            return failed_result(req, problem)
        out_path, err_path = ensure_run_dir(req)
        state = self._running[req.execution_id] = _Run()
        errors = _docker_errors()
        try:
            with OutputCapture(
                out_path, err_path, log=log, max_bytes=self._max_log_bytes
            ) as capture:
                try:
                    return await self._run(req, params, state, capture)
                except _JobFailed as exc:
                    return _result(req, capture, None, error=str(exc))
        except (errors.DockerException, _requests().RequestException) as exc:
            if _is_connection_error(exc):
                raise Unavailable(
                    f"docker daemon unreachable: {exc}",
                    hint="is dockerd running, and may this user use /var/run/docker.sock?",
                ) from None
            return failed_result(req, f"docker error: {_explain_api_error(exc)}")
        finally:
            self._running.pop(req.execution_id, None)
            if state.container_id is not None:
                await asyncio.shield(self._remove(state.container_id))

    async def cancel(self, execution_id: str) -> None:
        """Kill the execution's container; it then reports ``cancelled`` (and is removed)."""
        state = self._running.get(execution_id)
        if state is None:
            return
        state.cancelled = True
        if state.container_id is not None:
            await self._kill(state.container_id)

    async def remove_stale(self) -> int:
        """Remove this node's containers that it no longer runs (left by a crash).

        Only containers labelled with this executor's ``node_id`` are touched: several nodes (a
        devstack) may share one Docker daemon.
        """
        labels = [f"{LABEL_EXECUTOR}=docker", f"{LABEL_NODE}={self._node_id}"]
        found = await self._call(self._api().containers, all=True, filters={"label": labels})
        running = {s.container_id for s in self._running.values()}
        stale = [c["Id"] for c in found if c["Id"] not in running]
        for cid in stale:
            await self._remove(cid)
        return len(stale)

    async def close(self) -> None:
        """Release the thread pool and the client."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    async def _run(
        self, req: ExecutionRequest, params: DockerParams, state: _Run, capture: OutputCapture
    ) -> ExecutionResult:
        config = container_config(
            req,
            params,
            node_uid=os.geteuid(),
            node_gid=os.getegid(),
            pids_limit=self._pids_limit,
            tmp_bytes=self._tmp_bytes,
            node_id=self._node_id,
        )
        cid = state.container_id = await self._create(config)
        # Attach before start (as `docker run` does): no output is lost, no log file is needed.
        stream = await self._call(
            self._api().attach, cid, stdout=True, stderr=True, stream=True, demux=True
        )
        loop = asyncio.get_running_loop()
        pump = loop.run_in_executor(self._pool, _pump, stream, capture, loop)
        try:
            return await self._start_and_wait(req, state, capture, pump)
        except BaseException:
            await asyncio.shield(self._kill(cid))
            raise
        finally:
            await self._drain(pump, stream)

    async def _start_and_wait(
        self, req: ExecutionRequest, state: _Run, capture: OutputCapture, pump: asyncio.Future
    ) -> ExecutionResult:
        api, cid = self._api(), state.container_id
        if state.cancelled:
            return _result(req, capture, None, error="cancelled", cancelled=True)
        try:
            await self._call(api.start, cid)
        except _docker_errors().APIError as exc:
            raise _JobFailed(f"could not start container: {_explain_api_error(exc)}") from None
        started = self._clock()
        if state.cancelled:  # cancel() came while start was in flight
            await self._kill(cid)
        waiting = asyncio.ensure_future(self._call(api.wait, cid, timeout=None))
        done, _ = await asyncio.wait({waiting}, timeout=req.timeout_s)
        if not done:
            await self._kill(cid)
        status = await waiting
        wall_s = self._clock() - started
        await asyncio.wait({pump}, timeout=_LOG_DRAIN_S)
        info = await self._call(api.inspect_container, cid)
        code = info["State"].get("ExitCode", status.get("StatusCode"))
        metering = {"wall_s": wall_s}
        if not done:
            error = f"timed out after {format_seconds(req.timeout_s or 0)}"
            return _result(req, capture, None, error=error, timed_out=True, metering=metering)
        if state.cancelled:
            return _result(req, capture, None, error="cancelled", cancelled=True, metering=metering)
        if info["State"].get("OOMKilled"):
            limit = f" (limit {format_bytes(req.memory_bytes)})" if req.memory_bytes else ""
            error = f"out of memory{limit}"
            return _result(req, capture, code, error=error, oom=True, metering=metering)
        error = info["State"].get("Error") or None
        return _result(req, capture, code, error=error, metering=metering)

    async def _create(self, config: dict[str, Any]) -> str:
        """Create the container; its id. A missing image is :class:`_JobFailed`."""
        api, errors = self._api(), _docker_errors()
        config = dict(config, host_config=api.create_host_config(**config["host_config"]))
        for attempt in range(2):
            try:
                return (await self._call(api.create_container, **config))["Id"]
            except errors.ImageNotFound:
                if not self._allow_pull or attempt:
                    raise _JobFailed(_image_missing(config["image"], self._allow_pull)) from None
                await self._call(api.pull, config["image"])
            except errors.APIError as exc:
                if exc.status_code != 409 or attempt:  # 409: a stale container has our name
                    raise
                await self._remove(config["name"])
        raise AssertionError("unreachable")

    async def _drain(self, pump: asyncio.Future, stream: Any) -> None:
        """Let the log pump finish (or give up on it), then close the hijacked attach socket."""
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(pump), _LOG_DRAIN_S)
        with contextlib.suppress(Exception):
            stream.close()
        with contextlib.suppress(Exception):
            stream._response.close()

    async def _kill(self, cid: str) -> None:
        errors = _docker_errors()
        with contextlib.suppress(errors.NotFound, errors.APIError):
            await self._call(self._api().kill, cid)

    async def _remove(self, cid: str) -> None:
        errors = _docker_errors()
        try:
            await self._call(self._api().remove_container, cid, force=True, v=True)
        except errors.NotFound:
            pass
        except Exception as exc:  # the node's reaper (remove_stale) retries later
            _logger.warning("could not remove container %s: %s", cid[:12], exc)

    def _api(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client.api

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))


def _result(
    req: ExecutionRequest, capture: OutputCapture, code: int | None, **kw: Any
) -> ExecutionResult:
    return ExecutionResult(
        exit_code=code,
        stdout_path=capture.paths[STDOUT],
        stderr_path=capture.paths[STDERR],
        stdout_truncated=capture.truncated[STDOUT],
        stderr_truncated=capture.truncated[STDERR],
        outputs_dir=req.outputs_dir,
        **kw,
    )


def _pump(stream: Any, capture: OutputCapture, loop: asyncio.AbstractEventLoop) -> None:
    """Follow the attach stream in a worker thread; hand chunks to the loop, in order."""
    with contextlib.suppress(Exception):  # the stream ends with an error when it is closed early
        for out, err in stream:
            if out:
                loop.call_soon_threadsafe(capture.write, STDOUT, out)
            if err:
                loop.call_soon_threadsafe(capture.write, STDERR, err)


def _check_request(req: ExecutionRequest) -> str | None:
    if req.network not in NETWORK_MODES:
        return f"unknown network mode {req.network!r}: use none, host or full"
    for mount in req.mounts:
        target = PurePosixPath(mount.target)
        if not target.is_absolute() or ".." in target.parts or target == PurePosixPath("/"):
            return f"mount target {mount.target!r} must be an absolute path other than /"
        if target == PurePosixPath("/outputs") or target.is_relative_to("/outputs"):
            return f"mount target {mount.target!r} would shadow /outputs"
        if not Path(mount.source).exists():
            return f"input {mount.source} for {mount.target} does not exist on the node"
    return None


def _image_missing(image: str, allow_pull: bool) -> str:
    if allow_pull:
        return f"image not found: {image} (not in the local store, and the pull found nothing)"
    return (
        f"image not found locally: {image} (this node does not pull images: "
        "load it with `docker load` or `docker import`, or run the node with pulls allowed)"
    )


def _explain_api_error(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    marker = "unable to start container process: "
    return text.split(marker, 1)[-1].removesuffix(": unknown").strip()


def _is_connection_error(exc: Exception) -> bool:
    lost = _requests().ConnectionError
    return isinstance(exc, lost) or isinstance(exc.__cause__ or exc.__context__, lost)


def _requests() -> Any:
    import requests  # docker-py's transport; imported lazily like docker itself

    return requests


def _docker_errors() -> Any:
    import docker.errors

    return docker.errors


def _default_client() -> Any:
    import docker

    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise Unavailable(
            f"docker daemon unreachable: {exc}",
            hint="is dockerd running, and may this user use /var/run/docker.sock?",
        ) from None
