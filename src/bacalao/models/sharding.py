"""bacalao extension: ``Sharding``, split a job's input into shards that run as executions.

Not part of Bacalhau v1 (it had sharding until v0.3.24, reference §5.1); an optional block on the
Job. Each shard is one execution (times the verification replicas) with its own retry budget.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from bacalao.models._wire import WireModel, spec_error


class MergeLayout(StrEnum):
    """How shard outputs are linked into the job's result directory."""

    UNION = "union"
    """Paths of every shard joined in one tree; a path written by two shards is an error."""
    PER_SHARD = "per-shard"
    """One ``shard-0000/`` directory per shard."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            text = value.strip().lower().replace("_", "-")
            text = "per-shard" if text == "pershard" else text
            for member in cls:
                if member.value == text:
                    return member
        return None


class Sharding(WireModel):
    """``{Input, Glob, BatchSize, Shards, Merge}``: how to split one input into shards.

    ``Glob`` selects entries of the input directory (``**/*.log``; empty = every file);
    either ``BatchSize`` entries go in each shard, or ``Shards`` even splits by size are made.
    ``Input`` names the input source (by alias) to shard; empty means the task's first input.
    """

    input: str = Field(default="", alias="Input")
    glob: str = Field(default="", alias="Glob")
    batch_size: int | None = Field(default=None, alias="BatchSize", ge=1)
    shards: int | None = Field(default=None, alias="Shards", ge=1)
    merge: MergeLayout = Field(default=MergeLayout.UNION, alias="Merge")

    _omit_empty = frozenset({"input", "glob"})

    @field_validator("merge", mode="before")
    @classmethod
    def _merge(cls, value: Any) -> Any:
        if value is None:
            return MergeLayout.UNION
        try:
            return MergeLayout(value)
        except ValueError:
            raise spec_error(f"unknown merge layout '{value}'", "use union or per-shard") from None

    @model_validator(mode="after")
    def _one_split(self) -> Sharding:
        if self.batch_size is not None and self.shards is not None:
            raise spec_error("set BatchSize or Shards, not both")
        return self

    @property
    def effective_batch_size(self) -> int:
        """Entries per shard when splitting by count (1 unless BatchSize is set)."""
        return self.batch_size or 1
