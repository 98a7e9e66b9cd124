"""Run a sandbox process tree from asyncio: stream its pipes, enforce a timeout, reap with rusage.

Used by the shell engine (and any later engine that runs a ``bwrap`` command line). The process is
started in its own session, so killing its process group reaches everything it started outside a
PID namespace; bubblewrap's ``--die-with-parent`` and ``--unshare-pid`` take care of the rest.

Why not ``asyncio.create_subprocess_exec``: asyncio's child watcher reaps with ``waitpid`` and
throws the resource usage away. Here the process is reaped with ``os.wait4`` when its pidfd becomes
readable, which gives the CPU time used for metering, with no thread per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bacalao.executors.base import STDERR, STDOUT
from bacalao.executors.capture import OutputCapture

_READ_CHUNK = 64 << 10
#: After the process exits, how long to wait for its pipes to reach EOF (a leaked writer).
_PIPE_DRAIN_S = 2.0


@dataclass
class ProcessExit:
    """How a process ended. ``returncode`` is the exit status, or 128 + signal when signalled."""

    returncode: int
    signal: int | None
    timed_out: bool
    cancelled: bool
    wall_s: float
    cpu_s: float | None


class ProcessHandle:
    """A running process group; :meth:`kill` may be called from any task on the same loop."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.reaped = False
        self.cancelled = False
        self.timed_out = False

    def kill(self, *, cancelled: bool = False, timed_out: bool = False) -> None:
        """SIGKILL the whole process group (once it is reaped, its pid may belong to another)."""
        self.cancelled |= cancelled
        self.timed_out |= timed_out
        if self.reaped:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


async def run_process(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    capture: OutputCapture,
    timeout_s: float | None = None,
    on_start: Callable[[ProcessHandle], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ProcessExit:
    """Run ``argv``, stdin on /dev/null, output into ``capture``; kill it after ``timeout_s``.

    Raises ``OSError`` (e.g. ``FileNotFoundError``) when it cannot be started. If the awaiting task
    is cancelled, the process group is killed and reaped before the cancellation propagates.
    """
    loop = asyncio.get_running_loop()
    started = clock()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    handle = ProcessHandle(proc)
    assert proc.stdout is not None and proc.stderr is not None
    pipes = {STDOUT: proc.stdout.fileno(), STDERR: proc.stderr.fileno()}
    eofs = [_read_pipe(loop, fd, stream, capture) for stream, fd in pipes.items()]
    exited = _reap(loop, handle)
    if on_start is not None:
        on_start(handle)
    try:
        done, _ = await asyncio.wait({exited}, timeout=timeout_s)
        if not done:
            handle.kill(timed_out=True)
        status, rusage = await asyncio.shield(exited)
        await asyncio.wait(eofs, timeout=_PIPE_DRAIN_S)
    except asyncio.CancelledError:
        handle.kill(cancelled=True)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(exited), 5)
        raise
    finally:
        for fd in pipes.values():
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(fd)
        proc.stdout.close()
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    return ProcessExit(
        returncode=128 - code if code < 0 else code,
        signal=-code if code < 0 else None,
        timed_out=handle.timed_out,
        cancelled=handle.cancelled,
        wall_s=clock() - started,
        cpu_s=(rusage.ru_utime + rusage.ru_stime) if rusage is not None else None,
    )


def _read_pipe(
    loop: asyncio.AbstractEventLoop, fd: int, stream: str, capture: OutputCapture
) -> asyncio.Future[None]:
    eof: asyncio.Future[None] = loop.create_future()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            capture.write(stream, data)
            return
        loop.remove_reader(fd)
        if not eof.done():
            eof.set_result(None)

    loop.add_reader(fd, readable)
    return eof


def _reap(
    loop: asyncio.AbstractEventLoop, handle: ProcessHandle
) -> asyncio.Future[tuple[int, os.struct_rusage | None]]:
    """A future of ``(wait status, rusage)``, resolved when the process exits."""
    pid = handle.proc.pid
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (old kernel): one blocking wait4 in a thread
        fut = loop.run_in_executor(None, _wait4_blocking, handle)
        return asyncio.ensure_future(fut)
    exited: asyncio.Future[tuple[int, os.struct_rusage | None]] = loop.create_future()

    def readable() -> None:
        try:
            got, status, rusage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: status unknown
            got, status, rusage = pid, 255 << 8, None
        if got == 0:
            return
        loop.remove_reader(pidfd)
        os.close(pidfd)
        _mark_reaped(handle, status)
        if not exited.done():
            exited.set_result((status, rusage))

    loop.add_reader(pidfd, readable)
    return exited


def _wait4_blocking(handle: ProcessHandle) -> tuple[int, os.struct_rusage | None]:
    _, status, rusage = os.wait4(handle.proc.pid, 0)
    _mark_reaped(handle, status)
    return status, rusage


def _mark_reaped(handle: ProcessHandle, status: int) -> None:
    handle.reaped = True
    # Tell Popen the child is gone, so it never waits for (or signals) a recycled pid.
    handle.proc.returncode = os.waitstatus_to_exitcode(status)
