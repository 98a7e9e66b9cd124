"""Fuzzing: mutated CARs and blocks end in a BacalaoError or succeed — never another exception.

Seeded loops (DESIGN principle 11: every failure replays from its seed) apply bit flips,
interesting bytes, truncations, insertions, deletions, duplications and splices to the fixture
CARs and to their blocks, and feed the results to ``CarReader``, ``dagpb.decode``,
``unixfs.decode``, ``dagcbor.decode``, ``CID`` parsing and the exporter over ``DictBlocks``. A
case slower than :data:`SLOW` seconds counts as a hang. ``BACALAO_FUZZ_SCALE`` multiplies the
number of cases (default 1: 17,000 CARs, 25,000 blocks, 7,000 exported DAGs).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bacalao.errors import BacalaoError
from bacalao.ipld import dagcbor, dagpb, unixfs, varint
from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.car import CarReader, load_car
from bacalao.ipld.cid import CID, DAG_PB
from bacalao.ipld.exporter import cat, check_dag, ls, resolve, stat, write_tree

SCALE = float(os.environ.get("BACALAO_FUZZ_SCALE", "1"))
SLOW = 2.0
SMALL_CARS = [
    "dag-pb.car",
    "dir-with-files.car",
    "dir-with-percent-encoded-filename.car",
    "file-3k-and-3-blocks-missing-block.car",
    "gocar-sample-unixfs-v2.car",
    "gocar-simple-unixfs.car",
    "subdir-with-mixed-block-files.car",
    "symlink.car",
]
BIG_CARS = [
    "single-layer-hamt-with-multi-block-files.car",
    "gocar-wikipedia-cryptographic-hash-function.car",
    "gocar-sample-v1.car",
    "sample-wrapped-v2.car",
]
INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x18, 0x20, 0x22, 0x70, 0x55, 0xD8, 0x2A]


def _n(base: int) -> int:
    return max(1, int(base * SCALE))


# -- mutations -----------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes, others: list[bytes], *, head: int = 0) -> bytes:
    """One to three random mutations; with ``head`` > 0, half of them hit the first bytes."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        n = len(buf)
        limit = min(n, head) if head and n and rng.random() < 0.5 else n
        pos = rng.randrange(limit) if limit else 0
        op = rng.randrange(9)
        if op == 0 and n:  # bit flip
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # interesting byte
            buf[pos] = rng.choice(INTERESTING)
        elif op == 2:  # truncate
            del buf[pos:]
        elif op == 3:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.choice((1, 1, 2, 4, 9, 40)))
        elif op == 4 and n:  # delete a range
            del buf[pos : pos + rng.randrange(1, 40)]
        elif op == 5 and n:  # duplicate a range
            end = min(n, pos + rng.randrange(1, 200))
            buf[end:end] = buf[pos:end]
        elif op == 6 and others:  # splice with another input
            other = rng.choice(others)
            cut = rng.randrange(len(other) + 1)
            buf[pos:] = other[cut:]
        elif op == 7:  # an over-long or huge varint
            buf[pos:pos] = rng.choice([b"\xff" * 10, b"\x80\x00", varint.encode(1 << 62)])
        elif n:  # a random byte
            buf[pos] = rng.randrange(256)
    return bytes(buf)


class Failures:
    """Collects unexpected exceptions and hangs, with what it takes to replay them."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.cases = 0

    def run(self, label: str, data: bytes, fn: Callable[[], object]) -> None:
        self.cases += 1
        start = time.perf_counter()
        try:
            fn()
        except BacalaoError as e:
            assert str(e), label  # a message, always
        except Exception as e:  # noqa: BLE001 - that is the point of the test
            self.items.append(f"{label}: {type(e).__name__}: {e} input={data[:200].hex()}")
        elapsed = time.perf_counter() - start
        if elapsed > SLOW:
            self.items.append(f"{label}: took {elapsed:.1f}s input={data[:200].hex()}")

    def check(self, minimum: int) -> None:
        assert not self.items, "\n".join(self.items[:10])
        assert self.cases >= minimum


def _read_car(data: bytes) -> None:
    with CarReader(io.BytesIO(data)) as reader:
        for _ in reader:
            pass


def _blocks(fixtures: Path, names: list[str]) -> list[tuple[CID, bytes]]:
    out = []
    for name in names:
        with CarReader(io.BytesIO((fixtures / name).read_bytes())) as reader:
            out.extend(reader)
    return out


# -- CARs ------------------------------------------------------------------------------------------


def test_fuzz_car_reader(ipfs_fixtures: Path) -> None:
    rng = random.Random(20240601)
    small = [(ipfs_fixtures / n).read_bytes() for n in SMALL_CARS]
    big = [(ipfs_fixtures / n).read_bytes() for n in BIG_CARS]
    failures = Failures()
    for i in range(_n(15_000)):
        source = rng.choice(big) if i % 50 == 0 else rng.choice(small)
        data = mutate(rng, source, small, head=120)
        failures.run(f"car #{i}", data, lambda data=data: _read_car(data))
    failures.check(_n(15_000))


def test_fuzz_car_reader_unverified_and_random_bytes() -> None:
    rng = random.Random(7)
    failures = Failures()
    for i in range(_n(2_000)):
        data = rng.randbytes(rng.randrange(0, 80))
        if i % 2:
            data = bytes.fromhex("0aa16776657273696f6e02") + data  # a CARv2 pragma, junk after

        def go(data: bytes = data) -> None:
            with CarReader(io.BytesIO(data), verify=False) as reader:
                list(reader)

        failures.run(f"random #{i}", data, go)
    failures.check(_n(2_000))


# -- blocks ----------------------------------------------------------------------------------------


def test_fuzz_block_decoders(ipfs_fixtures: Path) -> None:
    rng = random.Random(99)
    sources = _blocks(ipfs_fixtures, SMALL_CARS + BIG_CARS[:2])
    pb_blocks = [b for c, b in sources if c.codec == DAG_PB]
    fs_data = [dagpb.decode(b).data or b"" for b in pb_blocks]
    cbor_blocks = [b for c, b in _blocks(ipfs_fixtures, ["gocar-sample-v1.car"])[:200]]
    cids = [c.bytes for c, _ in _blocks(ipfs_fixtures, SMALL_CARS)]
    failures = Failures()
    for i in range(_n(10_000)):
        pb = mutate(rng, rng.choice(pb_blocks), pb_blocks)
        failures.run(f"dagpb #{i}", pb, lambda pb=pb: dagpb.decode(pb))
        fs = mutate(rng, rng.choice(fs_data), fs_data)
        failures.run(f"unixfs #{i}", fs, lambda fs=fs: unixfs.decode(fs))
        if i % 4 == 0:
            cb = mutate(rng, rng.choice(cbor_blocks), cbor_blocks)
            failures.run(f"dagcbor #{i}", cb, lambda cb=cb: dagcbor.decode(cb))
            cb2 = mutate(rng, rng.choice(cids), cids)
            failures.run(f"cid #{i}", cb2, lambda cb2=cb2: CID.from_bytes(cb2))
            text = str(CID.from_bytes(rng.choice(cids)))
            pos = rng.randrange(len(text))
            text = text[:pos] + chr(rng.randrange(32, 0x250)) + text[pos + 1 :]
            failures.run(f"cid text #{i}", text.encode(), lambda text=text: CID.decode(text))
    failures.check(_n(25_000))


# -- the exporter over DictBlocks ------------------------------------------------------------------


def _export_all(store: DictBlocks, cid: CID, dest: Path | None) -> None:
    """Everything a user can do with a CID; each step may fail on its own."""
    steps: list[Callable[[], object]] = [
        lambda: stat(store, cid),
        lambda: ls(store, cid),
        lambda: sum(len(c) for c in cat(store, cid)),
        lambda: resolve(store, cid, "hello.txt"),
        lambda: resolve(store, cid, "a/1/A.txt"),
        lambda: resolve(store, cid, "42.txt"),
        lambda: check_dag(store, cid),
    ]
    if dest is not None:
        steps.append(lambda: write_tree(store, cid, dest))
    for step in steps:
        with contextlib.suppress(BacalaoError):
            step()


def test_fuzz_exporter(ipfs_fixtures: Path) -> None:
    """Mutate one block, store it under its new CID, and export from it: its children are real."""
    rng = random.Random(31337)
    stores = []
    for name in [*SMALL_CARS, BIG_CARS[0]]:
        _, store = load_car(io.BytesIO((ipfs_fixtures / name).read_bytes()))
        blocks = _blocks(ipfs_fixtures, [name])
        inner = [(c, b) for c, b in blocks if c.codec == DAG_PB and dagpb.decode(b).links]
        stores.append((store, blocks, inner))
    all_blocks = [b for _, bs, _ in stores for _, b in bs]
    failures = Failures()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(_n(6_000)):
            store, blocks, inner = rng.choice(stores)
            # mostly directories, shards and file roots: their children are there to explore
            orig, block = rng.choice(inner if inner and rng.random() < 0.7 else blocks)
            data = mutate(rng, block, all_blocks)
            cid = CID.hash(data, codec=orig.codec, version=orig.version)
            store.put(cid, data)
            dest = Path(tmp, str(i)) if i % 10 == 0 else None
            failures.run(
                f"export #{i} of {orig}", data, lambda s=store, c=cid, d=dest: _export_all(s, c, d)
            )
            store.delete(cid)
    failures.check(_n(6_000))


# -- hypothesis: structure-aware inputs --------------------------------------------------------


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    links=st.lists(
        st.tuples(st.binary(min_size=0, max_size=40), st.text(max_size=12), st.integers(0, 2**64)),
        max_size=6,
    ),
    data=st.one_of(st.none(), st.binary(max_size=60)),
    data_first=st.booleans(),
)
def test_hypothesis_dagpb_shapes(
    links: list[tuple[bytes, str, int]], data: bytes | None, data_first: bool
) -> None:
    """Well-formed protobuf framing around arbitrary link hashes and Data: decode never crashes."""
    parts = []
    for h, name, tsize in links:
        n = name.encode("utf-8", "surrogatepass")
        body = b"\x0a" + varint.encode(len(h)) + h + b"\x12" + varint.encode(len(n)) + n
        body += b"\x18" + varint.encode(tsize)
        parts.append(b"\x12" + varint.encode(len(body)) + body)
    if data is not None:
        d = b"\x0a" + varint.encode(len(data)) + data
        parts.insert(0, d) if data_first else parts.append(d)
    block = b"".join(parts)
    try:
        node = dagpb.decode(block)
    except BacalaoError:
        return
    if node.data is not None:
        with contextlib.suppress(BacalaoError):
            unixfs.decode(node.data)
    store = DictBlocks()
    cid = CID.hash(block)
    store.put(cid, block)
    _export_all(store, cid, None)


@pytest.mark.parametrize("codec", [0x70, 0x55, 0x71])
def test_random_blocks_through_the_exporter(codec: int) -> None:
    rng = random.Random(codec)
    failures = Failures()
    for i in range(_n(300)):
        data = rng.randbytes(rng.randrange(0, 64))
        store = DictBlocks()
        cid = CID.hash(data, codec=codec)
        store.put(cid, data)
        failures.run(f"random block #{i}", data, lambda s=store, c=cid: _export_all(s, c, None))
    failures.check(_n(300))
