"""Engine params: Bacalhau casing on the wire, keys matched case-insensitively, unknown refused.

Every engine declares its ``Engine.Params`` as a subclass of :class:`EngineParams`, with snake_case
attributes and the Bacalhau spelling as the alias (``image: str = Field(alias="Image")``).
:func:`parse_params` turns a raw dict into that model and every failure into one
:class:`InvalidInput` whose message names the field and whose hint lists the valid keys.
"""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bacalao import jsonfast
from bacalao.caches import bounded_put
from bacalao.errors import InvalidInput

P = TypeVar("P", bound="EngineParams")


class EngineParams(BaseModel):
    """Base of every engine's params model: frozen, aliases are the wire names, extras forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @classmethod
    def wire_keys(cls) -> list[str]:
        """The keys as Bacalhau writes them, in declaration order."""
        return [f.alias or name for name, f in cls.model_fields.items()]


#: Params validated already, by model and canonical JSON: the same job's params are checked by
#: the orchestrator, by the node's bid and by the engine's run. The models are frozen.
_VALIDATED: dict[tuple[type, bytes], Any] = {}
_VALIDATED_LIMIT = 1024


def parse_params(model: type[P], engine: str, params: dict | None) -> P:
    """Validate ``params`` for ``engine``; keys are matched case-insensitively.

    ``None`` values count as absent (Bacalhau's CLI emits ``"Entrypoint": null`` for empty fields).
    """
    if params is None:
        params = {}
    key = None
    if isinstance(params, dict):
        text = jsonfast.canonical(params)
        key = (model, text) if text is not None else None
        hit = _VALIDATED.get(key) if key is not None else None
        if hit is not None:
            return hit  # type: ignore[no-any-return]
    parsed = _parse(model, engine, params)
    if key is not None:
        bounded_put(_VALIDATED, key, parsed, _VALIDATED_LIMIT)
    return parsed


def _parse(model: type[P], engine: str, params: Any) -> P:
    if not isinstance(params, dict):
        raise InvalidInput(
            f"{engine} engine params must be a mapping, got {type(params).__name__}",
            hint=f"valid keys: {', '.join(model.wire_keys())}",
        )
    canonical = {k.lower(): k for k in model.wire_keys()}
    canonical.update({name.lower(): f.alias or name for name, f in model.model_fields.items()})
    data: dict[str, Any] = {}
    for key, value in params.items():
        wire = canonical.get(str(key).lower())
        if wire is None:
            raise InvalidInput(
                f"unknown {engine} engine param {key!r}",
                hint=_unknown_key_hint(str(key), model.wire_keys()),
            )
        if value is not None:
            data[wire] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _as_invalid_input(exc, engine, model) from None


def _unknown_key_hint(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key.lower(), [v.lower() for v in valid], n=1, cutoff=0.6)
    guess = ""
    if close:
        guess = next(v for v in valid if v.lower() == close[0])
        guess = f"did you mean {guess!r}? "
    return f"{guess}valid keys: {', '.join(valid)}"


def _as_invalid_input(exc: ValidationError, engine: str, model: type[EngineParams]) -> InvalidInput:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "params"
    msg = first["msg"]
    if first["type"] == "missing":
        msg = "is required"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return InvalidInput(
        f"{engine} engine param {where}: {msg}{more}",
        hint=f"valid keys: {', '.join(model.wire_keys())}",
    )


def parse_env_list(value: object) -> tuple[str, ...]:
    """``["K=V", …]`` or ``{"K": "V"}`` -> ``("K=V", …)``; names must be valid and not reserved."""
    if isinstance(value, dict):
        items = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        raise ValueError("must be a list of KEY=VALUE strings")
    for item in items:
        name, sep, _ = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{item!r} is not KEY=VALUE")
        if name.upper().startswith(("BACALAO_", "BACALHAU_")):
            raise ValueError(f"{name!r}: names starting with BACALAO_ or BACALHAU_ are reserved")
    return tuple(items)
