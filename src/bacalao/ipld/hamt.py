"""UnixFS HAMT-sharded directories, byte-exact with boxo ``hamt/hamt.go``.

* Each entry name is hashed with murmur3 x64_128 (seed 0); the first 64-bit half, big-endian,
  is read MSB-first, ``log2(fanout)`` bits per level.
* A bucket with one entry holds a value link named ``"%0*X" % (pad, index) + name``; a bucket
  with two or more holds a sub-shard link named ``"%0*X" % (pad, index)`` (the same layout one
  level down). Links appear in increasing bucket index.
* Node Data: UnixFS ``{Type: HAMTShard, Data: bitfield, hashType: murmur3 (0x22), fanout}``;
  the bitfield is big-endian with leading zero bytes stripped (go-bitfield ``Bytes()``).

The structure depends only on the set of entries, not on the order they were added.
"""

from __future__ import annotations

from collections.abc import Sequence

import mmh3

from bacalao.errors import InvalidInput
from bacalao.ipld.cid import CID
from bacalao.ipld.imported import ImportedNode, Put, dagpb_cid
from bacalao.ipld.unixfs import HAMT_HASH_MURMUR3
from bacalao.ipld.varint import encode as _enc

#: (name bytes, cid, tsize, 64-bit hash)
_Entry = tuple[bytes, CID, int, int]


def murmur64(name: bytes) -> int:
    """h1 of murmur3 x64_128 with seed 0: the 64 bits a HAMT level reads its index from."""
    # Keywords, and the mask: mmh3 5.x ignores ``signed`` when it is passed positionally.
    return mmh3.hash64(name, seed=0, x64arch=True, signed=False)[0] & 0xFFFFFFFFFFFFFFFF


def link_bytes(name: bytes, cid: CID, tsize: int) -> bytes:
    """One serialized PBLink (tag and length included): Hash, Name, Tsize."""
    cb = cid.bytes
    body = b"\x0a" + _enc(len(cb)) + cb + b"\x12" + _enc(len(name)) + name + b"\x18" + _enc(tsize)
    return b"\x12" + _enc(len(body)) + body


def build_hamt(
    entries: Sequence[tuple[bytes, ImportedNode]],
    *,
    fanout: int,
    cid_version: int,
    put: Put | None,
) -> ImportedNode:
    """The HAMT directory holding ``entries`` (name bytes, node); blocks go to ``put``
    children first. ``size`` of the result is the sum of the entries' sizes."""
    bits = fanout.bit_length() - 1
    if fanout < 2 or 1 << bits != fanout:
        raise InvalidInput(f"HAMT fanout {fanout} is not a power of two")
    hashed = [(name, node.cid, node.tsize, murmur64(name)) for name, node in entries]
    shard = _Shard(bits, fanout, cid_version, put)
    cid, tsize = shard.build(hashed, 0)
    return ImportedNode(cid, tsize, sum(node.size for _name, node in entries))


class _Shard:
    def __init__(self, bits: int, fanout: int, cid_version: int, put: Put | None) -> None:
        self.bits = bits
        self.fanout = fanout
        self.mask = fanout - 1
        self.pad = len(f"{fanout - 1:X}")
        self.cid_version = cid_version
        self.put = put

    def build(self, entries: list[_Entry], depth: int) -> tuple[CID, int]:
        """Build the shard at ``depth`` for entries that all share the bits above it."""
        shift = 64 - self.bits * (depth + 1)
        if shift < 0:
            raise InvalidInput(
                "sharded directory too deep: more entries share a hash than 64 bits can split",
                hint="directory entry names must be unique",
            )
        buckets: dict[int, list[_Entry]] = {}
        for entry in entries:
            buckets.setdefault((entry[3] >> shift) & self.mask, []).append(entry)
        parts = []
        bitfield = 0
        total = 0
        for index in sorted(buckets):
            bitfield |= 1 << index
            prefix = f"{index:0{self.pad}X}".encode()
            bucket = buckets[index]
            if len(bucket) == 1:
                name, cid, tsize, _h = bucket[0]
                parts.append(link_bytes(prefix + name, cid, tsize))
            else:
                cid, tsize = self.build(bucket, depth + 1)
                parts.append(link_bytes(prefix, cid, tsize))
            total += tsize
        bf = bitfield.to_bytes(self.fanout // 8, "big").lstrip(b"\0")
        data = (
            b"\x08\x05\x12"
            + _enc(len(bf))
            + bf
            + b"\x28"
            + _enc(HAMT_HASH_MURMUR3)
            + b"\x30"
            + _enc(self.fanout)
        )
        parts.append(b"\x0a" + _enc(len(data)) + data)
        block = b"".join(parts)
        cid = dagpb_cid(block, self.cid_version)
        if self.put is not None:
            self.put(cid, block)
        return cid, len(block) + total
