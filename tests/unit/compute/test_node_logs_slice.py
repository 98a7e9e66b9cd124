"""Reading a stream's bytes from an offset, as the logs of a published result are read."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bacalao.compute.node import _slice


def test_a_slice_crosses_chunks() -> None:
    chunks = [b"abc", b"def", b"gh"]
    assert _slice(chunks, 2, 4) == b"cdef"
    assert _slice(chunks, 0, 100) == b"abcdefgh"
    assert _slice(chunks, 8, 10) == b""
    assert _slice(chunks, 7, 1) == b"h"


@given(st.lists(st.binary(max_size=20), max_size=8), st.integers(0, 200), st.integers(0, 200))
def test_a_slice_equals_slicing_the_whole(chunks: list[bytes], offset: int, limit: int) -> None:
    assert _slice(chunks, offset, limit) == b"".join(chunks)[offset : offset + limit]
