"""Recursive pins: the roots whose whole DAG a node promises to keep.

:class:`JsonPinStore` persists them in one small JSON file written atomically (temp file, fsync,
rename) under an exclusive ``flock``, so concurrent processes never lose each other's pins.
:class:`MemoryPinStore` is the same in memory. Pins are keyed by the CID string as given: pinning
``Qm…`` and its CIDv1 ``bafy…`` makes two pins over the same blocks.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Protocol

from bacalao.blockstore.fs import write_atomic
from bacalao.blockstore.locks import FileRWLock
from bacalao.errors import DecodeError
from bacalao.ipld.cid import CID

FORMAT_VERSION = 1


class PinStore(Protocol):
    """The set of recursively pinned roots."""

    def add(self, cid: CID) -> bool:
        """Pin ``cid``; ``False`` if it was already pinned."""
        ...

    def add_many(self, cids: list[CID]) -> None:
        """Pin several roots in one write."""
        ...

    def remove(self, cid: CID) -> bool:
        """Unpin ``cid``; ``False`` if it was not pinned."""
        ...

    def list(self) -> list[CID]:
        """Every pinned root, in the order they were first pinned."""
        ...


class MemoryPinStore:
    """Pins in a list, for memory repos."""

    def __init__(self) -> None:
        self._pins: dict[CID, None] = {}
        self._lock = threading.Lock()

    def add(self, cid: CID) -> bool:
        """Pin ``cid``; ``False`` if already pinned."""
        with self._lock:
            if cid in self._pins:
                return False
            self._pins[cid] = None
            return True

    def add_many(self, cids: list[CID]) -> None:
        """Pin several roots."""
        for cid in cids:
            self.add(cid)

    def remove(self, cid: CID) -> bool:
        """Unpin ``cid``; ``False`` if it was not pinned."""
        with self._lock:
            if cid not in self._pins:
                return False
            del self._pins[cid]
            return True

    def list(self) -> list[CID]:
        """Pinned roots, oldest first."""
        with self._lock:
            return list(self._pins)


class JsonPinStore:
    """Pins persisted in one JSON file.

    Format: ``{"version": 1, "pins": [{"cid": "<cid>", "type": "recursive"}, …]}``.
    """

    def __init__(self, path: Path | str, *, sync: bool = True) -> None:
        self.path = Path(path)
        self.sync = sync
        self._lock = FileRWLock(self.path.with_name(self.path.name + ".lock"))

    def _read(self) -> dict[str, None]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(raw)
            return {str(p["cid"]): None for p in doc["pins"]}
        except (ValueError, KeyError, TypeError) as e:
            raise DecodeError(
                f"pin file {self.path} is corrupt: {e}",
                hint="restore it from a backup, or delete it to drop every pin (then gc removes"
                " all blocks)",
            ) from None

    def _write(self, pins: dict[str, None]) -> None:
        doc = {
            "version": FORMAT_VERSION,
            "pins": [{"cid": c, "type": "recursive"} for c in pins],
        }
        write_atomic(self.path, (json.dumps(doc, indent=1) + "\n").encode(), sync=self.sync)

    def add(self, cid: CID) -> bool:
        """Pin ``cid``; ``False`` if already pinned."""
        key = str(cid)
        with self._lock.exclusive():
            pins = self._read()
            if key in pins:
                return False
            pins[key] = None
            self._write(pins)
            return True

    def add_many(self, cids: list[CID]) -> None:
        """Pin several roots in one atomic write."""
        with self._lock.exclusive():
            pins = self._read()
            before = len(pins)
            for cid in cids:
                pins.setdefault(str(cid), None)
            if len(pins) != before:
                self._write(pins)

    def remove(self, cid: CID) -> bool:
        """Unpin ``cid``; ``False`` if it was not pinned."""
        key = str(cid)
        with self._lock.exclusive():
            pins = self._read()
            if key not in pins:
                return False
            del pins[key]
            self._write(pins)
            return True

    def list(self) -> list[CID]:
        """Pinned roots, oldest first (reads need no lock: the file is replaced atomically)."""
        return [CID.decode(c) for c in self._read()]
