"""The python engine's pure parts: params, content refs, the venv key, pip config and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from bacalao.errors import InvalidInput
from bacalao.executors.python import (
    Interpreter,
    PythonExecutor,
    _user_error,
    build_script,
    pip_error,
)
from bacalao.executors.venvs import (
    PIP_CONFIG_FILES,
    normalise_requirements,
    pip_host_config,
    venv_key,
)

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@pytest.fixture
def executor(tmp_path) -> PythonExecutor:
    return PythonExecutor(state_dir=tmp_path)


def test_params_inline_script(executor) -> None:
    p = executor.validate({"script": "print(1)", "requirements": "six", "function": "f"})
    assert (p.script, p.requirements, p.function, p.script_name) == (
        "print(1)",
        "six",
        "f",
        "main.py",
    )
    assert executor.content_refs({"Script": "x"}) == {}


def test_params_by_cid_become_content_refs(executor) -> None:
    params = {"ScriptCID": CID, "RequirementsCID": CID + "/requirements.txt"}
    assert executor.content_refs(params) == {
        "script": CID,
        "requirements": CID + "/requirements.txt",
    }


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "exactly one of Script"),
        ({"Script": "x", "ScriptCID": CID}, "exactly one of Script"),
        ({"Script": "x", "Requirements": "a", "RequirementsCID": CID}, "not both"),
        ({"Script": "x", "Function": "not-a-name"}, "not a Python function name"),
        ({"Script": "x", "ScriptName": "../evil.py"}, "plain file name"),
        ({"Script": "x", "ScriptName": "main.sh"}, "plain file name"),
        ({"ScriptCID": "not-a-cid"}, "is not a CID"),
        ({"Script": "x", "Image": "ubuntu"}, "unknown python engine param 'Image'"),
    ],
)
def test_bad_params_are_invalid_input(executor, params, fragment) -> None:
    with pytest.raises(InvalidInput) as err:
        executor.validate(params)
    assert fragment in err.value.message
    assert "Script" in (err.value.hint or "")


def test_normalised_requirements_ignore_order_comments_and_blanks() -> None:
    a = "pillow==10.0  # images\n\nrequests\n# a comment\n"
    b = "requests\npillow==10.0\n  \n"
    assert normalise_requirements(a) == normalise_requirements(b) == "pillow==10.0\nrequests\n"
    assert venv_key(a, "3.11.7") == venv_key(b, "3.11.7")
    assert venv_key(a, "3.11.7") != venv_key(a, "3.12.1")
    assert venv_key("pillow==10.1", "3.11.7") != venv_key(a, "3.11.7")
    assert venv_key(None, "3.11.7") == venv_key("", "3.11.7") == venv_key("# none\n", "3.11.7")


def test_pip_host_config_merges_files_and_binds_local_paths(tmp_path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    index = tmp_path / "mirror" / "simple"
    index.mkdir(parents=True)
    home = tmp_path / "home"
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(
        f"[global]\nfind-links = {wheels}\nextra-index-url = file://{index} https://example\n"
    )
    env = {"PIP_DEFAULT_TIMEOUT": "60", "HTTPS_PROXY": "http://proxy:3128", "HOME": "/x"}
    config = pip_host_config(env, home, config_files=PIP_CONFIG_FILES[2:])
    assert config.env == {"PIP_DEFAULT_TIMEOUT": "60", "HTTPS_PROXY": "http://proxy:3128"}
    assert f"find-links = {wheels}" in config.config
    # a file:// index's links point to ../files: its parent is bound, not just `simple/`
    assert set(config.paths) == {wheels, tmp_path / "mirror"}


def test_pip_error_is_pips_last_error_line() -> None:
    out = (
        b"Looking in indexes: https://pypi.org/simple\n"
        b"ERROR: Could not find a version that satisfies the requirement nope==1\n"
        b"ERROR: No matching distribution found for nope==1\n"
    )
    assert (
        pip_error(out, 1)
        == "installing requirements failed: No matching distribution found for nope==1"
    )
    assert pip_error(b"", 2) == "installing requirements failed (exit code 2)"


def test_build_script_uses_the_bundled_pip_wheel_when_there_is_one() -> None:
    interp = Interpreter("/py/bin/python3", "/py", "3.11.7", "/py/lib/ensurepip/pip-23.whl")
    script = build_script(interp, install=True)
    assert "-m venv --without-pip /opt/bacalao/venv" in script
    assert "/opt/bacalao/venv/bin/python /py/lib/ensurepip/pip-23.whl/pip install" in script
    assert "-r /opt/bacalao/build/requirements.txt" in script
    assert "pip install" not in build_script(interp, install=False)
    no_wheel = Interpreter("/py/bin/python3", "/py", "3.11.7", None)
    assert "/opt/bacalao/venv/bin/python -m pip install" in build_script(no_wheel, install=True)


def test_interpreter_outside_system_dirs_is_bound_read_only() -> None:
    assert Interpreter("/usr/bin/python3", "/usr", "3.11", None).mounts() == ()
    (mount,) = Interpreter("/opt/py/bin/python3", "/opt/py", "3.11", None).mounts()
    assert (mount.source, mount.target, mount.read_only) == (Path("/opt/py"), "/opt/py", True)


@pytest.mark.parametrize(
    ("stderr", "code", "error"),
    [
        ("Traceback (most recent call last):\n  ...\nValueError: boom\n", 1,
         "user code raised ValueError: boom"),
        ('  File "/opt/bacalao/job/main.py", line 1\nSyntaxError: invalid syntax\n', 1,
         "user code raised SyntaxError: invalid syntax"),
        ("bacalao: main.py defines no function 'f'\n", 2, "main.py defines no function 'f'"),
        ("some output\n", 3, None),
        ("", 1, None),
    ],
)  # fmt: skip
def test_user_error_from_stderr(tmp_path, stderr, code, error) -> None:
    path = tmp_path / "stderr"
    path.write_text(stderr)
    assert _user_error(path, code) == error
