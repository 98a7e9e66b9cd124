"""The bubblewrap command line, built as a pure function of (profile, request)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bacalao.executors.base import ExecutionRequest, Mount
from bacalao.executors.sandbox import (
    SandboxProfile,
    bwrap_argv,
    check_target,
    prlimit_argv,
    sandbox_env,
    write_etc,
)

MERGED_USR = {
    "/usr": None,
    "/bin": "usr/bin",
    "/sbin": "usr/sbin",
    "/lib": "usr/lib",
    "/lib64": "usr/lib64",
    "/etc/alternatives": None,
    "/etc/ld.so.cache": None,
    "/etc/resolv.conf": None,
    "/etc/ssl": None,
}


def profile(**kw) -> SandboxProfile:
    return SandboxProfile(etc_dir=Path("/state/etc"), layout=MERGED_USR, **kw)


def request(**kw) -> ExecutionRequest:
    fields = dict(
        execution_id="e-1",
        job_id="j-1",
        engine_type="shell",
        engine_params={},
        mounts=(
            Mount(Path("/data/b"), "/inputs/b"),
            Mount(Path("/data/a"), "/inputs", read_only=True),
            Mount(Path("/data/scratch"), "/scratch", read_only=False),
        ),
        outputs_dir=Path("/run/outputs"),
        env={"FOO": "bar"},
        cpu=None,
        memory_bytes=None,
        disk_bytes=None,
    )
    fields.update(kw)
    return ExecutionRequest(**fields)


def pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def test_isolation_flags():
    argv = bwrap_argv(profile(), request(), ["/bin/sh", "-c", "true"])
    assert argv[0] == "bwrap"
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--uid") + 1] == "1000"
    assert "--disable-userns" in argv
    assert "--share-net" not in argv
    assert argv[-4:] == ["--", "/bin/sh", "-c", "true"]
    assert argv[argv.index("--chdir") + 1] == "/"
    assert argv[argv.index("--remount-ro") + 1] == "/"


def test_system_dirs_read_only_and_symlinks_kept():
    argv = bwrap_argv(profile(), request(), ["true"])
    assert ("/usr", "/usr") in pairs(argv, "--ro-bind")
    assert ("usr/bin", "/bin") in pairs(argv, "--symlink")
    assert not any(dest in ("/lib32", "/libx32") for _, dest in pairs(argv, "--ro-bind"))


def test_etc_is_generated_and_minimal():
    argv = bwrap_argv(profile(), request(), ["true"])
    binds = dict((dest, src) for src, dest in pairs(argv, "--ro-bind"))
    assert binds["/etc/passwd"] == "/state/etc/passwd"
    assert binds["/etc/group"] == "/state/etc/group"
    assert "/etc/alternatives" in binds
    assert not any(d.startswith(("/etc/shadow", "/etc/gshadow", "/home", "/root")) for d in binds)
    assert "/etc" not in binds and "/" not in binds
    assert "/etc/resolv.conf" not in binds  # only with network


def test_inputs_outputs_and_tmpfs():
    argv = bwrap_argv(profile(tmp_bytes=1 << 20), request(), ["true"])
    ro = pairs(argv, "--ro-bind")
    rw = pairs(argv, "--bind")
    assert ("/data/a", "/inputs") in ro and ("/data/b", "/inputs/b") in ro
    assert rw == [("/run/outputs", "/outputs"), ("/data/scratch", "/scratch")]
    # the parent mount comes before the one nested in it
    assert argv.index("/data/a") < argv.index("/data/b")
    assert ("1048576", "--tmpfs") in pairs(argv, "--size")
    assert argv.count("--tmpfs") == 2 and "/dev/shm" in argv
    assert ("/proc", "--dev") in pairs(argv, "--proc")


@pytest.mark.parametrize("network", ["host", "full"])
def test_network_shares_the_host_netns_with_resolver_files(network):
    argv = bwrap_argv(profile(), request(network=network), ["true"])
    assert "--share-net" in argv
    assert ("/etc/resolv.conf", "/etc/resolv.conf") in pairs(argv, "--ro-bind")


def test_old_bwrap_without_disable_userns():
    assert "--disable-userns" not in bwrap_argv(profile(disable_userns=False), request(), ["x"])


def test_prlimit_limits():
    assert prlimit_argv(profile(pids_limit=None), request()) == ["prlimit", "--core=0", "--"]
    argv = prlimit_argv(profile(), request(memory_bytes=16 << 20, disk_bytes=1 << 30))
    assert argv == [
        "prlimit",
        "--core=0",
        f"--as={16 << 20}",
        "--nproc=1024",
        f"--fsize={1 << 30}",
        "--",
    ]


@pytest.mark.parametrize(
    ("target", "ok"),
    [
        ("/inputs", True),
        ("/inputs/a/b.txt", True),
        ("/data", True),
        ("inputs", False),
        ("/inputs/../etc", False),
        ("/", False),
        ("/usr", False),
        ("/usr/local/x", False),
        ("/proc/self", False),
        ("/outputs", False),
        ("/outputs/x", False),
        ("/etc/passwd", False),
        ("/tmp", False),
    ],
)
def test_mount_targets(target, ok):
    assert (check_target(target) is None) is ok


def test_env_base_then_request():
    env = sandbox_env(request(env={"PATH": "/opt/bin", "X": "1"}), {"Y": "2"})
    assert env["PATH"] == "/opt/bin" and env["HOME"] == "/tmp"
    assert env["X"] == "1" and env["Y"] == "2"


def test_generated_etc_files(tmp_path):
    write_etc(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["group", "hosts", "passwd"]
    assert "sandbox:x:1000:1000" in (tmp_path / "passwd").read_text()
    assert ":$" not in (tmp_path / "passwd").read_text()  # no password hashes, ever
