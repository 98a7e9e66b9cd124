"""The UnixFS ``Data`` protobuf carried in a dag-pb node's Data field.

Fields are written in field-number order, only when set (proto2 presence), ``blocksizes`` unpacked:
exactly as Kubo (boxo) writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from bacalao.errors import DecodeError
from bacalao.ipld import varint

_enc = varint.encode


class DataType(IntEnum):
    RAW = 0
    DIRECTORY = 1
    FILE = 2
    METADATA = 3
    SYMLINK = 4
    HAMT_SHARD = 5


#: murmur3-x64-64, the HAMT hash function code
HAMT_HASH_MURMUR3 = 0x22


@dataclass(frozen=True, slots=True)
class UnixFSData:
    type: DataType
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: tuple[int, ...] = field(default_factory=tuple)
    hash_type: int | None = None
    fanout: int | None = None
    mode: int | None = None
    mtime: tuple[int, int | None] | None = None  # (seconds, nanos)

    def encode(self) -> bytes:
        out = bytearray(b"\x08")
        out += _enc(int(self.type))
        if self.data is not None:
            out += b"\x12" + _enc(len(self.data)) + self.data
        if self.filesize is not None:
            out += b"\x18" + _enc(self.filesize)
        for bs in self.blocksizes:
            out += b"\x20" + _enc(bs)
        if self.hash_type is not None:
            out += b"\x28" + _enc(self.hash_type)
        if self.fanout is not None:
            out += b"\x30" + _enc(self.fanout)
        if self.mode is not None:
            out += b"\x38" + _enc(self.mode)
        if self.mtime is not None:
            secs, nanos = self.mtime
            body = b"\x08" + _enc(secs & 0xFFFFFFFFFFFFFFFF)
            if nanos is not None:
                body += b"\x15" + nanos.to_bytes(4, "little")
            out += b"\x42" + _enc(len(body)) + body
        return bytes(out)


def file_leaf_data(chunk: bytes) -> bytes:
    """UnixFS Data of a dag-pb file leaf (Type=File, Data, filesize): the importer's hot path."""
    n = len(chunk)
    return b"\x08\x02\x12" + _enc(n) + chunk + b"\x18" + _enc(n)


def decode(raw: bytes | memoryview) -> UnixFSData:
    """Decode UnixFS Data; raise :class:`DecodeError` on malformed input or an unknown type."""
    buf = memoryview(raw)
    i = 0
    ftype: int | None = None
    data = None
    filesize = None
    blocksizes: list[int] = []
    hash_type = fanout = mode = None
    mtime = None
    while i < len(buf):
        key, i = varint.decode(buf, i)
        fnum, wtype = key >> 3, key & 7
        if wtype == 0:
            val, i = varint.decode(buf, i)
            if fnum == 1:
                ftype = val
            elif fnum == 3:
                filesize = val
            elif fnum == 4:
                blocksizes.append(val)
            elif fnum == 5:
                hash_type = val
            elif fnum == 6:
                fanout = val
            elif fnum == 7:
                mode = val
            else:
                raise DecodeError(f"unexpected UnixFS field {fnum}")
        elif wtype == 2:
            length, i = varint.decode(buf, i)
            end = i + length
            if end > len(buf):
                raise DecodeError("truncated UnixFS field")
            chunk = buf[i:end]
            i = end
            if fnum == 2:
                data = bytes(chunk)
            elif fnum == 4:  # packed blocksizes, accepted on read
                j = 0
                while j < len(chunk):
                    val, j = varint.decode(chunk, j)
                    blocksizes.append(val)
            elif fnum == 8:
                mtime = _decode_mtime(chunk)
            else:
                raise DecodeError(f"unexpected UnixFS field {fnum}")
        else:
            raise DecodeError(f"unexpected wire type {wtype} in UnixFS data")
    if ftype is None:
        raise DecodeError("UnixFS data has no Type")
    try:
        dtype = DataType(ftype)
    except ValueError:
        raise DecodeError(f"unknown UnixFS type {ftype}") from None
    return UnixFSData(dtype, data, filesize, tuple(blocksizes), hash_type, fanout, mode, mtime)


def _decode_mtime(buf: memoryview) -> tuple[int, int | None]:
    i = 0
    secs = 0
    nanos: int | None = None
    while i < len(buf):
        key, i = varint.decode(buf, i)
        if key == 0x08:
            secs, i = varint.decode(buf, i)
            if secs >= 1 << 63:
                secs -= 1 << 64
        elif key == 0x15:
            if i + 4 > len(buf):
                raise DecodeError("truncated UnixFS mtime")
            nanos = int.from_bytes(buf[i : i + 4], "little")
            i += 4
        else:
            raise DecodeError("unexpected field in UnixFS mtime")
    return secs, nanos
