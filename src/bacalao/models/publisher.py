"""``Task.Publisher``: where an execution's results go, as ``{Type, Params}``.

Every execution's outputs are imported into the node's content store as one result CID unless the
publisher is ``noop``, which discards them (only the inline stdout/stderr and exit code are
reported, as with Bacalhau's noop publisher); the publisher says where the results go *besides*
(Bacalhau's ``ipfs`` and ``local`` publish from that store, ``s3`` uploads a tarball). ``{}`` or
``{Type: ""}`` means the node's store only. Each publisher plugin validates its own params with
:meth:`SpecConfig.decode_params`.
"""

from __future__ import annotations

from bacalao.models.spec_config import SpecConfig

KNOWN_PUBLISHER_TYPES = ("ipfs", "local", "s3", "noop")
"""The publisher types of Bacalhau v1; the publisher registry is what decides what a node has."""


class Publisher(SpecConfig):
    """A task's publisher: ``{Type, Params}`` with Type lower-cased; empty means none."""

    @property
    def discards(self) -> bool:
        """True for ``noop``: the outputs are not stored at all."""
        return self.type == "noop"

    @property
    def is_none(self) -> bool:
        """True when no publisher is set (results stay in the node's store only)."""
        return self.is_empty() or self.type == "noop"


class PublishedResult(SpecConfig):
    """What a publisher returns for an execution, e.g. ``{Type: ipfs, Params: {CID: …}}``.

    Empty (no Type) when nothing was published; ``/results`` lists only non-empty ones.
    """
