"""Whole-tree UnixFS operations that copy no file bytes: list, glob, merge, aggregate.

Everything here links existing CIDs into new directory nodes; only directory blocks are read or
written. This is how shard inputs are chosen (``list_files`` + ``glob_match``), how shard outputs
become one result (``merge_union``, ``per_shard``) and how datasets on different nodes become one
(``aggregate``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bacalao.errors import BacalaoError, InvalidInput
from bacalao.ipld.blocks import BlockGetter
from bacalao.ipld.cid import CID, RAW
from bacalao.ipld.directory import build_directory
from bacalao.ipld.imported import BlockSink, ImportedNode
from bacalao.ipld.profiles import ImportProfile
from bacalao.ipld.unixfs_read import Node, dir_links, load


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file somewhere under a root: its relative path, CID, content size and DAG size."""

    path: str
    cid: CID
    size: int
    tsize: int


def tsize_of(node: Node) -> int:
    """The cumulative DAG size a parent link records for ``node``."""
    return len(node.block) + sum(link.tsize for link in node.links)


def imported(getter: BlockGetter, cid: CID) -> ImportedNode:
    """An existing DAG root as the directory builder takes it."""
    node = load(getter, cid)
    return ImportedNode(cid, tsize_of(node), node.size if node.kind != "directory" else 0)


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, path: str) -> bool:
    """Shell-style match of a relative path: ``*`` and ``?`` stay within a segment, ``**``
    spans segments (``**/*.log`` matches ``a.log`` and ``x/y/a.log``). Empty matches all."""
    return not pattern or _glob_regex(pattern).match(path) is not None


def list_files(getter: BlockGetter, root: CID, pattern: str = "") -> list[FileEntry]:
    """Every file under ``root`` (recursively, sorted by path) whose path matches ``pattern``.

    Only directory blocks and the root blocks of multi-block files are read, so listing a
    dataset held elsewhere fetches almost nothing (and, with a getter that can prefetch, level
    by level: see :func:`prefetch_tree`). A root that is itself a file is listed under its CID
    string.
    """
    node = load(getter, root)
    if node.kind not in ("directory", "hamt"):
        name = str(root)
        return (
            [FileEntry(name, root, node.size, tsize_of(node))] if glob_match(pattern, name) else []
        )
    prefetch_tree(getter, [root])
    out: list[FileEntry] = []
    stack: list[tuple[str, Node]] = [("", node)]
    while stack:
        prefix, directory = stack.pop()
        for link in dir_links(getter, directory):
            path = f"{prefix}{link.name}"
            if link.cid.codec == RAW:  # a one-block file: never fetch its bytes to list it
                if glob_match(pattern, path):
                    out.append(FileEntry(path, link.cid, link.tsize, link.tsize))
                continue
            child = load(getter, link.cid)
            if child.kind in ("directory", "hamt"):
                stack.append((path + "/", child))
            elif child.kind in ("file", "raw") and glob_match(pattern, path):
                out.append(FileEntry(path, link.cid, child.size, link.tsize))
    out.sort(key=lambda e: e.path)
    return out


def prefetch_tree(getter: BlockGetter, roots: Sequence[CID]) -> None:
    """Tell a getter with ``prefetch(cids)`` every block a listing of ``roots`` will read, one
    tree level at a time: directories (HAMT shards included) and the roots of multi-block files,
    never file data. A getter that fetches from peers then asks for each level at once instead
    of one block per round trip. Without ``prefetch`` this does nothing; errors are left for
    the reads that follow to report.
    """
    prefetch = getattr(getter, "prefetch", None)
    if prefetch is None:
        return
    level = [c for c in dict.fromkeys(roots) if c.codec != RAW]
    seen: set[CID] = set()
    while level:
        prefetch(level)
        seen.update(level)
        below: list[CID] = []
        for cid in level:
            try:
                node = load(getter, cid)
                if node.kind in ("directory", "hamt"):
                    below += [link.cid for link in node.links if link.cid.codec != RAW]
            except BacalaoError:
                continue
        level = [c for c in dict.fromkeys(below) if c not in seen]


def build_tree(
    files: Iterable[tuple[str, ImportedNode]], profile: ImportProfile, sink: BlockSink
) -> ImportedNode:
    """A directory tree holding each node at its relative path (directories made as needed)."""
    tree: dict = {}
    for path, node in files:
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise InvalidInput(f"invalid path {path!r} in a tree")
        here = tree
        for part in parts[:-1]:
            here = here.setdefault(part, {})
            if not isinstance(here, dict):
                raise InvalidInput(f"{path!r}: {part!r} is both a file and a directory")
        if parts[-1] in here:
            raise InvalidInput(f"{path!r} appears twice")
        here[parts[-1]] = node
    return _build(tree, profile, sink)


def _build(tree: dict, profile: ImportProfile, sink: BlockSink) -> ImportedNode:
    entries = [
        (name, _build(child, profile, sink) if isinstance(child, dict) else child)
        for name, child in tree.items()
    ]
    return build_directory(entries, profile, sink)


def merge_union(
    getter: BlockGetter,
    roots: Sequence[tuple[str, CID]],
    profile: ImportProfile,
    sink: BlockSink,
) -> ImportedNode:
    """One directory with the paths of every root joined.

    ``roots`` are (label, directory CID). A file path that two roots both produce is an error
    naming both labels; directories present in several roots are merged recursively.
    """
    owners: dict[str, str] = {}
    files: list[tuple[str, ImportedNode]] = []
    for label, root in roots:
        for entry in list_files(getter, root):
            if entry.path in owners:
                raise InvalidInput(
                    f"{entry.path!r} was produced by both {owners[entry.path]} and {label}",
                    hint="make each shard write distinct paths, or use --merge per-shard",
                )
            owners[entry.path] = label
            files.append((entry.path, ImportedNode(entry.cid, entry.tsize, entry.size)))
    return build_tree(files, profile, sink)


def aggregate(
    getter: BlockGetter,
    named: Sequence[tuple[str, CID]],
    profile: ImportProfile,
    sink: BlockSink,
) -> ImportedNode:
    """A directory whose entries are the given roots (files or directories) under their names."""
    return build_directory([(name, imported(getter, cid)) for name, cid in named], profile, sink)
