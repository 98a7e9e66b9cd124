"""One typed config for a bacalao process, loaded once (flags, then ``BACALAO_*`` env vars).

Passed down explicitly to everything :mod:`bacalao.node.stack` builds; nothing reads it globally.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path(os.environ.get("BACALAO_DATA_DIR") or Path.home() / ".bacalao")


class NodeConfig(BaseSettings):
    """Settings of ``bacalao serve`` / ``bacalao devstack``."""

    model_config = SettingsConfigDict(env_prefix="BACALAO_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 1234
    orchestrator: bool = True
    compute: bool = True
    #: compute nodes in this process (devstack runs several, each with its own store)
    nodes: int = 1
    max_cpu: float | None = None
    max_memory: int | None = None
    max_jobs: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    allow_local_paths: list[Path] = Field(default_factory=list)
    accept_networked_jobs: bool = True
    heartbeat_s: float = 5.0
    #: re-hash a node's own blocks whenever a job reads them (off: they were verified when
    #: stored, as with Kubo's HashOnRead; blocks fetched from peers are always verified)
    verify_local_reads: bool = False
    heartbeat_timeout_s: float = 30.0
    #: on a root node, hold each shell/python sandbox to its process limit with a pids cgroup
    #: (root ignores RLIMIT_NPROC); a sparse job's start then waits ~10 ms for the kernel's
    #: cgroup attach on cgroup v1
    sandbox_pids_cgroup: bool = True
    #: fsync level of the jobstore: NORMAL survives a killed process (the promise), FULL also a
    #: power cut at the cost of one fsync per state change
    jobstore_sync: str = "NORMAL"
    #: level of the server's log on stderr (DEBUG, INFO, WARNING, ERROR)
    log_level: str = "INFO"
    engines: list[str] = Field(
        default_factory=lambda: ["docker", "shell", "python", "wasm", "noop"]
    )
