"""The typed, versioned envelope every message travels in.

The payload is a plain JSON-able dict so that the same envelope crosses the in-process bus and
NATS unchanged; each side parses the payload into its own typed model. ``signature`` is reserved
for signed node messages (Ed25519) in the multi-process cluster.

An envelope made from a typed message (:meth:`bacalao.transport.messages.Message.to_envelope`)
carries that message and writes its payload only when something reads it: on the in-process bus
the receiver takes the message itself and nothing is serialised or validated twice; a transport
that crosses processes reads :attr:`Envelope.payload` (or :meth:`Envelope.to_bytes`) as before.
"""

from __future__ import annotations

from typing import Any, Protocol

from bacalao import jsonfast
from bacalao.errors import DecodeError

ENVELOPE_VERSION = 1


class _Wire(Protocol):
    def wire(self) -> dict[str, Any]: ...


class Envelope:
    """One message: who sent it, what kind it is, and its JSON payload."""

    __slots__ = ("type", "sender", "version", "signature", "message", "_payload")

    def __init__(
        self,
        type: str,
        sender: str,
        payload: dict[str, Any] | None = None,
        version: int = ENVELOPE_VERSION,
        signature: str | None = None,
        *,
        message: _Wire | None = None,
    ) -> None:
        self.type = type
        self.sender = sender
        self.version = version
        self.signature = signature
        #: the typed message this envelope was made from (this process only; never sent)
        self.message = message
        self._payload = payload if payload is not None or message is not None else {}

    @property
    def payload(self) -> dict[str, Any]:
        if self._payload is None:
            assert self.message is not None
            self._payload = self.message.wire()
        return self._payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Envelope):
            return NotImplemented
        return (self.type, self.sender, self.payload, self.version, self.signature) == (
            other.type,
            other.sender,
            other.payload,
            other.version,
            other.signature,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Envelope(type={self.type!r}, sender={self.sender!r}, payload={self.payload!r})"

    def to_bytes(self) -> bytes:
        return jsonfast.dumps_bytes(
            {
                "v": self.version,
                "type": self.type,
                "sender": self.sender,
                "payload": self.payload,
                "sig": self.signature,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        try:
            obj = jsonfast.loads(raw)
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
