"""IPLD for bacalao: CIDs, DAG-PB, UnixFS, HAMT and CAR, byte-exact with Kubo."""

from bacalao.ipld.cid import CID

__all__ = ["CID"]
