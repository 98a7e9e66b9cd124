"""A pids cgroup per sandboxed execution, for nodes that run as root.

``prlimit --nproc`` bounds a sandbox's processes only when the node is not root: the kernel
exempts real uid 0 from ``RLIMIT_NPROC``, and bubblewrap's user namespace keeps the host uid, so a
fork bomb in a root node's shell job was bounded by nothing but its timeout. The pids controller
has no such exemption. Where this process may make cgroups (root, with the pids controller in
cgroup v2 or v1), each execution runs in a cgroup of its own under ``<pids root>/bacalao/<node
process id>/`` with ``pids.max``, and its command line starts with a tiny ``/bin/sh`` that moves
itself in and ``exec``s the sandbox, so every process of the tree is counted from the first.
Elsewhere (a non-root node, no pids controller, a read-only cgroupfs) nothing changes and
``RLIMIT_NPROC`` applies as before.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "bacalao"
#: ``sh -c JOIN <cgroup.procs> argv...``: join the cgroup, then become the sandbox
JOIN = 'echo $$ > "$0" && exec "$@"'


class PidsCgroups:
    """Per-execution pids cgroups under one parent, reused from run to run.

    Moving a process into a cgroup it is the first to join costs 10-40 ms on this kernel (the
    attach waits for an RCU grace period); joining one used before costs nothing measurable. So
    the cgroups are slots (``slot-0``, ``slot-1``, ...): a run takes a free one, and gives it back
    once no process is left in it; a run's cgroup never holds another run's processes.
    """

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self._free: list[Path] = []
        self._returned: list[Path] = []  # given back while processes were still leaving
        self._made = 0

    @classmethod
    def probe(cls, root: Path = CGROUP_ROOT) -> PidsCgroups | None:
        """The pids cgroups this process may make, or ``None`` (not root, no controller)."""
        if os.geteuid() != 0:
            return None
        for shared, v2 in _parents(root):
            try:
                _sweep_dead(shared)  # what nodes killed earlier left behind
                parent = shared / str(os.getpid())
                parent.mkdir(exist_ok=True)
                if v2:
                    _enable_pids(parent)
                made = cls(parent)
                made.release(made.acquire(8))
            except OSError as e:
                log.debug("no pids cgroups under %s: %s", shared, e)
                continue
            return made
        return None

    def acquire(self, pids_max: int) -> Path:
        """A cgroup no process is in, holding at most ``pids_max`` processes from now on."""
        self._reclaim()
        if self._free:
            path = self._free.pop()
        else:
            path = self.parent / f"slot-{self._made}"
            self._made += 1
            path.mkdir(exist_ok=True)
        try:
            (path / "pids.max").write_text(str(pids_max))
        except OSError:
            self._free.append(path)
            raise
        return path

    def release(self, path: Path) -> None:
        """Give a run's cgroup back (it is reused once its last process has gone)."""
        self._returned.append(path)
        self._reclaim()

    def _reclaim(self) -> None:
        still = []
        for path in self._returned:
            (self._free if _empty(path) else still).append(path)
        self._returned = still

    @contextlib.contextmanager
    def joined(self, pids_max: int) -> Iterator[list[str]]:
        """The argv prefix that runs a command inside a cgroup of its own for the run's length.
        An empty prefix when no cgroup can be had (logged)."""
        try:
            path = self.acquire(pids_max)
        except OSError as e:
            log.warning("could not make a pids cgroup: %s", e)
            yield []
            return
        try:
            yield ["/bin/sh", "-c", JOIN, str(path / "cgroup.procs")]
        finally:
            self.release(path)


def _empty(path: Path) -> bool:
    """No process is left in the cgroup (v1 and v2 both list them in ``cgroup.procs``)."""
    try:
        return not (path / "cgroup.procs").read_text().strip()
    except FileNotFoundError:  # gone: acquire() makes it again, or says why it cannot
        return True
    except OSError:
        return False


def _enable_pids(path: Path) -> None:
    """Let ``path``'s children have the pids controller (cgroup v2 only)."""
    with contextlib.suppress(OSError):
        (path / "cgroup.subtree_control").write_text("+pids")


def _sweep_dead(shared: Path) -> None:
    """Remove the cgroups of node processes that are gone (their slots are empty by now)."""
    with contextlib.suppress(OSError):
        for node in shared.iterdir():
            if not node.is_dir() or not node.name.isdigit() or Path(f"/proc/{node.name}").exists():
                continue
            with contextlib.suppress(OSError):
                for slot in node.iterdir():
                    if slot.is_dir():
                        slot.rmdir()
                node.rmdir()


def _parents(root: Path) -> Iterator[tuple[Path, bool]]:
    """Where the shared ``bacalao`` cgroup may go: cgroup v2 with pids enabled for children, or
    the v1 pids hierarchy."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file() and "pids" in controllers.read_text().split():
        _enable_pids(root)
        parent = root / PARENT
        with contextlib.suppress(OSError):
            parent.mkdir(exist_ok=True)
            _enable_pids(parent)
        yield parent, True
    v1 = root / "pids"
    if (v1 / "cgroup.procs").is_file():
        parent = v1 / PARENT
        with contextlib.suppress(OSError):
            parent.mkdir(exist_ok=True)
        yield parent, False


@functools.cache
def node_pids_cgroups() -> PidsCgroups | None:
    """This process's pids cgroups, probed once."""
    return PidsCgroups.probe()
