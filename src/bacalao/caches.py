"""The project's one way of bounding an in-memory cache: a full one is emptied.

Crude on purpose: it needs no lock under the GIL and no bookkeeping per hit, and a cache's
misses just do the work again (read the file, validate the params).
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def bounded_put(items: dict[K, V], key: K, value: V, limit: int) -> None:
    """``items[key] = value``, emptying ``items`` first when it is full of other keys."""
    if len(items) >= limit and key not in items:
        items.clear()
    items[key] = value
