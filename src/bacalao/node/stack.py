"""The composition root: builds an orchestrator and compute nodes from one :class:`NodeConfig`.

Everything is wired here and only here: the bus, the jobstore, each node's block store and
executors, the API app. ``bacalao serve`` runs one compute node beside the orchestrator;
``bacalao devstack`` runs several, each with its own store, in one process.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bacalao.blockstore.repo import Repo
from bacalao.compute.node import ComputeConfig, ComputeNode
from bacalao.errors import BlockNotFound, Conflict
from bacalao.executors.registry import ExecutorRegistry
from bacalao.ipld.cid import CID
from bacalao.jobstore.sqlite import SQLiteJobStore
from bacalao.models.node import GPU
from bacalao.node.config import NodeConfig
from bacalao.orchestrator.service import Orchestrator
from bacalao.transport import Bus, MemoryBus


def new_id(prefix: str) -> str:
    """IDs as Bacalhau writes them: ``j-<uuid4>``, ``e-<uuid4>``, ``n-<uuid4>``."""
    return f"{prefix}-{uuid.uuid4()}"


def build_executors(
    names: list[str], state_dir: Path, node_id: str = "", *, pids_cgroups: bool = True
) -> ExecutorRegistry:
    """The executors this node offers, by engine name (``node_id`` labels its containers;
    ``pids_cgroups``: a root node holds each sandbox in a pids cgroup)."""
    registry = ExecutorRegistry()
    for name in names:
        if name == "noop":
            from bacalao.executors.noop import NoopExecutor

            registry.add(NoopExecutor())
        elif name == "shell":
            from bacalao.executors.shell import ShellExecutor

            registry.add(ShellExecutor(state_dir=state_dir / "shell", use_cgroups=pids_cgroups))
        elif name == "python":
            from bacalao.executors.python import PythonExecutor

            registry.add(PythonExecutor(state_dir=state_dir / "python", use_cgroups=pids_cgroups))
        elif name == "docker":
            from bacalao.executors.docker import DockerExecutor

            registry.add(DockerExecutor(node_id=node_id))
        elif name == "wasm":
            from bacalao.executors.wasm import WasmExecutor

            registry.add(WasmExecutor(state_dir=state_dir / "wasm"))
    return registry


def _persistent_id(path: Path, prefix: str) -> str:
    """A node keeps its ID across restarts (so the orchestrator recognises it)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        node_id = new_id(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(node_id)
        return node_id


class StoresGetter:
    """Blocks from any of this process's node stores (the gateway of an embedded stack)."""

    verifies_blocks = True  # each store hashes what it reads

    def __init__(self, repos: list[Repo]) -> None:
        self.repos = repos

    def get(self, cid: CID) -> bytes:
        for repo in self.repos:
            with contextlib.suppress(BlockNotFound):
                return repo.blocks.get(cid)
        raise BlockNotFound(cid)


def lock_data_dir(data: Path) -> int:
    """Hold ``<data>/bacalao.lock`` for this process: two servers on one data dir would share
    a jobstore and node IDs. Raises :class:`Conflict` naming the holder's pid."""
    import fcntl

    path = data / "bacalao.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise Conflict(
            f"data dir {data} is in use by another bacalao process (pid {holder})",
            hint="stop it first, or give this one its own --data-dir",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


@dataclass
class Stack:
    """A running orchestrator and/or compute nodes in this process."""

    config: NodeConfig
    bus: Bus
    orchestrator: Orchestrator | None = None
    computes: list[ComputeNode] = field(default_factory=list)
    lock_fd: int | None = None

    @property
    def blocks(self) -> StoresGetter:
        return StoresGetter([c.repo for c in self.computes])

    async def stop(self) -> None:
        for c in self.computes:
            await c.stop()
        if self.orchestrator:
            await self.orchestrator.close()
            self.orchestrator.store.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # releases the data dir
            self.lock_fd = None


async def start_stack(config: NodeConfig, *, bus: Bus | None = None) -> Stack:
    """Build and start everything ``config`` asks for."""
    bus = bus or MemoryBus()
    data = config.data_dir.expanduser()
    data.mkdir(parents=True, exist_ok=True)
    lock_fd = lock_data_dir(data)
    orch_id = _persistent_id(data / "orchestrator" / "node_id", "n")
    stack = Stack(config, bus, lock_fd=lock_fd)
    validators = build_executors(config.engines, data / "state")
    if config.orchestrator:
        store = SQLiteJobStore(
            data / "orchestrator" / "jobs.db",
            clock=time.time_ns,
            synchronous=config.jobstore_sync,
            exclusive=True,  # the data dir lock makes this process its only writer
            background_checkpoints=True,  # WAL copies off the loop's thread
        )
        stack.orchestrator = Orchestrator(
            store,
            bus,
            node_id=orch_id,
            clock=time.time_ns,
            ids=new_id,
            validators=validators,
            heartbeat_timeout_s=config.heartbeat_timeout_s,
        )
        await stack.orchestrator.start()
    if config.compute:
        cpu = config.max_cpu or float(os.cpu_count() or 1)
        memory = config.max_memory or _total_memory()
        for i in range(config.nodes):
            home = data / ("compute" if config.nodes == 1 else f"compute-{i}")
            node_id = _persistent_id(home / "node_id", "n")
            ccfg = ComputeConfig(
                node_id=node_id,
                work_dir=home,
                cpu=cpu,
                memory=memory,
                gpus=_gpus(),
                max_jobs=config.max_jobs,
                labels=dict(config.labels),
                accept_networked=config.accept_networked_jobs,
                allowed_paths=list(config.allow_local_paths),
                heartbeat_s=config.heartbeat_s,
                verify_local_reads=config.verify_local_reads,
            )
            repo = Repo.open(home / "store")
            node = ComputeNode(
                ccfg,
                bus,
                repo,
                build_executors(
                    config.engines,
                    home / "state",
                    node_id,
                    pids_cgroups=config.sandbox_pids_cgroup,
                ),
                orchestrator_id=orch_id,
            )
            await node.start()
            stack.computes.append(node)
    if stack.orchestrator:
        stack.orchestrator.resume()
    build_validators_soon(bacalao_models())
    return stack


def bacalao_models() -> list[type]:
    """Every pydantic model class of bacalao imported so far (subclasses included)."""
    import pydantic

    found: list[type] = []
    todo = list(pydantic.BaseModel.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("bacalao."):
            found.append(cls)
    return found


def build_validators_soon(models: list[type]) -> None:
    """Build the models' validators on the running loop, one model a turn, right after start.

    The models defer their validators to first use (so importing them stays cheap for the CLI);
    a server would otherwise build 30-odd of them, ~45 ms, inside the first job it runs. One a
    turn (~1.5 ms each) keeps the loop answering meanwhile.
    """
    import asyncio

    left = [m for m in models if not getattr(m, "__pydantic_complete__", True)]
    loop = asyncio.get_running_loop()

    def step() -> None:
        while left:
            model = left.pop()
            if not model.__pydantic_complete__:  # type: ignore[attr-defined]
                with contextlib.suppress(Exception):  # first use will report what is wrong
                    model.model_rebuild()  # type: ignore[attr-defined]
                break
        if left:
            loop.call_soon(step)

    if left:
        loop.call_soon(step)


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 4 << 30


def _gpus() -> list[GPU]:
    from bacalao.executors.gpu import detect_gpus

    return [
        GPU(Index=g.index, Name=g.model, Vendor=g.vendor, Memory=g.memory_mb) for g in detect_gpus()
    ]
