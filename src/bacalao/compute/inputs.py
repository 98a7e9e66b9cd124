"""Preparing an execution's inputs on the host: every source becomes a read-only mount.

``ipfs`` sources are resolved in the node's own block store and written out (verified block by
block) under the execution's directory — a file the store keeps whole (a one-chunk file, or one
added with raw leaves: see :mod:`bacalao.blockstore.extents`) is hard-linked instead of copied;
``localDirectory`` sources are bind-mounted when the node allows their path; ``inline`` data
URLs and ``urlDownload`` sources are written to files.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from bacalao.errors import InvalidInput
from bacalao.executors.base import ContentRef, Mount
from bacalao.ipld.blocks import BlockGetter
from bacalao.ipld.cid import CID
from bacalao.models.input_source import InputSource


def materialise(
    sources: Sequence[InputSource],
    getter: BlockGetter,
    dest: Path,
    *,
    allowed_paths: Sequence[Path] = (),
) -> tuple[list[Mount], int]:
    """Write or locate every input; return the mounts and the input bytes made available."""
    mounts: list[Mount] = []
    total = 0
    dest.mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(sources):
        kind = src.source.type.lower()
        params = src.source.decoded()
        target = src.target or "/inputs"
        if kind == "ipfs":
            path, size = _ipfs(getter, params.cid, dest / f"{i}")
        elif kind == "localdirectory":
            path = _allowed(Path(params.source_path), allowed_paths)
            mounts.append(Mount(path, target, read_only=not params.read_write))
            continue
        elif kind == "inline":
            path, size = _inline(params.url, dest / f"{i}")
        elif kind == "urldownload":
            path, size = _download(params.url, dest / f"{i}")
        else:
            raise InvalidInput(
                f"input source type {src.source.type!r} is not supported by this node",
                hint="use ipfs, localDirectory, urlDownload or inline",
            )
        total += size
        mounts.append(Mount(path, target, read_only=True))
    return mounts, total


def materialise_content(
    refs: dict[str, str], getter: BlockGetter, dest: Path
) -> dict[str, ContentRef]:
    """Write out the content an engine named by CID (its module, its script) under ``dest``."""
    out: dict[str, ContentRef] = {}
    for i, (name, cid_text) in enumerate(sorted(refs.items())):
        path, _ = _ipfs(getter, cid_text, dest / f"{i}")
        out[name] = ContentRef(cid_text, path)
    return out


def _ipfs(getter: BlockGetter, cid_text: str, into: Path) -> tuple[Path, int]:
    from bacalao.ipld.export_fs import write_tree

    cid_str, _, sub = cid_text.partition("/")
    root = CID.decode(cid_str)
    if sub:
        from bacalao.ipld.exporter import resolve

        root = resolve(getter, root, sub)
    into.mkdir(parents=True, exist_ok=True)
    # read-only inputs: a file the store holds whole is hard-linked, not copied (export_fs)
    path = write_tree(getter, root, into, name="data", link=True)
    return path, _du(path)


def _inline(url: str, into: Path) -> tuple[Path, int]:
    header, _, payload = url.partition(",")
    data = (
        base64.b64decode(payload)
        if header.endswith(";base64")
        else urllib.parse.unquote_to_bytes(payload)
    )
    into.mkdir(parents=True, exist_ok=True)
    path = into / "data"
    path.write_bytes(data)
    return path, len(data)


def _download(url: str, into: Path) -> tuple[Path, int]:
    import httpx

    into.mkdir(parents=True, exist_ok=True)
    name = os.path.basename(urllib.parse.urlparse(url).path) or "download"
    path = into / name
    size = 0
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=30) as r:
            r.raise_for_status()
            with path.open("wb") as f:
                for chunk in r.iter_bytes():
                    f.write(chunk)
                    size += len(chunk)
    except httpx.HTTPError as e:
        raise InvalidInput(f"cannot download {url}: {e}", retryable=True) from None
    return path, size


def _allowed(path: Path, allowed: Sequence[Path]) -> Path:
    real = path.resolve()
    for root in allowed:
        if real == root.resolve() or root.resolve() in real.parents:
            return real
    raise InvalidInput(
        f"local directory {path} is not allowed on this node",
        hint="the node operator must allow it with --allow-local-path",
    )


def _du(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum((Path(d) / f).lstat().st_size for d, _, files in os.walk(path) for f in files)
