"""CAR files: CARv1 writing in Kubo's ``dag export`` order, CARv1/CARv2 reading with verification.

CARv1 is ``varint(len(H)) ‖ H ‖ {varint(len(cid)+len(block)) ‖ cid ‖ block}*`` with ``H`` the
DAG-CBOR map ``{"roots": [...], "version": 1}``. CARv2 wraps a CARv1 payload: an 11-byte pragma
(a CARv1 header saying version 2), a 40-byte header (characteristics, data offset and size, index
offset, little-endian), the payload, then an optional index, which the reader ignores.

Reading checks every block against its CID (:class:`~bacalao.errors.IntegrityError` naming the
CID) and turns every malformed input into a one-line :class:`~bacalao.errors.DecodeError`; like
go-car it refuses headers over 32 MiB and sections over 8 MiB before allocating them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO

from bacalao.errors import DecodeError
from bacalao.ipld import dagcbor, varint
from bacalao.ipld.blocks import BlockGetter, DictBlocks
from bacalao.ipld.cid import CID
from bacalao.ipld.traverse import iter_dag

__all__ = [
    "MAX_HEADER_SIZE",
    "MAX_SECTION_SIZE",
    "CarHeader",
    "CarReader",
    "iter_dag",
    "load_car",
    "read_car",
    "write_car",
]

MAX_HEADER_SIZE = 32 << 20
MAX_SECTION_SIZE = 8 << 20
#: ``varint(10) ‖ {"version": 2}``: the first 11 bytes of every CARv2 file.
CARV2_PRAGMA = bytes.fromhex("0aa16776657273696f6e02")
CARV2_HEADER_SIZE = 40
_COPY_CHUNK = 1 << 16


@dataclass
class CarHeader:
    """The CAR header: its version (1 or 2) and its roots (those of the inner CARv1 for v2)."""

    version: int
    roots: list[CID] = field(default_factory=list)
    #: CARv2 only: where the CARv1 payload starts and how long it is.
    data_offset: int | None = None
    data_size: int | None = None


# -- writing -------------------------------------------------------------------------------------


def _section(cid: CID, block: bytes) -> bytes:
    raw = cid.bytes
    return varint.encode(len(raw) + len(block)) + raw


def write_car(getter: BlockGetter, root: CID, out: BinaryIO) -> int:
    """Write the DAG under ``root`` to ``out`` as a CARv1, byte-identical to Kubo's ``dag export``.

    Blocks go in depth-first pre-order, links in stored order, each block once, identity CIDs
    left out; each is checked against its CID on the way. Streams: one block in memory at a time.
    Returns the number of bytes written.
    """
    header = dagcbor.encode_car_header([root])
    head = varint.encode(len(header)) + header
    out.write(head)
    total = len(head)
    for cid, block in iter_dag(getter, root):
        prefix = _section(cid, block)
        out.write(prefix)
        out.write(block)
        total += len(prefix) + len(block)
    return total


# -- reading -------------------------------------------------------------------------------------


class _Input:
    """A binary stream with a byte count and an optional end (the CARv2 data size)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.pos = 0
        self.limit: int | None = None

    def read(self, n: int, what: str) -> bytes:
        """Exactly ``n`` bytes, or a DecodeError saying ``what`` was truncated."""
        if self.limit is not None and self.pos + n > self.limit:
            raise DecodeError(f"truncated CAR {what}: it runs past the CARv2 data size")
        chunks = []
        left = n
        while left:
            chunk = self.stream.read(min(left, _COPY_CHUNK * 16))
            if not chunk:
                raise DecodeError(f"truncated CAR {what}: expected {n} bytes, got {n - left}")
            chunks.append(chunk)
            left -= len(chunk)
        self.pos += n
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def at_end(self) -> bool:
        return self.limit is not None and self.pos >= self.limit

    def varint(self, what: str) -> int | None:
        """A varint; ``None`` at a clean end of input."""
        if self.at_end():
            return None
        first = self.stream.read(1)
        if not first:
            if self.limit is not None:
                raise DecodeError(f"truncated CAR {what}: the CARv2 data payload ends early")
            return None
        raw = bytearray(first)
        while raw[-1] & 0x80 and len(raw) < varint.MAX_VARINT_BYTES:
            b = self.stream.read(1)
            if not b:
                raise DecodeError(f"truncated CAR {what}: the input ends inside a varint")
            raw += b
        self.pos += len(raw)
        if self.limit is not None and self.pos > self.limit:
            raise DecodeError(f"truncated CAR {what}: it runs past the CARv2 data size")
        try:
            value, _ = varint.decode(raw)
        except DecodeError as e:
            raise DecodeError(f"bad varint in CAR {what}: {e.message}") from None
        return value

    def skip_to(self, offset: int) -> None:
        while self.pos < offset:
            n = min(offset - self.pos, _COPY_CHUNK)
            if len(self.stream.read(n)) != n:
                raise DecodeError("truncated CARv2: the data payload starts past the end")
            self.pos += n


def _read_v1_header(inp: _Input) -> dict[str, object]:
    length = inp.varint("header length")
    if length is None:
        raise DecodeError("empty CAR: no header")
    if length == 0:
        raise DecodeError("invalid CAR: zero-length header")
    if length > MAX_HEADER_SIZE:
        raise DecodeError(f"CAR header too large: {length} bytes (limit {MAX_HEADER_SIZE})")
    raw = inp.read(length, "header")
    try:
        header = dagcbor.decode(raw)
    except DecodeError as e:
        raise DecodeError(f"invalid CAR header: {e.message}") from None
    if not isinstance(header, dict) or not isinstance(header.get("version"), int):
        raise DecodeError("invalid CAR header: not a map with an integer version")
    return header


def _roots(header: dict[str, object]) -> list[CID]:
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
        raise DecodeError("invalid CAR header: roots is not a list of CIDs")
    if not roots:
        raise DecodeError("invalid CAR header: no roots")
    return list(roots)


def _parse_header(inp: _Input) -> CarHeader:
    header = _read_v1_header(inp)
    version = header["version"]
    if version == 1:
        return CarHeader(1, _roots(header))
    if version != 2 or len(header) != 1:
        raise DecodeError(f"unsupported CAR version {version}", hint="bacalao reads CARv1 and v2")
    fixed = inp.read(CARV2_HEADER_SIZE, "v2 header")
    data_offset = int.from_bytes(fixed[16:24], "little")
    data_size = int.from_bytes(fixed[24:32], "little")
    if data_offset < len(CARV2_PRAGMA) + CARV2_HEADER_SIZE:
        raise DecodeError(f"invalid CARv2 header: data offset {data_offset} overlaps the header")
    inp.skip_to(data_offset)
    inp.limit = data_offset + data_size
    inner = _read_v1_header(inp)
    if inner["version"] != 1:
        raise DecodeError(f"invalid CARv2: inner CAR has version {inner['version']}, not 1")
    return CarHeader(2, _roots(inner), data_offset, data_size)


class CarReader:
    """Read a CARv1 or CARv2 stream: ``.header``, then iterate ``(cid, block)`` pairs.

    Every block is checked against its CID. Duplicates, identity CIDs, unreachable blocks and
    non-sha256 hashes (blake2b-256, sha2-512) are accepted; the CARv2 index is ignored. Use as a
    context manager to close the stream afterwards. Iterate once: the stream is consumed.
    """

    def __init__(self, stream: BinaryIO, *, verify: bool = True) -> None:
        self._input = _Input(stream)
        self._verify = verify
        self.header = _parse_header(self._input)

    def __enter__(self) -> CarReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._input.stream.close()

    def __iter__(self) -> Iterator[tuple[CID, bytes]]:
        inp = self._input
        while True:
            start = inp.pos
            length = inp.varint("section length")
            if length is None:
                return
            if length == 0:
                raise DecodeError(f"invalid CAR: zero-length section at byte {start}")
            if length > MAX_SECTION_SIZE:
                raise DecodeError(
                    f"CAR section too large: {length} bytes at byte {start} "
                    f"(limit {MAX_SECTION_SIZE})"
                )
            section = inp.read(length, f"section at byte {start}")
            try:
                cid, offset = CID.read(section, 0)
            except DecodeError as e:
                raise DecodeError(f"bad CID in CAR section at byte {start}: {e.message}") from None
            block = section[offset:]
            if self._verify:
                cid.verify(block)
            yield cid, block


def read_car(
    stream: BinaryIO, *, verify: bool = True
) -> tuple[CarHeader, Iterator[tuple[CID, bytes]]]:
    """Parse the header now and return it with an iterator over the verified blocks."""
    reader = CarReader(stream, verify=verify)
    return reader.header, iter(reader)


def load_car(stream: BinaryIO, store: DictBlocks | None = None) -> tuple[CarHeader, DictBlocks]:
    """Read a whole CAR into ``store`` (a new :class:`DictBlocks` by default), verifying it."""
    store = store if store is not None else DictBlocks()
    header, blocks = read_car(stream)
    for cid, block in blocks:
        store.put(cid, block, verify=False)  # CarReader already verified it
    return header, store
