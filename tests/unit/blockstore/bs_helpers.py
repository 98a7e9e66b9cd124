"""Small DAG builders and store snapshots shared by the blockstore tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bacalao.ipld.cid import CID, RAW
from bacalao.ipld.dagpb import PBLink, PBNode
from bacalao.ipld.unixfs import DataType, UnixFSData


def raw_block(data: bytes) -> tuple[CID, bytes]:
    """A raw-codec CIDv1 block."""
    return CID.hash(data, codec=RAW), data


def dir_block(entries: dict[str, tuple[CID, int]], *, version: int = 0) -> tuple[CID, bytes]:
    """A basic UnixFS directory over ``name -> (cid, tsize)`` (links sorted by name)."""
    links = tuple(PBLink(cid, name, tsize) for name, (cid, tsize) in sorted(entries.items()))
    block = PBNode(links, UnixFSData(DataType.DIRECTORY).encode()).encode()
    return CID.hash(block, version=version), block


def small_dag(tag: bytes = b"x") -> tuple[CID, dict[CID, bytes]]:
    """A directory with two raw files and a subdirectory; returns (root, blocks)."""
    blocks: dict[CID, bytes] = {}
    a, da = raw_block(b"alpha " + tag)
    b, db = raw_block(b"beta " + tag * 100)
    blocks[a], blocks[b] = da, db
    sub, dsub = dir_block({"b.txt": (b, len(db))})
    blocks[sub] = dsub
    root, droot = dir_block({"a.txt": (a, len(da)), "sub": (sub, len(dsub))})
    blocks[root] = droot
    return root, blocks


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` with a digest of its content (dirs: "dir")."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
