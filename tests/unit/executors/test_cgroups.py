"""Per-execution pids cgroups, over a fake cgroupfs (the real one is used by the shell tests)."""

from __future__ import annotations

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
    return tmp_path


def test_only_a_root_node_makes_cgroups(tmp_path, monkeypatch):
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 1000)
    assert PidsCgroups.probe(_v1(tmp_path)) is None


def test_no_pids_controller_no_cgroups(tmp_path, root_user):
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    assert PidsCgroups.probe(tmp_path) is None


@pytest.mark.parametrize("layout", [_v1, _v2])
def test_an_execution_gets_its_own_limited_cgroup_and_it_goes_after(tmp_path, root_user, layout):
    found = PidsCgroups.probe(layout(tmp_path))
    assert found is not None and found.parent.name == "bacalao"
    with found.joined("e-1", 64) as prefix:
        path = found.parent / "e-1"
        assert (path / "pids.max").read_text() == "64"
        assert prefix == ["/bin/sh", "-c", JOIN, str(path / "cgroup.procs")]
    # a fake cgroupfs keeps the files rmdir would refuse: the cgroup waits for a sweep
    assert path in found._leftover


def test_v2_enables_the_controller_for_the_children(tmp_path, root_user):
    found = PidsCgroups.probe(_v2(tmp_path))
    assert found is not None
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+pids"
    assert (found.parent / "cgroup.subtree_control").read_text() == "+pids"


def test_a_cgroup_that_cannot_be_made_runs_without_one(tmp_path, root_user, caplog):
    found = PidsCgroups(tmp_path / "nowhere" / "bacalao")
    with found.joined("e-1", 64) as prefix:
        assert prefix == []
    assert "could not make a pids cgroup" in caplog.text


def test_startup_sweeps_what_a_killed_node_left(tmp_path, root_user):
    root = _v1(tmp_path)
    stale = root / "pids" / "bacalao" / "e-old"
    stale.mkdir(parents=True)
    PidsCgroups.probe(root)
    assert not stale.exists()
