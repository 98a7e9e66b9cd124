"""``SpecConfig {Type, Params}``: how engines, publishers and input sources travel in a job spec.

The model keeps ``Params`` as a plain dict: each plugin (executor, publisher, storage) owns the
typed model of its own params and decodes them with :meth:`SpecConfig.decode_params`, which
matches keys case-insensitively, rejects unknown ones, and reports errors with the field path.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import Field, ValidationError, field_validator

from bacalao.errors import InvalidInput
from bacalao.models._wire import WireModel, invalid_input_from

P = TypeVar("P", bound=WireModel)


class SpecConfig(WireModel):
    """A plugin choice: ``Type`` (trimmed, lower case) and its ``Params`` (a dict, maybe empty).

    An empty SpecConfig (blank type, no params) means "none", e.g. ``Publisher: {}``.
    """

    type: str = Field(default="", alias="Type")
    params: dict[str, Any] = Field(default_factory=dict, alias="Params")

    _omit_empty = frozenset({"params"})

    @field_validator("type", mode="before")
    @classmethod
    def _normalise_type(cls, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, str):
            return value.strip().lower()
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _params_dict(cls, value: Any) -> Any:
        return {} if value is None else value

    def is_empty(self) -> bool:
        """True when no type and no params are set (Bacalhau's ``IsEmpty``)."""
        return not self.type and not self.params

    def decode_params(self, model: type[P], *, path: str = "Params") -> P:
        """Validate ``Params`` with a plugin's own model; errors become :class:`InvalidInput`.

        ``path`` is where these params sit in the spec (``"Tasks[0].Engine.Params"``), so a bad
        key reads ``Tasks[0].Engine.Params.Imagee: unknown field 'Imagee'``.
        """
        try:
            return model.model_validate(self.params)
        except ValidationError as exc:
            raise invalid_input_from(exc, prefix=path) from None

    def get(self, key: str, default: Any = None) -> Any:
        """A param by key, matched case-insensitively (``CID`` finds ``cid``)."""
        if key in self.params:
            return self.params[key]
        lowered = key.lower()
        for k, v in self.params.items():
            if k.lower() == lowered:
                return v
        return default


def require_type(spec: SpecConfig, known: dict[str, Any], *, what: str) -> Any:
    """The entry of ``known`` for ``spec.type``, or InvalidInput listing the known types."""
    try:
        return known[spec.type]
    except KeyError:
        valid = ", ".join(sorted(known))
        raise InvalidInput(
            f"unknown {what} type '{spec.type}'", hint=f"valid {what} types: {valid}"
        ) from None
