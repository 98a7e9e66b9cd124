"""A minimal, strict DAG-CBOR reader: enough for CAR headers and for finding links.

It decodes definite-length CBOR (the only kind DAG-CBOR allows): integers, byte and text strings
(invalid UTF-8 is kept via ``surrogateescape``, as Go's decoders keep it), arrays, maps with text
keys, tag 42 (a CID: a byte string of ``0x00`` + the binary CID), booleans, null and floats.
Anything else — indefinite lengths, other tags, duplicate or non-text map keys, lengths past the
end, nesting deeper than :data:`MAX_DEPTH` — raises :class:`~bacalao.errors.DecodeError`. Maps keep
their encoded key order, which is the order the DAG walk (and Kubo's ``dag export``) follows links
in.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from bacalao.errors import DecodeError
from bacalao.ipld.cid import CID

MAX_DEPTH = 64
CID_TAG = 42


def decode(data: bytes | memoryview) -> Any:
    """Decode exactly one DAG-CBOR item filling ``data``; CIDs come back as :class:`CID`."""
    buf = memoryview(data)
    value, end = _item(buf, 0, 0)
    if end != len(buf):
        raise DecodeError("trailing bytes after DAG-CBOR item")
    return value


def links(data: bytes | memoryview) -> list[CID]:
    """The CIDs in a DAG-CBOR block, in encoded order (depth first)."""
    return list(_walk(decode(data)))


def _walk(value: Any) -> Iterator[CID]:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, CID):
            yield v
        elif isinstance(v, list):
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))


def _head(buf: memoryview, i: int) -> tuple[int, int, int]:
    """Read an item head: ``(major type, argument, new offset)``."""
    if i >= len(buf):
        raise DecodeError("truncated DAG-CBOR item")
    ib = buf[i]
    major, info = ib >> 5, ib & 0x1F
    i += 1
    if info < 24:
        return major, info, i
    if info > 27:
        raise DecodeError(f"unsupported CBOR additional info {info} (indefinite or reserved)")
    n = 1 << (info - 24)
    if i + n > len(buf):
        raise DecodeError("truncated DAG-CBOR item")
    return major, int.from_bytes(buf[i : i + n], "big"), i + n


def _item(buf: memoryview, i: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise DecodeError("DAG-CBOR nested too deeply")
    start = i
    major, arg, i = _head(buf, i)
    if major == 0:
        return arg, i
    if major == 1:
        return -1 - arg, i
    if major in (2, 3):
        end = i + arg
        if end > len(buf):
            raise DecodeError("truncated DAG-CBOR string")
        raw = bytes(buf[i:end])
        if major == 2:
            return raw, end
        # Go's decoders let invalid UTF-8 through (go-car's Filecoin sample has some): keep it.
        return raw.decode("utf-8", "surrogateescape"), end
    if major == 4:
        if arg > len(buf) - i:
            raise DecodeError("DAG-CBOR array longer than its input")
        out = []
        for _ in range(arg):
            v, i = _item(buf, i, depth + 1)
            out.append(v)
        return out, i
    if major == 5:
        if arg > (len(buf) - i) // 2:
            raise DecodeError("DAG-CBOR map longer than its input")
        m: dict[str, Any] = {}
        for _ in range(arg):
            k, i = _item(buf, i, depth + 1)
            if not isinstance(k, str):
                raise DecodeError("DAG-CBOR map key is not a string")
            if k in m:
                raise DecodeError(f"duplicate DAG-CBOR map key {k!r}")
            m[k], i = _item(buf, i, depth + 1)
        return m, i
    if major == 6:
        if arg != CID_TAG:
            raise DecodeError(f"unsupported CBOR tag {arg} (DAG-CBOR allows only 42)")
        raw, i = _item(buf, i, depth + 1)
        if not isinstance(raw, bytes) or raw[:1] != b"\x00":
            raise DecodeError("CBOR tag 42 is not a byte string starting with 0x00")
        return CID.from_bytes(raw[1:]), i
    return _simple(buf, start, arg, i)


def _simple(buf: memoryview, start: int, arg: int, i: int) -> tuple[Any, int]:
    info = buf[start] & 0x1F
    if info == 20:
        return False, i
    if info == 21:
        return True, i
    if info in (22, 23):
        return None, i
    if info == 25:
        return _half(arg), i
    if info == 26:
        return struct.unpack(">f", arg.to_bytes(4, "big"))[0], i
    if info == 27:
        return struct.unpack(">d", arg.to_bytes(8, "big"))[0], i
    raise DecodeError(f"unsupported CBOR simple value {arg}")


def _half(bits: int) -> float:
    return struct.unpack(">e", bits.to_bytes(2, "big"))[0]


# -- writing: only what a CAR header needs -------------------------------------------------------


def _head_bytes(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major << 5 | n,))
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes((major << 5 | info,)) + n.to_bytes(width, "big")
    raise ValueError("CBOR argument too large")


def encode_car_header(roots: list[CID], version: int = 1) -> bytes:
    """``{"roots": [...], "version": n}`` in DAG-CBOR (keys length-first: roots, version)."""
    out = bytearray(b"\xa2\x65roots")
    out += _head_bytes(4, len(roots))
    for root in roots:
        raw = b"\x00" + root.bytes
        out += b"\xd8\x2a" + _head_bytes(2, len(raw)) + raw
    out += b"\x67version" + _head_bytes(0, version)
    return bytes(out)
