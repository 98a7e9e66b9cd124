"""Label constraints: Bacalhau's ``LabelSelectorRequirement`` ``{Key, Operator, Values}``.

Semantics are Kubernetes label selectors: ``=``/``==`` and ``in`` need the key present with a
listed value; ``!=`` and ``notin`` also match a node without the key; ``exists``/``!`` test
presence; ``gt``/``lt`` compare the label as a number (a non-numeric label does not match). Keys
starting with ``favour_`` are soft preferences for rankers, not filters.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from bacalao.errors import InvalidInput
from bacalao.models._wire import WireModel, invalid_input_from, spec_error

SOFT_PREFIX = "favour_"


class Operator(StrEnum):
    """A selector operator; ``==`` is read as ``=``, words are case-insensitive."""

    EQUALS = "="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    IN = "in"
    NOT_IN = "notin"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            text = {"==": "=", ">": "gt", "<": "lt", "not in": "notin"}.get(text, text)
            for member in cls:
                if member.value == text:
                    return member
        return None


_NO_VALUES = (Operator.EXISTS, Operator.DOES_NOT_EXIST)
_SOME_VALUES = (Operator.IN, Operator.NOT_IN)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class Constraint(WireModel):
    """One requirement on a node's labels: ``{Key, Operator, Values}``.

    Values: none for ``exists``/``!``, at least one for ``in``/``notin``, exactly one otherwise;
    ``gt``/``lt`` need a number.
    """

    key: str = Field(alias="Key")
    operator: Operator = Field(alias="Operator")
    values: list[str] = Field(default_factory=list, alias="Values")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise spec_error("constraint key is blank", "name a node label, e.g. region")
        return value

    @field_validator("operator", mode="before")
    @classmethod
    def _operator(cls, value: Any) -> Any:
        try:
            return Operator(value)
        except ValueError:
            valid = ", ".join(m.value for m in Operator)
            raise spec_error(f"unknown operator '{value}'", f"valid operators: {valid}") from None

    @field_validator("values", mode="before")
    @classmethod
    def _values(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) else v for v in value]
        return value

    @model_validator(mode="after")
    def _arity(self) -> Constraint:
        op, n = self.operator, len(self.values)
        if op in _NO_VALUES and n:
            raise spec_error(f"operator '{op.value}' takes no values", "remove Values")
        if op in _SOME_VALUES and not n:
            raise spec_error(f"operator '{op.value}' needs at least one value", "add Values")
        if op not in _NO_VALUES and op not in _SOME_VALUES and n != 1:
            raise spec_error(f"operator '{op.value}' needs exactly one value, got {n}")
        if op in (Operator.GREATER_THAN, Operator.LESS_THAN) and _number(self.values[0]) is None:
            raise spec_error(f"operator '{op.value}' needs a number, got '{self.values[0]}'")
        return self

    @property
    def is_soft(self) -> bool:
        """True for a ``favour_`` preference: rankers score it, filters ignore it."""
        return self.key.startswith(SOFT_PREFIX)

    def matches(self, labels: dict[str, str]) -> bool:
        """True when a node with these labels satisfies this constraint."""
        op = self.operator
        present = self.key in labels
        value = labels.get(self.key)
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        if op is Operator.EQUALS:
            return present and value == self.values[0]
        if op is Operator.NOT_EQUALS:
            return not present or value != self.values[0]
        if op is Operator.IN:
            return present and value in self.values
        if op is Operator.NOT_IN:
            return not present or value not in self.values
        have = _number(value) if value is not None else None
        if have is None:
            return False
        want = float(self.values[0])
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        op, key = self.operator, self.key
        if op is Operator.EXISTS:
            return key
        if op is Operator.DOES_NOT_EXIST:
            return f"!{key}"
        if op in _SOME_VALUES:
            return f"{key} {op.value} ({','.join(self.values)})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{key}{symbol}{self.values[0]}"


_TERM = re.compile(
    r"""\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s,=!<>()]+)
      | (?P<skey>[^\s,=!<>()]+)\s+(?P<setop>in|notin)\s*\((?P<set>[^)]*)\)
      | (?P<key>[^\s,=!<>()]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s,()]*)
      | (?P<ekey>[^\s,=!<>()]+)
    )\s*(?:,|$)""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_constraints(text: str) -> list[Constraint]:
    """Parse a CLI selector such as ``region=eu,gpu in (a100,h100),!spot,mem>16``.

    The grammar is Kubernetes' (what ``bacalhau -s`` takes). Raises :class:`InvalidInput`.
    """
    out: list[Constraint] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TERM.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidInput(
                f"cannot parse constraint at '{text[pos:]}'",
                hint="use key=value, key!=value, key in (a,b), key notin (a,b), key, !key, "
                "key>n, key<n, separated by commas",
            )
        pos = m.end()
        if m["nkey"]:
            raw: dict[str, Any] = {"Key": m["nkey"], "Operator": "!"}
        elif m["skey"]:
            values = [v.strip() for v in m["set"].split(",") if v.strip()]
            raw = {"Key": m["skey"], "Operator": m["setop"].lower(), "Values": values}
        elif m["key"]:
            raw = {"Key": m["key"], "Operator": m["op"], "Values": [m["value"]]}
        else:
            raw = {"Key": m["ekey"], "Operator": "exists"}
        try:
            out.append(Constraint.model_validate(raw))
        except ValidationError as exc:
            raise invalid_input_from(exc, prefix=f"constraint '{m.group(0).strip(' ,')}'") from None
    return out
