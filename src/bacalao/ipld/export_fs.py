"""Writing a UnixFS DAG to disk, safely (``bacalao.ipld.exporter.write_tree``).

The DAG is untrusted, so:

* entry names are checked: empty, ``.``, ``..``, or containing ``/`` or NUL are refused with
  :class:`~bacalao.errors.InvalidInput` naming the entry;
* every file, directory and symlink is created relative to its parent's directory fd, with
  ``O_NOFOLLOW``: nothing is ever written through a symlink, whether the DAG made it or it was
  there before. Something in the way (a symlink, a file, a FIFO) is removed — never followed —
  and replaced; a directory in the way of a file is an error;
* files are created fresh (``O_EXCL`` after unlinking), so a pre-existing hard link is not
  written through either, and a file left half-written by a failing read is removed;
* symlinks are recreated as links with their stored target, which may point anywhere: they are
  never dereferenced while writing.

``dest`` itself is the caller's choice and is used as given (created if missing).

With ``link=True`` (a compute node writing a job's read-only inputs) a file whose exact bytes the
getter already has as one local file (its optional ``whole_file(cid) -> path | None``: a
one-chunk file's block, or the extent the store kept the file's raw leaves in) is hard-linked
instead of copied, when its size is the file's; anything else falls back to the copy. Never for
exports a user may write to: the link shares the store's inode.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as st
from collections.abc import Callable, Iterable
from pathlib import Path

from bacalao.errors import BacalaoError, InvalidInput
from bacalao.ipld.blocks import BlockGetter
from bacalao.ipld.cid import CID, RAW
from bacalao.ipld.unixfs_read import FileSlice, Node, dir_links, file_parts, load

MAX_DEPTH = 256
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def check_name(name: str, where: str) -> None:
    """Refuse an entry name that is not one plain path component."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise InvalidInput(
            f"unsafe entry name {name!r} in {where}",
            hint="the DAG names an entry that is not a plain file name; refusing to write it",
        )


def write_tree(
    getter: BlockGetter, cid: CID, dest: Path, name: str | None = None, *, link: bool = False
) -> Path:
    """Write the file, directory or symlink ``cid`` as ``dest/name`` and return that path.

    ``name`` defaults to the CID string. ``dest`` is created if missing. Writing into an existing
    directory merges into it; existing entries in the way are replaced, never followed.
    ``link=True`` hard-links files the getter holds whole (see the module doc): only for
    destinations nothing writes to.
    """
    name = str(cid) if name is None else name
    check_name(name, str(dest))
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        dfd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise _io_error(str(dest), e) from None
    whole = getattr(getter, "whole_file", None) if link else None
    try:
        _write(getter, cid, dfd, name, str(dest / name), 0, whole)
    finally:
        os.close(dfd)
    return dest / name


def _io_error(where: str, e: OSError) -> BacalaoError:
    return BacalaoError(
        f"cannot write {where}: {e.strerror or e}",
        code="io",
        hint="check the destination: free space, permissions, what is already there",
    )


WholeFile = Callable[[CID], "str | None"]


def _write(
    getter: BlockGetter,
    cid: CID,
    dfd: int,
    name: str,
    where: str,
    depth: int,
    whole: WholeFile | None = None,
) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"directory tree too deep at {where} (limit {MAX_DEPTH} levels)")
    try:
        # a raw block is a whole file: link it before reading it
        if cid.codec == RAW and _link_whole(whole, cid, None, dfd, name, where):
            return
        node = load(getter, cid)
        if node.kind in ("file", "raw"):
            size = node.fs.filesize if node.fs is not None else None
            if node.kind == "raw" or size is None:
                linked = False
            else:
                linked = _link_whole(whole, cid, size, dfd, name, where)
            if not linked:
                _write_file(dfd, name, where, file_parts(getter, node))
        elif node.kind == "symlink":
            _write_symlink(dfd, name, where, node)
        else:
            _write_dir(getter, dfd, name, where, node, depth, whole)
    except OSError as e:
        raise _io_error(where, e) from None


def _link_whole(
    whole: WholeFile | None, cid: CID, size: int | None, dfd: int, name: str, where: str
) -> bool:
    """Hard-link the local file holding exactly ``cid``'s bytes as ``name``; False to copy.

    ``size`` is the file's declared size (``None`` for a raw block, whose file is the block).
    """
    path = whole(cid) if whole is not None else None
    if path is None:
        return False
    try:
        if size is not None and os.stat(path).st_size != size:
            return False
        try:
            os.link(path, name, dst_dir_fd=dfd, follow_symlinks=False)
        except FileExistsError:
            if _clear(dfd, name, where, keep_dir=True):
                return False  # a directory in the way: the copy reports it
            os.link(path, name, dst_dir_fd=dfd, follow_symlinks=False)
    except OSError as e:  # another filesystem, too many links, gone meanwhile: copy instead
        if e.errno in (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.EACCES, errno.ENOENT):
            return False
        raise
    return True


def _clear(dfd: int, name: str, where: str, *, keep_dir: bool) -> bool:
    """Remove a non-directory at ``name``; return True if a directory is there (and kept)."""
    try:
        info = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if st.S_ISDIR(info.st_mode):
        if keep_dir:
            return True
        raise InvalidInput(f"cannot write {where}: a directory is in the way")
    os.unlink(name, dir_fd=dfd)
    return False


def _write_file(dfd: int, name: str, where: str, parts: Iterable[bytes | FileSlice]) -> None:
    try:
        fd = os.open(name, _NEW_FILE_FLAGS, 0o666, dir_fd=dfd)
    except FileExistsError:
        _clear(dfd, name, where, keep_dir=False)
        fd = os.open(name, _NEW_FILE_FLAGS, 0o666, dir_fd=dfd)
    try:
        with open(fd, "wb", closefd=True) as out:
            for part in parts:
                if isinstance(part, bytes):
                    out.write(part)
                else:
                    out.flush()
                    _copy_slice(part, fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dfd)  # no half-written files
        raise


def _copy_slice(part: FileSlice, out_fd: int) -> None:
    """Append ``length`` bytes at ``offset`` of a local block file, in the kernel."""
    path, offset, length = part
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        while length:
            try:
                n = os.copy_file_range(src, out_fd, length, offset)
            except OSError as e:
                if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                n = os.write(out_fd, os.pread(src, min(length, 1 << 20), offset))
            if n == 0:
                raise BacalaoError(f"block file {path} is shorter than its index says", code="io")
            offset += n
            length -= n
    finally:
        os.close(src)


def _write_symlink(dfd: int, name: str, where: str, node: Node) -> None:
    assert node.fs is not None
    target = node.fs.data or b""
    if not target or b"\0" in target:
        raise InvalidInput(f"symlink {where} has an empty or NUL-containing target")
    target_str = os.fsdecode(target)
    try:
        os.symlink(target_str, name, dir_fd=dfd)
    except FileExistsError:
        _clear(dfd, name, where, keep_dir=False)
        os.symlink(target_str, name, dir_fd=dfd)


def _open_dir(dfd: int, name: str, where: str) -> int:
    try:
        os.mkdir(name, 0o777, dir_fd=dfd)
    except FileExistsError:
        if not _clear(dfd, name, where, keep_dir=True):
            os.mkdir(name, 0o777, dir_fd=dfd)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dfd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a symlink under our feet
            raise InvalidInput(f"cannot write {where}: it is no longer a directory") from None
        raise


def _write_dir(
    getter: BlockGetter,
    dfd: int,
    name: str,
    where: str,
    node: Node,
    depth: int,
    whole: WholeFile | None = None,
) -> None:
    links = dir_links(getter, node)
    for link in links:
        check_name(link.name, where)
    cfd = _open_dir(dfd, name, where)
    try:
        for link in links:
            _write(getter, link.cid, cfd, link.name, f"{where}/{link.name}", depth + 1, whole)
    finally:
        os.close(cfd)
