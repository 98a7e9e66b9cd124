"""Pins: the roots whose DAG a node promises to keep.

A ``recursive`` pin promises the whole DAG (it was checked complete when pinned). A ``partial``
pin keeps whatever of the DAG is here and tolerates the rest being elsewhere: a merged result or
an aggregate links data that other nodes hold, so its node keeps the directory blocks it made,
not the linked files. Only recursive pins count as data this node *holds*.

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


RECURSIVE = "recursive"
PARTIAL = "partial"
KINDS = (RECURSIVE, PARTIAL)


class PinStore(Protocol):
    """The pinned roots, each ``recursive`` or ``partial``."""

    def add(self, cid: CID, kind: str = RECURSIVE) -> bool:
        """Pin ``cid``; ``False`` if it was already pinned (a recursive pin wins over partial)."""
        ...

    def add_many(self, cids: list[CID], kind: str = RECURSIVE) -> None:
        """Pin several roots in one write."""
        ...

    def remove(self, cid: CID) -> bool:
        """Unpin ``cid``; ``False`` if it was not pinned."""
        ...

    def list(self, kind: str | None = None) -> list[CID]:
        """Pinned roots (of one kind, or all), in the order they were first pinned."""
        ...


class MemoryPinStore:
    """Pins in a list, for memory repos."""

    def __init__(self) -> None:
        self._pins: dict[CID, str] = {}
        self._lock = threading.Lock()

    def add(self, cid: CID, kind: str = RECURSIVE) -> bool:
        """Pin ``cid``; ``False`` if already pinned."""
        with self._lock:
            return _merge(self._pins, cid, kind)

    def add_many(self, cids: list[CID], kind: str = RECURSIVE) -> None:
        """Pin several roots."""
        for cid in cids:
            self.add(cid, kind)

    def remove(self, cid: CID) -> bool:
        """Unpin ``cid``; ``False`` if it was not pinned."""
        with self._lock:
            if cid not in self._pins:
                return False
            del self._pins[cid]
            return True

    def list(self, kind: str | None = None) -> list[CID]:
        """Pinned roots, oldest first."""
        with self._lock:
            return [c for c, k in self._pins.items() if kind is None or k == kind]


def _merge(pins: dict, key, kind: str) -> bool:  # type: ignore[no-untyped-def]
    """Add ``key`` with ``kind``; an existing partial pin is upgraded to recursive."""
    if kind not in KINDS:
        raise ValueError(f"unknown pin kind {kind!r}")
    if key in pins and (pins[key] == RECURSIVE or kind == PARTIAL):
        return False
    pins[key] = kind
    return True


class JsonPinStore:
    """Pins persisted in one JSON file.

    Format: ``{"version": 1, "pins": [{"cid": "<cid>", "type": "recursive"}, …]}``.
    """

    def __init__(self, path: Path | str, *, sync: bool = True) -> None:
        self.path = Path(path)
        self.sync = sync
        self._lock = FileRWLock(self.path.with_name(self.path.name + ".lock"))

    def _read(self) -> dict[str, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(raw)
            return {str(p["cid"]): str(p.get("type", RECURSIVE)) for p in doc["pins"]}
        except (ValueError, KeyError, TypeError) as e:
            raise DecodeError(
                f"pin file {self.path} is corrupt: {e}",
                hint="restore it from a backup, or delete it to drop every pin (then gc removes"
                " all blocks)",
            ) from None

    def _write(self, pins: dict[str, str]) -> None:
        doc = {
            "version": FORMAT_VERSION,
            "pins": [{"cid": c, "type": k} for c, k in pins.items()],
        }
        write_atomic(self.path, (json.dumps(doc, indent=1) + "\n").encode(), sync=self.sync)

    def add(self, cid: CID, kind: str = RECURSIVE) -> bool:
        """Pin ``cid``; ``False`` if already pinned."""
        with self._lock.exclusive():
            pins = self._read()
            if not _merge(pins, str(cid), kind):
                return False
            self._write(pins)
            return True

    def add_many(self, cids: list[CID], kind: str = RECURSIVE) -> None:
        """Pin several roots in one atomic write."""
        with self._lock.exclusive():
            pins = self._read()
            changed = [_merge(pins, str(cid), kind) for cid in cids]
            if any(changed):
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

    def list(self, kind: str | None = None) -> list[CID]:
        """Pinned roots, oldest first (reads need no lock: the file is replaced atomically)."""
        return [CID.decode(c) for c, k in self._read().items() if kind is None or k == kind]
