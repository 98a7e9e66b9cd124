"""The compute node agent: bids, runs executions, publishes results, reports back.

This is the effectful shell around :class:`~.state.ComputeState` (dask's ``BaseWorker``): bus
handlers turn messages into state-machine events, and :meth:`ComputeNode._act` carries out the
instructions that come back. Blocking work (writing inputs, importing results) runs in threads;
engines run through their executor plugin.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bacalao.blockstore.repo import Repo
from bacalao.compute import bidding
from bacalao.compute.data import DataService
from bacalao.compute.exchange import PeerFetcher
from bacalao.compute.inputs import materialise, materialise_content
from bacalao.compute.rundirs import RESULT_OUTPUTS, RunDirs
from bacalao.compute.state import (
    Accepted,
    CancelRequested,
    ComputeState,
    Failed,
    Instruction,
    KillRun,
    Need,
    Notify,
    Publish,
    Published,
    RunStarted,
    RunSucceeded,
    StartRun,
)
from bacalao.errors import BacalaoError, BlockNotFound, InvalidInput, NotFound
from bacalao.executors.base import (
    ExecutionRequest,
    ExecutionResult,
    content_refs,
    makes_own_run_dir,
    result_entries,
)
from bacalao.executors.registry import ExecutorRegistry
from bacalao.ipld.cid import CID
from bacalao.ipld.exporter import cat, resolve
from bacalao.ipld.profiles import resolve_profile
from bacalao.models.execution import INLINE_OUTPUT_LIMIT, Metering, RunCommandResult
from bacalao.models.input_source import InputSource
from bacalao.models.job import Job
from bacalao.models.node import GPU, NodeInfo
from bacalao.models.resources import ResourceAmounts
from bacalao.transport import Bus, Envelope, subjects
from bacalao.transport import messages as m

log = logging.getLogger(__name__)

#: Resources an execution takes when its task asks for none (Bacalhau's code defaults).
DEFAULT_CPU = 0.1
DEFAULT_MEMORY = 100 << 20
#: Re-send the full node info (capacity, held data) every this many heartbeats.
REREGISTER_EVERY = 6


@dataclass
class ComputeConfig:
    node_id: str
    work_dir: Path
    cpu: float
    memory: int
    gpus: Sequence[GPU] = ()
    max_jobs: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    accept_networked: bool = True
    allowed_paths: Sequence[Path] = ()
    heartbeat_s: float = 5.0
    #: re-hash local blocks on every read of a job's inputs (they were verified when stored)
    verify_local_reads: bool = False


@dataclass
class _Run:
    job: Job
    inputs: list[InputSource]
    run_dir: Path
    task: asyncio.Task[None] | None = None
    result: ExecutionResult | None = None
    bytes_read: int = 0
    peers: list[str] = field(default_factory=list)
    fetcher: PeerFetcher | None = None


class ComputeNode:
    """One compute node on a bus, with its own block store and executors."""

    def __init__(
        self,
        config: ComputeConfig,
        bus: Bus,
        repo: Repo,
        executors: ExecutorRegistry,
        *,
        orchestrator_id: str,
    ) -> None:
        self.config = config
        self.id = config.node_id
        self.bus = bus
        self.repo = repo
        self.executors = executors
        self.orchestrator_id = orchestrator_id
        self.state = ComputeState(
            cpu=config.cpu,
            memory=config.memory,
            gpu_indexes=tuple(g.index for g in config.gpus),
            max_jobs=config.max_jobs,
        )
        self._runs: dict[str, _Run] = {}
        self._subs: list = []
        self._engines: frozenset[str] = frozenset()
        self._heartbeat: asyncio.Task[None] | None = None
        self._registered = False
        self.data = DataService(repo, bus, node_id=self.id, verify_local=config.verify_local_reads)
        self.run_dirs = RunDirs(config.work_dir / "executions")

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Probe the engines, listen on the node's subjects, register with the orchestrator."""
        self.run_dirs.refill()
        self._engines = frozenset(await self.executors.installed_types())
        for engine in self._engines:
            # containers or processes left by a node that was killed (kill -9) are swept now
            sweep = getattr(self.executors.get(engine), "remove_stale", None)
            if sweep is None:
                continue
            try:
                removed = await sweep()
            except Exception as e:  # a sweep that fails must not stop the node
                log.warning("could not sweep stale %s executions: %s", engine, e)
                continue
            if removed:
                log.warning("removed %d %s execution(s) left by a previous run", removed, engine)
        handlers = {
            subjects.ASK_FOR_BID: self._on_ask_for_bid,
            subjects.CANCEL_EXECUTION: self._on_cancel,
            subjects.EXECUTION_LOGS: self._on_logs,
            subjects.GET_BLOCK: self.data.on_get_block,
            subjects.LOCALITY: self.data.on_locality,
            subjects.LIST_FILES: self.data.on_list_files,
            subjects.BUILD_TREE: self.data.on_build_tree,
        }
        for method, handler in handlers.items():
            self._subs.append(await self.bus.subscribe(subjects.compute(self.id, method), handler))
        await self.register()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def stop(self) -> None:
        if self._heartbeat:
            self._heartbeat.cancel()
        for run_id in list(self._runs):
            await self._kill(run_id)
        for sub in self._subs:
            await sub.unsubscribe()
        await asyncio.to_thread(self.run_dirs.close)

    def info(self) -> NodeInfo:
        used = self.state.used()
        total = ResourceAmounts(
            cpu=self.config.cpu, memory=self.config.memory, gpu=len(self.config.gpus)
        )
        return NodeInfo(
            ID=self.id,
            Labels=self.labels(),
            Engines=sorted(self._engines),
            Publishers=["ipfs"],
            StorageSources=["ipfs", "inline", "urlDownload", "localDirectory"],
            MaxCapacity=total,
            AvailableCapacity=ResourceAmounts(
                cpu=max(self.config.cpu - used.cpu, 0.0),
                memory=max(self.config.memory - used.memory, 0),
                gpu=len(self.state.free_gpus()),
            ),
            GPUs=list(self.config.gpus),
            MaxJobs=self.config.max_jobs,
            RunningExecutions=len(self._runs),
        )

    def labels(self) -> dict[str, str]:
        import platform

        labels = {"Operating-System": platform.system().lower(), "Architecture": platform.machine()}
        for g in self.config.gpus:
            labels[f"GPU-{g.index}"] = g.model
            labels[f"GPU-{g.index}-Memory"] = f"{g.memory_mb}-MiB"
        labels.update(self.config.labels)
        return labels

    async def register(self) -> bool:
        """Tell the orchestrator who we are, what we can run and which data we hold.

        Returns whether it acknowledged; the heartbeat loop retries until it does.
        """
        held = await asyncio.to_thread(self._held)
        msg = m.RegisterNode(node=self.info(), held=held)
        try:
            await self.bus.request(
                subjects.management(self.orchestrator_id, subjects.REGISTER_NODE),
                msg.to_envelope(self.id),
                timeout=10.0,
            )
        except BacalaoError as e:
            log.warning("registering with orchestrator %s failed: %s", self.orchestrator_id, e)
            self._registered = False
            return False
        self._registered = True
        return True

    def _held(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for root in self.repo.roots():
            try:
                from bacalao.ipld.exporter import stat

                out[str(root)] = stat(self.repo.reader(), root).size
            except BacalaoError:
                continue
        return out

    async def _beat(self) -> None:
        seq = 0
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            seq += 1
            if not self._registered or seq % REREGISTER_EVERY == 0:
                await self.register()
                continue
            await self.bus.publish(
                subjects.heartbeat(self.orchestrator_id),
                m.Heartbeat(node_id=self.id, seq=seq).to_envelope(self.id),
            )

    # -- bus handlers ---------------------------------------------------------------------------
    async def _on_ask_for_bid(self, env: Envelope) -> Envelope:
        ask = m.AskForBid.from_envelope(env)
        try:
            job = ask.parsed_job()
            task = job.task
            self.executors.validate(task.engine.type, task.engine.params)
        except BacalaoError as e:
            return m.BidReply(accepted=False, reason=e.message).to_envelope(self.id)
        need = _need_of(job)
        timeouts = task.timeouts.with_defaults(long_running=job.type.is_long_running)
        request = bidding.BidRequest(
            engine=task.engine.type,
            need=need,
            network=_network_of(job),
            timeout_s=float(timeouts.effective_execution_timeout()),
        )
        policy = bidding.NodePolicy(self._engines, accept_networked=self.config.accept_networked)
        reason = bidding.decide(request, policy) or self.state.fits_at_all(need)
        if reason:
            return m.BidReply(accepted=False, reason=reason).to_envelope(self.id)
        inputs = (
            [InputSource.model_validate(i) for i in ask.inputs]
            if ask.inputs is not None
            else list(task.input_sources)
        )
        run_dir = self.config.work_dir / "executions" / ask.execution_id
        self._runs[ask.execution_id] = _Run(job, inputs, run_dir, peers=list(ask.peers))
        reply = m.BidReply(accepted=True).to_envelope(self.id)
        instructions = self.state.handle(
            Accepted(ask.execution_id, need, job.priority, stimulus_id=f"ask-{ask.execution_id}")
        )
        asyncio.get_running_loop().call_soon(self._spawn_act, instructions)
        return reply

    async def _on_cancel(self, env: Envelope) -> Envelope:
        msg = m.CancelExecution.from_envelope(env)
        if msg.execution_id in self.state.executions:
            await self._act(self.state.handle(CancelRequested(msg.execution_id, msg.reason)))
        return m.Ack().to_envelope(self.id)

    async def _on_logs(self, env: Envelope) -> Envelope:
        req = m.ExecutionLogs.from_envelope(env)
        run_dir = self.config.work_dir / "executions" / req.execution_id
        ex = self.state.executions.get(req.execution_id)
        if ex is None and not run_dir.exists():  # a run that wrote nothing may have no dir
            # a published run's directory is gone: its streams are files of its result
            out = (
                await asyncio.to_thread(_logs_of_result, self.repo, req) if req.result_cid else None
            )
            if out is None:
                return m.LogsReply(found=False, done=True).to_envelope(self.id)
            return m.LogsReply(stdout=out[0], stderr=out[1], done=True).to_envelope(self.id)
        done = ex is None or ex.state.is_terminal
        out = await asyncio.to_thread(_read_logs, run_dir, req)
        return m.LogsReply(stdout=out[0], stderr=out[1], done=done).to_envelope(self.id)

    def fetcher(self, peers: Sequence[str]) -> PeerFetcher:
        """A block getter over this node's store that fetches what it lacks from ``peers``."""
        return self.data.fetcher(peers)

    # -- acting on instructions -----------------------------------------------------------------
    def _spawn_act(self, instructions: list[Instruction]) -> None:
        asyncio.get_running_loop().create_task(self._act(instructions))

    async def _act(self, instructions: list[Instruction]) -> None:
        for ins in instructions:
            if isinstance(ins, StartRun):
                run = self._runs[ins.execution_id]
                run.task = asyncio.get_running_loop().create_task(
                    self._run(ins.execution_id, ins.gpus)
                )
            elif isinstance(ins, Publish):
                asyncio.get_running_loop().create_task(self._publish(ins.execution_id))
            elif isinstance(ins, KillRun):
                await self._kill(ins.execution_id)
            elif isinstance(ins, Notify):
                await self._notify(ins)

    async def _handle(self, event) -> None:  # type: ignore[no-untyped-def]
        await self._act(self.state.handle(event))

    async def _run(self, eid: str, gpus: tuple[int, ...]) -> None:
        run = self._runs[eid]
        task = run.job.task
        try:
            getter = self.fetcher(run.peers)
            run.fetcher = getter
            executor = self.executors.get(task.engine.type)
            if makes_own_run_dir(executor) and not run.inputs:
                outputs = run.run_dir.joinpath(*RESULT_OUTPUTS)
            else:
                outputs = self.run_dirs.take(run.run_dir)
            mounts, run.bytes_read = [], 0
            if run.inputs:  # a thread hop only where there is something to write out
                mounts, run.bytes_read = await asyncio.to_thread(
                    materialise,
                    run.inputs,
                    getter,
                    run.run_dir / "inputs",
                    allowed_paths=self.config.allowed_paths,
                )
            refs = content_refs(executor, task.engine.params)
            content = (
                await asyncio.to_thread(materialise_content, refs, getter, run.run_dir / "content")
                if refs
                else {}
            )
            need = _need_of(run.job)
            timeouts = task.timeouts.with_defaults(long_running=run.job.type.is_long_running)
            req = ExecutionRequest(
                execution_id=eid,
                job_id=run.job.id,
                engine_type=task.engine.type,
                engine_params=task.engine.params,
                mounts=tuple(mounts),
                outputs_dir=outputs,
                env=dict(task.env),
                cpu=need.cpu or None,
                memory_bytes=need.memory or None,
                disk_bytes=task.resources.disk_bytes if task.resources else None,
                gpus=gpus,
                network=_network_of(run.job),
                timeout_s=float(timeouts.effective_execution_timeout()),
                labels={"bacalao.job": run.job.id, "bacalao.node": self.id},
                content=content,
            )
            # "running" goes out on a task of its own while the engine starts; it still goes
            # out first: tasks run in the order they are made, and a run's end is reported
            # from a task made later (Publish)
            self._spawn_act(self.state.handle(RunStarted(eid, stimulus_id=f"start-{eid}")))
            result = await executor.run(req)
        except asyncio.CancelledError:
            return
        except BacalaoError as e:
            # e.g. an input no node holds: another node would fail the same way
            await self._handle(
                Failed(eid, e.message, retryable=e.retryable, stimulus_id=f"prep-{eid}")
            )
            return
        except Exception as e:  # an engine bug must not wedge the node
            log.exception("execution %s crashed", eid)
            await self._handle(Failed(eid, f"internal error: {e}", stimulus_id=f"crash-{eid}"))
            return
        run.result = result
        await self._handle(RunSucceeded(eid, stimulus_id=f"ran-{eid}"))

    async def _publish(self, eid: str) -> None:
        run = self._runs[eid]
        result = run.result
        assert result is not None
        try:
            if run.job.task.publisher.discards:
                cid = ""
            elif _small(result):
                cid = self._store_result(run, result)  # a few KiB: cheaper than a thread hop
            else:
                cid = await asyncio.to_thread(self._store_result, run, result)
        except BacalaoError as e:
            await self._handle(Failed(eid, f"publishing the result failed: {e.message}"))
            return
        await self._handle(Published(eid, cid, stimulus_id=f"pub-{eid}"))

    def _store_result(self, run: _Run, result: ExecutionResult) -> str:
        entries = result_entries(run.run_dir / "result", result)
        node = self.repo.add_entries(entries, resolve_profile(None, 1), hidden=True)
        return str(node.cid)

    async def _kill(self, eid: str) -> None:
        run = self._runs.get(eid)
        if run is None:
            return
        ex = self.state.executions.get(eid)
        if ex is not None and ex.state.value == "Running":
            await self.executors.get(run.job.task.engine.type).cancel(eid)
        if run.task and not run.task.done():
            run.task.cancel()

    async def _notify(self, ins: Notify) -> None:
        run = self._runs.get(ins.execution_id)
        if run is None:
            return
        update = m.ExecutionUpdate(
            execution_id=ins.execution_id,
            job_id=run.job.id,
            node_id=self.id,
            state=ins.kind,
            message=ins.message,
            result_cid=ins.result_cid or "",
            retryable=ins.retryable,
        )
        if ins.kind in ("Completed", "Failed", "Cancelled"):
            update = _finish(update, run)
            self._runs.pop(ins.execution_id, None)
            self.state.forget(ins.execution_id)
            if ins.result_cid:
                # the result is in the store, its streams included (logs are read from there):
                # the run directory would be a second copy of every output
                self.run_dirs.discard(run.run_dir)
            elif run.inputs:  # no result: the directory keeps the run's only logs
                loop = asyncio.get_running_loop()
                loop.call_later(60, shutil.rmtree, run.run_dir / "inputs", True)
        await self.bus.publish(
            subjects.orchestrator(self.orchestrator_id, subjects.ON_EXECUTION_UPDATE),
            update.to_envelope(self.id),
        )


def _finish(update: m.ExecutionUpdate, run: _Run) -> m.ExecutionUpdate:
    """Fill in the run output and metering; judge whether a failure is the job's own."""
    result = run.result
    fetched = run.fetcher.fetched_bytes if run.fetcher else 0
    if result is None:
        return update.model_copy(
            update={"metering": Metering(BytesRead=run.bytes_read, BytesFetched=fetched)}
        )
    message, retryable, state = update.message, update.retryable, update.state
    if state == "Completed" and (result.error or result.exit_code != 0):
        state = "Failed"
        message = result.error or f"exited with code {result.exit_code}"
        retryable = False
    output = RunCommandResult(
        Stdout=result.read_stdout(INLINE_OUTPUT_LIMIT),
        StdoutTruncated=result.stdout_truncated,
        stderr=result.read_stderr(INLINE_OUTPUT_LIMIT),
        StderrTruncated=result.stderr_truncated,
        ExitCode=result.exit_code if result.exit_code is not None else -1,
        ErrorMsg=result.error or (message if state == "Failed" else ""),
    )
    metering = Metering(
        CPUSeconds=result.metering.get("cpu_s", 0.0),
        WallSeconds=result.metering.get("wall_s", 0.0),
        BytesRead=run.bytes_read,
        BytesFetched=fetched,
        FuelConsumed=int(result.metering.get("fuel", 0)),
    )
    return update.model_copy(
        update={
            "state": state,
            "message": message,
            "retryable": retryable,
            "run_output": output,
            "metering": metering,
        }
    )


#: A result this small is imported on the loop: hashing and storing a few KiB takes well under a
#: millisecond, less than handing it to a thread and back (~0.3 ms here under load).
SMALL_RESULT_BYTES = 64 << 10
SMALL_RESULT_FILES = 8


def _small(result: ExecutionResult) -> bool:
    """Whether the result's streams and outputs are a handful of small files (a few stats)."""
    total = 0
    for path in (result.stdout_path, result.stderr_path):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
        except OSError:
            return False
    if result.outputs_dir is not None:
        try:
            with os.scandir(result.outputs_dir) as it:
                for n, entry in enumerate(it):
                    if n >= SMALL_RESULT_FILES or not entry.is_file(follow_symlinks=False):
                        return False
                    total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            pass
        except OSError:
            return False
    return total <= SMALL_RESULT_BYTES


def _network_of(job: Job) -> str:
    """The task's network as the bid strategies and executors name it (none, host, full, http)."""
    network = job.task.network
    return network.type.value.lower() if network else "none"


def _need_of(job: Job) -> Need:
    res = job.task.resources
    return Need(
        cpu=(res.cpu_cores if res and res.cpu_cores else DEFAULT_CPU),
        memory=(res.memory_bytes if res and res.memory_bytes else DEFAULT_MEMORY),
        gpus=(res.gpu_count if res else 0) or 0,
    )


def _logs_of_result(repo: Repo, req: m.ExecutionLogs) -> tuple[str, str] | None:
    """The streams of a published result from the given offsets (``None``: this node's store
    does not hold that result). Every block read is checked against its CID."""
    try:
        root = CID.decode(req.result_cid)
        getter = repo.reader()
        out = []
        for name, offset in (("stdout", req.stdout_offset), ("stderr", req.stderr_offset)):
            try:
                file = resolve(getter, root, name)
            except BlockNotFound:  # (a NotFound too) the result is not in this store
                return None
            except NotFound:  # a result without that stream
                out.append("")
                continue
            out.append(_slice(cat(getter, file), offset, req.max_bytes).decode("latin-1"))
    except (BlockNotFound, InvalidInput):
        return None
    return out[0], out[1]


def _slice(chunks: Iterable[bytes], offset: int, limit: int) -> bytes:
    """Bytes ``offset`` to ``offset + limit`` of a stream given as chunks."""
    parts: list[bytes] = []
    at = taken = 0
    for chunk in chunks:
        if taken >= limit:
            break
        if at + len(chunk) > offset:
            part = chunk[max(0, offset - at) :]
            parts.append(part)
            taken += len(part)
        at += len(chunk)
    return b"".join(parts)[:limit]


def _read_logs(run_dir: Path, req: m.ExecutionLogs) -> tuple[str, str]:
    out = []
    for name, offset in (("stdout", req.stdout_offset), ("stderr", req.stderr_offset)):
        path = run_dir / "result" / name
        try:
            with path.open("rb") as f:
                f.seek(offset)
                out.append(f.read(req.max_bytes).decode("latin-1"))
        except FileNotFoundError:
            out.append("")
    return out[0], out[1]


StartRunHook = Callable[[str], None]
