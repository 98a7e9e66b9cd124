"""The wasm engine's long-lived parts: one wasmtime Engine, compiled modules, the epoch ticker.

Compiling a module costs milliseconds; running a small one, a fraction of that. So every compiled
module is kept, keyed by what names its bytes (``cid:<CID>`` for content from the store,
``sha256:<hex>`` for inline modules and modules read from an input), in memory (LRU) and, when a
directory is given, on disk as wasmtime's serialized artifact, so a restarted node does not
compile again. Artifacts live under a directory named after the wasmtime version and the engine
settings; wasmtime also refuses an artifact built by another version or configuration, and such a
file is then recompiled and replaced. Only the node writes that directory (jobs never see it),
which is what makes loading native code from it safe.

The engine interrupts running code through epochs: :class:`EpochTicker` advances the engine's
epoch every ``tick_s`` while at least one execution runs, and each execution's store checks its
own deadline and cancel flag when its epoch deadline passes (see :mod:`.wasm_host`).
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import wasmtime

#: Engine settings, part of the on-disk cache key (a change must not load old artifacts).
ENGINE_TAG = "fuel-epoch-nancanon-v1"


def new_engine() -> wasmtime.Engine:
    """The one engine an executor uses: fuel metering, epoch interruption, deterministic floats.

    NaN canonicalisation makes float results bit-identical on every host (wasm is otherwise
    deterministic except for NaN payloads and relaxed SIMD, which is also pinned here); it costs a
    little float speed, which is the price of the same output CID on every node.
    """
    import wasmtime

    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    config.cranelift_nan_canonicalization = True
    config.wasm_relaxed_simd_deterministic = True
    config.wasm_threads = False
    return wasmtime.Engine(config)


def wasmtime_version() -> str:
    """The installed wasmtime-py version (``unknown`` if the metadata is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("wasmtime")
    except PackageNotFoundError:
        return "unknown"


def content_key(data: bytes) -> str:
    """The cache key of module bytes that have no CID."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ModuleCache:
    """Compiled modules by key: an in-memory LRU over an optional on-disk artifact cache."""

    def __init__(
        self, engine: wasmtime.Engine, disk_dir: Path | None = None, *, max_entries: int = 128
    ) -> None:
        self.engine = engine
        self.max_entries = max_entries
        self._modules: collections.OrderedDict[str, wasmtime.Module] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.disk_dir = (
            disk_dir / f"wasmtime-{wasmtime_version()}-{ENGINE_TAG}" if disk_dir else None
        )
        self.stats = {"memory": 0, "disk": 0, "compiled": 0}

    def get(self, key: str, load: Callable[[], bytes]) -> wasmtime.Module:
        """The compiled module for ``key``; ``load()`` gives its bytes on a miss.

        Raises ``wasmtime.WasmtimeError`` when the bytes are not a valid module.
        """
        with self._lock:
            module = self._modules.get(key)
            if module is not None:
                self._modules.move_to_end(key)
                self.stats["memory"] += 1
                return module
        module = self._from_disk(key)
        if module is None:
            import wasmtime

            module = wasmtime.Module(self.engine, load())
            self.stats["compiled"] += 1
            self._to_disk(key, module)
        with self._lock:
            self._modules[key] = module
            self._modules.move_to_end(key)
            while len(self._modules) > self.max_entries:
                self._modules.popitem(last=False)
        return module

    def has(self, key: str) -> bool:
        """Whether ``key`` loads without its bytes: compiled in memory (it is then marked as
        just used, so it is not the next evicted) or as an artifact on disk."""
        with self._lock:
            if key in self._modules:
                self._modules.move_to_end(key)
                return True
        path = self._path(key)
        return path is not None and path.exists()

    def _path(self, key: str) -> Path | None:
        if self.disk_dir is None:
            return None
        return self.disk_dir / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".cwasm")

    def _from_disk(self, key: str) -> wasmtime.Module | None:
        path = self._path(key)
        if path is None or not path.exists():
            return None
        import wasmtime

        try:
            module = wasmtime.Module.deserialize_file(self.engine, str(path))
        except wasmtime.WasmtimeError:
            path.unlink(missing_ok=True)  # another version's or a damaged artifact: rebuild
            return None
        self.stats["disk"] += 1
        return module

    def _to_disk(self, key: str, module: wasmtime.Module) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(module.serialize())
            tmp.replace(path)
        except OSError:
            pass  # a cache that cannot be written only costs a compile next time


class EpochTicker:
    """Advances an engine's epoch every ``tick_s`` while executions are active; idle otherwise.

    ``acquire()`` when an execution starts, ``release()`` when it ends. The thread sleeps on a
    condition while nothing runs, so an idle node pays nothing.
    """

    def __init__(self, engine: wasmtime.Engine, tick_s: float = 0.01) -> None:
        self.engine = engine
        self.tick_s = tick_s
        self._active = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """One more execution needs ticks."""
        with self._cond:
            self._active += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="bacalao-wasm-epoch", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def release(self) -> None:
        """An execution ended."""
        with self._cond:
            self._active = max(self._active - 1, 0)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._active == 0:
                    self._cond.wait()
                self._cond.wait(self.tick_s)
            self.engine.increment_epoch()
