"""Pagination cursors: hostile input gives InvalidCursor and nothing else, and no error carries
the cursor or the query's parameter values."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamorm_gen.runtime import cursor as cursor_module
from dynamorm_gen.runtime.cursor import (
    MAX_CURSOR_CHARS,
    _mac,
    decode_cursor,
    encode_cursor,
    query_context,
    set_cursor_key,
)
from dynamorm_gen.runtime.errors import InvalidCursor
from dynamorm_gen.runtime.table import Connection, TableDefinition, TableHandle
from dynamorm_gen.runtime.types import Key

PATTERN = "Payment.by_customer"
SECRET_CUSTOMER = "SECRET-CUSTOMER-4711"
SECRET_AMOUNT = "987654321"
CONTEXT = query_context(
    {
        ":customer": {"S": SECRET_CUSTOMER},
        ":amount": {"N": SECRET_AMOUNT},
        ":blob": {"B": b"\x00\xff"},
    }
)
SECRETS = (SECRET_CUSTOMER, SECRET_AMOUNT, "AP8=")  # "AP8=" is the blob in the context


@pytest.fixture(autouse=True)
def _cursor_key() -> Iterator[None]:
    set_cursor_key("fixture-key")
    yield
    set_cursor_key(None)


def _payload(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signed(payload: str) -> str:
    """A cursor over any payload, validly signed for PATTERN and CONTEXT."""
    return f"{payload}.{_mac(PATTERN, CONTEXT, payload)}"


def _signed_json(document: Any) -> str:
    return _signed(_payload(json.dumps(document).encode()))


def _rejected(cursor: Any) -> InvalidCursor:
    """The InvalidCursor decoding ``cursor`` raises, checked to leak nothing."""
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor(cursor, PATTERN, CONTEXT)
    error = caught.value
    shown = f"{error!s} {error!r} {error.args!r}"
    for secret in SECRETS:
        assert secret not in shown
    if isinstance(cursor, str) and len(cursor) > 8:
        assert cursor not in shown
        payload = cursor.partition(".")[0]
        if len(payload) > 8:
            assert payload not in shown
    # Raised outside any except block: no chained exception carries what it saw.
    assert error.__cause__ is None
    assert error.__context__ is None
    assert PATTERN in str(error)
    return error


# --- the format is unchanged -------------------------------------------------------------------

# Made by the previous implementation with key "fixture-key", before this hardening.
EXISTING_CONTEXT = (
    '{":blob":{"B":"AP8="},":customer":{"S":"c-1"},":since":{"N":"1700000000"}}'
)
EXISTING_CURSOR = (
    "eyJiIjp7IkIiOiJBQUgrL3c9PSJ9LCJnc2kxcGsiOnsiTiI6Ii0xMi41MCJ9LCJwayI6eyJTIjoiQ1VTVE9NRVIj"
    "Yy0xIn0sInNrIjp7IlMiOiJQQVlNRU5UIzAxSjBaUThYXHUwMGU5In19.AQIsbOo5yDMH05cQDyrTgg"
)
EXISTING_KEY: Key = {
    "pk": {"S": "CUSTOMER#c-1"},
    "sk": {"S": "PAYMENT#01J0ZQ8X\u00e9"},
    "gsi1pk": {"N": "-12.50"},
    "b": {"B": b"\x00\x01\xfe\xff"},
}


def test_query_context_text_is_unchanged() -> None:
    context = query_context(
        {
            ":customer": {"S": "c-1"},
            ":since": {"N": "1700000000"},
            ":blob": {"B": b"\x00\xff"},
        }
    )
    assert context == EXISTING_CONTEXT


def test_a_partner_is_part_of_the_query_context() -> None:
    values = {":pk": {"S": "MERCHANT#m-1"}}
    plain = query_context(values)
    assert query_context(values, None) == plain
    assert query_context(values, "acme") == plain + "\0partner=acme"
    assert (
        len({plain, query_context(values, "acme"), query_context(values, "globex")})
        == 3
    )
    cursor = encode_cursor(EXISTING_KEY, PATTERN, query_context(values, "acme"))
    assert decode_cursor(cursor, PATTERN, query_context(values, "acme")) == EXISTING_KEY
    for other in (None, "globex"):
        with pytest.raises(InvalidCursor):
            decode_cursor(cursor, PATTERN, query_context(values, other))


class OnePage:
    """A transport answering every Query with one item and a LastEvaluatedKey."""

    endpoint_url = "http://one-page.invalid"
    region = "us-east-1"

    def __init__(self) -> None:
        self.sent = 0

    def exchange(
        self, operation: str, params: Any, body: bytes, timeout: float | None
    ) -> dict[str, Any]:
        self.sent += 1
        key = {"PK": {"S": "A"}, "SK": {"S": str(self.sent)}}
        return {"Items": [key], "LastEvaluatedKey": key}

    def prewarm(self) -> None:
        pass

    def close(self) -> None:
        pass


class PartnerOf(Connection):
    """A connection to the account of ``partner`` (None: the function's own)."""

    __slots__ = ("partner",)

    def __init__(self, transport: OnePage, partner: str | None) -> None:
        super().__init__(client=transport)
        self.partner = partner

    def partner_id(self) -> str | None:
        return self.partner


def test_a_tables_cursor_continues_only_in_the_same_partners_account() -> None:
    transport = OnePage()
    definition = TableDefinition(
        logical_name="t-1",
        name_env="T_1_TABLE",
        key_names=("PK", "SK"),
        entity_type_attribute="_et",
        create_table={},
    )

    def page(partner: str | None, cursor: str | None) -> str | None:
        handle = TableHandle(definition, PartnerOf(transport, partner))
        request = {
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "PK"},
            "ExpressionAttributeValues": {":pk": {"S": "A"}},
        }
        return handle.query(request, entity="E", pattern="E.p", cursor=cursor)[1]

    cursor = page("acme", None)
    assert page("acme", cursor) is not None and transport.sent == 2
    for other in ("globex", None):
        with pytest.raises(InvalidCursor):
            page(other, cursor)
    assert transport.sent == 2  # refused before anything was sent
    own = page(None, None)
    with pytest.raises(InvalidCursor):
        page("acme", own)


def test_query_context_takes_every_kind_of_binary() -> None:
    expected = query_context({":b": {"B": b"\x00\xff"}})
    assert query_context({":b": {"B": bytearray(b"\x00\xff")}}) == expected
    assert query_context({":b": {"B": memoryview(b"\x00\xff")}}) == expected


def test_existing_cursors_still_decode() -> None:
    assert decode_cursor(EXISTING_CURSOR, PATTERN, EXISTING_CONTEXT) == EXISTING_KEY


def test_encoding_is_unchanged() -> None:
    assert encode_cursor(EXISTING_KEY, PATTERN, EXISTING_CONTEXT) == EXISTING_CURSOR


def test_round_trip() -> None:
    key: Key = {
        "pk": {"S": "CUSTOMER#c-1"},
        "sk": {"N": "1700000000.5"},
        "bin": {"B": b"\xff" * 40},
        "ünï": {"S": "日本語 💳"},
    }
    assert decode_cursor(encode_cursor(key, PATTERN, CONTEXT), PATTERN, CONTEXT) == key


def test_another_query_or_other_parameters_are_refused() -> None:
    cursor = encode_cursor({"pk": {"S": "p"}}, PATTERN, CONTEXT)
    with pytest.raises(InvalidCursor, match="not issued for this query"):
        decode_cursor(cursor, "Payment.by_merchant", CONTEXT)
    with pytest.raises(InvalidCursor, match="not issued for this query"):
        decode_cursor(cursor, PATTERN, query_context({":customer": {"S": "other"}}))
    set_cursor_key("another-key")
    _rejected(cursor)


def test_an_altered_cursor_is_refused() -> None:
    cursor = encode_cursor({"pk": {"S": SECRET_CUSTOMER}}, PATTERN, CONTEXT)
    payload, _, mac = cursor.partition(".")
    flipped = "B" if payload[5] == "A" else "A"
    _rejected(f"{payload[:5]}{flipped}{payload[6:]}.{mac}")
    _rejected(f"{payload}.{mac[:-1]}")
    _rejected(f"{payload}.{mac}A")


# --- not text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [None, 1, 1.5, True, b"abc.def", bytearray(b"abc.def"), {"cursor": "x"}, ["x"]],
)
def test_a_cursor_that_is_not_a_string(cursor: Any) -> None:
    assert "must be a str" in str(_rejected(cursor))


# --- text that is no cursor --------------------------------------------------------------------


def _valid() -> str:
    return encode_cursor({"pk": {"S": SECRET_CUSTOMER}}, PATTERN, CONTEXT)


@pytest.mark.parametrize(
    "make",
    [
        lambda c: c.replace(".", "", 1),  # no dot
        lambda c: c.partition(".")[0] + ".",  # no signature
        lambda c: "." + c.partition(".")[2],  # no payload
        lambda c: ".",
        lambda c: "",
        lambda c: c + ".extra",
    ],
)
def test_structurally_broken_cursors(make: Any) -> None:
    _rejected(make(_valid()))


@pytest.mark.parametrize("character", ["é", "\u200b", "💳", "\x00", "\ud800", "\udfff"])
def test_non_ascii_or_surrogates_in_the_signature(character: str) -> None:
    payload, _, mac = _valid().partition(".")
    _rejected(f"{payload}.{mac[:-1]}{character}")
    _rejected(f"{payload}.{character}{mac}")


@pytest.mark.parametrize("character", ["é", "💳", "\ud800", "\udbff\udc00"])
def test_non_ascii_or_surrogates_in_the_payload(character: str) -> None:
    payload, _, mac = _valid().partition(".")
    _rejected(f"{payload[:3]}{character}{payload[3:]}.{mac}")
    _rejected(f"{character}.{mac}")


def test_a_surrogate_does_not_leak_the_parameters() -> None:
    # Once a UnicodeEncodeError, whose repr held the signed message: the query's parameters.
    _rejected("\ud800.AAAA")
    _rejected("abc\ud800def.AAAAAAAAAAAAAAAAAAAAAA")


def test_an_over_long_cursor_is_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_mac(*args: object) -> str:
        raise AssertionError("the MAC of an over-long cursor was computed")

    monkeypatch.setattr(cursor_module, "_mac", no_mac)
    error = _rejected("A" * MAX_CURSOR_CHARS + ".AAAAAAAAAAAAAAAAAAAAAA")
    assert "longer than" in str(error)
    _rejected("é" * (MAX_CURSOR_CHARS + 1))


def test_the_longest_real_key_fits_in_a_cursor() -> None:
    # The worst case the bound is derived from: four key attributes of maximal size, names
    # and values of control characters, which JSON writes as six characters each.
    name = "\x01" * 255
    key = {
        name[:-1] + "a": {"S": "\x01" * 2048},
        name[:-1] + "b": {"S": "\x01" * 1024},
        name[:-1] + "c": {"S": "\x01" * 2048},
        name[:-1] + "d": {"S": "\x01" * 1024},
    }
    cursor = encode_cursor(key, PATTERN, CONTEXT)
    assert len(cursor) <= MAX_CURSOR_CHARS
    assert decode_cursor(cursor, PATTERN, CONTEXT) == key


# --- signed payloads that are not keys ---------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "eyJwayI6eyJTIjoicCJ9fQ==",  # padded: the format never pads
        "eyJwayI6eyJTIjoicCJ9fQ=",
        "=eyJwayI6eyJTIjoicCJ9fQ",
        "eyJwa=yI6eyJTIjoicCJ9fQ",
        "eyJwayI6eyJTIjoicCJ9fQA",  # a length no base64 text has (4n + 1)
        "eyJwayI6eyJTIjoicCJ9f+",  # the standard alphabet, not the URL-safe one
        "eyJwayI6eyJTIjoicCJ9f/",
        "eyJwayI6 eyJTIjoicCJ9fQ",
        "eyJwayI6\neyJTIjoicCJ9fQ",
        "!!!!",
    ],
)
def test_signed_payloads_that_are_not_base64url(payload: str) -> None:
    _rejected(_signed(payload))


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe{}",  # not UTF-8
        '{"pk":{"S":"p"}}'.encode("utf-16"),
        b"not json",
        b"",
        b'{"pk":{"S":"p"}',
        b"[" * 40_000 + b"]" * 40_000,  # nesting deep enough for a RecursionError
    ],
)
def test_signed_payloads_that_are_not_json(raw: bytes) -> None:
    _rejected(_signed(_payload(raw)))


@pytest.mark.parametrize(
    "document",
    [
        [],
        ["pk", {"S": "p"}],
        1,
        "pk",
        None,
        True,
        {},
        {"pk": "x"},
        {"pk": None},
        {"pk": ["S", "p"]},
        {"pk": {}},
        {"pk": {"S": 1}},
        {"pk": {"S": None}},
        {"pk": {"S": ["p"]}},
        {"pk": {"N": 1}},
        {"pk": {"N": "abc"}},
        {"pk": {"N": "NaN"}},
        {"pk": {"N": "Infinity"}},
        {"pk": {"N": "1_000"}},
        {"pk": {"N": " 1"}},
        {"pk": {"N": "١٢"}},  # digits, but not ASCII ones
        {"pk": {"B": "not base64!"}},
        {"pk": {"B": "QQ="}},  # wrong padding
        {"pk": {"B": "QQ"}},
        {"pk": {"B": "QQ==QQ=="}},
        {"pk": {"B": "Q-_="}},  # URL-safe alphabet: key binaries are standard base64
        {"pk": {"B": 1}},
        {"pk": {"S": "a", "N": "1"}},
        {"pk": {"SS": ["a"]}},
        {"pk": {"NS": ["1"]}},
        {"pk": {"BS": ["QQ=="]}},
        {"pk": {"M": {}}},
        {"pk": {"L": []}},
        {"pk": {"BOOL": True}},
        {"pk": {"NULL": True}},
        {"pk": {"s": "p"}},
        {"": {"S": "p"}},
        {"pk": {"S": "p"}, "sk": {"S": 2}},
        {
            "pk": {"S": "\ud800"}
        },  # JSON can spell a lone surrogate; a request cannot hold it
        {"\udfff": {"S": "p"}},
    ],
)
def test_signed_json_that_is_not_a_key(document: Any) -> None:
    _rejected(_signed_json(document))


def test_signed_keys_of_each_scalar_type_decode() -> None:
    document = {"s": {"S": "p"}, "n": {"N": "-1.5E+3"}, "b": {"B": "AP8="}}
    assert decode_cursor(_signed_json(document), PATTERN, CONTEXT) == {
        "s": {"S": "p"},
        "n": {"N": "-1.5E+3"},
        "b": {"B": b"\x00\xff"},
    }


# --- properties --------------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()))  # surrogates included
cursor_like = st.builds(
    lambda payload, mac: f"{payload}.{mac}",
    st.text("ABCDEFabcdef0123456789-_=+/"),
    st.text("ABCDEFabcdef0123456789-_=é\ud800"),
)


@given(st.one_of(any_text, cursor_like))
def test_any_text_gives_invalid_cursor_and_nothing_else(text: str) -> None:
    _rejected(text)


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.binary(),
        st.lists(st.text()),
        st.dictionaries(st.text(), st.text()),
    )
)
def test_anything_else_gives_invalid_cursor(value: Any) -> None:
    _rejected(value)


@given(st.binary(max_size=200))
def test_any_signed_bytes_decode_to_a_key_or_invalid_cursor(raw: bytes) -> None:
    try:
        key = decode_cursor(_signed(_payload(raw)), PATTERN, CONTEXT)
    except InvalidCursor:
        return
    _assert_key(key)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        any_text,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)
    ),
    max_leaves=10,
)
attribute_values = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(["S", "N", "B", "SS", "X"]), json_values, max_size=2
    ),
    st.builds(lambda s: {"S": s}, any_text),
    st.builds(lambda s: {"N": s}, st.text("0123456789.-+eE ")),
    st.builds(lambda s: {"B": s}, st.text("ABCDab01+/=-_ ")),
)


@given(st.one_of(json_values, st.dictionaries(any_text, attribute_values, max_size=4)))
def test_any_signed_json_decodes_to_a_key_or_invalid_cursor(document: Any) -> None:
    try:
        key = decode_cursor(_signed_json(document), PATTERN, CONTEXT)
    except InvalidCursor:
        return
    _assert_key(key)


def _assert_key(key: Any) -> None:
    assert isinstance(key, dict) and key
    for name, value in key.items():
        assert isinstance(name, str) and name
        name.encode("utf-8")
        ((tag, data),) = value.items()
        assert tag in ("S", "N", "B")
        if tag == "B":
            assert isinstance(data, bytes)
        else:
            assert isinstance(data, str)
            data.encode("utf-8")


key_values = st.one_of(
    st.text(min_size=1).map(lambda s: {"S": s}),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
        lambda d: {"N": str(d)}
    ),
    st.binary(min_size=1).map(lambda b: {"B": b}),
)


@given(st.dictionaries(st.text(min_size=1), key_values, min_size=1, max_size=4))
def test_every_key_round_trips(key: dict[str, Any]) -> None:
    assert decode_cursor(encode_cursor(key, PATTERN, CONTEXT), PATTERN, CONTEXT) == key
