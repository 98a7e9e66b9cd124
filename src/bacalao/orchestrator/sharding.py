"""Sharded jobs: splitting an input directory into shards, and what each shard's execution gets.

The plan is made once per job (the file list comes from a node that holds the data) and stored
as a history event, so it survives restarts and ``job describe`` can show it. Splitting is pure:
``BatchSize`` entries per shard in path order, or ``Shards`` contiguous runs of about equal
bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bacalao.errors import InvalidInput
from bacalao.models.input_source import InputSource
from bacalao.models.job import Job
from bacalao.models.sharding import Sharding

PLAN_TOPIC = "ShardPlan"
MERGE_TOPIC = "Merge"


@dataclass(frozen=True, slots=True)
class ShardFile:
    path: str
    cid: str
    size: int


@dataclass(frozen=True)
class Shard:
    index: int
    files: tuple[ShardFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def cids(self) -> tuple[str, ...]:
        return tuple(f.cid for f in self.files)


@dataclass
class ShardPlan:
    """The shards of one job, plus where each file's bytes are (node -> cid -> bytes)."""

    root: str
    shards: list[Shard]
    locality: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "root": self.root,
                "shards": [[[f.path, f.cid, f.size] for f in s.files] for s in self.shards],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ShardPlan:
        obj = json.loads(text)
        shards = [
            Shard(i, tuple(ShardFile(p, c, n) for p, c, n in files))
            for i, files in enumerate(obj["shards"])
        ]
        return cls(obj["root"], shards)


def sharded_input(job: Job) -> InputSource:
    """The input source a job's ``Sharding`` splits (by alias, else the first ipfs input)."""
    spec: Sharding = job.sharding  # type: ignore[assignment]
    sources = job.task.input_sources
    if spec.input:
        found = job.task.input_by_alias(spec.input)
        if found is None:
            raise InvalidInput(
                f"Sharding.Input names {spec.input!r}, but no input has that alias",
                hint="set Alias on the input to shard, or leave Sharding.Input empty",
            )
        return found
    for src in sources:
        if src.source.type == "ipfs":
            return src
    raise InvalidInput(
        "a sharded job needs an ipfs input to shard",
        hint="add the dataset with -i CID (or InputSources in the spec)",
    )


def split(files: list[ShardFile], spec: Sharding) -> list[Shard]:
    """Group files into shards: ``BatchSize`` per shard, or ``Shards`` runs of equal bytes."""
    files = sorted(files, key=lambda f: f.path)
    if not files:
        return []
    if spec.shards:
        n = min(spec.shards, len(files))
        total = sum(f.size for f in files) or len(files)
        groups: list[list[ShardFile]] = [[]]
        acc = 0.0
        for i, f in enumerate(files):
            left_files = len(files) - i
            left_groups = n - len(groups)
            boundary = total * len(groups) / n
            if groups[-1] and (acc >= boundary or left_files <= left_groups):
                groups.append([])
            groups[-1].append(f)
            acc += f.size or 1
        return [Shard(i, tuple(g)) for i, g in enumerate(groups)]
    size = spec.effective_batch_size
    return [Shard(i, tuple(files[j : j + size])) for i, j in enumerate(range(0, len(files), size))]


def shard_inputs(job: Job, shard: Shard) -> list[dict]:
    """The InputSources of one shard's execution: each file at its path under the target,
    plus the task's other inputs unchanged."""
    src = sharded_input(job)
    target = (src.target or "/inputs").rstrip("/")
    out = [i.to_wire() for i in job.task.input_sources if i is not src]
    for f in shard.files:
        out.append(
            {"Source": {"Type": "ipfs", "Params": {"CID": f.cid}}, "Target": f"{target}/{f.path}"}
        )
    return out
