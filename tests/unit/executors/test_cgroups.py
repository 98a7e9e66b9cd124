"""Per-execution pids cgroups, over a fake cgroupfs (the real one is used by the shell tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bacalao.executors import cgroups
from bacalao.executors.cgroups import JOIN, PidsCgroups


@pytest.fixture
def root_user(monkeypatch):
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 0)


def _v1(tmp_path: Path) -> Path:
    (tmp_path / "pids").mkdir()
    (tmp_path / "pids" / "cgroup.procs").write_text("")
    return tmp_path


def _v2(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    return tmp_path


def _procs(path: Path, pids: str) -> None:
    (path / "cgroup.procs").write_text(pids)  # what the kernel would list


def test_only_a_root_node_makes_cgroups(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 1000)
    assert PidsCgroups.probe(_v1(tmp_path)) is None


def test_no_pids_controller_no_cgroups(tmp_path, root_user):
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    assert PidsCgroups.probe(tmp_path) is None


@pytest.mark.parametrize("layout", [_v1, _v2])
def test_each_run_gets_a_limited_cgroup_of_its_own_reused_once_empty(tmp_path, root_user, layout):
    found = PidsCgroups.probe(layout(tmp_path))
    assert found is not None and found.parent.parent.name == "bacalao"
    assert found.parent.name == str(os.getpid())  # one node process, its own slots
    with found.joined(64) as first, found.joined(32) as second:
        one, two = Path(first[3]).parent, Path(second[3]).parent
        assert first == ["/bin/sh", "-c", JOIN, str(one / "cgroup.procs")]
        assert one != two  # concurrent runs never share a cgroup
        assert (one / "pids.max").read_text() == "64" and (two / "pids.max").read_text() == "32"
        _procs(one, "4242\n")  # the first run's last process is still leaving
    with found.joined(16) as third:
        assert Path(third[3]).parent == two  # the empty one is reused, the busy one is not
    _procs(one, "")
    with found.joined(16) as fourth:
        assert Path(fourth[3]).parent in (one, two)


def test_v2_enables_the_controller_for_the_children(tmp_path, root_user):
    found = PidsCgroups.probe(_v2(tmp_path))
    assert found is not None
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+pids"
    assert (found.parent / "cgroup.subtree_control").read_text() == "+pids"


def test_a_cgroup_that_cannot_be_made_runs_without_one(tmp_path, root_user, caplog):
    found = PidsCgroups(tmp_path / "nowhere" / "bacalao")
    with found.joined(64) as prefix:
        assert prefix == []
    assert "could not make a pids cgroup" in caplog.text


def test_startup_sweeps_what_dead_nodes_left(tmp_path, root_user):
    root = _v1(tmp_path)
    dead = root / "pids" / "bacalao" / "999999999"
    (dead / "slot-0").mkdir(parents=True)
    alive = root / "pids" / "bacalao" / "1"  # pid 1 is always there
    (alive / "slot-0").mkdir(parents=True)
    PidsCgroups.probe(root)
    assert not dead.exists() and (alive / "slot-0").exists()
