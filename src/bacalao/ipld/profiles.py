"""UnixFS import profiles: the settings that decide which CID a given set of bytes gets.

Each profile reproduces one way Kubo can be asked to add data (Kubo ``config/profile.go``,
IPIP-499). The names are bacalao's; ``ALIASES`` maps Kubo's own profile names onto them.

========================  ===========  ===========  ==================
setting                   ``kubo-v0``  ``cid-v1``   ``unixfs-v1-2025``
========================  ===========  ===========  ==================
CID version               0            1            1
leaves                    dag-pb       raw          raw
chunk size                256 KiB      256 KiB      1 MiB
links per file node       174          174          1024
HAMT threshold            256 KiB      256 KiB      256 KiB
HAMT size estimation      links-bytes  links-bytes  block-bytes
========================  ===========  ===========  ==================

The HAMT switch is ``estimate > hamt_threshold`` (Kubo >= 0.40). Kubo <= 0.39 used ``>=``: pass
``hamt_threshold=262143`` to reproduce it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from bacalao.errors import InvalidInput

#: Kubo >= 0.40 refuses chunks larger than this (``chunker.BlockSizeLimit`` is 2 MiB).
MAX_CHUNK_SIZE = 2 * 1024 * 1024 - 256

DEFAULT_PROFILE = "kubo-v0"


@dataclass(frozen=True)
class ImportProfile:
    """How files and directories are cut into blocks and named.

    ``hamt_estimation`` is ``"links"`` (Σ len(name) + len(cid bytes), Kubo's default) or
    ``"block"`` (the exact serialized size of the directory block, IPIP-499).
    ``dir_max_links`` > 0 also switches a directory to a HAMT when it has more entries (Kubo's
    ``Import.UnixFSDirectoryMaxLinks``; 0, the default everywhere, means unlimited).
    """

    name: str
    cid_version: int
    raw_leaves: bool
    chunk_size: int
    max_links: int
    hamt_threshold: int
    hamt_estimation: Literal["links", "block"]
    hamt_fanout: int = 256
    dir_max_links: int = 0

    def __post_init__(self) -> None:
        if self.cid_version not in (0, 1):
            raise InvalidInput(
                f"unsupported CID version {self.cid_version}", hint="use --cid-version 0 or 1"
            )
        if not 1 <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise InvalidInput(
                f"chunk size {self.chunk_size} out of range",
                hint=f"use a chunk size between 1 and {MAX_CHUNK_SIZE} bytes (Kubo's limit)",
            )
        if self.max_links < 2:
            raise InvalidInput(
                f"max links {self.max_links} too small", hint="a file node needs at least 2 links"
            )
        if self.hamt_estimation not in ("links", "block"):
            raise InvalidInput(
                f"unknown HAMT size estimation {self.hamt_estimation!r}",
                hint="use 'links' or 'block'",
            )
        f = self.hamt_fanout
        if f < 8 or f & (f - 1) or f > 1024:
            raise InvalidInput(
                f"HAMT fanout {f} is not supported",
                hint="use a power of two between 8 and 1024 (Kubo's default is 256)",
            )
        if self.hamt_threshold < 0 or self.dir_max_links < 0:
            raise InvalidInput("HAMT threshold and directory max links must be >= 0")

    def replace(self, **changes: object) -> ImportProfile:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


PROFILES: dict[str, ImportProfile] = {
    "kubo-v0": ImportProfile(
        name="kubo-v0",
        cid_version=0,
        raw_leaves=False,
        chunk_size=262144,
        max_links=174,
        hamt_threshold=262144,
        hamt_estimation="links",
    ),
    "cid-v1": ImportProfile(
        name="cid-v1",
        cid_version=1,
        raw_leaves=True,
        chunk_size=262144,
        max_links=174,
        hamt_threshold=262144,
        hamt_estimation="links",
    ),
    "unixfs-v1-2025": ImportProfile(
        name="unixfs-v1-2025",
        cid_version=1,
        raw_leaves=True,
        chunk_size=1048576,
        max_links=1024,
        hamt_threshold=262144,
        hamt_estimation="block",
    ),
}

#: Kubo's names for the same settings.
ALIASES: dict[str, str] = {
    "unixfs-v0-2015": "kubo-v0",
    "legacy-cid-v0": "kubo-v0",
    "default": "kubo-v0",
}


def resolve_profile(
    name: str | None = None,
    cid_version: int | None = None,
    *,
    raw_leaves: bool | None = None,
    chunk_size: int | None = None,
) -> ImportProfile:
    """The profile the CLI's ``--profile`` / ``--cid-version`` (and friends) ask for.

    * No name: ``kubo-v0``, or ``cid-v1`` when ``cid_version`` is 1.
    * A name and a ``cid_version`` that differs from it: the profile with that CID version. As in
      Kubo, CIDv1 implies raw leaves unless ``raw_leaves`` is given explicitly, and the
      ``kubo-v0`` settings under CIDv1 are exactly ``cid-v1``.
    * ``raw_leaves`` / ``chunk_size`` override the profile (Kubo's ``--raw-leaves``,
      ``--chunker=size-N``).

    Unknown names raise :class:`InvalidInput` listing the valid ones.
    """
    if name is None:
        key = "cid-v1" if cid_version == 1 else DEFAULT_PROFILE
    else:
        key = ALIASES.get(name, name)
        if key not in PROFILES:
            valid = ", ".join(list(PROFILES) + list(ALIASES))
            raise InvalidInput(f"unknown import profile {name!r}", hint=f"valid profiles: {valid}")
    profile = PROFILES[key]
    if cid_version is not None and cid_version != profile.cid_version:
        if cid_version not in (0, 1):
            raise InvalidInput(
                f"unsupported CID version {cid_version}", hint="use --cid-version 0 or 1"
            )
        if key == "kubo-v0" and cid_version == 1:
            profile = PROFILES["cid-v1"]
        elif key == "cid-v1" and cid_version == 0:
            profile = PROFILES["kubo-v0"]  # its raw leaves only came from CIDv1
        else:
            # Kubo: CidVersion > 0 && !RawLeavesSet => RawLeaves. A profile's own raw-leaves
            # setting counts as "set" (it comes from Import.UnixFSRawLeaves).
            profile = profile.replace(cid_version=cid_version)
    if raw_leaves is not None and raw_leaves != profile.raw_leaves:
        profile = profile.replace(raw_leaves=raw_leaves)
    if chunk_size is not None and chunk_size != profile.chunk_size:
        profile = profile.replace(chunk_size=chunk_size)
    return profile


def parse_chunker(spec: str) -> int:
    """The chunk size of a Kubo ``--chunker`` string; only ``size-N`` is deterministic."""
    if spec.startswith("size-"):
        try:
            n = int(spec[5:])
        except ValueError:
            n = -1
        if 1 <= n <= MAX_CHUNK_SIZE:
            return n
    raise InvalidInput(
        f"unsupported chunker {spec!r}",
        hint=f"use size-N with 1 <= N <= {MAX_CHUNK_SIZE} (rabin/buzhash are not supported)",
    )
