"""The typed, versioned envelope every message travels in.

The payload is a plain JSON-able dict so that the same envelope crosses the in-process bus and
NATS unchanged; each side parses the payload into its own typed model. ``signature`` is reserved
for signed node messages (Ed25519) in the multi-process cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bacalao.errors import DecodeError

ENVELOPE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message: who sent it, what kind it is, and its JSON payload."""

    type: str
    sender: str
    payload: dict[str, Any] = field(default_factory=dict)
    version: int = ENVELOPE_VERSION
    signature: str | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "v": self.version,
                "type": self.type,
                "sender": self.sender,
                "payload": self.payload,
                "sig": self.signature,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        try:
            obj = json.loads(raw)
            return cls(
                type=obj["type"],
                sender=obj["sender"],
                payload=obj.get("payload") or {},
                version=int(obj.get("v", ENVELOPE_VERSION)),
                signature=obj.get("sig"),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise DecodeError(f"malformed envelope: {e}") from None

    def reply(self, type_: str, sender: str, payload: dict[str, Any]) -> Envelope:
        return Envelope(type=type_, sender=sender, payload=payload)
