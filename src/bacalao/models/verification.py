"""bacalao extension: ``Verification``, run each shard on several nodes and compare result CIDs.

Bacalhau removed its verifier in v1.1.0 (reference §5.2); bacalao brings it back as an optional
Job block. Deterministic jobs on honest nodes produce byte-identical outputs, hence equal CIDs.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from bacalao.models._wire import WireModel, spec_error


class Verification(WireModel):
    """``{Replicas, Quorum}``: run each shard ``Replicas`` times on distinct nodes.

    A result is accepted when at least ``Quorum`` replicas agree on its CID (0 = a strict
    majority of Replicas).
    """

    replicas: int = Field(default=1, alias="Replicas", ge=1)
    quorum: int = Field(default=0, alias="Quorum", ge=0)

    _omit_empty = frozenset({"quorum"})

    @model_validator(mode="after")
    def _quorum_fits(self) -> Verification:
        if self.quorum > self.replicas:
            raise spec_error(
                f"Quorum ({self.quorum}) exceeds Replicas ({self.replicas})",
                "Quorum must be at most Replicas",
            )
        return self

    @property
    def effective_quorum(self) -> int:
        """Agreeing replicas needed: Quorum, or a strict majority of Replicas."""
        return self.quorum or self.replicas // 2 + 1
