"""Unsigned LEB128 varints, as multiformats and protobuf write them."""

from __future__ import annotations

from bacalao.errors import DecodeError

#: A multiformats varint is at most 9 bytes (63 bits); protobuf allows 10 (64 bits).
MAX_VARINT_BYTES = 10


def encode(n: int) -> bytes:
    """Encode a non-negative int as an unsigned varint."""
    if n < 0:
        raise ValueError("varint must be non-negative")
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode(buf: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode a varint at ``offset``; return ``(value, new_offset)``.

    Raises :class:`DecodeError` on a truncated or over-long varint.
    """
    result = 0
    shift = 0
    end = len(buf)
    i = offset
    while True:
        if i >= end:
            raise DecodeError("truncated varint", hint="the input ends in the middle of a number")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if b == 0 and i - offset > 1:
                raise DecodeError("varint is not minimally encoded")
            return result, i
        shift += 7
        if i - offset >= MAX_VARINT_BYTES:
            raise DecodeError("varint too long", hint="more than 10 bytes: the input is corrupt")


def read_stream(stream) -> int | None:  # type: ignore[no-untyped-def]
    """Read one varint from a binary stream; ``None`` at a clean end of stream."""
    result = 0
    shift = 0
    for n in range(MAX_VARINT_BYTES):
        b = stream.read(1)
        if not b:
            if n == 0:
                return None
            raise DecodeError("truncated varint", hint="the input ends in the middle of a number")
        v = b[0]
        result |= (v & 0x7F) << shift
        if not v & 0x80:
            if v == 0 and n > 0:
                raise DecodeError("varint is not minimally encoded")
            return result
        shift += 7
    raise DecodeError("varint too long", hint="more than 10 bytes: the input is corrupt")
