"""The bubblewrap sandbox, as pure functions from a request to a command line.

What a sandboxed process sees (and does not):

- its own user, IPC, PID, UTS and cgroup namespaces; a network namespace with only a private
  loopback unless the request asks for ``host``/``full`` network (``--share-net``);
- uid/gid 1000 inside a fresh user namespace with every capability dropped and no new privileges,
  so read-only binds stay read-only (the kernel locks them) and nothing can be mounted;
- the host's ``/usr``, ``/bin``, ``/sbin`` and ``/lib*`` read-only (host GNU tools on purpose:
  busybox grep is ~100x slower), a generated ``/etc`` (passwd, group, hosts) plus
  ``/etc/alternatives``, ``ld.so.cache`` and ``localtime`` read-only; never ``/etc/shadow``,
  ``/home``, ``/root``, ``/sys`` or the node's data;
- ``/proc`` (own PID namespace), a minimal ``/dev``, size-capped tmpfs ``/tmp`` and ``/dev/shm``;
- inputs at their targets (read-only unless the mount says otherwise), ``/outputs`` writable;
- ``/`` itself read-only, so nothing outside ``/outputs``, ``/tmp`` and ``/dev/shm`` is writable.

Limits ride on ``prlimit`` (util-linux) in front of ``bwrap``: ``--as`` (memory, as address space),
``--nproc`` (processes; counted per user namespace on Linux >= 5.14, but never for a root node:
there a pids cgroup per execution does it, see :func:`process_limit`), ``--fsize`` (largest file)
and ``--core=0``. ``prlimit`` rather than a ``preexec_fn`` because ``preexec_fn`` is unsafe in a
threaded process, and the node runs blocking SDK calls in threads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bacalao.executors.base import ExecutionRequest
from bacalao.executors.cgroups import PidsCgroups

SANDBOX_UID = 1000
SANDBOX_GID = 1000
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Host files bound read-only into every sandbox (skipped when absent). Debian's awk, editor and
#: friends are /etc/alternatives symlinks; ld.so.cache keeps dynamic linking fast.
ETC_ALWAYS = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime")
#: Added when the sandbox shares the host network: name resolution and TLS roots.
ETC_NETWORK = (
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/gai.conf",
)
#: Targets an input may not take: they would hide or replace the sandbox's own structure.
RESERVED_TARGETS = ("/", "/proc", "/dev", "/tmp", "/outputs", "/etc", *SYSTEM_DIRS)

_ETC_FILES = {
    "passwd": (
        "root:x:0:0:root:/root:/bin/sh\n"
        f"sandbox:x:{SANDBOX_UID}:{SANDBOX_GID}:bacalao sandbox:/tmp:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": f"root:x:0:\nsandbox:x:{SANDBOX_GID}:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
}


@dataclass(frozen=True)
class SandboxProfile:
    """Node-level sandbox settings (the request brings the per-job ones)."""

    etc_dir: Path
    bwrap: str = "bwrap"
    prlimit: str = "prlimit"
    tmp_bytes: int = 64 << 20
    pids_limit: int | None = 1024
    disable_userns: bool = True
    hostname: str = "bacalao"
    #: ``{host path: symlink target, or None for a real file/dir}``; absent paths are left out.
    layout: Mapping[str, str | None] = field(default_factory=dict)
    #: where a root node holds each execution to ``pids_limit`` (RLIMIT_NPROC exempts root)
    pids_cgroups: PidsCgroups | None = None


@contextlib.contextmanager
def process_limit(profile: SandboxProfile) -> Iterator[list[str]]:
    """The argv prefix that keeps a run's whole process tree within ``pids_limit`` in a pids
    cgroup of its own, where the node makes them (see
    :mod:`bacalao.executors.cgroups`); empty elsewhere, where ``prlimit --nproc`` does it."""
    if profile.pids_cgroups is None or not profile.pids_limit:
        yield []
        return
    with profile.pids_cgroups.joined(profile.pids_limit) as prefix:
        yield prefix


def probe_layout(
    paths: Sequence[str] = SYSTEM_DIRS + ETC_ALWAYS + ETC_NETWORK,
) -> dict[str, str | None]:
    """Which of ``paths`` exist on this host, and which are symlinks (merged-/usr systems)."""
    layout: dict[str, str | None] = {}
    for path in paths:
        if os.path.islink(path):
            layout[path] = os.readlink(path)
        elif os.path.exists(path):
            layout[path] = None
    return layout


def write_etc(etc_dir: Path) -> Path:
    """Write the generated ``/etc`` files (passwd, group, hosts) once; return the directory."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    for name, text in _ETC_FILES.items():
        path = etc_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return etc_dir


def check_target(target: str) -> str | None:
    """Why ``target`` cannot be a mount point in the sandbox, or ``None`` if it can."""
    path = PurePosixPath(target)
    if not path.is_absolute() or ".." in path.parts or str(path) != target.rstrip("/"):
        return f"mount target {target!r} must be a normalised absolute path"
    for reserved in RESERVED_TARGETS:
        if str(path) == reserved or (reserved != "/" and path.is_relative_to(reserved)):
            return f"mount target {target!r} would replace the sandbox's {reserved}"
    return None


def sandbox_env(req: ExecutionRequest, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment inside the sandbox: a fixed base, then the request's env, then ``extra``."""
    env = {"PATH": SANDBOX_PATH, "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    env.update(req.env)
    env.update(extra or {})
    return env


def prlimit_argv(profile: SandboxProfile, req: ExecutionRequest) -> list[str]:
    """``prlimit --core=0 [--as=…] [--nproc=…] [--fsize=…] --``: limits set before bwrap runs."""
    argv = [profile.prlimit, "--core=0"]
    if req.memory_bytes:
        argv.append(f"--as={req.memory_bytes}")
    if profile.pids_limit:
        argv.append(f"--nproc={profile.pids_limit}")
    if req.disk_bytes:
        argv.append(f"--fsize={req.disk_bytes}")
    return [*argv, "--"]


def bwrap_argv(profile: SandboxProfile, req: ExecutionRequest, command: Sequence[str]) -> list[str]:
    """The full ``bwrap`` command line running ``command`` for ``req`` (no ``prlimit`` prefix)."""
    argv = [
        profile.bwrap,
        "--unshare-all",
        "--unshare-user",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_GID),
        "--cap-drop", "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname", profile.hostname,
    ]  # fmt: skip
    if profile.disable_userns:
        argv.append("--disable-userns")
    if req.network != "none":
        argv.append("--share-net")
    layout = profile.layout
    for path in SYSTEM_DIRS:
        if path not in layout:
            continue
        link = layout[path]
        argv += ["--symlink", link, path] if link is not None else ["--ro-bind", path, path]
    for name in _ETC_FILES:
        argv += ["--ro-bind", str(profile.etc_dir / name), f"/etc/{name}"]
    etc = ETC_ALWAYS + (ETC_NETWORK if req.network != "none" else ())
    for path in etc:
        if path in layout:
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(profile.tmp_bytes), "--tmpfs", "/tmp"]
    argv += ["--size", str(profile.tmp_bytes), "--tmpfs", "/dev/shm"]
    argv += ["--bind", str(req.outputs_dir), "/outputs"]
    for mount in sorted(req.mounts, key=lambda m: PurePosixPath(m.target).parts):
        argv += ["--ro-bind" if mount.read_only else "--bind", str(mount.source), mount.target]
    argv += ["--remount-ro", "/", "--chdir", "/", "--", *command]
    return argv
