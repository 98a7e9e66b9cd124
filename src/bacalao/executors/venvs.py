"""The python engine's virtualenv cache: one venv per hash of the normalised requirements.

Layout under the cache root (the node's state dir)::

    <root>/<key>/venv/              the virtualenv, mounted read-only at /opt/bacalao/venv in jobs
    <root>/<key>/bacalao-venv.json  what it was built from, when, in how long
    <root>/<key>/build.log          pip's output
    <root>/<key>.build-<id>/        a build in progress (renamed to <key> when it succeeds)

``key`` is the sha256 of the interpreter's version line and the normalised requirements (comments,
blank lines and duplicates dropped, lines stripped and sorted), so reordering a requirements file or
adding a comment reuses the venv, while a different interpreter builds its own. A venv is complete
exactly when ``<root>/<key>`` exists: builds happen in a scratch directory renamed into place, so a
node killed mid-build leaves only a ``.build-`` directory, removed the next time the cache opens.
One build per key at a time: later callers wait for it and then reuse its venv (a failed build is
not cached; the next caller tries again).

The build itself (``python -m venv`` + ``pip install -r``) is the caller's: the python engine runs
it in the bubblewrap sandbox with the node's network, so a package's build scripts never run with
the node's own privileges. :class:`PipHostConfig` carries the node's pip settings (``PIP_*`` and
proxy variables, ``pip.conf`` files, local index directories) into that sandbox.
"""

from __future__ import annotations

import asyncio
import configparser
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

VENV_DIR = "venv"
META_FILE = "bacalao-venv.json"
BUILD_LOG = "build.log"
BUILD_SUFFIX = ".build-"
#: Environment variables of the node passed to pip (besides every ``PIP_*``).
PASS_ENV = (
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
)  # fmt: skip
#: pip's config files in the order pip reads them (later settings win).
PIP_CONFIG_FILES = ("/etc/xdg/pip/pip.conf", "/etc/pip.conf", "~/.pip/pip.conf",
                    "~/.config/pip/pip.conf")  # fmt: skip
#: Paths the build sandbox has anyway (system dirs, TLS roots): never bound a second time.
_ALREADY_VISIBLE = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/ssl", "/etc/ca-certificates")


def normalise_requirements(text: str | None) -> str:
    """Requirements as a canonical text: comments and blanks dropped, lines stripped, sorted.

    ``pip install -r`` does not depend on line order, so two files that differ only in order,
    comments or whitespace name the same venv.
    """
    lines = set()
    for raw in (text or "").splitlines():
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.add(" ".join(line.split()))
    return "".join(f"{line}\n" for line in sorted(lines))


def venv_key(requirements: str | None, python_version: str) -> str:
    """The cache key: sha256 over the interpreter's version and the normalised requirements."""
    payload = f"{python_version}\n{normalise_requirements(requirements)}"
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class BuildOutcome:
    """What a build step reports: ``error`` None means the venv in the scratch dir is complete."""

    error: str | None
    log: bytes = b""
    cancelled: bool = False
    timed_out: bool = False


@dataclass
class Venv:
    """A venv ready to use (``error`` None), or why it could not be built (``path`` None)."""

    key: str
    path: Path | None
    reused: bool
    build_s: float = 0.0
    error: str | None = None
    log: bytes = b""
    cancelled: bool = False
    timed_out: bool = False


#: ``build(scratch_dir, requirements_text)``: create ``scratch_dir/venv`` and install into it.
Builder = Callable[[Path, str], Awaitable[BuildOutcome]]


class VenvCache:
    """Venvs by requirements hash under ``root``; see the module doc for layout and locking."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.root = root
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._swept = False

    def path(self, key: str) -> Path:
        """Where the venv for ``key`` lives once built."""
        return self.root / key / VENV_DIR

    def has(self, key: str) -> bool:
        """Whether the venv for ``key`` is built."""
        return (self.root / key).is_dir()

    async def ensure(
        self, requirements: str | None, python_version: str, build: Builder, *, build_id: str
    ) -> Venv:
        """The venv for ``requirements``: reused if built, else built now by ``build``.

        Concurrent callers for one key share a build: the first builds, the others wait on the
        key's lock and reuse the result. ``build_id`` names the scratch directory (an execution
        id); cancelling the awaiting task cancels the build and removes its scratch directory.
        """
        key = venv_key(requirements, python_version)
        if not self._swept:
            self._swept = True
            await asyncio.to_thread(self._sweep)
        if self.has(key):
            return Venv(key, self.path(key), reused=True)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if self.has(key):
                return Venv(key, self.path(key), reused=True)
            return await self._build(key, requirements or "", python_version, build, build_id)

    async def _build(
        self, key: str, requirements: str, python_version: str, build: Builder, build_id: str
    ) -> Venv:
        scratch = self.root / f"{key}{BUILD_SUFFIX}{build_id}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        started = self._clock()
        try:
            outcome = await build(scratch, normalise_requirements(requirements))
            build_s = self._clock() - started
            if outcome.error is not None:
                return Venv(
                    key, None, reused=False, build_s=build_s, error=outcome.error,
                    log=outcome.log, cancelled=outcome.cancelled, timed_out=outcome.timed_out,
                )  # fmt: skip
            meta = {
                "key": key,
                "python": python_version,
                "requirements": normalise_requirements(requirements),
                "built_at": time.time(),
                "build_s": round(build_s, 3),
            }
            (scratch / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            (scratch / BUILD_LOG).write_bytes(outcome.log)
            try:
                os.replace(scratch, self.root / key)
            except OSError:  # built meanwhile by another process sharing this cache
                if not self.has(key):
                    raise
            log.info("python venv %s built in %.1fs", key[:12], build_s)
            return Venv(key, self.path(key), reused=False, build_s=build_s, log=outcome.log)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _sweep(self) -> None:
        """Remove scratch directories left by a node that died mid-build."""
        self.root.mkdir(parents=True, exist_ok=True)
        for child in self.root.iterdir():
            if BUILD_SUFFIX in child.name:
                shutil.rmtree(child, ignore_errors=True)


@dataclass(frozen=True)
class PipHostConfig:
    """The node's pip settings, ready for the build sandbox.

    ``env``: ``PIP_*`` and proxy/TLS variables; ``config``: the text of one ``pip.conf`` merging
    the node's config files in pip's order (bound at ``/etc/pip.conf``); ``paths``: local
    directories and files those settings name (``find-links`` dirs, ``file://`` indexes, a CA
    bundle), bound read-only at the same paths.
    """

    env: Mapping[str, str] = field(default_factory=dict)
    config: str = ""
    paths: tuple[Path, ...] = ()


def pip_host_config(
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    config_files: Sequence[str] = PIP_CONFIG_FILES,
) -> PipHostConfig:
    """Collect the node's pip settings (see :class:`PipHostConfig`)."""
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    env = {k: v for k, v in environ.items() if k.startswith("PIP_") or k in PASS_ENV}
    env.pop("PIP_CONFIG_FILE", None)
    files = [Path(p.replace("~", str(home), 1)) for p in config_files]
    if environ.get("PIP_CONFIG_FILE"):
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    parser = configparser.RawConfigParser()
    for path in files:
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            log.warning("ignoring unreadable pip config %s", path)
    values = list(env.values())
    values += [parser.get(s, k) for s in parser.sections() for k in parser.options(s)]
    config = ""
    if parser.sections():
        import io

        buf = io.StringIO()
        parser.write(buf)
        config = buf.getvalue()
    return PipHostConfig(env=env, config=config, paths=tuple(_local_paths(values)))


def _local_paths(values: list[str]) -> list[Path]:
    """Existing local paths named in pip settings; for a ``…/simple`` index its parent too (the
    index's links usually point to ``../../files``)."""
    found: dict[Path, None] = {}
    for value in values:
        for token in value.split():
            path_text = token.removeprefix("file://") if token.startswith("file://") else token
            if not path_text.startswith("/") or path_text == "/":
                continue
            path = Path(path_text)
            if path.name == "simple" and token.startswith("file://"):
                path = path.parent
            if path.exists() and not _visible(path):
                found[path] = None
    return list(found)


def _visible(path: Path) -> bool:
    return any(path == Path(d) or Path(d) in path.parents for d in _ALREADY_VISIBLE)
