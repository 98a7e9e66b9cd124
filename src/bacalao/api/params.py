"""Query-string parsing with Bacalhau's rules, and the list paging token.

Bacalhau's Python SDK sends every parameter, set or not: ``next_token=``, ``order_by=``,
``include=`` arrive empty and must mean "unset"; booleans arrive as Python's ``str(bool)``
(``reverse=False``) and are parsed like Go's ``strconv.ParseBool``. Every malformed value is an
:class:`~bacalao.errors.InvalidInput` naming the parameter (a 400).

Paging token: base64url without padding of ``"<order_by>:<Y|N>:<limit>:<offset>"``, exactly
Bacalhau's ``pkg/models/paging_token.go``; a given token overrides ``order_by``, ``reverse`` and
``limit``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from bacalao.errors import InvalidInput

_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})


def parse_bool(value: str | None, name: str, default: bool = False) -> bool:
    """``true``/``False``/``1``/``t``… (case-insensitive); empty means ``default``."""
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(f"{name}: invalid boolean {value!r}", hint="use true or false")


def parse_int(
    value: str | None, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    """A whole number; empty means ``default``."""
    text = (value or "").strip()
    if not text:
        return default
    try:
        number = int(text)
    except ValueError:
        raise InvalidInput(f"{name}: not a whole number: {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidInput(f"{name}: {number} is out of range", hint=f"use a number {bound}")
    return number


def parse_float(value: str | None, name: str, default: float, *, maximum: float) -> float:
    """A non-negative number of seconds, capped at ``maximum``; empty means ``default``."""
    text = (value or "").strip()
    if not text:
        return default
    try:
        number = float(text)
    except ValueError:
        raise InvalidInput(f"{name}: not a number: {value!r}") from None
    if not number >= 0:  # also catches NaN
        raise InvalidInput(f"{name}: must be >= 0, got {value!r}")
    return min(number, maximum)


def parse_choice(value: str | None, name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices`` (case-insensitive); empty means ``default``."""
    text = (value or "").strip().lower()
    if not text:
        return default
    if text not in choices:
        raise InvalidInput(
            f"{name}: unknown value {value!r}", hint=f"use one of: {', '.join(choices)}"
        )
    return text


def parse_labels(values: list[str]) -> dict[str, str] | None:
    """``labels=k=v,k2=v2`` (repeatable) -> ``{k: v}``; only equality selectors are supported."""
    out: dict[str, str] = {}
    for value in values:
        for term in (t.strip() for t in value.split(",")):
            if not term:
                continue
            key, sep, val = term.replace("==", "=").partition("=")
            if not sep or not key.strip() or any(c in key for c in "!<> ()"):
                raise InvalidInput(
                    f"labels: unsupported selector {term!r}",
                    hint="filter jobs by equality only: labels=key=value,other=value",
                )
            out[key.strip()] = val.strip()
    return out or None


@dataclass(frozen=True, slots=True)
class PageToken:
    """Where a job listing continues: sort key, direction, page size, offset."""

    order_by: str
    reverse: bool
    limit: int
    offset: int

    def encode(self) -> str:
        """Bacalhau's token: base64url (no padding) of ``order_by:Y|N:limit:offset``."""
        text = f"{self.order_by}:{'Y' if self.reverse else 'N'}:{self.limit}:{self.offset}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> PageToken:
        """Parse a token made by :meth:`encode` (padding optional); InvalidInput if malformed."""
        bad = InvalidInput(
            "next_token: malformed paging token",
            hint="pass the NextToken of the previous page unchanged",
        )
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise bad from None
        parts = text.split(":")
        if len(parts) != 4 or parts[1] not in ("Y", "N"):
            raise bad
        try:
            limit, offset = int(parts[2]), int(parts[3])
        except ValueError:
            raise bad from None
        if limit < 1 or offset < 0:
            raise bad
        return cls(parts[0], parts[1] == "Y", limit, offset)
