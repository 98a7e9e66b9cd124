"""WebAssembly test modules: C programs in ``tests/support/wasm/`` built with Debian's clang.

Debian's ``clang`` knows the multiarch layout of ``wasi-libc`` (headers in
``/usr/include/wasm32-wasi``, ``libc.a`` and ``crt1*.o`` in ``/usr/lib/wasm32-wasi``) when given
``--sysroot=/usr``; ``libclang-rt-14-dev-wasm32`` supplies the compiler builtins and ``lld`` the
``wasm-ld`` linker. Modules are built once per source (keyed by the hash of the source and flags)
into a cache directory shared by every test session and the benchmark.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCES = Path(__file__).resolve().parent / "wasm"
CLANG = os.environ.get("BACALAO_TEST_CLANG", "clang")
BASE_FLAGS = ("--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-Wall", "-Wl,--strip-all")
#: Library modules (no main) are WASI reactors: ``_initialize`` instead of ``_start``.
EXTRA_FLAGS = {"mathlib": ("-mexec-model=reactor",)}
CACHE = Path(os.environ.get("BACALAO_WASM_BUILD_DIR", Path(tempfile.gettempdir()) / "bacalao-wasm"))


def names() -> list[str]:
    """Every test module's name (``wordcount``, ``loop``, …)."""
    return sorted(p.stem for p in SOURCES.glob("*.c"))


@functools.cache
def toolchain_problem() -> str | None:
    """Why modules cannot be built here, or None when clang and wasi-libc are present."""
    if shutil.which(CLANG) is None:
        return (
            f"{CLANG} is not installed (apt install clang lld wasi-libc libclang-rt-14-dev-wasm32)"
        )
    if not Path("/usr/lib/wasm32-wasi/libc.a").exists():
        return "wasi-libc is not installed (apt install wasi-libc)"
    try:
        module("hello")
    except RuntimeError as e:
        return str(e)
    return None


@functools.cache
def module(name: str) -> Path:
    """The built ``.wasm`` of ``tests/support/wasm/<name>.c`` (compiled on first use)."""
    source = SOURCES / f"{name}.c"
    flags = (*BASE_FLAGS, *EXTRA_FLAGS.get(name, ()))
    key = hashlib.sha256(source.read_bytes() + "\0".join(flags).encode()).hexdigest()[:16]
    out = CACHE / f"{name}-{key}.wasm"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run(
        [CLANG, *flags, str(source), "-o", str(tmp)], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"building {name}.wasm failed:\n{proc.stderr}")
    tmp.replace(out)  # atomic: a concurrent session sees the old or the whole new file
    return out


def module_bytes(name: str) -> bytes:
    """The bytes of a built test module."""
    return module(name).read_bytes()


@functools.cache
def module_cid(name: str) -> str:
    """The CID ``bacalao data add`` gives the built module (CIDv0, Kubo's defaults)."""
    return bytes_cid(module_bytes(name))


def bytes_cid(data: bytes) -> str:
    """The CID of ``data`` added as one file with Kubo's default profile."""
    from bacalao.blockstore.repo import Repo
    from bacalao.ipld.profiles import resolve_profile

    return str(Repo.memory().add_bytes(data, resolve_profile(None, None)).cid)
