"""The wire machinery shared by every model: Bacalhau key casing, unknown-key rejection, omitempty.

Bacalhau serialises with PascalCase keys and Go's ``encoding/json`` matches keys case-insensitively,
so ``name:``, ``Name:`` and ``NAME:`` all fill ``Name``. :class:`WireModel` copies that: before
validation, every key is looked up case-insensitively among the field aliases (and the snake_case
attribute names), renamed to the alias, and a key that matches nothing is rejected with an
``unknown_field`` error that names the field and suggests the closest valid one.

On output, fields listed in ``_omit_empty`` are dropped when empty, like Go's ``omitempty``, so a
plain Bacalhau job dumps without bacalao's extension blocks.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from bacalao.errors import InvalidInput

# The error type of a key that matches no field; parse.py turns it into "Path.Key: unknown field".
UNKNOWN_FIELD = "unknown_field"
# The error type of bacalao's own validation failures; its context carries a hint.
SPEC_ERROR = "bacalao_spec"


# Per-class keys that ``omitempty`` drops when empty (alias and attribute name), built on first use.
_OMIT_KEYS: dict[type, tuple[str, ...]] = {}

# Per-class case-insensitive key index, built on first use.
_KEY_INDEX: dict[type, dict[str, str]] = {}
# Per-class set of the keys as written (aliases): input already in that form needs no renaming.
_CANONICAL: dict[type, frozenset[str]] = {}


def spec_error(message: str, hint: str | None = None, *, subpath: str = "") -> PydanticCustomError:
    """A validation error with a one-line message and a hint, raised inside validators.

    Raise it (``raise spec_error(...)``) from a field or model validator;
    :func:`invalid_input_from` turns it into :class:`bacalao.errors.InvalidInput` with the field
    path (plus ``subpath``, for errors found below the validated value) in front of the message.
    """
    ctx = {"message": message, "hint": hint or "", "subpath": subpath}
    return PydanticCustomError(SPEC_ERROR, "{message}", ctx)


def nested_error(error: Any, prefix: str) -> PydanticCustomError:
    """Re-wrap one error of an inner validation (e.g. of params) so its path reads ``prefix.…``."""
    message, hint, subpath = _describe(error, format_path(tuple(error.get("loc", ())), prefix))
    return spec_error(message, hint, subpath=subpath)


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return value is False
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str | list | dict | tuple):
        return len(value) == 0
    if isinstance(value, WireModel):
        return value.is_empty_wire()
    return False


class WireModel(BaseModel):
    """Base of every bacalao model: Bacalhau aliases, case-insensitive input, strict keys.

    Subclasses give each field its Bacalhau key as ``alias`` and may list ``_omit_empty`` (attribute
    names dropped from output when empty) and ``_key_synonyms`` (extra accepted input keys, lower
    case, mapped to an alias).
    """

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
        validate_default=False,
        # Build validators on first use, not at import: keeps `import bacalao.models` (and the
        # CLI's cold start) cheap when only a few models are ever used.
        defer_build=True,
    )

    _omit_empty: ClassVar[frozenset[str]] = frozenset()
    _key_synonyms: ClassVar[dict[str, str]] = {}

    @classmethod
    def _keys(cls) -> dict[str, str]:
        """lower-case input key -> the field's alias (or name), built once per class."""
        index = _KEY_INDEX.get(cls)
        if index is None:
            index = {}
            for name, field in cls.model_fields.items():
                key = field.alias or name
                for spelling in (name, key, name.replace("_", "")):
                    index[spelling.lower()] = key
            for synonym, key in cls._key_synonyms.items():
                index[synonym.lower()] = key
            _KEY_INDEX[cls] = index
        return index

    @classmethod
    def wire_keys(cls) -> list[str]:
        """The keys this model writes, in declaration order (for hints and docs)."""
        return [field.alias or name for name, field in cls.model_fields.items()]

    @model_validator(mode="before")
    @classmethod
    def _match_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        canonical = _CANONICAL.get(cls)
        if canonical is None:
            canonical = _CANONICAL[cls] = frozenset(cls._keys().values())
        if canonical.issuperset(data):
            # The fast path for what bacalao itself wrote (stored jobs, messages): every key is
            # already spelled as the alias, so there is nothing to rename and nothing unknown.
            return data
        index = cls._keys()
        out: dict[str, Any] = {}
        for key, value in data.items():
            target = index.get(str(key).lower()) if isinstance(key, str) else None
            if target is None:
                valid = cls.wire_keys()
                lowered = {v.lower(): v for v in valid}
                close = difflib.get_close_matches(str(key).lower(), lowered, n=1, cutoff=0.6)
                raise PydanticCustomError(
                    UNKNOWN_FIELD,
                    "unknown field '{field}'",
                    {
                        "field": str(key),
                        "valid": ", ".join(valid),
                        "suggestion": lowered[close[0]] if close else "",
                    },
                )
            out[target] = value  # the last spelling wins, as with Go's encoding/json
        return out

    @model_serializer(mode="wrap")
    def _omit(self, handler: Any) -> Any:
        data = handler(self)
        if not self._omit_empty or not isinstance(data, dict):
            return data
        cls = type(self)
        keys = _OMIT_KEYS.get(cls)
        if keys is None:
            fields = cls.model_fields
            keys = _OMIT_KEYS[cls] = tuple(
                dict.fromkeys(
                    k for name in cls._omit_empty for k in (fields[name].alias or name, name)
                )
            )
        for key in keys:
            if key in data and _is_empty(data[key]):
                del data[key]
        return data

    def is_empty_wire(self) -> bool:
        """True when every field is empty (used by ``omitempty`` on nested blocks)."""
        return all(_is_empty(getattr(self, name)) for name in type(self).model_fields)

    def to_wire(self) -> dict[str, Any]:
        """This model as a JSON-ready dict with Bacalhau's keys (None values dropped)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def str_map(value: Any) -> Any:
    """Coerce a map's scalar values to strings (YAML turns ``1`` and ``true`` into numbers)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, int | float):
                v = str(v)
            out[str(k)] = v
        return out
    return value


def format_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    """``("Tasks", 0, "Resources", "Memory")`` -> ``Tasks[0].Resources.Memory``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str):
            if part.startswith(("function-", "[key]")) or part in ("__root__",):
                continue
            out += f".{part}" if out else part
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid_input_from(exc: ValidationError, *, prefix: str = "") -> InvalidInput:
    """The first error of a pydantic ValidationError as a one-line :class:`InvalidInput`.

    The message starts with the field path (``Tasks[0].Resources.Memory: invalid size ...``) and
    the hint says how to fix it; further errors are counted, not listed, to keep one line.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    message, hint, path = _describe(first, format_path(tuple(first.get("loc", ())), prefix))
    if len(errors) > 1:
        more = len(errors) - 1
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    text = f"{path}: {message}" if path else message
    return InvalidInput(text, hint=hint or None)


def _join(path: str, sub: str) -> str:
    if not sub:
        return path
    if not path or sub.startswith("["):
        return path + sub
    return f"{path}.{sub}"


def _describe(error: Any, path: str) -> tuple[str, str, str]:
    """(message, hint, full path) for one pydantic error dict found at ``path``."""
    ctx = error.get("ctx") or {}
    kind = error.get("type")
    if kind == UNKNOWN_FIELD:
        field = ctx.get("field", "?")
        hint = f"valid fields here: {ctx.get('valid', '')}"
        if ctx.get("suggestion"):
            hint = f"did you mean '{ctx['suggestion']}'? " + hint
        return f"unknown field '{field}'", hint, _join(path, field)
    if kind == SPEC_ERROR:
        message = ctx.get("message") or error.get("msg", "invalid value")
        return message, ctx.get("hint", ""), _join(path, ctx.get("subpath", ""))
    if kind == "missing":
        return "required field is missing", "add it to the spec", path
    message = error.get("msg", "invalid value").removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    hint = f"got {_short(error.get('input'))}" if "input" in error else ""
    return message, hint, path
