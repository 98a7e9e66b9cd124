"""The in-sandbox runner, run here without a sandbox: modes, outputs, and clean tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bacalao.executors.python import RUNNER_FILE


def run(tmp_path: Path, source: str, *, function=None, inputs=(), args=(), name="job.py"):
    script = tmp_path / name
    script.write_text(source)
    outputs = tmp_path / "outputs"
    outputs.mkdir(exist_ok=True)
    spec = {
        "script": str(script),
        "args": list(args),
        "function": function,
        "inputs": [str(p) for p in inputs],
        "outputs": str(outputs),
    }
    (tmp_path / "spec").write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, "-B", "-s", str(RUNNER_FILE), str(tmp_path / "spec")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    files = {str(p.relative_to(outputs)): p.read_bytes() for p in outputs.rglob("*") if p.is_file()}
    return proc, files


def test_script_mode_runs_as_main_with_args(tmp_path) -> None:
    source = "import sys\nif __name__ == '__main__':\n    print(sys.argv[1:], sys.path[0])\n"
    proc, _ = run(tmp_path, source, args=["a", "b c"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"['a', 'b c'] {tmp_path}\n"


def test_script_exit_code_is_kept(tmp_path) -> None:
    proc, _ = run(tmp_path, "import sys\nsys.exit(7)\n")
    assert proc.returncode == 7 and proc.stderr == ""


def test_function_mode_writes_each_result_at_the_same_relative_path(tmp_path) -> None:
    data = tmp_path / "data"
    (data / "sub dir").mkdir(parents=True)
    (data / "a.txt").write_text("alpha")
    (data / "sub dir" / "b c.txt").write_text("beta")
    (data / "skip.txt").write_text("none")
    single = tmp_path / "single.txt"
    single.write_text("gamma")
    source = (
        "def shout(f):\n"
        "    text = f.read().decode()\n"
        "    if text == 'none':\n"
        "        return None\n"
        "    return text.upper() if 'b' in f.name else text.upper().encode()\n"
    )
    proc, files = run(tmp_path, source, function="shout", inputs=[data, single])
    assert proc.returncode == 0, proc.stderr
    assert files == {"a.txt": b"ALPHA", "sub dir/b c.txt": b"BETA", "single.txt": b"GAMMA"}


def test_user_exception_shows_only_user_frames(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.bin").write_bytes(b"\0")
    source = (
        "def helper(f):\n    raise ValueError('bad input ' + f.name)\n\n"
        "def go(f):\n    return helper(f)\n"
    )
    proc, files = run(tmp_path, source, function="go", inputs=[data], name="process.py")
    assert proc.returncode == 1
    assert files == {}
    lines = proc.stderr.splitlines()
    assert lines[0] == f"bacalao: go({data}/x.bin) raised:"
    assert lines[1] == "Traceback (most recent call last):"
    assert "python_runner" not in proc.stderr and "runpy" not in proc.stderr
    assert [ln.strip() for ln in lines if ln.strip().startswith("File")] == [
        f'File "{tmp_path}/process.py", line 5, in go',
        f'File "{tmp_path}/process.py", line 2, in helper',
    ]
    assert lines[-1] == f"ValueError: bad input {data}/x.bin"


def test_script_exception_and_syntax_error(tmp_path) -> None:
    proc, _ = run(tmp_path, "print('before')\n1/0\n")
    assert proc.returncode == 1 and proc.stdout == "before\n"
    assert proc.stderr.startswith("Traceback (most recent call last):\n")
    assert "python_runner" not in proc.stderr
    assert proc.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    proc, _ = run(tmp_path, "def broken(:\n")
    assert proc.returncode == 1
    assert "python_runner" not in proc.stderr and "SyntaxError" in proc.stderr.splitlines()[-1]


def test_job_shape_errors_are_one_line(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "x").write_text("x")
    proc, _ = run(tmp_path, "def f(h):\n    return 1\n", function="missing", inputs=[data])
    assert (proc.returncode, proc.stderr) == (2, "bacalao: job.py defines no function 'missing'\n")
    proc, _ = run(tmp_path, "def f(h):\n    return 1\n", function="f", inputs=[data])
    assert proc.returncode == 2
    assert proc.stderr == f"bacalao: f({data}/x) returned int: return bytes, str or None\n"
