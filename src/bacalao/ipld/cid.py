"""Content identifiers (CIDv0 and CIDv1) and multihashes.

A CIDv0 is the bare sha2-256 multihash of a dag-pb block, printed in base58btc (``Qm…``). A CIDv1 is
``varint(1) ‖ varint(codec) ‖ multihash``, printed as base32 lower case with the ``b`` prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bacalao.errors import DecodeError, IntegrityError
from bacalao.ipld import multibase, varint

# Codecs
DAG_PB = 0x70
RAW = 0x55
DAG_CBOR = 0x71
DAG_JSON = 0x0129
# Multihash functions
IDENTITY = 0x00
SHA2_256 = 0x12
SHA2_512 = 0x13
BLAKE2B_256 = 0xB220

CODEC_NAMES = {DAG_PB: "dag-pb", RAW: "raw", DAG_CBOR: "dag-cbor", DAG_JSON: "dag-json"}


def multihash_sha256(data: bytes | memoryview) -> bytes:
    """``0x12 0x20`` + sha2-256 digest."""
    return b"\x12\x20" + hashlib.sha256(data).digest()


def parse_multihash(mh: bytes) -> tuple[int, bytes]:
    """Split a multihash into (function code, digest); the whole input must be consumed."""
    code, i = varint.decode(mh)
    length, i = varint.decode(mh, i)
    digest = mh[i:]
    if len(digest) != length:
        raise DecodeError("multihash length does not match its digest")
    return code, digest


_HASHERS = {
    SHA2_256: lambda d: hashlib.sha256(d).digest(),
    SHA2_512: lambda d: hashlib.sha512(d).digest(),
    BLAKE2B_256: lambda d: hashlib.blake2b(d, digest_size=32).digest(),
}


@dataclass(frozen=True, slots=True)
class CID:
    """An immutable CID. Equal CIDs have equal ``version``, ``codec`` and ``multihash``."""

    version: int
    codec: int
    multihash: bytes

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def v0(cls, multihash: bytes) -> CID:
        return cls(0, DAG_PB, multihash)

    @classmethod
    def v1(cls, codec: int, multihash: bytes) -> CID:
        return cls(1, codec, multihash)

    @classmethod
    def hash(cls, data: bytes | memoryview, *, codec: int = DAG_PB, version: int = 1) -> CID:
        """The sha2-256 CID of a block. Raw blocks are always CIDv1."""
        mh = multihash_sha256(data)
        if version == 0 and codec == DAG_PB:
            return cls(0, DAG_PB, mh)
        return cls(1, codec, mh)

    @classmethod
    def decode(cls, text: str) -> CID:
        """Parse a CID string (``Qm…`` or multibase CIDv1). Raises :class:`DecodeError`."""
        text = text.strip()
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(multibase.b58decode(text))
        try:
            raw = multibase.decode(text)
        except DecodeError as e:
            raise DecodeError(
                f"invalid CID {text!r}: {e.message}",
                hint="a CID looks like Qm… (v0) or bafy…/bafk… (v1)",
            ) from None
        return cls.from_bytes(raw)

    @classmethod
    def from_bytes(cls, raw: bytes) -> CID:
        cid, end = cls.read(raw, 0)
        if end != len(raw):
            raise DecodeError("trailing bytes after CID")
        return cid

    @classmethod
    def read(cls, buf: bytes | memoryview, offset: int = 0) -> tuple[CID, int]:
        """Read a binary CID at ``offset`` of ``buf``; return ``(cid, new_offset)``."""
        if len(buf) - offset >= 2 and buf[offset] == 0x12 and buf[offset + 1] == 0x20:
            end = offset + 34
            if end > len(buf):
                raise DecodeError("truncated CIDv0")
            return cls(0, DAG_PB, bytes(buf[offset:end])), end
        version, i = varint.decode(buf, offset)
        if version != 1:
            raise DecodeError(f"unsupported CID version {version}")
        codec, i = varint.decode(buf, i)
        mh_start = i
        _code, i = varint.decode(buf, i)
        length, i = varint.decode(buf, i)
        end = i + length
        if end > len(buf):
            raise DecodeError("truncated CID multihash")
        return cls(1, codec, bytes(buf[mh_start:end])), end

    # -- views ----------------------------------------------------------------------------------
    @property
    def bytes(self) -> bytes:  # noqa: A003 - the name the field uses
        if self.version == 0:
            return self.multihash
        return varint.encode(1) + varint.encode(self.codec) + self.multihash

    @property
    def hash_code(self) -> int:
        return parse_multihash(self.multihash)[0]

    @property
    def digest(self) -> bytes:
        return parse_multihash(self.multihash)[1]

    @property
    def is_identity(self) -> bool:
        return self.multihash[:1] == b"\x00"

    def to_v1(self) -> CID:
        return CID(1, self.codec, self.multihash)

    def encode(self, base: str = "base32") -> str:
        if self.version == 0:
            return multibase.b58encode(self.multihash)
        if base == "base58btc":
            return "z" + multibase.b58encode(self.bytes)
        return "b" + multibase.b32encode(self.bytes)

    def __str__(self) -> str:
        return self.encode()

    def __repr__(self) -> str:
        return f"CID({self.encode()})"

    # -- verification ---------------------------------------------------------------------------
    def verify(self, data: bytes | memoryview) -> None:
        """Raise :class:`IntegrityError` unless ``data`` hashes to this CID."""
        code, digest = parse_multihash(self.multihash)
        if code == IDENTITY:
            ok = bytes(data) == digest
        else:
            hasher = _HASHERS.get(code)
            if hasher is None:
                raise IntegrityError(
                    f"cannot verify {self}: unsupported hash function 0x{code:x}",
                    hint="supported: sha2-256, sha2-512, blake2b-256, identity",
                )
            ok = hasher(data) == digest
        if not ok:
            raise IntegrityError(
                f"block {self} does not match its CID",
                hint="the data is corrupt or was tampered with; fetch it again",
            )
