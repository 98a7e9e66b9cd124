"""DAG-PB (``PBNode``/``PBLink``) encoding, byte-exact with Kubo.

Kubo writes all Links first, then Data; inside a link Hash, Name (even when empty) and Tsize.
The decoder accepts both Links/Data orders (IPIP-550) and rejects anything else malformed with a
:class:`DecodeError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bacalao.errors import DecodeError
from bacalao.ipld import varint
from bacalao.ipld.cid import CID

_enc = varint.encode


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: CID
    name: str = ""
    tsize: int = 0

    def encode(self) -> bytes:
        h = self.cid.bytes
        n = self.name.encode("utf-8")
        body = b"\x0a" + _enc(len(h)) + h + b"\x12" + _enc(len(n)) + n + b"\x18" + _enc(self.tsize)
        return b"\x12" + _enc(len(body)) + body

    def encoded_size(self) -> int:
        """Bytes this link takes in its parent block (tag and length included)."""
        return len(self.encode())


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...] = field(default_factory=tuple)
    data: bytes | None = None

    def encode(self) -> bytes:
        parts = [link.encode() for link in self.links]
        if self.data is not None:
            parts.append(b"\x0a" + _enc(len(self.data)) + self.data)
        return b"".join(parts)


def encode_leaf(data_field: bytes) -> bytes:
    """A PBNode with no links, only Data (the hot path of the file importer)."""
    return b"\x0a" + _enc(len(data_field)) + data_field


def _read_len_delimited(buf: memoryview, i: int) -> tuple[memoryview, int]:
    length, i = varint.decode(buf, i)
    end = i + length
    if end > len(buf):
        raise DecodeError("truncated dag-pb field")
    return buf[i:end], end


def _decode_link(buf: memoryview) -> PBLink:
    i = 0
    cid: CID | None = None
    name = ""
    tsize = 0
    last = 0
    while i < len(buf):
        key, i = varint.decode(buf, i)
        fnum, wtype = key >> 3, key & 7
        if fnum <= last:
            raise DecodeError("dag-pb link fields out of order or repeated")
        last = fnum
        if fnum == 1 and wtype == 2:
            raw, i = _read_len_delimited(buf, i)
            cid = CID.from_bytes(bytes(raw))
        elif fnum == 2 and wtype == 2:
            raw, i = _read_len_delimited(buf, i)
            try:
                name = bytes(raw).decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("dag-pb link name is not valid UTF-8") from None
        elif fnum == 3 and wtype == 0:
            tsize, i = varint.decode(buf, i)
        else:
            raise DecodeError(f"unexpected field {fnum} (wire type {wtype}) in dag-pb link")
    if cid is None:
        raise DecodeError("dag-pb link without a Hash")
    return PBLink(cid, name, tsize)


def decode(block: bytes | memoryview) -> PBNode:
    """Decode a dag-pb block. Accepts Links-then-Data and Data-then-Links."""
    buf = memoryview(block)
    i = 0
    links: list[PBLink] = []
    data: bytes | None = None
    seen_data = False
    links_before_data = 0
    while i < len(buf):
        key, i = varint.decode(buf, i)
        fnum, wtype = key >> 3, key & 7
        if fnum == 2 and wtype == 2:
            raw, i = _read_len_delimited(buf, i)
            # Links may all come before Data (Kubo) or all after it (IPIP-550), not both.
            if seen_data and links_before_data:
                raise DecodeError("dag-pb links split around the Data field")
            links.append(_decode_link(raw))
        elif fnum == 1 and wtype == 2:
            if seen_data:
                raise DecodeError("dag-pb node has two Data fields")
            raw, i = _read_len_delimited(buf, i)
            data = bytes(raw)
            seen_data = True
            links_before_data = len(links)
        else:
            raise DecodeError(f"unexpected field {fnum} (wire type {wtype}) in dag-pb node")
    return PBNode(tuple(links), data)
