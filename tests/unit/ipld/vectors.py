"""Generators for the IPFS fixture inputs (../shared/fixtures/ipfs/README.md §9.1, §9.2).

Everything here is deterministic: the ChaCha20 keystream reader of Kubo's
``test/cli/testutils/random_deterministic.go`` and the HAMT file-name generator of
``cid_profiles_test.go``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz01234567890-_"  # 39 characters, "0" twice (as Kubo)


def chacha_stream(seed: str, size: int, piece: int = 1 << 22) -> Iterator[bytes]:
    """``DeterministicRandomReaderBytes(size, seed)`` in pieces: the ChaCha20 keystream with
    key sha256(seed), an all-zero 96-bit nonce and counter 0."""
    key = hashlib.sha256(seed.encode()).digest()
    enc = Cipher(algorithms.ChaCha20(key, b"\0" * 16), None).encryptor()
    zeros = bytes(piece)
    left = size
    while left > 0:
        n = min(piece, left)
        yield enc.update(zeros[:n] if n < piece else zeros)
        left -= n


def chacha_bytes(seed: str, size: int) -> bytes:
    """The whole keystream of :func:`chacha_stream` as one bytes object."""
    return b"".join(chacha_stream(seed, size))


def write_chacha(path: Path, seed: str, size: int) -> Path:
    """Write the keystream to ``path`` (kept if it already has the right size: a cache)."""
    if path.exists() and path.stat().st_size == size:
        return path
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        for piece in chacha_stream(seed, size):
            f.write(piece)
    os.replace(tmp, path)
    return path


def pattern(n: int) -> bytes:
    """Byte *i* = *i* mod 256 (``pattern_1MiB.bin`` is ``pattern(1 << 20)``)."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def hamt_names(seed: str, count: int, name_len: int, last_name_len: int) -> list[str]:
    """The IPIP-499 HAMT fixture names: bytes of a 1 MiB keystream seeded with ``seed`` mapped
    onto the 39-character alphabet; files 0…N-2 get ``name_len`` characters, the last one
    ``last_name_len``."""
    stream = chacha_bytes(seed, 1 << 20)
    names = []
    pos = 0
    for i in range(count):
        n = last_name_len if i == count - 1 else name_len
        names.append("".join(NAME_ALPHABET[b % 39] for b in stream[pos : pos + n]))
        pos += n
    return names


def js_shard_names(count: int) -> list[str]:
    """js-ipfs-unixfs ``hash-parity-with-go-ipfs.spec.ts``: entry names (each file's content
    is its own name)."""
    base = (
        "long name to fill out bytes to make the sharded directory test flip over the sharded "
        "directory limit because link names are included in the directory entry "
    )
    return [f"{base}{i}" for i in range(count)]


def make_tree(root: Path) -> Path:
    """The §9.1 ``tree/`` input."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_bytes(b"hello world\n")
    (root / "b").mkdir(exist_ok=True)
    (root / "b" / "c.bin").write_bytes(pattern(300000))
    (root / "b" / "empty").mkdir(exist_ok=True)
    (root / ".hidden").write_bytes(b"h")
    (root / "Z-upper.txt").write_bytes(b"Z")
    (root / "ütf8-näme.txt").write_bytes(b"unicode")
    link = root / "link-to-a"
    if not link.is_symlink():
        link.symlink_to("a.txt")
    return root


CARV2_PRAGMA = bytes.fromhex("0aa16776657273696f6e02")


def read_car(path: Path) -> tuple[list[bytes], dict[bytes, bytes]]:
    """A minimal CAR reader for the tests (v1, or v2 by its payload).

    Returns (root CID bytes, {cid bytes: block}).
    """
    from bacalao.ipld import varint
    from bacalao.ipld.cid import CID

    buf = path.read_bytes()
    if buf.startswith(CARV2_PRAGMA):  # CARv2: the CARv1 payload sits at data_offset
        offset = int.from_bytes(buf[len(CARV2_PRAGMA) + 16 : len(CARV2_PRAGMA) + 24], "little")
        size = int.from_bytes(buf[len(CARV2_PRAGMA) + 24 : len(CARV2_PRAGMA) + 32], "little")
        buf = buf[offset : offset + size]
    hlen, i = varint.decode(buf, 0)
    header = buf[i : i + hlen]
    i += hlen
    roots = []
    # roots are DAG-CBOR tag-42 byte strings: d8 2a 58 <len> 00 <cid>
    j = 0
    while True:
        j = header.find(b"\xd8\x2a\x58", j)
        if j < 0:
            break
        n = header[j + 3]
        roots.append(header[j + 5 : j + 4 + n])
        j += 4 + n
    blocks: dict[bytes, bytes] = {}
    while i < len(buf):
        slen, i = varint.decode(buf, i)
        end = i + slen
        cid, k = CID.read(buf, i)
        blocks[cid.bytes] = buf[k:end]
        i = end
    return roots, blocks


def materialize(blocks: dict[bytes, bytes], root: bytes, dest: Path) -> dict[str, object]:
    """Write the UnixFS tree under ``root`` (files, directories, HAMTs, symlinks) to ``dest``.

    Returns what the DAG reveals about how it was imported: ``chunk_size`` (the largest leaf
    payload), ``raw_leaves`` and ``cid_version``.
    """
    from bacalao.ipld import dagpb, unixfs
    from bacalao.ipld.cid import CID, RAW

    info: dict[str, object] = {"chunk_size": 0, "raw_leaves": False}
    info["cid_version"] = CID.from_bytes(root).version

    def file_bytes(cid: CID) -> bytes:
        block = blocks[cid.bytes]
        if cid.codec == RAW:
            info["raw_leaves"] = True
            info["chunk_size"] = max(info["chunk_size"], len(block))  # type: ignore[call-overload]
            return block
        node = dagpb.decode(block)
        fs = unixfs.decode(node.data or b"")
        if not node.links:
            info["chunk_size"] = max(info["chunk_size"], len(fs.data or b""))  # type: ignore[call-overload]
            return fs.data or b""
        return b"".join(file_bytes(link.cid) for link in node.links)

    def entries(node: dagpb.PBNode, fs: unixfs.UnixFSData) -> list[tuple[str, CID]]:
        if fs.type == unixfs.DataType.DIRECTORY:
            return [(link.name, link.cid) for link in node.links]
        out = []
        pad = len(f"{(fs.fanout or 256) - 1:X}")
        for link in node.links:
            if len(link.name) > pad:
                out.append((link.name[pad:], link.cid))
            else:
                sub = dagpb.decode(blocks[link.cid.bytes])
                out.extend(entries(sub, unixfs.decode(sub.data or b"")))
        return out

    def write(cid: CID, path: Path) -> None:
        if cid.codec == RAW:
            path.write_bytes(file_bytes(cid))
            return
        node = dagpb.decode(blocks[cid.bytes])
        fs = unixfs.decode(node.data or b"")
        if fs.type in (unixfs.DataType.DIRECTORY, unixfs.DataType.HAMT_SHARD):
            path.mkdir()
            for name, child in entries(node, fs):
                write(child, path / name)
        elif fs.type == unixfs.DataType.SYMLINK:
            path.symlink_to(os.fsdecode(fs.data or b""))
        else:
            path.write_bytes(file_bytes(cid))

    write(CID.from_bytes(root), dest)
    return info
