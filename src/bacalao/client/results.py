"""Download a job's results from the gateway and check every block against its CID.

``download`` streams the CAR of one CID (``GET /ipfs/{cid}?format=car``) straight into
:class:`~bacalao.ipld.car.CarReader`, which hashes every block against its CID; the CAR's root
must be the CID asked for; :func:`~bacalao.ipld.exporter.check_dag` then proves the DAG complete
before :func:`~bacalao.ipld.exporter.write_tree` writes it (safely: no path escapes, no writing
through symlinks). Nothing from the server is trusted: a wrong, corrupt or partial answer is an
:class:`~bacalao.errors.IntegrityError` and nothing is written.

Blocks wait in one temporary file (an append-only log with an in-memory index), so memory stays
flat whatever the result's size. :mod:`bacalao.ipld` is imported here, lazily: the SDK proper does
not need it.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bacalao.errors import BacalaoError, BlockNotFound, DecodeError, IntegrityError, NotFound

if TYPE_CHECKING:
    from bacalao.client import Client
    from bacalao.ipld.cid import CID


class _ChunkStream(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _SpoolBlocks:
    """Verified blocks in one temporary file, looked up by multihash."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self._index: dict[bytes, tuple[int, int]] = {}
        self._end = 0

    def put(self, cid: CID, block: bytes) -> None:
        if cid.multihash in self._index:
            return
        os.pwrite(self._file.fileno(), block, self._end)
        self._index[cid.multihash] = (self._end, len(block))
        self._end += len(block)

    def get(self, cid: CID) -> bytes:
        from bacalao.ipld.blocks import identity_data

        inline = identity_data(cid)
        if inline is not None:
            return inline
        try:
            offset, size = self._index[cid.multihash]
        except KeyError:
            raise BlockNotFound(cid) from None
        return os.pread(self._file.fileno(), size, offset)

    def __len__(self) -> int:
        return len(self._index)


def _incomplete(cid: str, err: BacalaoError) -> IntegrityError:
    return IntegrityError(
        f"result {cid} failed verification: {err.message}",
        hint="the download was cut short or the server lacks part of the data; try again",
    )


def download(
    client: Client, cid: str, dest: Path, *, chunks: Iterable[bytes] | None = None
) -> tuple[Path, int]:
    """Fetch ``cid``'s DAG, verify it, write it as the file or directory ``dest``.

    Returns ``(dest, blocks verified)``. ``chunks`` replaces the download (tests).
    """
    from bacalao.ipld.car import CarReader
    from bacalao.ipld.cid import CID
    from bacalao.ipld.exporter import check_dag, write_tree

    root = CID.decode(cid.strip())
    with tempfile.TemporaryFile(prefix="bacalao-get-") as spool:
        store = _SpoolBlocks(spool)
        source = chunks if chunks is not None else client.iter_car(cid)
        try:
            reader = CarReader(_ChunkStream(source))
        except DecodeError as err:
            raise _incomplete(cid, err) from None
        if [r.to_v1() for r in reader.header.roots] != [root.to_v1()]:
            roots = ", ".join(map(str, reader.header.roots)) or "none"
            raise IntegrityError(
                f"the server sent the wrong DAG for {cid} (CAR roots: {roots})",
                hint="the gateway answered for another CID; is BACALAO_API the right node?",
            )
        try:
            for block_cid, block in reader:
                store.put(block_cid, block)
            check_dag(store, root)
        except (DecodeError, BlockNotFound, IntegrityError) as err:
            raise _incomplete(cid, err) from None
        dest = Path(dest)
        return write_tree(store, root, dest.parent, dest.name), len(store)


@dataclass
class Downloaded:
    """What :func:`download_job` wrote."""

    path: Path
    cids: list[str] = field(default_factory=list)
    blocks: int = 0
    skipped: list[str] = field(default_factory=list)
    """Results of other types (s3, urlDownload…) that ``bacalao get`` does not fetch."""


def _cid_of(result: dict[str, Any]) -> str:
    params = result.get("Params") or {}
    return str(next((v for k, v in params.items() if k.lower() == "cid"), "") or "")


def default_dir(job_id: str) -> Path:
    """``./job-<short id>`` (``j-`` plus 8 hex digits), as Bacalhau names it."""
    return Path(f"job-{job_id.removeprefix('j-')[:8]}")


def download_job(client: Client, job_id: str, dest: Path | None = None) -> Downloaded:
    """Download and verify every ``ipfs`` result of a job.

    One result is written as ``dest`` itself (default ``./job-<short id>``); several go under
    ``dest/<cid>``. Raises :class:`~bacalao.errors.NotFound` if the job has no result to fetch.
    """
    description = client.describe_job(job_id)
    full_id = str((description.raw.get("Job") or {}).get("ID") or job_id)
    results = client.results(full_id).raw
    cids = [_cid_of(r) for r in results if str(r.get("Type", "")).lower() == "ipfs"]
    cids = list(dict.fromkeys(c for c in cids if c))
    skipped = [str(r.get("Type")) for r in results if str(r.get("Type", "")).lower() != "ipfs"]
    if not cids:
        state = description.state or "unknown"
        raise NotFound(
            f"job {full_id} has no result to download (state: {state})",
            hint="results appear once an execution completes: see `bacalao job describe "
            f"{full_id}`",
        )
    dest = Path(dest) if dest is not None else default_dir(full_id)
    done = Downloaded(dest, skipped=skipped)
    for cid in cids:
        target = dest if len(cids) == 1 else dest / cid
        _, blocks = download(client, cid, target)
        done.cids.append(cid)
        done.blocks += blocks
    return done
