"""The WASI host functions the wasm engine shadows, and the epoch callback that stops a module.

Determinism. wasmtime's WASI reads the host clock and the host's randomness, and reports host
inode numbers and timestamps. In deterministic mode (the default) the linker shadows those WASI
functions with the ones here:

- ``clock_time_get`` / ``clock_res_get``: a virtual clock. Every clock starts at
  :data:`EPOCH_NS` for the realtime clock and 0 for the others, and advances by
  :data:`CLOCK_STEP_NS` per read and by the requested time on every sleep (``poll_oneoff`` with
  only clock subscriptions returns at once), so a program that busy-waits for time still ends;
- ``random_get``: SHA-256 in counter mode over the job's seed (same seed, same bytes);
- ``fd_filestat_get`` / ``path_filestat_get``: device and inode 0, timestamps :data:`EPOCH_NS`;
  ``fd_readdir``: inode numbers 0.

Not fixed: the *order* of directory entries is the host file system's (a program that needs a
stable order sorts, as ``scandir(…, alphasort)`` does). stdin is empty; argv and the environment
come from the job. Non-deterministic mode keeps wasmtime's host clocks and randomness; its sleeps
still wake for a timeout or a cancel.

Host functions never raise (wasmtime-py hands a host exception to whichever thread next leaves
wasm), they return a WASI errno; stopping a module is the epoch callback's job.
"""

from __future__ import annotations

import ctypes
import hashlib
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import wasmtime

WASI = "wasi_snapshot_preview1"
#: 2000-01-01T00:00:00Z: where the deterministic realtime clock starts.
EPOCH_NS = 946_684_800 * 1_000_000_000
#: How far the deterministic clocks move per read (1 µs).
CLOCK_STEP_NS = 1_000

_ERRNO_AGAIN = 6  # a sleep cut short because the execution is being stopped
_ERRNO_FAULT = 21
_ERRNO_INVAL = 28

#: The running execution's :class:`HostState` (host functions and the epoch callback run on the
#: thread that runs the module).
local = threading.local()


class Stoppable(Protocol):
    """What the host functions ask of an execution's stop signals (``wasm_host.Control``)."""

    def reason(self) -> str | None: ...

    def sleep(self, seconds: float) -> bool: ...


#: A helper module instantiated (lazily) in each store that needs it: it calls wasmtime's own WASI
#: functions on *its* memory. wasmtime's WASI reads and writes the memory of the instance that
#: calls it, so a Python shim cannot call the original directly; it copies the arguments into the
#: helper's memory, calls through the helper, and copies the (scrubbed) answer back. The helper
#: shares the store, hence the WASI context and its file descriptors.
HELPER_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $a (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $b (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $c (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $d (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fd_filestat_get") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $a)
  (func (export "path_filestat_get") (param i32 i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $b)
  (func (export "fd_readdir") (param i32 i32 i32 i64 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 local.get 4 call $c)
  (func (export "poll_oneoff") (param i32 i32 i32 i32) (result i32)
    local.get 0 local.get 1 local.get 2 local.get 3 call $d))
"""


def helper_module(engine: wasmtime.Engine) -> wasmtime.Module:
    """The compiled :data:`HELPER_WAT` (once per engine)."""
    import wasmtime

    return wasmtime.Module(engine, wasmtime.wat2wasm(HELPER_WAT))


class _Helper:
    """The helper instance of one store: its memory and exported WASI calls."""

    def __init__(self, caller: Any, base: wasmtime.Linker, module: wasmtime.Module) -> None:
        instance = base.instantiate(caller, module)
        exports = instance.exports(caller)
        self.memory = exports["memory"]
        self.funcs = {name: exports[name] for name in _HELPER_FUNCS}

    def reserve(self, caller: Any, size: int) -> None:
        """Grow the helper's memory to hold ``size`` bytes."""
        have = self.memory.data_len(caller)
        if size > have:
            self.memory.grow(caller, (size - have + 65535) // 65536)

    def call(self, caller: Any, name: str, *args: int) -> int:
        return self.funcs[name](caller, *args)


_HELPER_FUNCS = ("fd_filestat_get", "path_filestat_get", "fd_readdir", "poll_oneoff")


class HostState:
    """Per-execution state the shadowing host functions read (through a thread-local)."""

    def __init__(
        self,
        *,
        deterministic: bool,
        seed: int,
        control: Stoppable,
        base: wasmtime.Linker,
        helper: wasmtime.Module,
    ) -> None:
        self.deterministic = deterministic
        self.seed = seed.to_bytes(8, "little", signed=False)
        self.random_block = 0
        self.random_buffer = b""
        self.now_ns = 0
        self.control = control
        self._base = base
        self._helper_module = helper
        self._helper: _Helper | None = None

    def helper(self, caller: Any) -> _Helper:
        """This store's helper instance, instantiated on first use."""
        if self._helper is None:
            self._helper = _Helper(caller, self._base, self._helper_module)
        return self._helper

    def tick(self, ns: int = CLOCK_STEP_NS) -> int:
        self.now_ns += ns
        return self.now_ns

    def random(self, n: int) -> bytes:
        while len(self.random_buffer) < n:
            block = self.random_block.to_bytes(8, "little")
            self.random_buffer += hashlib.sha256(b"bacalao-wasm\0" + self.seed + block).digest()
            self.random_block += 1
        out, self.random_buffer = self.random_buffer[:n], self.random_buffer[n:]
        return out


# -- shadowing WASI functions ---------------------------------------------------------------------


def _memory(caller: Any) -> Any:
    mem = caller.get("memory")
    if mem is None:
        raise LookupError("the module exports no memory")
    return mem


def _guarded(fn: Callable[..., int]) -> Callable[..., int]:
    def call(caller: Any, *args: int) -> int:
        try:
            return fn(caller, local.state, *args)
        except Exception:  # never raise into wasmtime (see the module doc)
            return _ERRNO_FAULT

    call.__name__ = fn.__name__
    return call


def _clock_time_get(caller: Any, st: HostState, clock_id: int, _precision: int, ptr: int) -> int:
    if clock_id not in (0, 1, 2, 3):
        return _ERRNO_INVAL
    now = st.tick()
    value = EPOCH_NS + now if clock_id == 0 else now
    _memory(caller).write(caller, struct.pack("<Q", value), ptr)
    return 0


def _clock_res_get(caller: Any, st: HostState, clock_id: int, ptr: int) -> int:
    if clock_id not in (0, 1, 2, 3):
        return _ERRNO_INVAL
    _memory(caller).write(caller, struct.pack("<Q", CLOCK_STEP_NS), ptr)
    return 0


def _random_get(caller: Any, st: HostState, ptr: int, length: int) -> int:
    _memory(caller).write(caller, st.random(length), ptr)
    return 0


def _scrubbed_filestat(raw: bytes) -> bytes:
    # filestat: dev u64 @0, ino u64 @8, filetype u8 @16, nlink u64 @24, size u64 @32,
    # atim u64 @40, mtim u64 @48, ctim u64 @56
    return bytes(16) + raw[16:40] + struct.pack("<QQQ", EPOCH_NS, EPOCH_NS, EPOCH_NS)


def _fd_filestat_get(caller: Any, st: HostState, fd: int, ptr: int) -> int:
    helper = st.helper(caller)
    errno = helper.call(caller, "fd_filestat_get", fd, 0)
    if errno == 0:
        raw = bytes(helper.memory.read(caller, 0, 64))
        _memory(caller).write(caller, _scrubbed_filestat(raw), ptr)
    return errno


def _path_filestat_get(
    caller: Any, st: HostState, fd: int, flags: int, path: int, path_len: int, ptr: int
) -> int:
    helper = st.helper(caller)
    helper.reserve(caller, 64 + path_len)
    helper.memory.write(caller, _memory(caller).read(caller, path, path + path_len), 64)
    errno = helper.call(caller, "path_filestat_get", fd, flags, 64, path_len, 0)
    if errno == 0:
        raw = bytes(helper.memory.read(caller, 0, 64))
        _memory(caller).write(caller, _scrubbed_filestat(raw), ptr)
    return errno


def _fd_readdir(
    caller: Any, st: HostState, fd: int, buf: int, buf_len: int, cookie: int, used_ptr: int
) -> int:
    helper = st.helper(caller)
    helper.reserve(caller, 8 + buf_len)
    errno = helper.call(caller, "fd_readdir", fd, 8, buf_len, cookie, 0)
    if errno != 0:
        return errno
    used = struct.unpack("<I", helper.memory.read(caller, 0, 4))[0]
    data = helper.memory.read(caller, 8, 8 + used)
    offset = 0
    while offset + 24 <= used:  # dirent: d_next u64, d_ino u64, d_namlen u32, d_type u8; name
        data[offset + 8 : offset + 16] = bytes(8)
        offset += 24 + struct.unpack_from("<I", data, offset + 16)[0]
    mem = _memory(caller)
    mem.write(caller, data, buf)
    mem.write(caller, struct.pack("<I", used), used_ptr)
    return 0


def _poll_fds(caller: Any, st: HostState, subs: int, events: int, nsubs: int, nev: int) -> int:
    """``poll_oneoff`` with fd subscriptions: wasmtime's, through the helper."""
    helper = st.helper(caller)
    sub_bytes, ev_at = 48 * nsubs, 48 * nsubs
    helper.reserve(caller, sub_bytes + 32 * nsubs + 4)
    helper.memory.write(caller, _memory(caller).read(caller, subs, subs + sub_bytes), 0)
    errno = helper.call(caller, "poll_oneoff", 0, ev_at, nsubs, ev_at + 32 * nsubs)
    if errno == 0:
        count = struct.unpack(
            "<I", helper.memory.read(caller, ev_at + 32 * nsubs, ev_at + 32 * nsubs + 4)
        )[0]
        mem = _memory(caller)
        mem.write(caller, helper.memory.read(caller, ev_at, ev_at + 32 * count), events)
        mem.write(caller, struct.pack("<I", count), nev)
    return errno


def _poll_oneoff(
    caller: Any, st: HostState, subs: int, events: int, nsubs: int, nev_ptr: int
) -> int:
    """Sleeps: virtual in deterministic mode, interruptible otherwise; fd polls go to WASI."""
    if nsubs == 0:
        return _ERRNO_INVAL
    mem = _memory(caller)
    raw = mem.read(caller, subs, subs + 48 * nsubs)
    clocks = []
    for i in range(nsubs):
        userdata, tag = struct.unpack_from("<QB", raw, 48 * i)
        if tag != 0:  # an fd subscription: only wasmtime knows its fds
            return _poll_fds(caller, st, subs, events, nsubs, nev_ptr)
        clock_id, timeout, _precision, flags = struct.unpack_from("<I4xQQH", raw, 48 * i + 16)
        if flags & 1:  # absolute time
            now = EPOCH_NS + st.now_ns if clock_id == 0 else st.now_ns
            if not st.deterministic:
                now = time.time_ns() if clock_id == 0 else time.monotonic_ns()
            timeout = max(timeout - now, 0)
        clocks.append((timeout, userdata))
    wait = min(t for t, _ in clocks)
    if st.deterministic:
        st.tick(wait)
    elif not st.control.sleep(wait / 1e9):
        return _ERRNO_AGAIN
    fired = [u for t, u in clocks if t <= wait]
    out = b"".join(struct.pack("<QHBxxxxxQHxxxxxx", u, 0, 0, 0, 0) for u in fired)
    mem.write(caller, out, events)
    mem.write(caller, struct.pack("<I", len(fired)), nev_ptr)
    return 0


_I32, _I64 = "i32", "i64"
_SHIMS: dict[str, tuple[Callable[..., int], tuple[str, ...], bool]] = {
    # name: (function, param types, deterministic mode only)
    "clock_time_get": (_clock_time_get, (_I32, _I64, _I32), True),
    "clock_res_get": (_clock_res_get, (_I32, _I32), True),
    "random_get": (_random_get, (_I32, _I32), True),
    "fd_filestat_get": (_fd_filestat_get, (_I32, _I32), True),
    "path_filestat_get": (_path_filestat_get, (_I32,) * 5, True),
    "fd_readdir": (_fd_readdir, (_I32, _I32, _I32, _I64, _I32), True),
    "poll_oneoff": (_poll_oneoff, (_I32,) * 4, False),
}


def new_linker(engine: wasmtime.Engine, *, deterministic: bool | None) -> wasmtime.Linker:
    """A linker with WASI; ``deterministic`` True/False also shadows functions as documented
    above (None: plain WASI, which the shadowing functions call through)."""
    import wasmtime

    linker = wasmtime.Linker(engine)
    linker.allow_shadowing = True
    linker.define_wasi()
    if deterministic is None:
        return linker
    types = {_I32: wasmtime.ValType.i32(), _I64: wasmtime.ValType.i64()}
    for name, (fn, params, det_only) in _SHIMS.items():
        if det_only and not deterministic:
            continue
        ty = wasmtime.FuncType([types[p] for p in params], [types[_I32]])
        linker.define_func(WASI, name, ty, _guarded(fn), access_caller=True)
    return linker


# -- epoch deadline callback ----------------------------------------------------------------------


def _epoch_callback(_ctx: Any, _data: Any, delta: Any, kind: Any) -> int:
    """Called on the wasm thread each time its epoch deadline passes (every tick)."""
    from wasmtime import _ffi as ffi

    state: HostState | None = getattr(local, "state", None)
    reason = state.control.reason() if state is not None else None
    if reason is not None:
        local.stopped = reason
        error = ffi.wasmtime_error_new(f"bacalao: execution {reason}".encode())
        return ctypes.cast(error, ctypes.c_void_p).value or 0
    delta[0] = 1
    kind[0] = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE
    return 0


#: The ctypes thunks, made once and kept for the life of the process: a store holds raw pointers
#: to them, so they must never be collected (hence the lock: two first runs must not race).
_callbacks: dict[str, Any] = {}
_callbacks_lock = threading.Lock()


def install_epoch_callback(store: wasmtime.Store) -> None:
    """Make ``store`` call :func:`_epoch_callback` every epoch tick."""
    from wasmtime import _ffi as ffi

    with _callbacks_lock:
        if not _callbacks:
            proto = ctypes.CFUNCTYPE(
                ctypes.c_size_t,
                ctypes.POINTER(ffi.wasmtime_context_t),
                ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_uint64),
                ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t),
            )
            _callbacks["on_epoch"] = proto(_epoch_callback)
            _callbacks["finalize"] = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _: None)
    ffi.wasmtime_store_epoch_deadline_callback(
        store.ptr(), _callbacks["on_epoch"], None, _callbacks["finalize"]
    )
    store.set_epoch_deadline(1)
