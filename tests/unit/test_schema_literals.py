"""Values written in the schema (filter values, index conditions): how the compiler reads
them (model.literal_value) and what the generated code does with them (facts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dynamorm_gen.compiler import facts, model

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "tests/golden/cases/library_loans/schemas/library.yaml"
_DATA = yaml.safe_load(LIBRARY.read_text())
MODULE = model.build_module(LIBRARY.name, "0" * 64, "library", _DATA)


def _entity(name: str) -> model.Entity:
    return next(e for e in MODULE.entities if e.name == name)


@pytest.mark.parametrize(
    ("kind", "value", "wire"),
    [
        ("string", "x", ("S", "x")),
        ("boolean", False, ("BOOL", False)),
        ("integer", 7, ("N", "7")),
        ("version", -3, ("N", "-3")),
        ("decimal", 1.5, ("N", "1.5")),
        ("decimal", "0.10", ("N", "0.10")),
        ("decimal", 2, ("N", "2")),
        ("float", 2, ("N", "2.0")),
        ("date", "2024-03-10", ("S", "2024-03-10")),
        # Written as the runtime writes datetimes: in UTC, with microseconds.
        ("datetime", "2024-03-10T09:30:00+01:00", ("S", "2024-03-10T08:30:00.000000Z")),
        ("datetime", "2024-03-10T09:30:00Z", ("S", "2024-03-10T09:30:00.000000Z")),
    ],
)
def test_a_literal_is_written_as_the_runtime_writes_its_type(
    kind: str, value: Any, wire: tuple[str, Any]
) -> None:
    assert model.literal_value(model.TypeRef(kind), value) == wire


@pytest.mark.parametrize(
    ("t", "value", "message"),
    [
        (model.TypeRef("integer"), True, "is not an integer"),
        (model.TypeRef("integer"), 1.0, "is not an integer"),
        (model.TypeRef("ttl"), "1", "is not an integer"),
        (model.TypeRef("integer"), int("1" * 39), "beyond what DynamoDB numbers hold"),
        (model.TypeRef("boolean"), "false", "is not a boolean"),
        (model.TypeRef("string"), 1, "is not a string"),
        (model.TypeRef("enum", values=("a", "b")), "c", "is not one of a, b"),
        (model.TypeRef("decimal"), "ten", "is not a decimal"),
        (model.TypeRef("decimal"), "NaN", "beyond what DynamoDB numbers hold"),
        (model.TypeRef("float"), 1e300, "beyond what DynamoDB numbers hold"),
        (model.TypeRef("date"), "2024-13-01", "is not a date: write it in ISO 8601"),
        (model.TypeRef("date"), 20240310, "is not a date"),
        (model.TypeRef("datetime"), "2024-03-10T09:30:00", "has no time zone"),
        (model.TypeRef("datetime"), "0001-01-01T00:00:00+01:00", "out of range"),
        (model.TypeRef("binary"), "AA==", "binary values are parameters"),
        (model.TypeRef("list", of=model.TypeRef("string")), "x", "list values"),
    ],
)
def test_a_literal_that_does_not_fit_says_why(
    t: model.TypeRef, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        model.literal_value(t, value)


def test_a_filter_with_a_value_takes_no_parameter_and_sends_the_value() -> None:
    member = _entity("Member")
    pattern = next(p for p in member.access_patterns if p.name == "joined_in_2024")
    query = facts.entity_query(MODULE.tables[0], member, pattern)
    assert [name for name, _ in query.params()] == ["library_id"]
    assert [(v.placeholder, v.literal) for v in query.filter_values()] == [
        (":f0a", ("S", "2024-01-01")),
        (":f0b", ("S", "2024-12-31")),
        (":f1", ("S", "closed")),
    ]
    assert query.filter_expression() == (
        "#et = :et AND #f0 BETWEEN :f0a AND :f0b AND #f1 <> :f1"
    )
    # Nothing of the caller's to check but the key.
    assert [(c.kind, c.expr) for c in query.checks()] == [("key_text", "library_id")]


def test_an_index_with_when_is_sparse_and_its_attribute_rebuilds_it() -> None:
    loan = _entity("Loan")
    writes = {w.name: w for w in facts.index_writes(loan)}
    assert not writes["GSI2"].sparse
    assert writes["GSI3"].sparse and writes["GSI3"].optional == ()
    assert [(c.attribute.name, c.value) for c in writes["GSI3"].conditions] == [
        ("returned", False)
    ]
    assert "returned" in {a.name for a in facts.index_updatable(loan)}
    verbs = [v for a, v in facts.update_verbs(loan) if a.name == "returned"]
    assert verbs == ["set"]  # no set_if_absent: the keys follow the value given
    change = facts.index_update(loan, loan.attribute("returned"))
    assert change.indexes == "GSI3" and change.sparse
    assert [c.name for c in change.co_attributes] == [
        "library_id",
        "due",
        "member_id",
        "isbn",
    ]
    moved = facts.index_update(loan, loan.attribute("due"))
    assert moved.indexes == "GSI2 and GSI3"
    assert "returned" in [c.name for c in moved.co_attributes]
    assert "GSI3 keys are written while returned is False" in moved.sparse_note
