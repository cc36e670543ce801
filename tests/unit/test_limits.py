"""DynamoDB's limits measured before sending: item sizes, text DynamoDB refuses, names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.limits import (
    MAX_ITEM_BYTES,
    check_index_name,
    check_table_name,
    item_size,
    text_problem,
    too_large,
)
from dynamorm_gen.runtime.types import Item


def _size(value: dict[str, Any]) -> int:
    """The size of a value alone: under a one-byte name, minus that byte."""
    return item_size({"x": value}) - 1


# --- scalars -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"a": {"S": "abc"}}, 1 + 3),
        ({"a": {"S": ""}}, 1),
        ({"né": {"S": "€"}}, 3 + 3),  # é is 2 bytes, € is 3
        ({"emoji": {"S": "💳"}}, 5 + 4),
        ({"名前": {"S": "日本語"}}, 6 + 9),
        ({"b": {"B": b"\x00\x01\x02"}}, 1 + 3),
        ({"b": {"B": bytearray(b"\x00\x01")}}, 1 + 2),
        ({"b": {"B": memoryview(b"abcd")}}, 1 + 4),
        ({"b": {"B": "AAEC"}}, 1 + 3),  # base64 text counts its raw bytes
        ({"b": {"B": "AAE="}}, 1 + 2),
        ({"ok": {"BOOL": False}}, 2 + 1),
        ({"ok": {"BOOL": True}}, 2 + 1),
        ({"gone": {"NULL": True}}, 4 + 1),
        ({"x": {"ZZ": "unknown tags count nothing"}}, 1),
    ],
)
def test_scalar_sizes(item: dict[str, Any], size: int) -> None:
    assert item_size(item) == size


def test_a_memoryview_counts_bytes_not_elements() -> None:
    wide = memoryview(bytes(8)).cast("I")  # two 4-byte elements
    assert item_size({"b": {"B": wide}}) == 1 + 8


def test_attributes_add_up() -> None:
    item: Item = {
        "pk": {"S": "CUSTOMER#c-1"},
        "amount": {"N": "1250"},
        "paid": {"BOOL": True},
        "blob": {"B": b"\x00" * 10},
    }
    assert item_size(item) == (2 + 12) + (6 + 3) + (4 + 1) + (4 + 10)


def test_empty_item() -> None:
    assert item_size({}) == 0


# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "size"),
    [
        ("0", 1),
        ("-0", 1),
        ("0.000", 1),
        ("0E+10", 1),
        ("7", 2),
        ("27", 2),
        ("-27", 3),  # a negative number takes a byte more
        ("461", 3),  # 04|61
        ("100", 2),  # 01|00, the trailing pair trimmed
        ("1e2", 2),
        ("1.5", 3),  # 01|50: pairs are aligned on the decimal point
        ("12.5", 3),  # 12|50
        ("123.456", 5),  # 01|23|45|60
        ("-0.00100", 3),  # 0.001 is 00|10 after the point: one pair, sign byte
        ("0.01", 2),
        ("12345678901234567890", 11),
        ("1E+125", 2),
        ("1E+124", 2),  # 01 then zeros
        ("9.9999999999999999999999999999999999999E+125", 20),
        ("1E-130", 2),
        ("9" * 38, 20),
        ("-" + "9" * 38, 21),
        # 38 digits across the point fill 20 pairs; DynamoDB's own maximum is 21 bytes, so
        # this negative one is counted a byte high, the only case where the count is not exact.
        ("-9." + "9" * 37, 22),
    ],
)
def test_number_sizes(number: str, size: int) -> None:
    assert _size({"N": number}) == size


@pytest.mark.parametrize(
    "text", ["abc", "NaN", "Infinity", "-inf", "", "1E+9999999999999999999999"]
)
def test_text_that_is_no_number_counts_as_the_largest_number(text: str) -> None:
    assert _size({"N": text}) == 22


def _documented(text: str) -> int:
    """The developer guide's approximation: 1 byte per two significant digits, plus 1."""
    digits = Decimal(text).as_tuple().digits
    significant = "".join(map(str, digits)).strip("0")
    return (len(significant) + 1) // 2 + 1


def _measured(text: str) -> int:
    """The measured encoding, computed another way: the digits written out, padded to whole
    pairs on each side of the point, zero pairs trimmed off both ends."""
    value = Decimal(text)
    if not value:
        return 1
    # copy_abs(), not abs(): abs() rounds to the context's 28 digits.
    whole, _, fraction = f"{value.copy_abs():f}".partition(".")
    whole = whole.lstrip("0")
    whole = "0" * (len(whole) % 2) + whole
    fraction = fraction + "0" * (len(fraction) % 2)
    pairs = [(whole + fraction)[i : i + 2] for i in range(0, len(whole + fraction), 2)]
    while pairs and pairs[0] == "00":
        pairs.pop(0)
    while pairs and pairs[-1] == "00":
        pairs.pop()
    return 1 + len(pairs) + (1 if value < 0 else 0)


# Numbers DynamoDB accepts: at most 38 significant digits, magnitude 1E-130 to below 1E+126.
dynamodb_numbers = st.builds(
    lambda digits, exponent, negative: f"{'-' if negative else ''}{digits}E{exponent}",
    st.integers(min_value=0, max_value=10**38 - 1),
    st.integers(min_value=-130, max_value=88),
    st.booleans(),
)


@given(dynamodb_numbers)
def test_numbers_never_count_below_the_documented_approximation(text: str) -> None:
    assert _size({"N": text}) >= _documented(text)


@given(dynamodb_numbers)
def test_numbers_count_as_measured(text: str) -> None:
    assert _size({"N": text}) == _measured(text)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_any_finite_decimal_counts_at_least_the_documented_approximation(
    value: Decimal,
) -> None:
    assert _size({"N": str(value)}) >= _documented(str(value))


def test_a_number_is_the_same_size_however_it_is_written() -> None:
    for text in ("1.5", "1.50", "+1.5", "15E-1", "0.15e1", "001.500"):
        assert _size({"N": text}) == 3


# --- documents and sets ------------------------------------------------------------------------


def test_map_size() -> None:
    item = {"m": {"M": {"x": {"S": "ab"}, "yz": {"N": "5"}}}}
    # name, 3 of overhead, then each element: 1 + its name + its value
    assert item_size(item) == 1 + 3 + (1 + 1 + 2) + (1 + 2 + 2)


def test_list_size() -> None:
    item = {"l": {"L": [{"S": "a"}, {"BOOL": True}, {"L": []}]}}
    assert item_size(item) == 1 + 3 + (1 + 1) + (1 + 1) + (1 + 3)


def test_empty_documents_take_three_bytes() -> None:
    assert item_size({"m": {"M": {}}}) == 1 + 3
    assert item_size({"l": {"L": []}}) == 1 + 3


def test_nested_documents_with_non_ascii_names() -> None:
    item = {"doc": {"M": {"ünï": {"L": [{"M": {"k": {"S": "v"}}}]}}}}
    inner_map = 3 + (1 + 1 + 1)  # {"k": "v"}
    inner_list = 3 + (1 + inner_map)
    outer_map = 3 + (1 + len("ünï".encode()) + inner_list)
    assert item_size(item) == 3 + outer_map == 22


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"SS": ["a", "bé"]}, 1 + 3),
        ({"NS": ["1", "-1.5", "100"]}, 2 + 4 + 2),
        ({"BS": [b"ab", bytearray(b"c"), memoryview(b"def")]}, 2 + 1 + 3),
    ],
)
def test_sets_are_the_sum_of_their_members(value: dict[str, Any], size: int) -> None:
    assert _size(value) == size


def test_text_dynamodb_refuses_is_measured_not_raised_on() -> None:
    # A lone surrogate cannot be UTF-8 encoded; it is counted as the 3 bytes it would take.
    assert item_size({"s": {"S": "a\ud800"}}) == 1 + 1 + 3
    assert item_size({"\udfff": {"SS": ["\ud800"]}}) == 3 + 3


# --- the limit ---------------------------------------------------------------------------------


def test_the_limit_is_400_kib_and_an_item_of_exactly_that_size_fits() -> None:
    assert MAX_ITEM_BYTES == 409_600
    fits = {"pk": {"S": "x" * (MAX_ITEM_BYTES - 2)}}
    assert item_size(fits) == MAX_ITEM_BYTES
    assert not too_large(fits)
    assert too_large({"pk": {"S": "x" * (MAX_ITEM_BYTES - 1)}})


# --- properties --------------------------------------------------------------------------------

names = st.text(min_size=1, max_size=20)


@given(names, st.text())
def test_strings_count_their_utf8_bytes(name: str, text: str) -> None:
    assert item_size({name: {"S": text}}) == len(name.encode()) + len(text.encode())


@given(names, st.binary())
def test_binaries_count_their_raw_bytes(name: str, data: bytes) -> None:
    direct = len(name.encode()) + len(data)
    assert item_size({name: {"B": data}}) == direct
    assert item_size({name: {"B": bytearray(data)}}) == direct


@given(names, st.lists(st.one_of(st.text(), st.binary()), max_size=10))
def test_lists_never_count_below_their_contents(name: str, values: list[Any]) -> None:
    elements = [{"S": v} if isinstance(v, str) else {"B": v} for v in values]
    contents = sum(len(v.encode()) if isinstance(v, str) else len(v) for v in values)
    assert item_size({name: {"L": elements}}) >= len(name.encode()) + contents


@given(st.dictionaries(names, st.text(), max_size=10))
def test_maps_never_count_below_their_names_and_strings(values: dict[str, str]) -> None:
    document = {name: {"S": text} for name, text in values.items()}
    direct = sum(
        len(name.encode()) + len(text.encode()) for name, text in values.items()
    )
    assert item_size({"m": {"M": document}}) >= 1 + direct


# --- text_problem ------------------------------------------------------------------------------


def test_valid_text_has_no_problem() -> None:
    item: Item = {
        "pk": {"S": "CUSTOMER#c-1"},
        "naïve": {"S": "café 💳"},
        "tags": {"SS": ["日本", "x"]},
        "doc": {"M": {"ключ": {"L": [{"S": "значение"}, {"N": "1"}]}}},
        "blob": {"B": b"\xed\xa0\x80"},  # bytes are not text, whatever they hold
    }
    assert text_problem(item) is None
    assert text_problem({}) is None


def test_a_surrogate_in_a_nested_map_key() -> None:
    item: Item = {
        "pk": {"S": "p"},
        "doc": {"M": {"outer": {"M": {"bad\ud800key": {"S": "v"}}}}},
        "later": {"S": "\ud800"},
    }
    assert text_problem(item) == "doc"


def test_a_surrogate_in_a_string_set_member() -> None:
    assert text_problem({"pk": {"S": "p"}, "tags": {"SS": ["ok", "x\udc00"]}}) == "tags"


def test_a_surrogate_in_a_string_in_a_list_in_a_map() -> None:
    item = {"doc": {"M": {"l": {"L": [{"N": "1"}, {"S": "\udfff"}]}}}}
    assert text_problem(item) == "doc"


def test_a_surrogate_in_a_top_level_name_is_named_escaped() -> None:
    found = text_problem({"pk": {"S": "p"}, "na\ud800me": {"S": "v"}})
    assert found == "na\\ud800me"
    assert found is not None
    found.encode("utf-8")  # can go into a message and a log


def test_the_first_attribute_with_a_problem_is_named() -> None:
    item = {"a": {"S": "ok"}, "b": {"S": "\ud800"}, "c": {"S": "\ud800"}}
    assert text_problem(item) == "b"


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["abc", "payments-test", "Payments_2026.v1", "a" * 255, "..."]
)
def test_valid_names(name: str) -> None:
    check_table_name(name, "table name from $PAYMENTS_TABLE")
    check_index_name(name, "index name")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ab",
        "a" * 256,
        "pay ments",
        "paymënts",
        "pay/ments",
        "pay\r\nments",
        "p\ud800y",
    ],
)
def test_invalid_table_names(name: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_table_name(name, "table name from $PAYMENTS_TABLE")
    message = str(caught.value)
    assert message.startswith("table name from $PAYMENTS_TABLE ")
    assert "3 to 255 characters" in message
    assert "\r" not in message and "\n" not in message
    message.encode("utf-8")  # loggable


@pytest.mark.parametrize("name", ["ab", "a" * 256, "bad name"])
def test_invalid_index_names(name: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid DynamoDB index name"):
        check_index_name(name, "index by_customer")


@pytest.mark.parametrize("name", [None, 123, b"payments"])
def test_a_name_that_is_not_a_string(name: Any) -> None:
    with pytest.raises(ConfigurationError, match="not a str"):
        check_table_name(name, "table name from $PAYMENTS_TABLE")


def test_a_long_name_is_cut_short_in_the_message() -> None:
    name = "x" * 100 + "TAIL" + " " * 1000
    with pytest.raises(ConfigurationError) as caught:
        check_table_name(name, "table name from $PAYMENTS_TABLE")
    message = str(caught.value)
    assert "TAIL" not in message
    assert "1104 characters" in message
    assert len(message) < 300


def test_table_arns_are_accepted_as_table_names() -> None:
    """DynamoDB takes a table's ARN wherever it takes its name (cross-account access)."""
    check_table_name(
        "arn:aws:dynamodb:eu-west-1:123456789012:table/payments-prod", "$PAYMENTS_TABLE"
    )
    check_table_name(
        "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/t.1_x", "$PAYMENTS_TABLE"
    )
    for bad in (
        "arn:aws:dynamodb:eu-west-1:123456789012:table/x",  # name too short
        "arn:aws:s3:eu-west-1:123456789012:table/payments",  # not DynamoDB
        "arn:aws:dynamodb:eu-west-1:12345:table/payments",  # not an account id
        "arn:aws:dynamodb:eu-west-1:123456789012:index/payments",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/pay ments",
        "arn:aws:dynamodb::123456789012:table/payments",  # no region
    ):
        with pytest.raises(ConfigurationError):
            check_table_name(bad, "$PAYMENTS_TABLE")
