"""What the SQLite store keeps of its rows in memory, and how a state change patches a row.

* :class:`Parsed`: models by ID with the JSON text they were parsed from (a read re-checks the
  text, so a stale entry only misses).
* :func:`patched`: a row's stored JSON with a few top-level keys replaced, which costs a fraction
  of serialising the whole model again; :func:`state_wire`, :func:`wire_of` and
  :func:`validated` give the replaced keys their values exactly as the models would.

Every cache here is bounded the same crude way (:func:`bacalao.caches.bounded_put`): a full one
is emptied, and what it no longer holds is read from the file again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Generic, TypeVar

from pydantic import TypeAdapter

from bacalao import jsonfast
from bacalao.caches import bounded_put
from bacalao.models._wire import WireModel, _is_empty
from bacalao.models.execution import Execution
from bacalao.models.job import Job

M = TypeVar("M", Job, Execution)


class Parsed(Generic[M]):
    """Parsed models by ID, each with the JSON text it was parsed from (or written as).

    A read still fetches the row, and uses the cached model only when the stored text is the very
    text cached: a stale entry, or one written by a transaction that rolled back, just misses.
    This spares the orchestrator a full pydantic validation of the same job on every evaluation.
    Callers treat models as immutable (they ``model_copy``), so sharing one instance is safe.
    """

    def __init__(self, model: type[M], limit: int = 2048) -> None:
        self._model = model
        self._limit = limit
        self._items: dict[str, tuple[str, M]] = {}

    def parse(self, key: str, text: str) -> M:
        hit = self._items.get(key)
        if hit is not None and hit[0] == text:
            return hit[1]
        value = self._model.model_validate_json(text)
        self.put(key, text, value)
        return value

    def put(self, key: str, text: str, value: M) -> None:
        bounded_put(self._items, key, (text, value), self._limit)


def state_wire(state: str, message: str) -> dict[str, str]:
    """``{StateType, Message}`` as the state models write it (``Message`` omitted when empty)."""
    return {"StateType": state, "Message": message} if message else {"StateType": state}


# Stored JSON text -> its parsed top-level dict, for the rows written most recently: the next
# state change of a row starts from the dict its last write produced instead of parsing it again.
# Entries are never mutated (a patch copies the top level), so sharing them is safe.
_WIRE: dict[str, dict[str, Any]] = {}
_WIRE_LIMIT = 4096


def stored_text(wire: dict[str, Any]) -> str:
    """``wire`` as the JSON text a row stores, remembered with it for the row's next
    :func:`patched` (nobody mutates ``wire`` afterwards)."""
    text = jsonfast.dumps(wire)
    bounded_put(_WIRE, text, wire, _WIRE_LIMIT)
    return text


def patched(text: str, changes: dict[str, Any]) -> str:
    """Stored wire JSON with some top-level keys replaced (a ``None`` value removes the key).

    A state change touches a few keys of a job or execution; patching its stored JSON costs a
    fraction of serialising the whole model again (the store does this several times per job).
    """
    base = _WIRE.get(text)
    wire = dict(base) if base is not None else jsonfast.loads(text)
    for key, value in changes.items():
        if value is None:  # omitted, as to_wire() leaves out None and empty omitempty fields
            wire.pop(key, None)
        else:
            wire[key] = value
    return stored_text(wire)


_ADAPTERS: dict[tuple[type, str], TypeAdapter[Any]] = {}


def validated(cls: type[WireModel], fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` validated as the model's field types (constraints included), one by one.

    Cheaper than validating the whole model again for the few fields a state change sets; the
    models that use this have no field or model validators of their own on those fields.
    """
    out = {}
    for name, value in fields.items():
        adapter = _ADAPTERS.get((cls, name))
        if adapter is None:
            info = cls.model_fields[name]
            annotation = (
                Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            )
            adapter = _ADAPTERS[(cls, name)] = TypeAdapter(annotation)
        out[name] = adapter.validate_python(value)
    return out


def wire_of(model: WireModel, names: Iterable[str]) -> dict[str, Any]:
    """The top-level wire entries of some fields, as ``model.to_wire()`` would write them.

    ``omitempty`` fields that are empty, and None values, are written as absent (``None`` here
    makes :func:`patched` drop the key).
    """
    cls = type(model)
    names = set(names)
    dumped = model.model_dump(mode="json", by_alias=True, include=names)
    out: dict[str, Any] = {}
    for name in names:
        key = cls.model_fields[name].alias or name
        value = getattr(model, name)
        empty = value is None or (name in cls._omit_empty and _is_empty(value))
        out[key] = None if empty else dumped[key]
    return out
