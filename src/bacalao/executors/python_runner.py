"""Runs one python-engine job *inside* the sandbox, under the job's virtualenv interpreter.

This file is bound read-only into the sandbox and run as ``python -B -s runner.py SPEC.json``; it
imports nothing but the standard library (bacalao is not installed in the job's venv). The spec::

    {"script": "/opt/bacalao/job/process.py", "args": [...],
     "function": "downscale" | null, "inputs": ["/inputs", ...], "outputs": "/outputs"}

Script mode runs the file as ``__main__`` with ``sys.argv = [script, *args]``. Function mode
imports it as a module named after the file and calls ``function(handle)`` once per file under
every input root (sorted, depth first), ``handle`` being the file opened ``rb``; bytes or str
returned are written to the file's path relative to its input root under ``outputs``, None writes
nothing. A user exception prints the user's traceback, with this runner's frames removed, and exits
1; problems of the job's shape (no such function, a bad return value, two inputs that map to one
output) print one ``bacalao: …`` line and exit 2.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import types

RUNNER = os.path.abspath(__file__)
EXIT_USER_ERROR = 1
EXIT_JOB_ERROR = 2


class JobError(Exception):
    """A problem with how the job is put together, reported as one line (no traceback)."""


def main(argv: list[str]) -> int:
    """Run the job described by the spec file ``argv[1]``; return the process exit status."""
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    script = spec["script"]
    sys.argv = [script, *spec.get("args", [])]
    sys.path[0] = os.path.dirname(script)  # as `python script.py` would have it
    function = spec.get("function")
    try:
        if not function:
            return run_script(script)
        return run_function(script, function, spec.get("inputs", []), spec["outputs"])
    except JobError as e:
        print(f"bacalao: {e}", file=sys.stderr)
        return EXIT_JOB_ERROR


def run_script(script: str) -> int:
    """Run ``script`` as ``__main__``."""
    module = types.ModuleType("__main__")
    module.__file__ = script
    sys.modules["__main__"] = module
    return _user(lambda: _exec(script, module))


def run_function(script: str, function: str, inputs: list[str], outputs: str) -> int:
    """Import ``script`` and call ``function`` on every input file."""
    name = os.path.splitext(os.path.basename(script))[0]
    module = types.ModuleType(name)
    module.__file__ = script
    sys.modules[name] = module
    status = _user(lambda: _exec(script, module))
    if status:
        return status
    fn = getattr(module, function, None)
    if not callable(fn):
        raise JobError(f"{os.path.basename(script)} defines no function {function!r}")
    written: dict[str, str] = {}
    for root in inputs:
        for path, rel in walk(root):
            result: list[object] = []
            with open(path, "rb") as handle:
                status = _user(
                    lambda h=handle, out=result: out.append(fn(h)), context=f"{function}({path})"
                )
            if status:
                return status
            _write(function, path, rel, result[0], outputs, written)
    return 0


def walk(root: str):  # type: ignore[no-untyped-def]
    """``(path, relative path)`` of every file under ``root`` (a file root gives its own name)."""
    if os.path.isfile(root):
        yield root, os.path.basename(root)
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.isfile(path):
                yield path, os.path.relpath(path, root)


def _write(
    function: str, path: str, rel: str, value: object, outputs: str, written: dict[str, str]
) -> None:
    if value is None:
        return
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    else:
        raise JobError(
            f"{function}({path}) returned {type(value).__name__}: return bytes, str or None"
        )
    if rel in written:
        raise JobError(f"{written[rel]} and {path} would both be written to {outputs}/{rel}")
    written[rel] = path
    out = os.path.join(outputs, rel)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    try:
        with open(out, "wb") as f:
            f.write(data)
    except OSError as e:
        raise JobError(f"cannot write {out}: {e.strerror or e}") from None


def _exec(script: str, module: types.ModuleType) -> None:
    with open(script, "rb") as f:
        source = f.read()
    exec(compile(source, script, "exec"), module.__dict__)


def _user(thunk, context: str = "") -> int:  # type: ignore[no-untyped-def]
    """Run user code; on an exception print its traceback without our frames and return 1."""
    try:
        thunk()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - anything the user's code raises is theirs
        sys.stdout.flush()
        if context:
            print(f"bacalao: {context} raised:", file=sys.stderr)
        print_user_traceback(e)
        return EXIT_USER_ERROR
    return 0


def print_user_traceback(exc: BaseException) -> None:
    """Print ``exc`` as Python would, minus the leading frames that belong to this runner."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == RUNNER:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc.with_traceback(tb), tb, file=sys.stderr)
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
