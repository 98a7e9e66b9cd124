"""Properties of the file importer, with tiny chunk sizes so that deep DAGs stay cheap."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from bacalao.ipld import dagpb, unixfs
from bacalao.ipld.cid import CID, RAW
from bacalao.ipld.filedag import FileImporter, pb_leaf_affixes, pb_leaf_chunk
from bacalao.ipld.importer import import_bytes, import_stream, stream_reader
from bacalao.ipld.profiles import PROFILES, ImportProfile


class ListSink:
    """Every put, in order."""

    def __init__(self) -> None:
        self.puts: list[tuple[CID, bytes]] = []
        self.blocks: dict[CID, bytes] = {}

    def put(self, cid: CID, data: bytes) -> None:
        self.puts.append((cid, data))
        self.blocks[cid] = data


class Trickle(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read (a pipe, a socket)."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.step = step

    def readable(self) -> bool:
        return True

    def readinto(self, mv) -> int:  # type: ignore[no-untyped-def, override]
        n = min(len(mv), self.step, len(self.data) - self.pos)
        mv[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


@st.composite
def tiny_case(draw: st.DrawFn) -> tuple[ImportProfile, bytes]:
    """A small profile and data whose length sits near a chunk/level boundary."""
    profile = PROFILES["kubo-v0"].replace(
        chunk_size=draw(st.integers(1, 48)),
        max_links=draw(st.integers(2, 5)),
        raw_leaves=draw(st.booleans()),
        cid_version=draw(st.sampled_from([0, 1])),
    )
    cs, w = profile.chunk_size, profile.max_links
    boundary = cs * draw(st.sampled_from([0, 1, 2, w, w + 1, w * w, w * w + 1, w**3]))
    size = max(0, boundary + draw(st.integers(-1, 1)))
    size = min(size, 6000)
    data = (
        draw(st.binary(min_size=size, max_size=size))
        if size < 64
        else bytes((i * 7 + size) & 0xFF for i in range(size))
    )
    return profile, data


def walk(blocks: dict[CID, bytes], cid: CID, depth: int, out: dict) -> tuple[bytes, int, int]:
    """Read a file DAG back: (content, cumulative size, filesize); records leaf depths."""
    block = blocks[cid]
    if cid.codec == RAW:
        out.setdefault("leaf_depths", set()).add(depth)
        return block, len(block), len(block)
    node = dagpb.decode(block)
    fs = unixfs.decode(node.data)
    assert fs.type == unixfs.DataType.FILE
    if not node.links:
        out.setdefault("leaf_depths", set()).add(depth)
        assert fs.filesize == len(fs.data or b"")
        return fs.data or b"", len(block), fs.filesize
    assert fs.data is None
    assert len(node.links) == len(fs.blocksizes) <= out["max_links"]
    content = []
    cum = len(block)
    for link, bs in zip(node.links, fs.blocksizes, strict=True):
        assert link.name == ""
        data, tsize, size = walk(blocks, link.cid, depth + 1, out)
        assert (link.tsize, bs) == (tsize, size)
        content.append(data)
        cum += tsize
    assert fs.filesize == sum(fs.blocksizes)
    return b"".join(content), cum, fs.filesize


@settings(max_examples=150, deadline=None)
@given(tiny_case())
def test_file_dag_is_balanced_and_complete(case: tuple[ImportProfile, bytes]) -> None:
    profile, data = case
    sink = ListSink()
    node = import_bytes(data, profile, sink)
    # children before parents: every link points at a block already put
    seen: set[CID] = set()
    for cid, block in sink.puts:
        if cid.codec != RAW:
            for link in dagpb.decode(block).links:
                assert link.cid in seen
        seen.add(cid)
    assert sink.puts[-1][0] == node.cid
    out: dict = {"max_links": profile.max_links}
    content, tsize, size = walk(sink.blocks, node.cid, 0, out)
    assert content == data
    assert (node.tsize, node.size) == (tsize, size) == (tsize, len(data))
    assert len(out["leaf_depths"]) == 1  # every leaf at the same depth
    (depth,) = out["leaf_depths"]
    chunks = max(1, -(-len(data) // profile.chunk_size))
    assert depth == (0 if chunks == 1 else _ceil_log(chunks, profile.max_links))


def _ceil_log(n: int, base: int) -> int:
    d, cap = 0, 1
    while cap < n:
        cap *= base
        d += 1
    return d


@settings(max_examples=150, deadline=None)
@given(tiny_case(), st.integers(1, 97), st.sampled_from([1, 2, 3]), st.integers(1, 5))
def test_all_sources_agree(
    case: tuple[ImportProfile, bytes], step: int, workers: int, batch_chunks: int
) -> None:
    """import_bytes == import_stream (short reads) == the parallel path, blocks in one order."""
    profile, data = case
    ref = ListSink()
    expected = import_bytes(data, profile, ref)
    sink = ListSink()
    assert import_stream(Trickle(data, step), profile, sink) == expected
    assert sink.puts == ref.puts
    seen: list[int] = []
    sink = ListSink()
    with FileImporter(
        profile,
        sink.put,
        workers=workers,
        progress=seen.append,
        batch_bytes=batch_chunks * profile.chunk_size,
    ) as importer:
        got = importer.import_reader(stream_reader(Trickle(data, step), "t"))
    assert got == expected
    assert sink.puts == ref.puts
    assert seen == sorted(seen)
    assert seen[-1:] == ([len(data)] if data else [])


@given(st.binary(max_size=5000))
def test_a_dag_pb_leaf_s_chunk_is_found_in_its_framing(chunk: bytes) -> None:
    head, tail = pb_leaf_affixes(len(chunk))
    block = head + chunk + tail
    at, n = pb_leaf_chunk(block) or (-1, -1)
    assert block[at : at + n] == chunk and n == len(chunk)
    assert pb_leaf_chunk(block[:-1]) is None  # truncated
    assert pb_leaf_chunk(block + b"\0") is None  # trailing bytes
    assert pb_leaf_chunk(b"\x0a" + b"\xff" * 12) is None  # an over-long varint
