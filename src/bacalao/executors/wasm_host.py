"""Running one WebAssembly module under wasmtime's WASI: the blocking half of the wasm engine.

:meth:`Host.execute` runs on a worker thread (the executor calls it through
``asyncio.to_thread``). It builds a store with the execution's limits (memory, fuel, an epoch
deadline checked every tick), a WASI context that sees only the preopened directories (inputs
read-only, ``/outputs`` writable), links the import modules, calls the entry point and reports
what happened as an :class:`Outcome`; it never raises for something the module did.

The WASI functions it shadows, and the epoch callback that stops a module, are in
:mod:`.wasm_wasi`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bacalao.executors import wasm_wasi as wasi

if TYPE_CHECKING:
    import wasmtime

#: Fuel given when the job sets none: effectively unlimited (the timeout still applies).
UNLIMITED_FUEL = (1 << 63) - 1
PAGE = 65536
#: Table entries a store may hold (8 bytes each): far above what compilers emit for real programs.
MAX_TABLE_ELEMENTS = 1_000_000


@dataclass
class ModuleSource:
    """Where one module's bytes come from: a cache ``key`` and a ``load`` giving them on a miss."""

    #: ``cid:<CID>`` or ``sha256:<hex>``; "" to key it by the hash of what ``load`` returns
    key: str
    load: Callable[[], bytes]
    label: str
    #: the import-module name it is linked under ("" for the entry module or to infer it)
    name: str = ""


@dataclass
class RunPlan:
    """Everything :func:`execute` needs, decided by the executor on the event loop."""

    entry: ModuleSource
    entrypoint: str
    argv: list[str]
    env: list[tuple[str, str]]
    #: (host directory, guest path, writable)
    preopens: list[tuple[str, str, bool]]
    memory_limit: int | None
    fuel: int | None
    deterministic: bool = True
    seed: int = 0
    imports: list[ModuleSource] = field(default_factory=list)
    stdout: Callable[[bytes], None] = lambda _: None
    stderr: Callable[[bytes], None] = lambda _: None


class Control:
    """Stop signals of one execution, shared by the loop (cancel) and the wasm thread."""

    def __init__(self, timeout_s: float | None, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.deadline = None if not timeout_s else clock() + timeout_s
        self.cancelled = False
        self.wake = threading.Event()

    def cancel(self) -> None:
        """Ask the module to stop at its next epoch check (or sleep)."""
        self.cancelled = True
        self.wake.set()

    def reason(self) -> str | None:
        """``"cancelled"``, ``"timeout"`` or None (keep running)."""
        if self.cancelled:
            return "cancelled"
        if self.deadline is not None and self.clock() >= self.deadline:
            return "timeout"
        return None

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the execution must stop meanwhile."""
        if self.deadline is not None:
            seconds = min(seconds, max(self.deadline - self.clock(), 0.0))
        self.wake.wait(min(seconds, threading.TIMEOUT_MAX))
        return self.reason() is None


@dataclass
class Outcome:
    """How a run ended. ``failure`` means it never got to run the entry point."""

    exit_code: int | None = None
    stopped: str | None = None
    trap: str | None = None
    out_of_fuel: bool = False
    failure: str | None = None
    detail: str = ""
    fuel_used: int = 0
    fuel_limit: int = 0
    memory_bytes: int = 0
    cpu_s: float = 0.0


# -- running --------------------------------------------------------------------------------------


class _Failure(Exception):
    """The run could not start (bad module, missing entry point, unresolved import)."""


#: Trap codes -> the words in the execution's error ("trap: unreachable executed").
_TRAPS = {
    "UNREACHABLE": "unreachable executed",
    "STACK_OVERFLOW": "call stack exhausted",
    "MEMORY_OUT_OF_BOUNDS": "out-of-bounds memory access",
    "HEAP_MISALIGNED": "misaligned memory access",
    "TABLE_OUT_OF_BOUNDS": "out-of-bounds table access",
    "INDIRECT_CALL_TO_NULL": "indirect call to a null table entry",
    "BAD_SIGNATURE": "indirect call type mismatch",
    "INTEGER_OVERFLOW": "integer overflow",
    "INTEGER_DIVISION_BY_ZERO": "integer divide by zero",
    "BAD_CONVERSION_TO_INTEGER": "invalid conversion to integer",
}


class Host:
    """An executor's wasmtime side: one engine, its compiled modules, linkers and epoch ticker."""

    def __init__(self, cache_dir: Any = None, *, tick_s: float = 0.01) -> None:
        from bacalao.executors.wasm_cache import EpochTicker, ModuleCache, new_engine

        self.engine = new_engine()
        self.modules = ModuleCache(self.engine, cache_dir)
        self.ticker = EpochTicker(self.engine, tick_s)
        self._linkers: dict[bool | None, wasmtime.Linker] = {}
        self.helper = wasi.helper_module(self.engine)
        self._lock = threading.Lock()

    def linker(self, deterministic: bool | None) -> wasmtime.Linker:
        """The shared (store-independent) linker for a mode, built once."""
        with self._lock:
            linker = self._linkers.get(deterministic)
            if linker is None:
                linker = self._linkers[deterministic] = wasi.new_linker(
                    self.engine, deterministic=deterministic
                )
            return linker

    def execute(self, plan: RunPlan, control: Control) -> Outcome:
        """Run ``plan`` to its end on this thread; see the module doc."""
        outcome = Outcome()
        started = time.thread_time()
        wasi.local.state = wasi.HostState(
            deterministic=plan.deterministic,
            seed=plan.seed,
            control=control,
            base=self.linker(None),
            helper=self.helper,
        )
        wasi.local.stopped = None
        self.ticker.acquire()
        try:
            self._run(plan, control, outcome)
        except _Failure as e:
            outcome.failure = str(e)
        finally:
            wasi.local.state = None
            self.ticker.release()
            outcome.cpu_s = time.thread_time() - started
        return outcome

    def _compile(self, source: ModuleSource) -> wasmtime.Module:
        import wasmtime

        from bacalao.executors.wasm_cache import content_key

        try:
            if source.key:
                return self.modules.get(source.key, source.load)
            data = source.load()  # named by no CID: its bytes are its key
            return self.modules.get(content_key(data), lambda: data)
        except wasmtime.WasmtimeError as e:
            raise _Failure(
                f"{source.label} is not a valid WebAssembly module: {_first_line(e)}"
            ) from None
        except OSError as e:
            why = f"cannot read {source.label}: {e.strerror}" if e.strerror else str(e)
            raise _Failure(why) from None

    def _run(self, plan: RunPlan, control: Control, outcome: Outcome) -> None:
        import wasmtime

        outcome.stopped = control.reason()
        if outcome.stopped:
            return
        entry = self._compile(plan.entry)
        imports = [(src, self._compile(src)) for src in plan.imports]
        store = wasmtime.Store(self.engine)
        store.set_wasi(_wasi_config(plan))
        store.set_limits(memory_size=plan.memory_limit or -1, table_elements=MAX_TABLE_ELEMENTS)
        outcome.fuel_limit = plan.fuel or UNLIMITED_FUEL
        store.set_fuel(outcome.fuel_limit)
        wasi.install_epoch_callback(store)
        instance = None
        try:
            if imports:
                linker = self._linker_with_imports(store, plan, entry, imports)
            else:
                linker = self.linker(plan.deterministic)
            instance = self._instantiate(linker, store, entry, plan)
            func = _entry_function(instance, store, plan.entrypoint)
            value = func(store)
            outcome.exit_code = value if isinstance(value, int) else 0
        except wasmtime.ExitTrap as e:
            outcome.exit_code = e.code
        except wasmtime.Trap as e:
            _explain_trap(e, outcome)
        except wasmtime.WasmtimeError as e:
            outcome.stopped = wasi.local.stopped
            outcome.detail = str(e)
            if outcome.stopped is None:
                raise _Failure(_first_cause(e)) from None
        finally:
            outcome.fuel_used = _fuel_used(store, outcome.fuel_limit)
            outcome.memory_bytes = _memory_bytes(instance, store)

    def _instantiate(
        self, linker: wasmtime.Linker, store: wasmtime.Store, module: wasmtime.Module, plan: RunPlan
    ) -> wasmtime.Instance:
        import wasmtime

        try:
            return linker.instantiate(store, module)
        except (wasmtime.Trap, wasmtime.ExitTrap):
            raise
        except wasmtime.WasmtimeError as e:
            if wasi.local.stopped:
                raise
            text = _first_cause(e)
            if "memory" in text and ("limit" in text or "exceeds" in text):
                raise _Failure(f"out of memory: {text}") from None
            raise _Failure(f"cannot link {plan.entry.label}: {text}") from None

    def _linker_with_imports(
        self,
        store: wasmtime.Store,
        plan: RunPlan,
        entry: wasmtime.Module,
        imports: list[tuple[ModuleSource, wasmtime.Module]],
    ) -> wasmtime.Linker:
        """A per-run linker: WASI, the mode's shims, and each import module under its name."""
        linker = wasi.new_linker(self.engine, deterministic=plan.deterministic)
        named = link_names(entry, imports)
        defined: set[str] = set()
        pending = list(named)
        while pending:
            ready = [
                (name, module)
                for name, module in pending
                if {i.module for i in module.imports} - {wasi.WASI, name} <= defined
            ]
            if not ready:
                missing = sorted(name for name, _ in pending)
                raise _Failure(f"import modules {', '.join(missing)} need modules not given")
            for name, module in ready:
                linker.define_module(store, name, module)
                defined.add(name)
                pending.remove((name, module))
        return linker


def link_names(
    entry: wasmtime.Module, imports: list[tuple[ModuleSource, wasmtime.Module]]
) -> list[tuple[str, wasmtime.Module]]:
    """The name each import module is linked under: its given name (the InputSource's Alias),
    else the module name the entry (or another import) imports every one of whose functions it
    exports."""
    wanted: dict[str, set[str]] = {}
    for module in [entry, *(m for _, m in imports)]:
        for imp in module.imports:
            if imp.module != wasi.WASI:
                wanted.setdefault(imp.module, set()).add(imp.name or "")
    taken = {src.name for src, _ in imports if src.name}
    out = []
    for src, module in imports:
        name = src.name
        if not name:
            exports = {e.name for e in module.exports}
            name = next(
                (n for n, fields in sorted(wanted.items()) if n not in taken and fields <= exports),
                "",
            )
            if not name:
                raise _Failure(
                    f"import module {src.label} provides none of the imports of the entry module "
                    f"(it imports from: {', '.join(sorted(wanted)) or 'WASI only'}); "
                    "name it with an InputSource Alias"
                )
            taken.add(name)
        out.append((name, module))
    return out


def _wasi_config(plan: RunPlan) -> wasmtime.WasiConfig:
    import wasmtime

    wasi = wasmtime.WasiConfig()
    wasi.argv = plan.argv
    wasi.env = plan.env
    for host, guest, writable in plan.preopens:
        wasi.preopen_dir(host, guest, writable)
    wasi.stdout_custom = _writer(plan.stdout)
    wasi.stderr_custom = _writer(plan.stderr)
    return wasi


def _writer(sink: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def write(chunk: bytes) -> None:
        with contextlib.suppress(Exception):  # a failing sink must not fail the module's write
            sink(chunk)

    return write


def _entry_function(instance: wasmtime.Instance, store: wasmtime.Store, name: str) -> Any:
    import wasmtime

    exports = instance.exports(store)
    try:
        func = exports[name]
    except KeyError:
        funcs = [n for n in exports if isinstance(exports[n], wasmtime.Func)]
        raise _Failure(
            f"entrypoint {name!r} is not exported by the module "
            f"(its exported functions: {', '.join(funcs) or 'none'})"
        ) from None
    if not isinstance(func, wasmtime.Func):
        raise _Failure(f"entrypoint {name!r} is not a function")
    params = func.type(store).params
    if params:
        raise _Failure(f"entrypoint {name!r} takes {len(params)} parameter(s); it must take none")
    return func


def _explain_trap(trap: wasmtime.Trap, outcome: Outcome) -> None:
    code = trap.trap_code
    outcome.detail = trap.message
    if code is not None and code.name == "OUT_OF_FUEL":
        outcome.out_of_fuel = True
    elif code is not None and code.name == "INTERRUPT" and wasi.local.stopped:
        outcome.stopped = wasi.local.stopped
    elif code is not None:
        outcome.trap = _TRAPS.get(code.name, code.name.lower().replace("_", " "))
    else:
        outcome.trap = _first_cause(trap)


def _fuel_used(store: wasmtime.Store, limit: int) -> int:
    try:
        return max(limit - store.get_fuel(), 0)
    except Exception:
        return 0


def _memory_bytes(instance: wasmtime.Instance | None, store: wasmtime.Store) -> int:
    if instance is None:
        return 0
    import wasmtime

    try:
        mem = instance.exports(store)["memory"]
    except KeyError:
        return 0
    return mem.data_len(store) if isinstance(mem, wasmtime.Memory) else 0


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _first_cause(err: Exception) -> str:
    """wasmtime's message without the backtrace: the text after "Caused by:", else line one."""
    text = str(err).strip()
    if "Caused by:" in text:
        causes = [ln.strip() for ln in text.split("Caused by:", 1)[1].splitlines() if ln.strip()]
        return "; ".join(c.lstrip("0123456789: ") for c in causes) or _first_line(err)
    return _first_line(err)
