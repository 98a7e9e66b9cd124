"""``bacalao job submit`` and ``bacalao python run`` as a user types them, against a server.

One server for the module (shell, python, wasm and noop engines). Datasets are added to its node's
store with ``bacalao data add --data-dir <node store>``, as the node's operator would.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pytest
from tests.conftest import require
from tests.support.serve import Serve
from tests.support.weather import SED_LISBON, lisbon_lines, write_sensor_logs

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require(shutil.which("bwrap") is not None, "bubblewrap (bwrap) is not installed")
    root = tmp_path_factory.mktemp("submit")
    engines = ("--engine", "shell", "--engine", "python", "--engine", "wasm", "--engine", "noop")
    s = Serve(root / "data", *engines).start()
    yield s
    s.stop()


def add(server: Serve, path: Path) -> str:
    """Add a file or directory to the node's store; its CID."""
    store = server.data_dir / "compute" / "store"
    r = server.cli("data", "add", str(path), "--data-dir", str(store))
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[-1]


def job_id(result: subprocess.CompletedProcess[str]) -> str:
    match = re.search(r"Job (j-[0-9a-f-]+) submitted", result.stderr)
    assert match, result.stderr
    return match[1]


def download(server: Serve, job: str, into: Path) -> Path:
    r = server.cli("get", job, "-o", str(into))
    assert r.returncode == 0, r.stderr
    return into / "outputs"


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# -- the shell one-liner ------------------------------------------------------------------------
def test_sed_one_liner_returns_exactly_the_lines_near_lisbon(server, tmp_path) -> None:
    logs = tmp_path / "logs"
    write_sensor_logs(logs, files=8, lines=400, seed=11, awkward_names=True)
    cid = add(server, logs)
    r = server.cli("job", "submit", "-e", SED_LISBON, "-c", cid)
    assert r.returncode == 0, r.stderr
    result_cid = r.stdout.splitlines()[0]
    assert result_cid.startswith("bafy")
    got = tree(download(server, job_id(r), tmp_path / "result"))
    local = {}
    for rel in lisbon_lines(logs):
        with (logs / rel).open("rb") as f:
            local[rel] = subprocess.run(
                ["sh", "-c", SED_LISBON], stdin=f, capture_output=True
            ).stdout
    assert got == local == lisbon_lines(logs)
    assert sum(v.count(b"\n") for v in got.values()) > 50
    assert "station logs/o'brien street.csv" in got


def test_one_liner_failing_on_a_file_fails_the_job(server, tmp_path) -> None:
    logs = tmp_path / "logs"
    write_sensor_logs(logs, files=2, lines=5, seed=1)
    cid = add(server, logs)
    r = server.cli("job", "submit", "-e", "exit 3", "-c", cid)
    assert r.returncode == 1
    assert "bacalao: the command failed (exit 3) on /inputs/sensor-00" in r.stderr
    assert "Error: job j-" in r.stderr and "Hint:" in r.stderr


def test_no_wait_and_id_only_print_the_job_id(server, tmp_path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("x\n")
    cid = add(server, tmp_path / "d")
    r = server.cli("job", "submit", "-e", "wc -l", "-c", cid, "--id-only")
    assert r.returncode == 0 and re.fullmatch(r"j-[0-9a-f-]+\n", r.stdout), r
    r = server.cli("job", "submit", "-e", "wc -l", "-c", cid, "--no-wait")
    assert r.returncode == 0 and re.fullmatch(r"j-[0-9a-f-]+\n", r.stdout), r
    assert "bacalao job describe" in r.stderr


# -- python ------------------------------------------------------------------------------------
PROCESS = """\
import io
import sys

from PIL import Image

SIZE = int(sys.argv[1])


def downscale(f):
    image = Image.open(f).convert("L")
    image.thumbnail((SIZE, SIZE))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
"""


def png(width: int, height: int, seed: int) -> bytes:
    """An RGB PNG with a gradient (written without Pillow: the test process does not have it)."""
    rows = b"".join(
        b"\0"
        + bytes(v for x in range(width) for v in ((x * 7 + y * 3 + seed) % 256, x % 256, y % 256))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_info(data: bytes) -> tuple[int, int, int]:
    """(width, height, colour type) from a PNG's IHDR; colour type 0 is grayscale."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=5):
            return True
    except OSError:
        return False


def test_function_mode_with_pillow_and_a_reused_venv(server, tmp_path) -> None:
    require(pypi_reachable(), "PyPI (pypi.org:443) is unreachable: Pillow cannot be installed")
    images = tmp_path / "images"
    (images / "holiday photos").mkdir(parents=True)
    sizes = {"wide.png": (320, 120), "holiday photos/tall one.png": (90, 260), "tiny.png": (20, 12)}
    for i, (name, (w, h)) in enumerate(sizes.items()):
        (images / name).write_bytes(png(w, h, seed=i))
    cid = add(server, images)
    (tmp_path / "process.py").write_text(PROCESS)
    (tmp_path / "requirements.txt").write_text("pillow\n")
    venvs = server.data_dir / "compute" / "state" / "python" / "venvs"
    before = set(venvs.iterdir()) if venvs.exists() else set()

    def submit(size: int) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        r = server.cli(
            "job", "submit", "-f", str(tmp_path / "process.py"),
            "-r", str(tmp_path / "requirements.txt"), "-c", cid,
            "--function", "downscale", "--memory", "512Mb", "--", str(size),
        )  # fmt: skip
        return r, time.monotonic() - started

    first, first_s = submit(64)
    assert first.returncode == 0, first.stderr
    (built,) = set(venvs.iterdir()) - before
    meta = json.loads((built / "bacalao-venv.json").read_text())
    assert meta["requirements"] == "pillow\n"
    assert b"Successfully installed pillow" in (built / "build.log").read_bytes()
    stamp = (built / "bacalao-venv.json").stat().st_mtime_ns
    out = tree(download(server, job_id(first), tmp_path / "first"))
    assert set(out) == set(sizes)
    for name, (w, h) in sizes.items():
        tw, th, colour = png_info(out[name])
        assert colour == 0, f"{name} is not grayscale"
        assert tw <= 64 and th <= 64
        assert (tw, th) == (w, h) if max(w, h) <= 64 else max(tw, th) == 64

    second, second_s = submit(32)
    assert second.returncode == 0, second.stderr
    assert set(venvs.iterdir()) - before == {built}  # no second venv, no build directory left
    assert (built / "bacalao-venv.json").stat().st_mtime_ns == stamp  # not rebuilt
    assert second_s < first_s, (first_s, second_s)
    assert first_s - second_s > 0.5 * meta["build_s"]  # the build is what the second one saved
    out = tree(download(server, job_id(second), tmp_path / "second"))
    assert all(max(png_info(data)[:2]) <= 32 for data in out.values())


def test_pip_failure_gives_pips_message(server, tmp_path) -> None:
    (tmp_path / "job.py").write_text("print('never runs')\n")
    (tmp_path / "requirements.txt").write_text("bacalao-no-such-package-xyz==0.0.1\n")
    r = server.cli(
        "python", "run", "-f", str(tmp_path / "job.py"), "-r", str(tmp_path / "requirements.txt")
    )
    assert r.returncode == 1
    assert "installing requirements failed: No matching distribution found for " in r.stderr
    assert "bacalao-no-such-package-xyz==0.0.1" in r.stderr
    assert "Hint:" in r.stderr and "Traceback" not in r.stderr


def test_user_exception_gives_the_users_traceback(server, tmp_path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "reading.csv").write_text("1,2\n")
    cid = add(server, tmp_path / "d")
    (tmp_path / "process.py").write_text(
        "def parse(line):\n    return int(line)\n\n"
        "def total(f):\n    return str(sum(parse(x) for x in f))\n"
    )
    r = server.cli(
        "job", "submit", "-f", str(tmp_path / "process.py"), "-c", cid, "--function", "total"
    )
    assert r.returncode == 1
    assert 'File "/opt/bacalao/job/process.py", line 2, in parse' in r.stderr
    assert "ValueError: invalid literal for int() with base 10: b'1,2\\n'" in r.stderr
    assert "user code raised ValueError" in r.stderr
    assert "python_runner" not in r.stderr and "bacalao/executors" not in r.stderr


def test_python_sandbox_denies_network_secrets_node_data_and_stray_writes(server, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os, socket, sys\n"
        "port, data = int(sys.argv[1]), sys.argv[2]\n"
        "out = {}\n"
        "def attempt(name, fn):\n"
        "    try:\n"
        "        fn()\n"
        "        out[name] = 'allowed'\n"
        "    except OSError as e:\n"
        "        out[name] = type(e).__name__\n"
        "attempt('connect', lambda: socket.create_connection(('127.0.0.1', port), timeout=2))\n"
        "attempt('shadow', lambda: open('/etc/shadow').read())\n"
        "attempt('node data', lambda: os.listdir(data))\n"
        "attempt('write /', lambda: open('/escape', 'w'))\n"
        "attempt('write venv', lambda: open(sys.prefix + '/x', 'w'))\n"
        "attempt('write /tmp/../etc', lambda: open('/etc/passwd', 'a'))\n"
        "attempt('write outputs', lambda: open('/outputs/ok', 'w').write('ok'))\n"
        "print(json.dumps(out))\n"
    )
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        r = server.cli("python", "run", "-f", str(probe), "--", str(port), str(server.data_dir))
        with pytest.raises(TimeoutError):
            listener.accept()
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.splitlines()[1])
    assert seen.pop("write outputs") == "allowed"
    assert seen.pop("connect") in ("ConnectionRefusedError", "OSError")
    assert seen.pop("shadow") == seen.pop("node data") == "FileNotFoundError"
    assert set(seen.values()) <= {"OSError", "PermissionError"}, seen


# -- the wasm form (the spec; the wasm engine's own tests run it) ---------------------------------
def test_wasm_form_builds_an_entry_module_job(server) -> None:
    module = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    data = "QmcF3xAi2fmkgEUewK6cuKyYzh4kAjGmVgfZSjrpKt7jsx"
    r = server.cli("job", "submit", "-x", module, "-c", data, "--dry-run", "--", "-w")
    assert r.returncode == 0, r.stderr
    assert "Type: wasm" in r.stdout and f"EntryModule: {module}" in r.stdout
    assert f"CID: {data}" in r.stdout and "Target: /inputs" in r.stdout


def test_a_spec_can_name_the_script_and_requirements_by_cid(server, tmp_path) -> None:
    (tmp_path / "hello.py").write_text("import sys\nprint('hello from the store', sys.argv[1:])\n")
    (tmp_path / "requirements.txt").write_text("# nothing to install\n")
    script, requirements = (
        add(server, tmp_path / "hello.py"),
        add(server, tmp_path / "requirements.txt"),
    )
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "Type: batch\nCount: 1\nTasks:\n  - Name: main\n    Engine:\n      Type: python\n"
        f"      Params:\n        ScriptCID: {script}\n        RequirementsCID: {requirements}\n"
        "        Args: [a, b]\n"
    )
    r = server.cli("job", "run", str(spec))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == "hello from the store ['a', 'b']"


def test_wasm_form_runs_a_module_by_cid_over_a_dataset(server, tmp_path) -> None:
    from tests.support import wasm_modules

    problem = wasm_modules.toolchain_problem()
    require(problem is None, problem or "")
    module = add(server, wasm_modules.module("wordcount"))
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("one two three\n")
    (tmp_path / "d" / "sub" / "b.txt").write_text("four five\n")
    data = add(server, tmp_path / "d")
    r = server.cli("job", "submit", "-x", module, "-c", data, "--", "/inputs")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["2 files, 5 words"]
    counts = download(server, job_id(r), tmp_path / "result") / "counts.txt"
    assert counts.read_text() == "a.txt 3\nsub/b.txt 2\ntotal 5\n"
