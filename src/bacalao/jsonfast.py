"""JSON for the hot paths, through orjson: the job store's rows and history, the API's bodies.

orjson writes the same compact text as ``json.dumps(obj, separators=(",", ":"),
ensure_ascii=False)`` (keys in insertion order) about ten times faster, and parses three to four
times faster. The rare value it refuses (an integer past 64 bits) falls back to the stdlib, so
what is accepted does not change.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTS = orjson.OPT_NON_STR_KEYS


def dumps_bytes(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(obj, option=_OPTS)
    except TypeError:  # orjson.JSONEncodeError: let the stdlib write it or say what is wrong
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def dumps(obj: Any) -> str:
    """``obj`` as compact JSON text."""
    return dumps_bytes(obj).decode()


def canonical(obj: Any) -> bytes | None:
    """``obj`` as JSON with sorted keys (equal values, equal bytes: a cache key), or ``None``
    when it is not plain JSON data."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None


def loads(data: str | bytes) -> Any:
    """Parse JSON; invalid input raises :class:`json.JSONDecodeError` (a ValueError)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # the stdlib's wider grammar (big integers, NaN), or its error
