"""Equality of items as DynamoDB stores them: canonical numbers, unordered sets, bytes."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamorm_gen.runtime.compare import contains_values, same_item, same_value
from dynamorm_gen.runtime.types import Item

# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.50", "1.5"),
        ("1E+2", "100"),
        ("1e2", "100"),
        ("-0", "0"),
        ("0.000", "0"),
        ("+5", "5"),
        (".5", "0.5"),
        ("5.", "5"),
        ("-12.3400", "-12.34"),
        ("1E-130", "0." + "0" * 129 + "1"),
        (
            "12345678901234567890123456789012345678",
            "1.2345678901234567890123456789012345678E+37",
        ),
    ],
)
def test_numbers_equal_by_value(a: str, b: str) -> None:
    assert same_value({"N": a}, {"N": b})
    assert same_value({"N": b}, {"N": a})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1", "2"),
        ("1.5", "1.51"),
        ("-1", "1"),
        # Beyond 28 digits: compared exactly, not rounded to decimal's default precision.
        ("1234567890123456789012345678901", "1234567890123456789012345678900"),
    ],
)
def test_numbers_differ_by_value(a: str, b: str) -> None:
    assert not same_value({"N": a}, {"N": b})


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "Infinity",
        "-inf",
        "sNaN",
        "1_000",
        " 1",
        "1 ",
        "",
        "abc",
        "1E+9999999999999999999999",
        "١٢",
    ],
)
def test_text_that_is_not_a_dynamodb_number_is_unequal_even_to_itself(
    text: str,
) -> None:
    assert not same_value({"N": text}, {"N": text})
    assert not same_value({"N": text}, {"N": "1"})


def test_a_number_must_be_text() -> None:
    assert not same_value({"N": 1}, {"N": "1"})
    assert not same_value({"N": 1}, {"N": 1})


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_a_number_equals_its_canonical_form(value: Decimal) -> None:
    with localcontext(prec=10_000):  # normalize() rounds to the context's precision
        canonical = value.normalize()
    assert same_value({"N": str(value)}, {"N": str(canonical)})
    assert same_value({"N": str(value)}, {"N": f"{value:f}"})


@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
)
def test_numbers_are_equal_exactly_when_their_values_are(
    a: Decimal, b: Decimal
) -> None:
    assert same_value({"N": str(a)}, {"N": str(b)}) == (a == b)


# --- strings, binary, booleans -----------------------------------------------------------------


def test_strings_compare_exactly() -> None:
    assert same_value({"S": "café"}, {"S": "café"})
    assert not same_value({"S": "a"}, {"S": "A"})
    assert not same_value({"S": "a"}, {"S": "a "})
    # No Unicode normalisation: DynamoDB stores the code points it is given.
    assert not same_value({"S": "caf\u00e9"}, {"S": "cafe\u0301"})
    assert not same_value({"S": 1}, {"S": 1})


@pytest.mark.parametrize(
    "other", [b"\x00\xff", bytearray(b"\x00\xff"), memoryview(b"\x00\xff")]
)
def test_binary_compares_as_bytes(other: Any) -> None:
    assert same_value({"B": b"\x00\xff"}, {"B": other})
    assert same_value({"B": other}, {"B": b"\x00\xff"})
    assert not same_value({"B": b"\x00"}, {"B": other})


def test_binary_as_base64_text_is_malformed() -> None:
    assert not same_value({"B": "AP8="}, {"B": b"\x00\xff"})
    assert not same_value({"B": "AP8="}, {"B": "AP8="})


def test_booleans_and_nulls() -> None:
    assert same_value({"BOOL": True}, {"BOOL": True})
    assert same_value({"BOOL": False}, {"BOOL": False})
    assert not same_value({"BOOL": True}, {"BOOL": False})
    assert not same_value({"BOOL": True}, {"BOOL": 1})
    assert same_value({"NULL": True}, {"NULL": True})
    assert not same_value({"NULL": True}, {"NULL": 1})


# --- sets --------------------------------------------------------------------------------------


def test_sets_in_any_order() -> None:
    assert same_value({"SS": ["a", "b", "c"]}, {"SS": ["c", "a", "b"]})
    assert same_value({"NS": ["1.50", "2", "1E+2"]}, {"NS": ["100", "2", "1.5"]})
    assert same_value({"BS": [b"a", bytearray(b"b")]}, {"BS": [memoryview(b"b"), b"a"]})
    assert same_value({"SS": {"a", "b"}}, {"SS": ("b", "a")})


def test_sets_with_different_members() -> None:
    assert not same_value({"SS": ["a", "b"]}, {"SS": ["a", "c"]})
    assert not same_value({"SS": ["a", "b"]}, {"SS": ["a"]})
    assert not same_value({"NS": ["1", "2"]}, {"NS": ["1", "3"]})
    assert not same_value({"BS": [b"a"]}, {"BS": [b"b"]})


def test_malformed_sets() -> None:
    assert not same_value({"SS": "ab"}, {"SS": ["a", "b"]})  # a string is no set
    assert not same_value({"SS": ["a", 1]}, {"SS": ["a", 1]})
    assert not same_value({"NS": ["1", "x"]}, {"NS": ["1", "x"]})
    assert not same_value({"BS": ["YQ=="]}, {"BS": ["YQ=="]})
    assert not same_value({"SS": None}, {"SS": None})


@given(st.lists(st.text(), min_size=1, unique=True), st.randoms())
def test_a_string_set_equals_any_permutation(members: list[str], rng: Any) -> None:
    shuffled = list(members)
    rng.shuffle(shuffled)
    assert same_value({"SS": members}, {"SS": shuffled})


# --- documents ---------------------------------------------------------------------------------


def test_nested_documents() -> None:
    a = {
        "M": {
            "amount": {"N": "12.50"},
            "lines": {
                "L": [
                    {"M": {"sku": {"S": "x"}, "tags": {"SS": ["b", "a"]}}},
                    {"B": bytearray(b"\x01")},
                    {"NULL": True},
                ]
            },
        }
    }
    b = {
        "M": {
            "lines": {
                "L": [
                    {"M": {"tags": {"SS": ["a", "b"]}, "sku": {"S": "x"}}},
                    {"B": b"\x01"},
                    {"NULL": True},
                ]
            },
            "amount": {"N": "12.5"},
        }
    }
    assert same_value(a, b)


def test_maps_need_the_same_names() -> None:
    assert not same_value(
        {"M": {"a": {"S": "x"}}}, {"M": {"a": {"S": "x"}, "b": {"S": "y"}}}
    )
    assert not same_value({"M": {"a": {"S": "x"}}}, {"M": {"b": {"S": "x"}}})
    assert same_value({"M": {}}, {"M": {}})


def test_lists_compare_in_order() -> None:
    assert same_value(
        {"L": [{"S": "a"}, {"N": "1.0"}]}, {"L": [{"S": "a"}, {"N": "1"}]}
    )
    assert not same_value(
        {"L": [{"S": "a"}, {"S": "b"}]}, {"L": [{"S": "b"}, {"S": "a"}]}
    )
    assert not same_value({"L": [{"S": "a"}]}, {"L": [{"S": "a"}, {"S": "a"}]})
    assert same_value({"L": []}, {"L": []})


def test_malformed_documents() -> None:
    assert not same_value({"M": [("a", {"S": "x"})]}, {"M": [("a", {"S": "x"})]})
    assert not same_value({"L": "ab"}, {"L": "ab"})
    assert not same_value({"L": [{"S": "a"}, "b"]}, {"L": [{"S": "a"}, "b"]})


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        value = {"L": [value]}
    return value


def test_nesting_as_deep_as_dynamodb_allows() -> None:
    assert same_value(_nested(32), _nested(32))


def test_nesting_too_deep_to_store_is_unequal_not_an_error() -> None:
    assert not same_value(_nested(5000), _nested(5000))


# --- type tags and malformed values ------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"N": "1"}, {"S": "1"}),
        ({"S": "1"}, {"N": "1"}),
        ({"N": "1"}, {"NS": ["1"]}),
        ({"SS": ["a"]}, {"L": [{"S": "a"}]}),
        ({"L": []}, {"M": {}}),
        ({"B": b"a"}, {"S": "a"}),
        ({"BOOL": True}, {"N": "1"}),
        ({"NULL": True}, {"BOOL": True}),
    ],
)
def test_different_type_tags_are_unequal(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert not same_value(a, b)


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"S": "a", "N": "1"},
        {"X": "a"},
        {"s": "a"},
        None,
        "S",
        ["S", "a"],
        1,
    ],
)
def test_malformed_values_are_unequal_even_to_themselves(value: Any) -> None:
    assert not same_value(value, value)
    assert not same_value(value, {"S": "a"})
    assert not same_value({"S": "a"}, value)


# --- items -------------------------------------------------------------------------------------


def test_same_item() -> None:
    stored: Item = {
        "pk": {"S": "p"},
        "amount": {"N": "1.5"},
        "tags": {"SS": ["b", "a"]},
    }
    written: Item = {
        "tags": {"SS": ["a", "b"]},
        "amount": {"N": "1.50"},
        "pk": {"S": "p"},
    }
    assert same_item(stored, written)
    assert not same_item(stored, {**written, "extra": {"S": "x"}})
    assert not same_item(stored, {k: v for k, v in written.items() if k != "tags"})
    assert not same_item(stored, {**written, "amount": {"N": "2"}})


def test_none_equals_only_none() -> None:
    assert same_item(None, None)
    assert not same_item(None, {})
    assert not same_item({}, None)
    assert same_item({}, {})


def test_malformed_items_are_unequal() -> None:
    bad: Any = [("pk", {"S": "p"})]
    assert not same_item(bad, bad)
    assert not same_item({"pk": {"S": "p", "N": "1"}}, {"pk": {"S": "p", "N": "1"}})


# --- contains_values ---------------------------------------------------------------------------


def test_set_values_are_visible() -> None:
    stored = {"pk": {"S": "p"}, "amount": {"N": "12.5"}, "note": {"S": "x"}}
    assert contains_values(stored, {"amount": {"N": "12.50"}})
    assert contains_values(stored, {"amount": {"N": "12.5"}, "note": {"S": "x"}})
    assert not contains_values(stored, {"amount": {"N": "13"}})
    assert not contains_values(stored, {"missing": {"S": "x"}})


def test_removed_attributes_must_be_absent() -> None:
    stored = {"pk": {"S": "p"}, "note": {"S": "x"}}
    assert contains_values(stored, {"gone": None})
    assert not contains_values(stored, {"note": None})
    assert contains_values(stored, {"note": {"S": "x"}, "gone": None})


def test_no_stored_item_shows_nothing() -> None:
    assert not contains_values(None, {"amount": {"N": "1"}})
    assert not contains_values(None, {"gone": None})
    assert not contains_values(None, {})
    assert contains_values({}, {})


# --- properties --------------------------------------------------------------------------------

numbers = st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str)
scalars = st.one_of(
    st.text().map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    st.binary().map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(st.text(), min_size=1).map(lambda v: {"SS": v}),
    st.lists(numbers, min_size=1).map(lambda v: {"NS": v}),
    st.lists(st.binary(), min_size=1).map(lambda v: {"BS": v}),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda v: {"L": v}),
        st.dictionaries(st.text(max_size=5), inner, max_size=4).map(lambda v: {"M": v}),
    ),
    max_leaves=20,
)


@given(values)
def test_every_well_formed_value_equals_itself(value: dict[str, Any]) -> None:
    assert same_value(value, value)


@given(values, values)
def test_equality_is_symmetric(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert same_value(a, b) == same_value(b, a)


@given(st.dictionaries(st.text(max_size=5), values, max_size=5))
def test_every_item_equals_itself_and_contains_itself(item: dict[str, Any]) -> None:
    assert same_item(item, item)
    assert contains_values(item, item)
