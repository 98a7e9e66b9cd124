"""The one error hierarchy of bacalao.

Every error a user can cause or meet is a :class:`BacalaoError`: it carries a stable ``code``, a
one-line ``message``, a ``hint`` telling the user what to do, whether retrying may help, and the
HTTP status the API answers with. The CLI prints ``message`` and ``hint``; the API maps the error to
``http_status`` in one place. This module is a leaf: it imports nothing from the project, so every
package (``models`` included) may raise these errors.
"""

from __future__ import annotations


class BacalaoError(Exception):
    """Base of every error bacalao raises on purpose."""

    code: str = "internal"
    http_status: int = 500
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        retryable: bool | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        if http_status is not None:
            self.http_status = http_status

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """The JSON body the API answers with."""
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
        }


class InvalidInput(BacalaoError):
    """The user gave something malformed: a spec, a flag, a path, a CID string."""

    code = "invalid_input"
    http_status = 400

    def prefixed(self, prefix: str) -> InvalidInput:
        """The same error with ``prefix`` (a field path, a flag) in front of its message."""
        return InvalidInput(prefix + self.message, hint=self.hint)


class NotFound(BacalaoError):
    """A job, node, execution or block that does not exist (here)."""

    code = "not_found"
    http_status = 404


class Conflict(BacalaoError):
    """The request clashes with the current state (e.g. stopping a finished job)."""

    code = "conflict"
    http_status = 409


class Unavailable(BacalaoError):
    """A dependency (Docker engine, NATS, a peer) cannot be reached; retrying may help."""

    code = "unavailable"
    http_status = 503
    retryable = True


class IntegrityError(BacalaoError):
    """Bytes do not match the CID that names them, or a DAG is incomplete."""

    code = "integrity"
    http_status = 422


class DecodeError(InvalidInput):
    """Bytes that should be a varint, CID, DAG-PB, UnixFS or CAR structure are malformed."""

    code = "decode"


class BlockNotFound(NotFound):
    """A block named by a CID is absent from the store (or a CAR)."""

    code = "block_not_found"

    def __init__(self, cid: object, message: str | None = None, **kw: object) -> None:
        super().__init__(
            message or f"block {cid} not found",
            hint=kw.pop("hint", None)  # type: ignore[arg-type]
            or "the data is not in this store: add or import it first (bacalao data import)",
            **kw,  # type: ignore[arg-type]
        )
        self.cid = cid
