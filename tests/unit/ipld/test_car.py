"""CAR v1/v2 reading and writing against the public fixtures and hand-made malformed inputs."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from bacalao.errors import BacalaoError, BlockNotFound, DecodeError, IntegrityError
from bacalao.ipld import dagcbor, varint
from bacalao.ipld.blocks import DictBlocks
from bacalao.ipld.car import (
    CARV2_PRAGMA,
    MAX_SECTION_SIZE,
    CarHeader,
    CarReader,
    iter_dag,
    load_car,
    read_car,
    write_car,
)
from bacalao.ipld.cid import BLAKE2B_256, CID, DAG_CBOR, DAG_PB, IDENTITY, RAW
from bacalao.ipld.traverse import walk

ALL_CARS = [
    "dag-pb.car",
    "dir-with-duplicate-files.car",
    "dir-with-files.car",
    "dir-with-percent-encoded-filename.car",
    "file-3k-and-3-blocks-missing-block.car",
    "gocar-sample-unixfs-v2.car",
    "gocar-sample-v1.car",
    "gocar-simple-unixfs.car",
    "gocar-wikipedia-cryptographic-hash-function.car",
    "sample-wrapped-v2.car",
    "single-layer-hamt-with-multi-block-files.car",
    "subdir-with-mixed-block-files.car",
    "symlink.car",
]
#: exported by Kubo's ``dag export`` (or in exactly its order): we must write the same bytes
KUBO_EXPORTED = [
    "symlink.car",
    "dir-with-files.car",
    "dir-with-duplicate-files.car",
    "single-layer-hamt-with-multi-block-files.car",
    "subdir-with-mixed-block-files.car",
    "dag-pb.car",
    "gocar-simple-unixfs.car",
]
ROOTS = {
    "symlink.car": "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt",
    "dir-with-files.car": "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy",
    "single-layer-hamt-with-multi-block-files.car": (
        "bafybeidbclfqleg2uojchspzd4bob56dqetqjsj27gy2cq3klkkgxtpn4i"
    ),
    "gocar-sample-v1.car": "bafy2bzaced4ueelaegfs5fqu4tzsh6ywbbpfk3cxppupmxfdhbpbhzawfw5oy",
    "sample-wrapped-v2.car": "bafy2bzaced4ueelaegfs5fqu4tzsh6ywbbpfk3cxppupmxfdhbpbhzawfw5oy",
    "gocar-simple-unixfs.car": "QmPLPpnptHc1DMhJAWNYMTqBTqqRQNy5WsY7F9pZgsBfMT",
}

HELLO_V0_CAR = bytes.fromhex(
    "38a265726f6f747381d82a582300122046d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45"
    "768b4c0e6776657273696f6e01"
    "36122046d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e"
    "0a120802120c68656c6c6f20776f726c640a180c"
)
HELLO_RAW_CAR_HEAD = bytes.fromhex(
    "3aa265726f6f747381d82a58250001551220a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85"
    "d299a192a4476776657273696f6e01"
)


def _read(path: Path) -> tuple[CarReader, list[tuple[CID, bytes]]]:
    with path.open("rb") as f:
        reader = CarReader(f)
        return reader, list(reader)


def _load(path: Path) -> tuple[CarHeader, DictBlocks]:
    return load_car(io.BytesIO(path.read_bytes()))


def _car(header: bytes, *sections: bytes) -> bytes:
    out = varint.encode(len(header)) + header
    for s in sections:
        out += varint.encode(len(s)) + s
    return out


def _section(cid: CID, block: bytes) -> bytes:
    return cid.bytes + block


# -- fixtures --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_CARS)
def test_every_fixture_reads_and_verifies(ipfs_fixtures: Path, name: str) -> None:
    reader, blocks = _read(ipfs_fixtures / name)
    assert blocks, name
    assert len(reader.header.roots) == 1
    if name in ROOTS:
        assert str(reader.header.roots[0]) == ROOTS[name]
    for cid, block in blocks:  # the reader verified them; check again independently
        cid.verify(block)


@pytest.mark.parametrize("name", KUBO_EXPORTED)
def test_kubo_exported_cars_re_export_byte_identical(ipfs_fixtures: Path, name: str) -> None:
    original = (ipfs_fixtures / name).read_bytes()
    header, store = load_car(io.BytesIO(original))
    out = io.BytesIO()
    n = write_car(store, header.roots[0], out)
    assert n == len(original)
    assert out.getvalue() == original


def test_duplicate_blocks_are_read_and_written_once(ipfs_fixtures: Path) -> None:
    _, blocks = _read(ipfs_fixtures / "dir-with-duplicate-files.car")
    cids = [c for c, _ in blocks]
    assert len(cids) == 9
    header, store = _load(ipfs_fixtures / "dir-with-duplicate-files.car")
    walked = [c for c, _ in iter_dag(store, header.roots[0])]
    assert len(walked) == len(set(walked))


def test_v2_fixtures_read_like_their_v1_payload(ipfs_fixtures: Path) -> None:
    v1, v1_blocks = _read(ipfs_fixtures / "gocar-sample-v1.car")
    v2, v2_blocks = _read(ipfs_fixtures / "sample-wrapped-v2.car")
    assert (v1.header.version, v2.header.version) == (1, 2)
    assert v2.header.roots == v1.header.roots
    assert v2.header.data_offset == 51
    assert v2_blocks == v1_blocks  # the 0x0401 index after the payload is ignored


def test_go_car_sample_has_blake2b_dag_cbor_and_identity_blocks(ipfs_fixtures: Path) -> None:
    _, blocks = _read(ipfs_fixtures / "gocar-sample-v1.car")
    assert len(blocks) == 1049
    assert {c.codec for c, _ in blocks} >= {DAG_CBOR}
    assert any(c.hash_code == BLAKE2B_256 for c, _ in blocks)
    assert sum(c.hash_code == IDENTITY for c, _ in blocks) == 6


def test_dag_cbor_links_are_followed_in_encoded_order(ipfs_fixtures: Path) -> None:
    """The go-car sample is in DFS order: our walk (tag-42 links) reproduces it minus identity."""
    header, store = _load(ipfs_fixtures / "gocar-sample-v1.car")
    _, blocks = _read(ipfs_fixtures / "gocar-sample-v1.car")
    expected = [c for c, _ in blocks if not c.is_identity]
    assert [c for c, _ in iter_dag(store, header.roots[0])] == expected
    inline = [c for c, _, is_inline in walk(store, header.roots[0]) if is_inline]
    assert inline and all(c.is_identity for c in inline)


def test_partial_car_walk_names_the_missing_block(ipfs_fixtures: Path) -> None:
    header, store = _load(ipfs_fixtures / "file-3k-and-3-blocks-missing-block.car")
    with pytest.raises(BlockNotFound) as e:
        write_car(store, header.roots[0], io.BytesIO())
    assert "QmSNLTo6Wv9dfroVaw7MFYjLqf9ho7PKrgsjdzYDtv8h1W" in str(e.value)


# -- writing: worked bytes from the reference ------------------------------------------------


def test_write_car_hello_world_v0_exact_bytes() -> None:
    block = bytes.fromhex("0a120802120c68656c6c6f20776f726c640a180c")
    cid = CID.hash(block, version=0)
    store = DictBlocks()
    store.put(cid, block)
    out = io.BytesIO()
    assert write_car(store, cid, out) == len(HELLO_V0_CAR)
    assert out.getvalue() == HELLO_V0_CAR


def test_write_car_raw_root_exact_bytes() -> None:
    block = b"hello world\n"
    cid = CID.hash(block, codec=RAW)
    store = DictBlocks()
    store.put(cid, block)
    out = io.BytesIO()
    write_car(store, cid, out)
    assert out.getvalue() == HELLO_RAW_CAR_HEAD + bytes([0x30]) + cid.bytes + block


def test_identity_cids_are_walked_but_not_written() -> None:
    leaf = b"hello world\n"
    leaf_cid = CID.hash(leaf, codec=RAW)
    from bacalao.ipld import dagpb

    inner = dagpb.PBNode((dagpb.PBLink(leaf_cid, "f", len(leaf)),), b"\x08\x01").encode()
    inline = CID(1, DAG_PB, b"\x00" + varint.encode(len(inner)) + inner)
    root_block = dagpb.PBNode((dagpb.PBLink(inline, "d", 0),), b"\x08\x01").encode()
    root = CID.hash(root_block)
    store = DictBlocks()
    store.put(root, root_block)
    store.put(leaf_cid, leaf)
    out = io.BytesIO()
    write_car(store, root, out)
    out.seek(0)
    header, blocks = read_car(out)
    assert header.roots == [root]
    assert [c for c, _ in blocks] == [root, leaf_cid]


def test_write_car_streams_to_a_file(tmp_path: Path, ipfs_fixtures: Path) -> None:
    header, store = _load(ipfs_fixtures / "dir-with-files.car")
    target = tmp_path / "x.car"
    with target.open("wb") as f:
        write_car(store, header.roots[0], f)
    assert target.read_bytes() == (ipfs_fixtures / "dir-with-files.car").read_bytes()


# -- reading: unusual but valid ---------------------------------------------------------------


class _NoSeek(io.RawIOBase):
    """A pipe-like stream: short reads of at most 7 bytes, no seeking."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        chunk = self._buf.read(min(len(b), 7))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_reader_handles_short_reads_and_unseekable_v2(ipfs_fixtures: Path) -> None:
    data = (ipfs_fixtures / "sample-wrapped-v2.car").read_bytes()
    header, blocks = read_car(_NoSeek(data))  # type: ignore[arg-type]
    assert header.version == 2
    assert len(list(blocks)) == 1049


def test_v2_with_padding_before_payload() -> None:
    v1 = HELLO_V0_CAR
    fixed = bytes(16) + (51 + 13).to_bytes(8, "little") + len(v1).to_bytes(8, "little") + bytes(8)
    car = CARV2_PRAGMA + fixed + b"\0" * 13 + v1 + b"trailing index bytes"
    header, blocks = read_car(io.BytesIO(car))
    assert (header.version, header.data_offset, header.data_size) == (2, 64, len(v1))
    assert len(list(blocks)) == 1


def test_empty_block_and_both_field_orders() -> None:
    from bacalao.ipld import dagpb

    empty = CID.hash(b"", codec=RAW)
    links = (dagpb.PBLink(empty, "a", 0), dagpb.PBLink(empty, "b", 0))
    data_first = b"\x0a\x02\x08\x01" + b"".join(link.encode() for link in links)
    links_first = dagpb.PBNode(links, b"\x08\x01").encode()
    assert data_first != links_first
    roots = [CID.hash(data_first), CID.hash(links_first)]
    car = _car(
        dagcbor.encode_car_header(roots[:1]),
        _section(roots[0], data_first),
        _section(empty, b""),
        _section(roots[1], links_first),
    )
    header, store = load_car(io.BytesIO(car))
    for root in roots:
        assert [c for c, _ in iter_dag(store, root)] == [root, empty]


# -- reading: malformed inputs -> DecodeError / IntegrityError --------------------------------


def _errors(data: bytes) -> BacalaoError:
    with pytest.raises(BacalaoError) as e:
        _, blocks = read_car(io.BytesIO(data))
        list(blocks)
    message = str(e.value)
    assert "\n" not in message and message
    return e.value


def test_truncated_everywhere_is_a_decode_error(ipfs_fixtures: Path) -> None:
    data = (ipfs_fixtures / "dir-with-files.car").read_bytes()
    boundaries = {1 + 0x3A}  # a header alone is a valid, empty CAR
    header, blocks = read_car(io.BytesIO(data))
    pos = 1 + 0x3A  # after the header
    for cid, block in blocks:
        n = len(cid.bytes) + len(block)
        pos += len(varint.encode(n)) + n
        boundaries.add(pos)
    for cut in range(len(data)):
        if cut in boundaries:
            continue  # a CAR cut between sections is a valid (shorter) CAR
        err = _errors(data[:cut])
        assert isinstance(err, DecodeError), (cut, err)


def test_empty_input() -> None:
    assert "empty CAR" in str(_errors(b""))


def test_bad_varints() -> None:
    assert "varint" in str(_errors(b"\xff" * 12))  # over-long header length
    assert "varint" in str(_errors(b"\x80\x00"))  # not minimal
    good = HELLO_V0_CAR[: 1 + 0x38]
    assert "varint" in str(_errors(good + b"\xff" * 11))  # over-long section length
    assert "varint" in str(_errors(good + b"\x80"))  # truncated section length


def test_section_and_header_size_caps() -> None:
    err = _errors(varint.encode(33 << 20) + b"\xa2")
    assert "header too large" in str(err)
    good = HELLO_V0_CAR[: 1 + 0x38]
    err = _errors(good + varint.encode(MAX_SECTION_SIZE + 1) + b"\x12")
    assert "section too large" in str(err)


def test_block_not_matching_its_cid_names_the_cid() -> None:
    corrupt = bytearray(HELLO_V0_CAR)
    corrupt[-3] ^= 0x01
    err = _errors(bytes(corrupt))
    assert isinstance(err, IntegrityError)
    assert "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o" in str(err)


def test_unverified_reading_is_possible() -> None:
    corrupt = bytearray(HELLO_V0_CAR)
    corrupt[-3] ^= 0x01
    _, blocks = read_car(io.BytesIO(bytes(corrupt)), verify=False)
    assert len(list(blocks)) == 1


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        (b"\xa1\x67version\x03", "unsupported CAR version"),
        (b"\xa1\x65roots\x80", "integer version"),
        (b"\xa2\x65roots\x80\x67version\x01", "no roots"),
        (b"\xa2\x65roots\x81\x01\x67version\x01", "roots is not a list of CIDs"),
        (b"\xa2\x65roots\x81\xd8\x2a\x42\x01\x02\x67version\x01", "invalid CAR header"),
        (b"\x9f", "invalid CAR header"),  # indefinite array
        (b"\xa1\x67version\x01\x00", "trailing"),
        (b"\xc1\x00", "tag"),
        (b"\xa2\x01\x02\x03\x04", "key is not a string"),
        (b"\xa2\x61a\x01\x61a\x02", "duplicate"),
        (b"\x81" * 100 + b"\x00", "nested too deeply"),
        (b"\x9b" + b"\xff" * 8, "longer than its input"),
    ],
)
def test_bad_headers(header: bytes, needle: str) -> None:
    err = _errors(_car(header))
    assert isinstance(err, DecodeError)
    assert needle in str(err)


def test_zero_length_header_and_section() -> None:
    assert "zero-length header" in str(_errors(b"\x00"))
    assert "zero-length section" in str(_errors(HELLO_V0_CAR[: 1 + 0x38] + b"\x00"))


def test_bad_section_cids() -> None:
    good = HELLO_V0_CAR[: 1 + 0x38]
    assert "bad CID" in str(_errors(good + b"\x03\x02\x01\x55"))  # CID version 2
    assert "bad CID" in str(_errors(good + b"\x04\x01\x55\x12\x20"))  # digest runs past
    assert "bad CID" in str(_errors(good + b"\x03\x12\x20\x00"))  # short CIDv0


def test_unsupported_hash_is_an_integrity_error() -> None:
    mh = b"\x14\x20" + hashlib.sha3_256(b"x").digest()  # sha3-256: not supported
    cid = CID(1, RAW, mh)
    car = _car(dagcbor.encode_car_header([cid]), _section(cid, b"x"))
    assert isinstance(_errors(car), IntegrityError)


@pytest.mark.parametrize(
    ("offset", "size", "needle"),
    [
        (10, 100, "overlaps the header"),
        (10_000, 100, "starts past the end"),
        (51, 5, "CARv2 data size"),
        (51, 10_000, "payload ends early"),
    ],
)
def test_bad_v2_headers(offset: int, size: int, needle: str) -> None:
    fixed = bytes(16) + offset.to_bytes(8, "little") + size.to_bytes(8, "little") + bytes(8)
    err = _errors(CARV2_PRAGMA + fixed + HELLO_V0_CAR)
    assert isinstance(err, DecodeError)
    assert needle in str(err)


def test_v2_header_truncated_and_nested_v2() -> None:
    assert "truncated" in str(_errors(CARV2_PRAGMA + bytes(20)))
    fixed = bytes(16) + (51).to_bytes(8, "little") + (11).to_bytes(8, "little") + bytes(8)
    assert "inner CAR has version 2" in str(_errors(CARV2_PRAGMA + fixed + CARV2_PRAGMA))


def test_context_manager_closes_stream(ipfs_fixtures: Path) -> None:
    f = (ipfs_fixtures / "symlink.car").open("rb")
    with CarReader(f) as reader:
        assert len(list(reader)) == 3
    assert f.closed
