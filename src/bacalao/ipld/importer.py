"""The UnixFS importer: bytes, streams and file trees to DAGs with Kubo's CIDs.

``import_bytes``, ``import_stream`` and ``import_path`` return the root as an
:class:`ImportedNode`; with a ``sink`` every block is also handed to ``sink.put(cid, data)``,
children before parents. Without a sink nothing is kept (``ipfs add --only-hash``) and memory
stays bounded by a few MiB whatever the input size.

For the same input and :class:`~bacalao.ipld.profiles.ImportProfile` the CIDs are those of
``ipfs add`` in Kubo >= 0.40 (see ``README.md`` in this package for the exact rules).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any, BinaryIO

from bacalao.errors import InvalidInput
from bacalao.ipld.directory import build_directory, build_symlink
from bacalao.ipld.filedag import FileImporter, ReadFn
from bacalao.ipld.imported import BlockSink, ExtentWriter, ImportedNode, Put
from bacalao.ipld.profiles import PROFILES, ImportProfile

__all__ = [
    "BlockSink",
    "ImportedNode",
    "import_bytes",
    "import_entries",
    "import_path",
    "import_stream",
]

DEFAULT = PROFILES["kubo-v0"]
Progress = Callable[[int], None]


def import_bytes(
    data: bytes | bytearray | memoryview,
    profile: ImportProfile = DEFAULT,
    sink: BlockSink | None = None,
) -> ImportedNode:
    """Import ``data`` as one UnixFS file (``ipfs add`` of a file with these bytes)."""
    view = memoryview(data).cast("B")
    with FileImporter(profile, _put(sink), extents=_extents(sink)) as importer:
        return importer.import_view(view)


def import_stream(
    stream: BinaryIO,
    profile: ImportProfile = DEFAULT,
    sink: BlockSink | None = None,
    *,
    workers: int = 1,
    progress: Progress | None = None,
) -> ImportedNode:
    """Import everything left in a binary stream as one file, in bounded memory.

    ``workers > 1`` hashes batches of chunks on that many threads; the result is identical.
    ``progress(n)`` is called with the number of bytes read so far. Read errors raise
    :class:`InvalidInput`; ``sink=None`` is ``--only-hash``.
    """
    read = stream_reader(stream, getattr(stream, "name", "input stream"))
    with FileImporter(
        profile, _put(sink), workers=workers, progress=progress, extents=_extents(sink)
    ) as importer:
        return importer.import_reader(read)


def import_path(
    path: str | os.PathLike[str] | bytes,
    profile: ImportProfile = DEFAULT,
    sink: BlockSink | None = None,
    *,
    hidden: bool = False,
    workers: int = 1,
    progress: Progress | None = None,
) -> ImportedNode:
    """Import a file, a directory tree or a symlink as ``ipfs add -r`` does.

    Directory links are sorted by name bytes; empty directories are kept; symlinks (at any
    level, never followed) become UnixFS Symlink nodes holding their target; entries whose name
    starts with ``.`` are skipped unless ``hidden`` (the path itself is always imported); a
    directory whose size estimate passes the profile's threshold becomes a HAMT. A missing or
    unreadable path, or a special file (fifo, socket, device), raises :class:`InvalidInput`.
    """
    with FileImporter(
        profile, _put(sink), workers=workers, progress=progress, extents=_extents(sink)
    ) as importer:
        return _Walker(importer, profile, sink, hidden).root(path)


def import_entries(
    entries: list[tuple[str, Any]],
    profile: ImportProfile = DEFAULT,
    sink: BlockSink | None = None,
    *,
    hidden: bool = False,
) -> ImportedNode:
    """A directory of named entries, each bytes (a file with them), a path imported as
    :func:`import_path` does, or a list of entries (a subdirectory; ``[]`` an empty one); the
    same DAG as importing a directory laid out that way, without writing it out first (a job's
    result: ``exitCode`` is a byte or two, its streams and ``outputs/`` are files already)."""
    with FileImporter(profile, _put(sink), extents=_extents(sink)) as importer:
        walker = _Walker(importer, profile, sink, hidden)

        def directory(items: list[tuple[str, Any]]) -> ImportedNode:
            nodes: list[tuple[str, ImportedNode]] = []
            for name, source in items:
                if isinstance(source, bytes):
                    nodes.append((name, importer.import_view(memoryview(source).cast("B"))))
                elif isinstance(source, list):
                    nodes.append((name, directory(source)))
                else:
                    nodes.append((name, walker.root(source)))
            return build_directory(nodes, profile, sink)

        return directory(entries)


def _put(sink: BlockSink | None) -> Put | None:
    return None if sink is None else sink.put


def _extents(sink: BlockSink | None) -> Callable[..., ExtentWriter] | None:
    """The sink's ``begin_extent`` when it keeps files' leaves whole (see ExtentSink)."""
    return getattr(sink, "begin_extent", None)


def fs_error(e: OSError, path: bytes | str) -> InvalidInput:
    """A file-system error on the user's input as an :class:`InvalidInput` with a hint."""
    shown = os.fsdecode(path)
    if isinstance(e, FileNotFoundError):
        return InvalidInput(f"no such file or directory: {shown}", hint="check the path")
    if isinstance(e, PermissionError):
        return InvalidInput(
            f"permission denied: {shown}",
            hint="make it readable by this user, or leave it out of the import",
        )
    return InvalidInput(
        f"cannot read {shown}: {e.strerror or e}", hint="check that the path is readable"
    )


def stream_reader(stream: BinaryIO, name: object) -> ReadFn:
    """``read(buffer) -> n`` filling ``buffer`` unless the stream ends; errors as InvalidInput."""
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        read = stream.read

        def readinto(mv: memoryview) -> int:
            data = read(len(mv))
            if isinstance(data, str):
                raise InvalidInput("cannot import a text stream", hint="open the file in 'rb' mode")
            mv[: len(data)] = data
            return len(data)

    def read_full(mv: memoryview) -> int:
        try:
            n = readinto(mv) or 0
            total = n
            while n and total < len(mv):
                n = readinto(mv[total:]) or 0
                total += n
        except OSError as e:
            raise fs_error(e, str(name)) from None
        return total

    return read_full


class _Walker:
    """Depth-first import of a tree; each directory after all of its entries."""

    def __init__(
        self, files: FileImporter, profile: ImportProfile, sink: BlockSink | None, hidden: bool
    ) -> None:
        self.files = files
        self.profile = profile
        self.sink = sink
        self.hidden = hidden

    def root(self, path: str | os.PathLike[str] | bytes) -> ImportedNode:
        """The tree at ``path``: a missing path or one nested too deep is InvalidInput."""
        bpath = os.fsencode(path)
        try:
            st = os.lstat(bpath)
        except OSError as e:
            raise fs_error(e, bpath) from None
        try:
            return self.node(bpath, st.st_mode)
        except RecursionError:
            raise InvalidInput(
                f"directory tree too deep: {os.fsdecode(bpath)}",
                hint="import a less deeply nested tree",
            ) from None

    def node(self, path: bytes, mode: int) -> ImportedNode:
        if stat.S_ISREG(mode):
            return self.file(path)
        if stat.S_ISDIR(mode):
            return self.directory(path)
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(path)
            except OSError as e:
                raise fs_error(e, path) from None
            return build_symlink(target, self.profile, self.sink)
        raise InvalidInput(
            f"unsupported file type: {os.fsdecode(path)}",
            hint="only regular files, directories and symlinks can be imported",
        )

    def file(self, path: bytes) -> ImportedNode:
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below, errors mapped
        except OSError as e:
            raise fs_error(e, path) from None
        with f:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            return self.files.import_reader(stream_reader(f, os.fsdecode(path)))

    def directory(self, path: bytes) -> ImportedNode:
        try:
            with os.scandir(path) as it:
                found = [
                    (de.name, de.stat(follow_symlinks=False).st_mode)
                    for de in it
                    if self.hidden or not de.name.startswith(b".")
                ]
        except OSError as e:
            raise fs_error(e, path) from None
        found.sort()
        entries = [(name, self.node(os.path.join(path, name), mode)) for name, mode in found]
        return build_directory(entries, self.profile, self.sink)
