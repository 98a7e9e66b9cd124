"""The two multibase encodings Kubo prints: base58btc (CIDv0, ``z``) and base32 lower (``b``)."""

from __future__ import annotations

import base64

from bacalao.errors import DecodeError

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        try:
            n = n * 58 + _B58_INDEX[c]
        except KeyError:
            raise DecodeError(f"invalid base58 character {c!r}") from None
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def b32encode(data: bytes) -> str:
    """RFC 4648 base32, lower case, no padding."""
    return base64.b32encode(data).decode("ascii").lower().rstrip("=")


def b32decode(text: str) -> bytes:
    t = text.upper()
    t += "=" * (-len(t) % 8)
    try:
        return base64.b32decode(t)
    except (ValueError, base64.binascii.Error) as e:  # type: ignore[attr-defined]
        raise DecodeError(f"invalid base32: {e}") from None


def decode(text: str) -> bytes:
    """Decode a multibase string (prefix ``b``, ``B``, ``z`` or ``f``)."""
    if not text:
        raise DecodeError("empty multibase string")
    prefix, body = text[0], text[1:]
    if prefix in "bB":
        return b32decode(body)
    if prefix == "z":
        return b58decode(body)
    if prefix in "fF":
        try:
            return bytes.fromhex(body)
        except ValueError:
            raise DecodeError("invalid base16") from None
    raise DecodeError(
        f"unsupported multibase prefix {prefix!r}",
        hint="use a base32 (b…) or base58btc (Qm…/z…) CID",
    )
