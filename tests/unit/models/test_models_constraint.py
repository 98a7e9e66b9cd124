"""Label constraints: validation of {Key, Operator, Values}, matching, and the CLI grammar."""

from __future__ import annotations

import pytest

from bacalao.errors import InvalidInput
from bacalao.models import Constraint, Operator, parse_constraints

LABELS = {"region": "eu-west", "gpu": "a100", "mem": "64", "name": "node-1"}


def c(key: str, op: str, *values: str) -> Constraint:
    return Constraint.model_validate({"Key": key, "Operator": op, "Values": list(values)})


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (c("region", "=", "eu-west"), True),
        (c("region", "==", "eu-west"), True),
        (c("region", "=", "us-east"), False),
        (c("zone", "=", "a"), False),
        (c("region", "!=", "us-east"), True),
        (c("region", "!=", "eu-west"), False),
        (c("zone", "!=", "a"), True),  # absent key satisfies !=
        (c("gpu", "exists"), True),
        (c("spot", "exists"), False),
        (c("spot", "!"), True),
        (c("gpu", "!"), False),
        (c("gpu", "in", "a100", "h100"), True),
        (c("gpu", "in", "t4"), False),
        (c("zone", "in", "a"), False),
        (c("gpu", "notin", "t4"), True),
        (c("gpu", "notin", "a100"), False),
        (c("zone", "notin", "a"), True),  # absent key satisfies notin
        (c("mem", "gt", "32"), True),
        (c("mem", "gt", "64"), False),
        (c("mem", "lt", "128"), True),
        (c("mem", "lt", "8"), False),
        (c("name", "gt", "1"), False),  # non-numeric label never compares
        (c("zone", "gt", "1"), False),
        (c("mem", "GT", "1.5"), True),
    ],
    ids=str,
)
def test_matches(constraint: Constraint, expected: bool) -> None:
    assert constraint.matches(LABELS) is expected


def test_operator_spellings_normalise() -> None:
    assert c("a", "==", "1").operator is Operator.EQUALS
    assert c("a", "NotIn", "1").operator is Operator.NOT_IN
    assert c("a", ">", "1").operator is Operator.GREATER_THAN
    assert c("a", "==", "1").to_wire() == {"Key": "a", "Operator": "=", "Values": ["1"]}


@pytest.mark.parametrize(
    ("op", "values", "message"),
    [
        ("exists", ["x"], "takes no values"),
        ("!", ["x"], "takes no values"),
        ("in", [], "at least one value"),
        ("notin", [], "at least one value"),
        ("=", [], "exactly one value"),
        ("=", ["a", "b"], "exactly one value"),
        ("gt", ["big"], "needs a number"),
        ("~", ["a"], "unknown operator"),
    ],
)
def test_arity_and_operator_validation(op: str, values: list[str], message: str) -> None:
    from bacalao.models import parse_job

    spec = {
        "Constraints": [{"Key": "k", "Operator": op, "Values": values}],
        "Tasks": [{"Name": "t", "Engine": {"Type": "noop"}}],
    }
    with pytest.raises(InvalidInput, match=message) as info:
        parse_job(spec)
    assert str(info.value).startswith("Constraints[0]")


def test_blank_key_rejected() -> None:
    with pytest.raises(ValueError, match="blank"):
        c("  ", "exists")


def test_soft_constraints() -> None:
    assert c("favour_region", "=", "eu").is_soft
    assert not c("region", "=", "eu").is_soft


def test_parse_constraints_grammar() -> None:
    parsed = parse_constraints(
        "region=eu-west, gpu in (a100, h100),!spot,mem>16,zone!=b,ssd,x notin (y)"
    )
    assert [str(p) for p in parsed] == [
        "region=eu-west",
        "gpu in (a100,h100)",
        "!spot",
        "mem>16",
        "zone!=b",
        "ssd",
        "x notin (y)",
    ]
    assert all(
        p.matches({"region": "eu-west", "gpu": "h100", "mem": "32", "ssd": "1"}) for p in parsed
    )
    assert parse_constraints("") == []


@pytest.mark.parametrize("text", ["region=eu,(", "a in (", "mem>big"])
def test_parse_constraints_errors(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_constraints(text)
