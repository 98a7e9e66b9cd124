"""``bacalao job submit``'s pure parts: which engine the flags make, and the one-liner wrapper."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bacalao.cli.submit import engine_for, one_liner_command, python_engine
from bacalao.errors import InvalidInput

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_wasm_form() -> None:
    assert engine_for(wasm=CID, args=["-w"], targets=["/inputs"]) == {
        "Type": "wasm",
        "Params": {"EntryModule": CID, "Parameters": ["-w"]},
    }


def test_python_form_carries_the_files_inline(tmp_path) -> None:
    (tmp_path / "process.py").write_text("def f(h):\n    return h.read()\n")
    (tmp_path / "requirements.txt").write_text("pillow\n")
    engine = engine_for(
        script=tmp_path / "process.py",
        requirements=tmp_path / "requirements.txt",
        function="f",
        args=["64"],
    )
    assert engine == {
        "Type": "python",
        "Params": {
            "Script": "def f(h):\n    return h.read()\n",
            "ScriptName": "process.py",
            "Requirements": "pillow\n",
            "Function": "f",
            "Args": ["64"],
        },
    }
    (tmp_path / "my script.py").write_text("pass\n")
    assert python_engine(tmp_path / "my script.py")["Params"]["ScriptName"] == "main.py"


def test_shell_form_wraps_the_one_liner() -> None:
    engine = engine_for(one_liner="wc -l", targets=["/inputs"])
    assert engine["Type"] == "shell"
    assert "c='wc -l'" in engine["Params"]["Command"]


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({}, "give exactly one of -x"),
        ({"wasm": CID, "one_liner": "cat"}, "(got -x and -e)"),
        ({"one_liner": "cat"}, "-e runs over a dataset"),
        ({"one_liner": "cat", "targets": ["/inputs"], "args": ["x"]}, "-e takes no arguments"),
        ({"wasm": CID, "function": "f"}, "-r and --function go with -f"),
        ({"script": Path("/nonexistent/p.py")}, "no such file"),
    ],
)
def test_bad_flag_combinations(kw, fragment) -> None:
    with pytest.raises(InvalidInput) as err:
        engine_for(**kw)
    assert fragment in err.value.message


def test_bad_function_name_points_at_the_flag(tmp_path) -> None:
    (tmp_path / "p.py").write_text("pass\n")
    with pytest.raises(InvalidInput, match="^--function: 'a-b' is not a Python function name"):
        python_engine(tmp_path / "p.py", function="a-b")


def test_local_wasm_file_is_refused_with_a_hint(tmp_path) -> None:
    (tmp_path / "m.wasm").write_bytes(b"\0asm")
    with pytest.raises(InvalidInput) as err:
        engine_for(wasm=str(tmp_path / "m.wasm"))
    assert "bacalao wasm run" in (err.value.hint or "")


def test_one_liner_wrapper_maps_every_file_whatever_its_name(tmp_path) -> None:
    """Run the wrapper with the host's sh, /outputs moved into tmp_path."""
    if shutil.which("find") is None:
        pytest.skip("find is not installed")
    data = tmp_path / "data"
    names = ["plain.txt", "with space.txt", "it's.txt", "new\nline.txt", "sub dir/-dash.txt"]
    for i, name in enumerate(names):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text(f"{i}|a\nb\n")
    single = tmp_path / "single.txt"
    single.write_text("s\n")
    outputs = tmp_path / "out"
    command = one_liner_command("sed -n 1p", [str(data), str(single)])
    command = command.replace("/outputs", str(outputs))
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    got = {str(p.relative_to(outputs)): p.read_text() for p in outputs.rglob("*") if p.is_file()}
    assert got == {**{name: f"{i}|a\n" for i, name in enumerate(names)}, "single.txt": "s\n"}

    failing = one_liner_command("grep -q nothing-matches", [str(data)])
    failing = failing.replace("/outputs", str(tmp_path / "out2"))
    proc = subprocess.run(["/bin/sh", "-c", failing], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "bacalao: the command failed (exit 1) on " in proc.stderr
