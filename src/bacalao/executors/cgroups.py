"""A pids cgroup per sandboxed execution, for nodes that run as root.

``prlimit --nproc`` bounds a sandbox's processes only when the node is not root: the kernel
exempts real uid 0 from ``RLIMIT_NPROC``, and bubblewrap's user namespace keeps the host uid, so a
fork bomb in a root node's shell job was bounded by nothing but its timeout. The pids controller
has no such exemption. Where this process may make cgroups (root, with the pids controller in
cgroup v2 or v1), each execution gets ``<pids root>/bacalao/<execution id>`` with ``pids.max``,
and its command line starts with a tiny ``/bin/sh`` that moves itself in and ``exec``s the
sandbox, so every process of the tree is counted from the first. Elsewhere (a non-root node,
no pids controller, a read-only cgroupfs) nothing changes and ``RLIMIT_NPROC`` applies as before.
"""

from __future__ import annotations

import contextlib
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
    """Makes and removes per-execution pids cgroups under one parent."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        self._leftover: set[Path] = set()

    @classmethod
    def probe(cls, root: Path = CGROUP_ROOT) -> PidsCgroups | None:
        """The pids cgroups this process may make, or ``None`` (not root, no controller)."""
        if os.geteuid() != 0:
            return None
        for parent in _parents(root):
            try:
                made = cls(parent)
                test = made.make("probe", 8)
                made.remove(test)
            except OSError as e:
                log.debug("no pids cgroups under %s: %s", parent, e)
                continue
            made.sweep(everything=True)  # a node killed earlier left its cgroups behind
            return made
        return None

    def make(self, name: str, pids_max: int) -> Path:
        """A fresh cgroup ``name`` holding at most ``pids_max`` processes."""
        self.sweep()
        path = self.parent / name
        path.mkdir(exist_ok=True)
        (path / "pids.max").write_text(str(pids_max))
        return path

    def remove(self, path: Path) -> None:
        """Remove the cgroup once its processes are gone (else at a later :meth:`sweep`)."""
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError:  # EBUSY: the tree is still being torn down
            self._leftover.add(path)

    def sweep(self, *, everything: bool = False) -> None:
        """Remove the cgroups earlier executions left behind (still busy when they ended);
        ``everything`` also tries every other one, for a node starting up (a cgroup that
        still holds processes stays: rmdir refuses it)."""
        stale = set(self._leftover)
        if everything:
            stale.update(p for p in self.parent.iterdir() if p.is_dir())
        self._leftover = set()
        for path in stale:
            with contextlib.suppress(OSError):
                path.rmdir()

    @contextlib.contextmanager
    def joined(self, name: str, pids_max: int) -> Iterator[list[str]]:
        """The argv prefix that runs a command inside a new cgroup ``name``; the cgroup is
        removed on exit. An empty prefix when the cgroup cannot be made (logged)."""
        try:
            path = self.make(name, pids_max)
        except OSError as e:
            log.warning("could not make a pids cgroup for %s: %s", name, e)
            yield []
            return
        try:
            yield ["/bin/sh", "-c", JOIN, str(path / "cgroup.procs")]
        finally:
            self.remove(path)


def _parents(root: Path) -> Iterator[Path]:
    """Where a ``bacalao`` parent cgroup may go: cgroup v2 with pids enabled for children, or
    the v1 pids hierarchy."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file() and "pids" in controllers.read_text().split():
        with contextlib.suppress(OSError):
            (root / "cgroup.subtree_control").write_text("+pids")
        parent = root / PARENT
        with contextlib.suppress(OSError):
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+pids")
        yield parent
    v1 = root / "pids"
    if (v1 / "cgroup.procs").is_file():
        parent = v1 / PARENT
        with contextlib.suppress(OSError):
            parent.mkdir(exist_ok=True)
        yield parent


_PROBED: list[PidsCgroups | None] = []


def node_pids_cgroups() -> PidsCgroups | None:
    """This process's pids cgroups, probed once."""
    if not _PROBED:
        _PROBED.append(PidsCgroups.probe())
    return _PROBED[0]
