"""Each engine parses its own params: Bacalhau casing, any casing accepted, unknown keys refused."""

from __future__ import annotations

import pytest

from bacalao.errors import InvalidInput
from bacalao.executors.docker import DockerExecutor, DockerParams
from bacalao.executors.noop import NoopExecutor
from bacalao.executors.shell import ShellExecutor

docker = DockerExecutor()
shell = ShellExecutor()
noop = NoopExecutor()


def test_docker_params_in_bacalhau_casing():
    p = docker.validate(
        {
            "Image": "ubuntu:22.04",
            "Entrypoint": ["/bin/sh", "-c"],
            "Parameters": ["echo hi"],
            "EnvironmentVariables": ["FOO=bar", "EMPTY="],
            "WorkingDirectory": "/work",
        }
    )
    assert p == DockerParams(
        image="ubuntu:22.04",
        entrypoint=("/bin/sh", "-c"),
        parameters=("echo hi",),
        environment_variables=("FOO=bar", "EMPTY="),
        working_directory="/work",
    )


def test_docker_keys_are_case_insensitive():
    p = docker.validate({"image": "a", "PARAMETERS": ["x"], "environmentVariables": {"K": "v"}})
    assert (p.image, p.parameters, p.environment_variables) == ("a", ("x",), ("K=v",))


def test_docker_params_as_bacalhau_cli_writes_them():
    # EngineSpec.ToMap() emits every field, empty ones as "" / null / [].
    p = docker.validate(
        {
            "Image": "busybox",
            "Entrypoint": [],
            "Parameters": None,
            "EnvironmentVariables": None,
            "WorkingDirectory": "",
        }
    )
    assert p.entrypoint is None and p.parameters == () and p.working_directory is None


def test_unknown_key_names_the_key_and_the_valid_ones():
    with pytest.raises(InvalidInput) as err:
        docker.validate({"Image": "a", "Imagee": "b"})
    assert "'Imagee'" in err.value.message
    assert err.value.hint.startswith("did you mean 'Image'?")
    for key in ("Image", "Entrypoint", "Parameters", "EnvironmentVariables", "WorkingDirectory"):
        assert key in err.value.hint


def test_unknown_key_without_a_close_match_still_lists_valid_keys():
    with pytest.raises(InvalidInput) as err:
        shell.validate({"Command": "true", "Network": "full"})
    assert "'Network'" in err.value.message
    assert err.value.hint == "valid keys: Command, Stdin"


def test_missing_image():
    with pytest.raises(InvalidInput, match="Image: is required"):
        docker.validate({"Parameters": ["x"]})


def test_params_must_be_a_mapping():
    with pytest.raises(InvalidInput, match="must be a mapping"):
        docker.validate(["busybox"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("env", "match"),
    [
        (["FOO"], "not KEY=VALUE"),
        (["=x"], "not KEY=VALUE"),
        (["BACALAO_JOB_ID=x"], "reserved"),
        (["bacalhau_x=1"], "reserved"),
        ("FOO=bar", "list of KEY=VALUE"),
    ],
)
def test_bad_environment_variables(env, match):
    with pytest.raises(InvalidInput, match=match) as err:
        docker.validate({"Image": "a", "EnvironmentVariables": env})
    assert "EnvironmentVariables" in err.value.message


def test_a_single_env_var_is_fine():  # Bacalhau v1.4.0 wrongly demanded an even count
    assert docker.validate({"Image": "a", "EnvironmentVariables": ["FOO=bar"]})


def test_working_directory_must_be_absolute():
    with pytest.raises(InvalidInput, match="WorkingDirectory.*absolute"):
        docker.validate({"Image": "a", "WorkingDirectory": "work"})


def test_wrong_type_names_the_field():
    with pytest.raises(InvalidInput, match="Parameters"):
        docker.validate({"Image": "a", "Parameters": "echo hi"})


def test_shell_params():
    p = shell.validate({"command": "grep x", "STDIN": "/inputs/a.txt"})
    assert (p.command, p.stdin) == ("grep x", "/inputs/a.txt")
    with pytest.raises(InvalidInput, match="Command: is required"):
        shell.validate({})
    with pytest.raises(InvalidInput, match="Command"):
        shell.validate({"Command": ""})
    with pytest.raises(InvalidInput, match="Stdin.*absolute"):
        shell.validate({"Command": "cat", "Stdin": "inputs/a"})


def test_noop_params():
    assert noop.validate({}).exit_code == 0
    assert noop.validate(None).exit_code == 0  # type: ignore[arg-type]
    p = noop.validate({"exitcode": 3, "Stdout": "hi", "Sleep": 0.5, "Outputs": {"a/b.txt": "x"}})
    assert (p.exit_code, p.stdout, p.sleep, p.outputs) == (3, "hi", 0.5, {"a/b.txt": "x"})
    for bad in ("/etc/passwd", "../x", "a/../../x"):
        with pytest.raises(InvalidInput, match="relative path"):
            noop.validate({"Outputs": {bad: "x"}})
    with pytest.raises(InvalidInput, match="ExitCode"):
        noop.validate({"ExitCode": 256})


def test_wire_keys():
    assert DockerParams.wire_keys() == [
        "Image",
        "Entrypoint",
        "Parameters",
        "EnvironmentVariables",
        "WorkingDirectory",
    ]
