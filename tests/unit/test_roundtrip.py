"""Property tests of the generated converters over every type of the schema language.

``tests/unit/schemas/all_types.yaml`` is compiled in memory by the current compiler when this
module runs, so the properties always exercise the code generator and runtime as they are now:

* round trips: ``Entity.from_item(e.to_item()) == e`` and ``Type.from_map(x.to_map()) == x``;
* wire shape: ``to_item`` agrees attribute by attribute with boto3's ``TypeSerializer`` on the
  same logical values, ``TypeDeserializer`` reads our items back to those values, and
  ``from_item`` reads items that boto3 wrote;
* keys: ``make_key(...) == e.key()`` == the key attributes of ``to_item()``;
* errors: constraint violations and undecodable items raise the typed errors, and their messages
  never quote a value.

The tests at the end pin bugs found by these properties and fixed since (exact decimal bounds,
NaN with bounds, enum elements of lists and maps, non-finite numbers in free-form sets).
"""

from __future__ import annotations

import importlib.util
import re
import string
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamorm_gen.compiler.project import compile_project, load_project
from dynamorm_gen.runtime import (
    ConstraintViolation,
    DecryptionFailed,
    ItemDecodeError,
    wire,
)
from dynamorm_gen.runtime.table import Connection
from dynamorm_gen.testing import LocalKms

SCHEMA = Path(__file__).resolve().parent / "schemas" / "all_types.yaml"

# The autouse AWS sandbox fixture (tests/conftest.py) is function-scoped; it only sets
# environment variables, so sharing it across the examples of one test is harmless.
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
SMALL = settings(PROPERTY, max_examples=15)
VALUES = settings(PROPERTY, max_examples=50)  # cheap: a fixed record, drawn bad values
CHEAP = settings(PROPERTY, max_examples=150)

# Put into string values to prove that error messages never quote them.
SENTINEL = "Zq\u2603LEAK"

KEY_ATTRIBUTES = frozenset({"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "_et"})


# --- encrypted attributes ---------------------------------------------------------------------

# Real envelopes (AES-GCM, bound to the item), data keys from an in-process key service.
KMS = LocalKms()
CONN = Connection(kms=KMS)
# Record's encrypted attributes, by stored name.
ENCRYPTED = {"secret": "secret", "secret_blob": "secret_blob", "sn": "secret_note"}


@dataclass(frozen=True)
class Sealed:
    """The oracle's value of an encrypted attribute: its plaintext. Envelopes hold random
    nonces, so they are compared by what they open to."""

    value: str | bytes


def field_of(gen: ModuleType, stored: str) -> Any:
    return getattr(gen, f"_ENCRYPTED_RECORD_{ENCRYPTED[stored].upper()}")


def opened(gen: ModuleType, item: dict[str, Any], stored: str) -> str | bytes:
    field = field_of(gen, stored)
    open_value = field.open_bytes if field.binary else field.open_text
    result: str | bytes = open_value(CONN, item, item[stored])
    return result


def assert_same_items(
    gen: ModuleType, ours: dict[str, Any], theirs: dict[str, Any]
) -> None:
    """Two items of Record hold the same values: encrypted ones open to the same plaintext."""
    assert set(ours) == set(theirs)
    for name, value in ours.items():
        if name in ENCRYPTED:
            assert opened(gen, ours, name) == opened(gen, theirs, name), name
        else:
            assert_same_wire(value, theirs[name], name)


def serialized(
    gen: ModuleType, expected: dict[str, Any], keys: dict[str, Any]
) -> dict[str, Any]:
    """The oracle's values as boto3 writes them; encrypted ones sealed for the item ``keys``."""
    return {
        k: field_of(gen, k).seal(CONN, keys, v.value)
        if isinstance(v, Sealed)
        else SERIALIZER.serialize(v)
        for k, v in expected.items()
    }


# --- the compiled module -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """all_types.yaml compiled by the current compiler, imported under a unique module name."""
    out = tmp_path_factory.mktemp("all_types_generated")
    project = load_project(None, (str(SCHEMA),), str(out))
    _, outputs = compile_project(project)
    source = next(o.content for o in outputs if o.path == "all_types.py")
    path = out / "all_types.py"
    path.write_text(source, encoding="utf-8")
    name = f"_roundtrip_all_types_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


# --- value strategies --------------------------------------------------------------------------

MAX_INT = 10**38 - 1  # DynamoDB numbers carry 38 significant digits
ints = st.integers(-MAX_INT, MAX_INT)


@st.composite
def dynamo_decimals(draw: st.DrawFn) -> Decimal:
    """Finite decimals DynamoDB can store: <= 38 digits, magnitude 1E-128 .. 9.99E+125."""
    edge = draw(
        st.sampled_from(
            [None] * 8
            + ["0", "-0", "0.0", "1E+2", "100", "1.000", "-1E-128", "1E-128"]
            + ["9.9999999999999999999999999999999999999E+125", "0.1", "12.34"]
        )
    )
    if edge is not None:
        return Decimal(edge)
    coefficient = draw(st.integers(0, MAX_INT))
    width = len(str(coefficient))
    exponent = draw(st.integers(-128 - (width - 1), 125 - (width - 1)))
    sign = "-" if draw(st.booleans()) else ""
    return Decimal(f"{sign}{coefficient}E{exponent}")


def _in_dynamo_range(value: float) -> bool:
    return value == 0 or 1e-128 <= abs(value) <= 9.9e125


def dynamo_floats(min_value: float = -9.9e125, max_value: float = 9.9e125) -> Any:
    """Finite floats whose repr DynamoDB (and boto3's number context) accepts."""
    return st.floats(
        min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False
    ).filter(_in_dynamo_range)


def _fold_independent(value: datetime) -> bool:
    """Aware datetimes in a DST fold or gap never compare equal across zones (PEP 495)."""
    return value.replace(fold=1 - value.fold).utcoffset() == value.utcoffset()


any_timezone = st.one_of(
    st.just(UTC),
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59),
        max_value=timedelta(hours=23, minutes=59),
    ).map(timezone),
    st.timezones(),
)
# A day of margin at both ends: converting to UTC must not leave datetime's range.
DT_MIN, DT_MAX = datetime(1, 1, 2), datetime(9999, 12, 30)
aware_datetimes = st.datetimes(
    min_value=DT_MIN, max_value=DT_MAX, timezones=any_timezone
).filter(_fold_independent)
texts = st.text(max_size=12)
keys_text = st.text(max_size=8)
# Strings written into keys hold no separator of their templates ('#' in all_types.yaml).
key_chars = st.characters(exclude_characters="#")
binaries = st.binary(max_size=16)


def lists(elements: Any) -> Any:
    return st.lists(elements, max_size=3)


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    dynamo_decimals(),
    texts,
    binaries,
    st.frozensets(texts, min_size=1, max_size=3),
    st.frozensets(st.binary(min_size=1, max_size=4), min_size=1, max_size=3),
    st.frozensets(st.one_of(ints, dynamo_decimals()), min_size=1, max_size=3),
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(keys_text, children, max_size=3)
    ),
    max_leaves=6,
)
free_maps = st.dictionaries(keys_text, json_values, max_size=4)


def optional(strategy: Any) -> Any:
    return st.none() | strategy


@dataclass(frozen=True)
class Strategies:
    part: Any
    dimensions: Any
    record: Any
    bounds: Any


@cache
def strategies(m: ModuleType) -> Strategies:
    """Strategies of valid instances of the compiled module's classes (constraints respected)."""
    part = st.builds(
        m.Part,
        sku=st.builds(
            "{}-{}".format,
            st.text(string.ascii_uppercase, min_size=3, max_size=3),
            st.text(string.digits, min_size=1, max_size=6),
        ),
        qty=st.integers(1, 1000),
    )
    dimensions = st.fixed_dictionaries(
        {"width": dynamo_decimals().map(Decimal.copy_abs), "height": ints},
        optional={
            "unit": st.sampled_from(["mm", "cm", "m"]),
            "label": optional(st.text(max_size=20)),
            "weight": optional(dynamo_floats()),
            "fragile": st.booleans(),
            "serial": optional(binaries),
            "measured_on": optional(st.dates()),
            "measured_at": optional(aware_datetimes),
            "notes": optional(lists(texts)),
            "codes": st.sets(texts, max_size=3),
            "part": optional(part),
            "origin": optional(texts),
        },
    ).map(lambda kwargs: m.Dimensions(**kwargs))
    record = st.fixed_dictionaries(
        {
            "tenant": st.text(key_chars, min_size=1, max_size=40),
            "kind": st.sampled_from(["alpha", "beta", "gamma"]),
            "seq": st.integers(-1_000_000, 1_000_000_000),
            "day": st.dates(),
            "at": aware_datetimes,
            "name": st.builds(
                str.__add__,
                st.sampled_from(string.ascii_lowercase),
                st.text(string.ascii_lowercase + string.digits + "_", max_size=29),
            ),
            "display_name": texts,
            "count": ints,
            "price": dynamo_decimals(),
            "ratio": dynamo_floats(0.0, 1.0),
            "score": dynamo_floats(),
            "active": st.booleans(),
            "blob": st.binary(max_size=64),
            "birthday": st.dates(),
            "colors": lists(texts),
            "levels": lists(st.sampled_from(["low", "mid", "high"])),
            "moods": st.dictionaries(
                keys_text, st.sampled_from(["calm", "busy"]), max_size=3
            ),
            "moments": lists(aware_datetimes),
            "days": lists(st.dates()),
            "amounts": lists(dynamo_decimals()),
            "readings": lists(dynamo_floats()),
            "flags": lists(st.booleans()),
            "chunks": lists(binaries),
            "parts": lists(part),
            "matrix": lists(lists(ints)),
            "extra": free_maps,
            "counters": st.dictionaries(keys_text, ints, max_size=3),
            "prices": st.dictionaries(keys_text, dynamo_decimals(), max_size=3),
            "boxes": st.dictionaries(keys_text, dimensions, max_size=2),
            "series": st.dictionaries(keys_text, lists(dynamo_floats()), max_size=3),
            "dims": dimensions,
            "secret": texts,
        },
        optional={
            "record_id": st.text(key_chars, min_size=1, max_size=26),
            "nickname": optional(st.text(key_chars, max_size=12)),
            "expires_at": optional(st.integers(0, 2**40)),
            "status": st.sampled_from(["new", "open", "closed"]),
            "note": optional(st.text(min_size=1, max_size=12)),
            "maybe_count": optional(ints),
            "maybe_price": optional(dynamo_decimals()),
            "maybe_score": optional(dynamo_floats()),
            "maybe_flag": optional(st.booleans()),
            "maybe_blob": optional(binaries),
            "maybe_at": optional(aware_datetimes),
            "maybe_day": optional(st.dates()),
            "maybe_kind": optional(st.sampled_from(["x", "y"])),
            "greeting": texts,
            "retries": ints,
            "fee": dynamo_decimals(),
            "weight": dynamo_floats(),
            "enabled": st.booleans(),
            "maybe_tags": optional(lists(texts)),
            "maybe_extra": optional(free_maps),
            "maybe_dims": optional(dimensions),
            "labels": st.sets(texts, max_size=3),
            "ints": st.sets(ints, max_size=3),
            "decs": st.sets(dynamo_decimals(), max_size=3),
            "blobs": st.sets(binaries, max_size=3),
            "rev": st.integers(0, 2**53),
            "created_at": aware_datetimes,
            "updated_at": aware_datetimes,
            "secret_blob": optional(binaries),
            "secret_note": optional(texts),
        },
    ).map(lambda kwargs: m.Record(**kwargs))
    # Bounds.rate stays off its fractional bounds here: see test_decimal_bounds_are_exact.
    bounds = st.builds(
        m.Bounds,
        bounds_id=st.text(key_chars, max_size=12),
        rate=st.decimals(min_value="0.2", max_value="99.8", places=4),
        share=st.floats(0.1, 0.9),
        limited=optional(st.decimals(min_value=-5, max_value=5, places=3)),
    )
    return Strategies(part, dimensions, record, bounds)


# --- the oracle: what a boto3 user would store ---------------------------------------------------


def iso_utc(value: datetime) -> str:
    """The instant in UTC, microseconds and 'Z', written independently of the runtime."""
    u = value.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )


Convert = Callable[[Any], Any]


def same(value: Any) -> Any:
    return value


def as_decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def as_date(value: date) -> str:
    return value.isoformat()


def list_of(convert: Convert) -> Convert:
    return lambda value: [convert(v) for v in value]


def map_of(convert: Convert) -> Convert:
    return lambda value: {k: convert(v) for k, v in value.items()}


def binary_set(value: set[bytes]) -> set[Binary]:
    return {Binary(v) for v in value}


def free_form(value: Any) -> Any:
    if isinstance(value, bytes):
        return Binary(value)
    if isinstance(value, dict):
        return {k: free_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [free_form(v) for v in value]
    if isinstance(value, frozenset | set):
        return {free_form(v) for v in value}
    return value


def encrypted(value: str | bytes) -> Sealed:
    return Sealed(value)


Fields = dict[str, tuple[str, Convert]]  # attribute -> (stored name, to boto3 value)


def obj(fields: Fields) -> Convert:
    return lambda value: boto3_values(value, fields)


def boto3_values(record: Any, fields: Fields) -> dict[str, Any]:
    """The record as a boto3 user would store it: None and empty sets left out."""
    out = {}
    for name, (stored, convert) in fields.items():
        value = getattr(record, name)
        if value is None or (isinstance(value, set | frozenset) and not value):
            continue
        out[stored] = convert(value)
    return out


PART: Fields = {"sku": ("sku", same), "qty": ("qty", same)}
DIMENSIONS: Fields = {
    "width": ("width", same),
    "height": ("height", same),
    "unit": ("unit", same),
    "label": ("label", same),
    "weight": ("weight", as_decimal),
    "fragile": ("fragile", same),
    "serial": ("serial", Binary),
    "measured_on": ("measured_on", as_date),
    "measured_at": ("measured_at", iso_utc),
    "notes": ("notes", same),
    "codes": ("codes", same),
    "part": ("part", obj(PART)),
    "origin": ("org", same),
}
RECORD: Fields = {
    "tenant": ("tenant", same),
    "record_id": ("record_id", same),
    "kind": ("kind", same),
    "seq": ("seq", same),
    "day": ("day", as_date),
    "at": ("at", iso_utc),
    "nickname": ("nickname", same),
    "name": ("name", same),
    "display_name": ("dn", same),
    "count": ("count", same),
    "price": ("price", same),
    "ratio": ("ratio", as_decimal),
    "score": ("score", as_decimal),
    "active": ("active", same),
    "blob": ("blob", Binary),
    "birthday": ("birthday", as_date),
    "expires_at": ("expires_at_epoch", same),
    "status": ("status", same),
    "note": ("note", same),
    "maybe_count": ("maybe_count", same),
    "maybe_price": ("maybe_price", same),
    "maybe_score": ("maybe_score", as_decimal),
    "maybe_flag": ("maybe_flag", same),
    "maybe_blob": ("maybe_blob", Binary),
    "maybe_at": ("maybe_at", iso_utc),
    "maybe_day": ("maybe_day", as_date),
    "maybe_kind": ("maybe_kind", same),
    "greeting": ("greeting", same),
    "retries": ("retries", same),
    "fee": ("fee", same),
    "weight": ("weight", as_decimal),
    "enabled": ("enabled", same),
    "colors": ("colors", same),
    "levels": ("levels", same),
    "moods": ("moods", same),
    "moments": ("moments", list_of(iso_utc)),
    "days": ("days", list_of(as_date)),
    "amounts": ("amounts", same),
    "readings": ("readings", list_of(as_decimal)),
    "flags": ("flags", same),
    "chunks": ("chunks", list_of(Binary)),
    "parts": ("parts", list_of(obj(PART))),
    "matrix": ("matrix", same),
    "maybe_tags": ("maybe_tags", same),
    "extra": ("extra", free_form),
    "maybe_extra": ("maybe_extra", free_form),
    "counters": ("counters", same),
    "prices": ("prices", same),
    "boxes": ("boxes", map_of(obj(DIMENSIONS))),
    "series": ("series", map_of(list_of(as_decimal))),
    "dims": ("dims", obj(DIMENSIONS)),
    "maybe_dims": ("maybe_dims", obj(DIMENSIONS)),
    "labels": ("lbl", same),
    "ints": ("ints", same),
    "decs": ("decs", same),
    "blobs": ("blobs", binary_set),
    "rev": ("ver", same),
    "created_at": ("created_at", iso_utc),
    "updated_at": ("updated_at", iso_utc),
    "secret": ("secret", encrypted),
    "secret_blob": ("secret_blob", encrypted),
    "secret_note": ("sn", encrypted),
}
BOUNDS: Fields = {
    "bounds_id": ("bounds_id", same),
    "rate": ("rate", same),
    "share": ("share", as_decimal),
    "limited": ("limited", same),
}


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Stored names that from_item must find: not optional, no default, not a set.
REQUIRED = words(
    """
    tenant record_id kind seq day at name dn count price ratio score active blob birthday
    colors levels moods moments days amounts readings flags chunks parts matrix extra counters
    prices boxes series dims ver created_at updated_at secret
    """
)


def assert_same_wire(ours: Any, theirs: Any, path: str) -> None:
    """Two AttributeValues hold the same value: numbers as numbers, sets as sets."""
    assert isinstance(ours, dict) and len(ours) == 1, f"{path}: not an AttributeValue"
    ((tag, a),) = ours.items()
    ((their_tag, b),) = theirs.items()
    assert tag == their_tag, f"{path}: {tag} where boto3 writes {their_tag}"
    if tag == "N":
        assert isinstance(a, str), f"{path}: N must be a string"
        assert Decimal(a).is_finite() and Decimal(a) == Decimal(b), (
            f"{path}: {a} != {b}"
        )
    elif tag in ("S", "BOOL", "NULL"):
        assert type(a) is type(b) and a == b, f"{path}: {a!r} != {b!r}"
    elif tag == "B":
        assert isinstance(a, bytes | bytearray), f"{path}: B must be bytes"
        assert bytes(a) == bytes(b), f"{path}: binary differs"
    elif tag == "SS":
        assert all(isinstance(v, str) for v in a), f"{path}: SS of non-strings"
        assert len(a) == len(set(a)) and set(a) == set(b), f"{path}: {a} != {b}"
    elif tag == "NS":
        numbers = {Decimal(v) for v in a}
        assert all(isinstance(v, str) for v in a), f"{path}: NS of non-strings"
        assert len(a) == len(numbers), f"{path}: duplicate numbers"
        assert numbers == {Decimal(v) for v in b}, f"{path}: {a} != {b}"
    elif tag == "BS":
        assert all(isinstance(v, bytes | bytearray) for v in a), (
            f"{path}: BS of non-bytes"
        )
        assert len(a) == len(set(a)) and {bytes(v) for v in a} == {bytes(v) for v in b}
    elif tag == "L":
        assert len(a) == len(b), f"{path}: list lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_wire(x, y, f"{path}[{i}]")
    else:
        assert tag == "M", f"{path}: unknown tag {tag}"
        assert set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same_wire(a[k], b[k], f"{path}.{k}")


def non_key(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in KEY_ATTRIBUTES}


SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()


def base_record(m: ModuleType) -> Any:
    """A fresh valid Record with every attribute set (sets non-empty, optionals present)."""
    at = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))

    def dims() -> Any:
        return m.Dimensions(
            width=Decimal("12.50"),
            height=-3,
            unit="cm",
            label="box",
            weight=0.25,
            fragile=True,
            serial=b"\x00\x01",
            measured_on=date(2024, 1, 1),
            measured_at=at,
            notes=["n", ""],
            codes={"c1", "c2"},
            part=m.Part(sku="ABC-123", qty=2),
            origin="NL",
        )

    return m.Record(
        tenant="t1",
        record_id="01HZX3JQ8Y2V5W6N7P8R9S0T1V",
        kind="beta",
        seq=-42,
        day=date(2024, 3, 1),
        at=at,
        nickname="nick",
        name="rec_1",
        display_name="Rec \u00e9\u20ac\U0001f600",
        count=-(10**37),
        price=Decimal("19.99"),
        ratio=0.5,
        score=-1e100,
        active=True,
        blob=b"blob",
        birthday=date(1990, 5, 17),
        expires_at=1_900_000_000,
        status="open",
        note="a note",
        maybe_count=0,
        maybe_price=Decimal("-0"),
        maybe_score=0.1,
        maybe_flag=False,
        maybe_blob=b"",
        maybe_at=at,
        maybe_day=date(2000, 1, 1),
        maybe_kind="y",
        greeting="",
        retries=5,
        fee=Decimal("1E+2"),
        weight=-0.0,
        enabled=False,
        colors=["red", "green"],
        levels=["low", "high"],
        moods={"a": "calm", "b": "busy"},
        moments=[at, at.astimezone(UTC)],
        days=[date(2024, 1, 2)],
        amounts=[Decimal("1.10"), Decimal("-1E-100")],
        readings=[1.5, 1e-100, 123456789.123],
        flags=[True, False],
        chunks=[b"x", b""],
        parts=[m.Part(sku="XYZ-9", qty=1000)],
        matrix=[[1, 2], [], [3]],
        maybe_tags=[],
        extra={"a": 1, "b": [None, True, "s", b"b", Decimal("1.5")], "c": {"d": {"e"}}},
        maybe_extra={},
        counters={"a": 1, "": -1},
        prices={"p": Decimal("2.5")},
        boxes={"b": dims()},
        series={"s": [0.5], "t": []},
        dims=dims(),
        maybe_dims=dims(),
        labels={"l1", "l2"},
        ints={1, -2},
        decs={Decimal("0.5"), Decimal("1E+2")},
        blobs={b"a", b"b"},
        rev=7,
        created_at=at,
        updated_at=at.astimezone(UTC),
        secret="s3cret",
        secret_blob=b"\x01",
        secret_note="note",
    )


def test_base_record_round_trips_and_agrees_with_boto3(gen: ModuleType) -> None:
    record = base_record(gen)
    item = record.to_item(CONN)
    assert gen.Record.from_item(item, CONN) == record
    expected = boto3_values(record, RECORD)
    assert (
        set(expected) == set(non_key(item)) == {stored for stored, _ in RECORD.values()}
    )
    keys = {k: v for k, v in item.items() if k in KEY_ATTRIBUTES}
    assert_same_items(gen, item, {**keys, **serialized(gen, expected, keys)})


# --- a. round trips ----------------------------------------------------------------------------


def test_oracle_covers_every_attribute(gen: ModuleType) -> None:
    assert set(RECORD) == set(gen.Record.__slots__)
    assert set(DIMENSIONS) == set(gen.Dimensions.__slots__)
    assert set(PART) == set(gen.Part.__slots__)
    assert set(BOUNDS) == set(gen.Bounds.__slots__)


@PROPERTY
@given(data=st.data())
def test_record_round_trips(gen: ModuleType, data: st.DataObject) -> None:
    record = data.draw(strategies(gen).record, label="record")
    item = record.to_item(CONN)
    decoded = gen.Record.from_item(item, CONN)
    assert decoded == record
    # Every attribute is equal with its own type (== alone would let 1 == 1.0 == True pass).
    for name in RECORD:
        assert type(getattr(decoded, name)) is type(getattr(record, name)), name
    # Encoding the decoded entity gives the same item again (sets in any order).
    assert_same_items(gen, decoded.to_item(CONN), item)


@PROPERTY
@given(data=st.data())
def test_object_types_round_trip(gen: ModuleType, data: st.DataObject) -> None:
    dims = data.draw(strategies(gen).dimensions, label="dimensions")
    assert gen.Dimensions.from_map(dims.to_map()) == dims
    part = data.draw(strategies(gen).part, label="part")
    assert gen.Part.from_map(part.to_map()) == part


@SMALL
@given(data=st.data())
def test_bounds_round_trips(gen: ModuleType, data: st.DataObject) -> None:
    bounds = data.draw(strategies(gen).bounds, label="bounds")
    assert gen.Bounds.from_item(bounds.to_item()) == bounds


@CHEAP
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_storable_float_round_trips_exactly(value: float) -> None:
    if value != 0 and not 1e-130 <= abs(value) < 1e126:
        with pytest.raises(ConstraintViolation, match="number range"):
            wire.float_to_n(value, "T.x")
        return
    text = wire.float_to_n(value, "T.x")
    assert float(text) == value and str(float(text)) == str(value)  # keeps -0.0 too


@CHEAP
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_every_storable_decimal_round_trips_exactly(value: Decimal) -> None:
    digits = len("".join(map(str, value.as_tuple().digits)).rstrip("0"))
    if value and not (-130 <= value.adjusted() <= 125 and digits <= 38):
        with pytest.raises(ConstraintViolation, match="number range"):
            wire.decimal_to_n(value, "T.x")
        return
    text = wire.decimal_to_n(value, "T.x")
    assert Decimal(text) == value and Decimal(text).as_tuple() == value.as_tuple()


def test_numbers_outside_dynamodb_range_are_violations() -> None:
    for text in ("1E+126", "1E-131", "1" * 39):
        with pytest.raises(ConstraintViolation):
            wire.decimal_to_n(Decimal(text), "T.x")
    assert (
        wire.decimal_to_n(Decimal("1" + "0" * 60), "T.x") == "1" + "0" * 60
    )  # zeros don't count
    for value in (1e126, 1e-131, 5e-324):
        with pytest.raises(ConstraintViolation):
            wire.float_to_n(value, "T.x")


def test_offsetless_datetime_strings_read_as_utc() -> None:
    assert wire.datetime_from_s("2024-01-01T00:00:00") == datetime(
        2024, 1, 1, tzinfo=UTC
    )


@CHEAP
@given(st.datetimes(min_value=DT_MIN, max_value=DT_MAX, timezones=any_timezone))
def test_datetimes_keep_their_instant(value: datetime) -> None:
    """Also in DST folds and gaps, where == across zones is False by definition (PEP 495)."""
    decoded = wire.datetime_from_s(wire.datetime_to_s(value, "T.x"))
    assert decoded.utcoffset() == timedelta(0)
    assert decoded == value.astimezone(UTC)


@CHEAP
@given(aware_datetimes, aware_datetimes)
def test_datetime_strings_sort_like_instants(a: datetime, b: datetime) -> None:
    sa, sb = wire.datetime_to_s(a, "T.x"), wire.datetime_to_s(b, "T.x")
    assert sa == iso_utc(a) and len(sa) == 27
    assert (sa < sb) == (a.astimezone(UTC) < b.astimezone(UTC))
    assert (sa == sb) == (a.astimezone(UTC) == b.astimezone(UTC))


# Attributes the constructor fills in when they are not given: generated, automatic, defaults.
_FILLED_IN = frozenset(
    {"record_id", "created_at", "updated_at", "status", "greeting", "retries", "fee"}
    | {"weight", "enabled", "rev", "labels", "ints", "decs", "blobs"}
)


@SMALL
@given(data=st.data())
def test_generated_and_automatic_values(gen: ModuleType, data: st.DataObject) -> None:
    record = data.draw(strategies(gen).record, label="record")
    before = datetime.now(UTC)
    fresh = gen.Record(
        **{name: getattr(record, name) for name in RECORD if name not in _FILLED_IN}
    )
    after = datetime.now(UTC)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", fresh.record_id)
    assert before <= fresh.created_at <= after and before <= fresh.updated_at <= after
    assert (fresh.status, fresh.greeting, fresh.retries) == ("new", "hello", 3)
    assert (fresh.fee, fresh.weight, fresh.enabled, fresh.rev) == (
        Decimal("0.25"),
        1.5,
        True,
        0,
    )
    assert fresh.labels == fresh.ints == fresh.decs == fresh.blobs == set()
    assert gen.Record.from_item(fresh.to_item(CONN), CONN) == fresh


# --- b. agreement with boto3's TypeSerializer / TypeDeserializer ---------------------------------


@PROPERTY
@given(data=st.data())
def test_to_item_agrees_with_boto3(gen: ModuleType, data: st.DataObject) -> None:
    record = data.draw(strategies(gen).record, label="record")
    ours = record.to_item(CONN)
    expected = boto3_values(record, RECORD)
    keys = {k: v for k, v in ours.items() if k in KEY_ATTRIBUTES}
    theirs = serialized(gen, expected, keys)
    assert_same_items(gen, ours, {**keys, **theirs})
    # boto3 reads our item back to the same logical values (envelopes: opened above) ...
    assert {
        k: DESERIALIZER.deserialize(v)
        for k, v in non_key(ours).items()
        if k not in ENCRYPTED
    } == {k: v for k, v in expected.items() if k not in ENCRYPTED}
    # ... and we read an item boto3 wrote (its number strings, its set order).
    assert gen.Record.from_item({**keys, **theirs}, CONN) == record


@PROPERTY
@given(data=st.data())
def test_object_type_maps_agree_with_boto3(
    gen: ModuleType, data: st.DataObject
) -> None:
    dims = data.draw(strategies(gen).dimensions, label="dimensions")
    theirs = SERIALIZER.serialize(boto3_values(dims, DIMENSIONS))
    assert_same_wire({"M": dims.to_map()}, theirs, "dims")
    assert gen.Dimensions.from_map(theirs["M"]) == dims


@SMALL
@given(data=st.data())
def test_bounds_agree_with_boto3(gen: ModuleType, data: st.DataObject) -> None:
    bounds = data.draw(strategies(gen).bounds, label="bounds")
    ours = bounds.to_item()
    theirs = {
        k: SERIALIZER.serialize(v) for k, v in boto3_values(bounds, BOUNDS).items()
    }
    assert set(non_key(ours)) == set(theirs)
    for name, value in non_key(ours).items():
        assert_same_wire(value, theirs[name], name)


@PROPERTY
@given(free_maps)
def test_free_form_maps_agree_with_boto3(value: dict[str, Any]) -> None:
    ours: Any = {"M": wire.to_wire_map(value, "T.x")}
    theirs: Any = SERIALIZER.serialize(free_form(value))
    assert_same_wire(ours, theirs, "map")
    assert wire.from_wire_map(theirs["M"]) == value
    assert wire.from_wire_map(ours["M"]) == value
    assert DESERIALIZER.deserialize(ours) == free_form(value)


# --- c. keys -----------------------------------------------------------------------------------


@settings(PROPERTY, max_examples=50)
@given(data=st.data())
def test_keys(gen: ModuleType, data: st.DataObject) -> None:
    record = data.draw(strategies(gen).record, label="record")
    elsewhere = data.draw(any_timezone, label="elsewhere")
    key = record.key()
    made = gen.Record.make_key(
        tenant=record.tenant,
        kind=record.kind,
        day=record.day,
        # the same instant seen from another zone makes the same key
        at=record.at.astimezone(elsewhere),
        seq=record.seq,
        record_id=record.record_id,
    )
    item = record.to_item(CONN)
    assert made == key == {"PK": item["PK"], "SK": item["SK"]}
    sk = f"REC#{record.kind}#{record.day.isoformat()}#{iso_utc(record.at)}#{record.seq}"
    assert key == {
        "PK": {"S": f"TENANT#{record.tenant}"},
        "SK": {"S": f"{sk}#{record.record_id}"},
    }
    assert item["GSI1PK"] == {"S": f"DAY#{record.day.isoformat()}"}
    assert set(item["GSI1SK"]) == {"N"} and int(item["GSI1SK"]["N"]) == record.seq
    if record.nickname is None:  # sparse index: no keys, no GSI2 entry
        assert "GSI2PK" not in item and "GSI2SK" not in item
    else:
        assert item["GSI2PK"] == {"S": f"NICK#{record.nickname}"}
        assert item["GSI2SK"] == {"S": record.kind}
    assert item["_et"] == {"S": "Record"} and gen.Record.ENTITY_TYPE == "Record"
    assert gen.Record.from_item(item, CONN).key() == key

    bounds = data.draw(strategies(gen).bounds, label="bounds")
    bounds_item = bounds.to_item()
    assert gen.Bounds.make_key(bounds_id=bounds.bounds_id) == bounds.key()
    assert bounds.key() == {"PK": bounds_item["PK"], "SK": bounds_item["SK"]}
    assert bounds.key() == {
        "PK": {"S": f"BOUNDS#{bounds.bounds_id}"},
        "SK": {"S": "BOUNDS"},
    }


def test_table_definition_names_the_ttl_attribute(gen: ModuleType) -> None:
    assert gen.EVERYTHING.ttl_attribute == "expires_at_epoch"
    assert gen.EVERYTHING.key_names == ("PK", "SK")


# --- d. constraint violations ------------------------------------------------------------------


def leaky(strategy: Any) -> Any:
    """Bad string values that carry the sentinel."""
    return strategy.map(lambda s: SENTINEL + s)


def _set(*path: str) -> Callable[[ModuleType, Any, Any], None]:
    def apply(m: ModuleType, record: Any, bad: Any) -> None:
        target = record
        for name in path[:-1]:
            target = getattr(target, name)
        setattr(target, path[-1], bad)

    return apply


def _in_part_list(m: ModuleType, record: Any, bad: Any) -> None:
    record.parts = [m.Part(sku="ABC-1", qty=1), m.Part(sku=bad, qty=2)]


def _in_nested_part(m: ModuleType, record: Any, bad: Any) -> None:
    record.dims.part = m.Part(sku="ABC-1", qty=bad)


def _in_map_value(m: ModuleType, record: Any, bad: Any) -> None:
    record.boxes = {
        "ok": m.Dimensions(width=Decimal(1), height=1),
        "bad": m.Dimensions(width=bad, height=1),
    }


@dataclass(frozen=True)
class Violation:
    id: str
    where: str
    rule: str
    apply: Callable[[ModuleType, Any, Any], None]
    bad: Any  # strategy of violating values
    reference: Any  # one violating value: the message must not depend on which

    def __str__(self) -> str:
        return self.id


negative_decimals = dynamo_decimals().map(lambda d: -abs(d)).filter(lambda d: d < 0)
VIOLATIONS = [
    Violation(
        "tenant-too-long",
        "Record.tenant",
        "max_length 40",
        _set("tenant"),
        leaky(st.text(key_chars, min_size=34, max_size=50)),
        "x" * 41,
    ),
    Violation(
        "tenant-empty", "Record.tenant", "min_length 1", _set("tenant"), st.just(""), ""
    ),
    Violation(
        "seq-below-min",
        "Record.seq",
        "min -1000000",
        _set("seq"),
        st.integers(max_value=-1_000_001),
        -(10**30),
    ),
    Violation(
        "seq-above-max",
        "Record.seq",
        "max 1000000000",
        _set("seq"),
        st.integers(min_value=1_000_000_001),
        10**30,
    ),
    Violation(
        "name-pattern",
        "Record.name",
        "pattern",
        _set("name"),
        leaky(st.text(max_size=20)),
        "Not-A-Name",
    ),
    Violation(
        "name-too-long",
        "Record.name",
        "max_length 30",
        _set("name"),
        st.text(string.ascii_lowercase, min_size=31, max_size=60),
        "z" * 99,
    ),
    Violation(
        "ratio-below-min",
        "Record.ratio",
        "min 0",
        _set("ratio"),
        st.floats(max_value=0, exclude_max=True),
        -123.25,
    ),
    Violation(
        "ratio-above-max",
        "Record.ratio",
        "max 1",
        _set("ratio"),
        st.floats(min_value=1, exclude_min=True),
        123.25,
    ),
    Violation(
        "blob-too-long",
        "Record.blob",
        "max_length 64",
        _set("blob"),
        st.binary(min_size=65, max_size=100).map(lambda b: SENTINEL.encode() + b),
        b"\xff" * 99,
    ),
    Violation(
        "kind-not-in-enum", "Record.kind", "enum", _set("kind"), leaky(texts), "omega"
    ),
    Violation(
        "status-not-in-enum",
        "Record.status",
        "enum",
        _set("status"),
        leaky(texts),
        "deleted",
    ),
    Violation(
        "maybe_kind-not-in-enum",
        "Record.maybe_kind",
        "enum",
        _set("maybe_kind"),
        leaky(texts),
        "z",
    ),
    Violation(
        "levels-element-not-in-enum",
        "Record.levels",
        "enum",
        lambda m, r, bad: setattr(r, "levels", ["low", bad, "high"]),
        leaky(texts),
        "max",
    ),
    Violation(
        "moods-value-not-in-enum",
        "Record.moods",
        "enum",
        lambda m, r, bad: setattr(r, "moods", {"a": "calm", "b": bad}),
        leaky(texts),
        "angry",
    ),
    Violation(
        "note-empty", "Record.note", "min_length 1", _set("note"), st.just(""), ""
    ),
    Violation(
        "dims-width-below-min",
        "Dimensions.width",
        "min 0",
        _set("dims", "width"),
        negative_decimals,
        Decimal("-1234.5"),
    ),
    Violation(
        "dims-label-too-long",
        "Dimensions.label",
        "max_length 20",
        _set("dims", "label"),
        leaky(st.text(min_size=14, max_size=30)),
        "l" * 21,
    ),
    Violation(
        "dims-unit-not-in-enum",
        "Dimensions.unit",
        "enum",
        _set("dims", "unit"),
        leaky(texts),
        "km",
    ),
    Violation(
        "part-sku-pattern-in-list",
        "Part.sku",
        "pattern",
        _in_part_list,
        leaky(texts),
        "abc-1",
    ),
    Violation(
        "nested-part-qty-below-min",
        "Part.qty",
        "min 1",
        _in_nested_part,
        st.integers(max_value=0),
        -5555,
    ),
    Violation(
        "box-width-below-min-in-map",
        "Dimensions.width",
        "min 0",
        _in_map_value,
        negative_decimals,
        Decimal("-0.001"),
    ),
]


def _violation_message(m: ModuleType, record: Any, case: Violation, bad: Any) -> str:
    case.apply(m, record, bad)
    with pytest.raises(ConstraintViolation) as info:
        record.to_item(CONN)
    return str(info.value)


@pytest.mark.parametrize("case", VIOLATIONS, ids=str)
@VALUES
@given(data=st.data())
def test_constraint_violations(
    gen: ModuleType, case: Violation, data: st.DataObject
) -> None:
    bad = data.draw(case.bad, label="bad value")
    message = _violation_message(gen, base_record(gen), case, bad)
    assert case.where in message and case.rule in message, message
    assert SENTINEL not in message
    # The message is the same whatever the offending value: it cannot quote it.
    reference = _violation_message(gen, base_record(gen), case, case.reference)
    assert message == reference
    # Digits after "breaks constraint:" are the schema's bounds ("min 1, max 1000").
    where = message.partition(" breaks constraint: ")[0]
    if not isinstance(bad, str | bytes) or len(bad) >= 4:
        assert str(bad) not in where and repr(bad) not in where


NON_FINITE = [Decimal("NaN"), Decimal("-Infinity"), Decimal("Infinity")]


@pytest.mark.parametrize(
    "apply",
    [
        _set("price"),
        _set("maybe_price"),
        lambda m, r, bad: setattr(r, "amounts", [Decimal(1), bad]),
        lambda m, r, bad: setattr(r, "prices", {"k": bad}),
        lambda m, r, bad: setattr(r, "decs", {bad}),
        lambda m, r, bad: setattr(r, "extra", {"k": [bad]}),
        lambda m, r, bad: setattr(r, "score", float(bad)),
        lambda m, r, bad: setattr(r, "readings", [float(bad)]),
        lambda m, r, bad: setattr(r, "series", {"k": [float(bad)]}),
        lambda m, r, bad: setattr(r, "extra", {"k": {"x": float(bad)}}),
    ],
    ids=[
        "price",
        "maybe_price",
        "amounts",
        "prices",
        "decs",
        "extra",
        "score",
        "readings",
        "series",
        "extra-float",
    ],
)
@pytest.mark.parametrize("bad", NON_FINITE, ids=str)
def test_non_finite_numbers_are_violations(
    gen: ModuleType, apply: Callable[..., None], bad: Decimal
) -> None:
    record = base_record(gen)
    apply(gen, record, bad)
    with pytest.raises(ConstraintViolation):
        record.to_item(CONN)


@VALUES
@given(naive=st.datetimes(min_value=datetime(2001, 2, 3)))
def test_naive_datetimes_are_violations(gen: ModuleType, naive: datetime) -> None:
    record = base_record(gen)
    record.at = naive
    with pytest.raises(ConstraintViolation) as info:
        record.to_item(CONN)
    assert naive.isoformat()[:10] not in str(info.value)


# --- e. items that do not decode ---------------------------------------------------------------


@SMALL
@given(data=st.data())
def test_missing_required_attribute(gen: ModuleType, data: st.DataObject) -> None:
    strategy = strategies(gen).record
    record, other = (
        data.draw(strategy, label="record"),
        data.draw(strategy, label="other"),
    )
    for r in (record, other):
        r.tenant = r.display_name = r.secret = SENTINEL
        r.colors = [SENTINEL]
    item, other_item = record.to_item(CONN), other.to_item(CONN)
    for stored in sorted(set(non_key(item))):
        partial = {k: v for k, v in item.items() if k != stored}
        if stored not in REQUIRED:  # optional, defaulted or a set: decodes without it
            gen.Record.from_item(partial, CONN)
            continue
        with pytest.raises(ItemDecodeError) as info:
            gen.Record.from_item(partial, CONN)
        message = str(info.value)
        assert repr(stored) in message and "Record" in message
        assert SENTINEL not in message
        with pytest.raises(ItemDecodeError) as other_info:
            gen.Record.from_item(
                {k: v for k, v in other_item.items() if k != stored}, CONN
            )
        assert str(other_info.value) == message
    assert set(item) >= REQUIRED


@SMALL
@given(data=st.data())
def test_missing_defaults_and_optionals_decode_to_defaults(
    gen: ModuleType, data: st.DataObject
) -> None:
    record = data.draw(strategies(gen).record, label="record")
    item = {
        k: v
        for k, v in record.to_item(CONN).items()
        if k in REQUIRED or k in KEY_ATTRIBUTES
    }
    decoded = gen.Record.from_item(item, CONN)
    assert (decoded.status, decoded.greeting, decoded.retries) == ("new", "hello", 3)
    assert (decoded.fee, decoded.weight, decoded.enabled) == (
        Decimal("0.25"),
        1.5,
        True,
    )
    assert decoded.labels == decoded.ints == decoded.decs == decoded.blobs == set()
    absent = words(
        """
        nickname expires_at note maybe_count maybe_price maybe_score maybe_flag maybe_blob
        maybe_at maybe_day maybe_kind maybe_tags maybe_extra maybe_dims secret_blob secret_note
    """
    )
    for name in absent:
        assert getattr(decoded, name) is None, name


@SMALL
@given(data=st.data())
def test_malformed_items_raise_item_decode_error(
    gen: ModuleType, data: st.DataObject
) -> None:
    record = data.draw(strategies(gen).record, label="record")
    item = record.to_item(CONN)
    wrong_type = {**item, "count": {"S": SENTINEL}}
    bad_number = {**item, "count": {"N": SENTINEL}}
    bad_date = {**item, "day": {"S": SENTINEL}}
    nested = {
        **item,
        "dims": {"M": {k: v for k, v in item["dims"]["M"].items() if k != "width"}},
    }
    # An envelope of another attribute of this item (both strings).
    swapped = {**item, "secret": field_of(gen, "sn").seal(CONN, item, "x")}
    for broken in (wrong_type, bad_number, bad_date, nested):
        with pytest.raises(ItemDecodeError) as info:
            gen.Record.from_item(broken, CONN)
        assert SENTINEL not in str(info.value)
        assert info.value.entity == "Record"
    with pytest.raises(ItemDecodeError, match="'width'"):
        gen.Record.from_item(nested, CONN)
    # A ciphertext that does not decrypt is DecryptionFailed, never swallowed into
    # ItemDecodeError: the item fails closed, and the error says why.
    with pytest.raises(
        DecryptionFailed, match=r"Record\.secret could not be decrypted"
    ):
        gen.Record.from_item(swapped, CONN)


@SMALL
@given(data=st.data())
def test_encrypted_attributes(gen: ModuleType, data: st.DataObject) -> None:
    record = data.draw(strategies(gen).record, label="record")
    record.secret, record.secret_note = SENTINEL + "s", SENTINEL + "n"
    item = record.to_item(CONN)
    for stored in ("secret", "sn"):
        envelope = item[stored]["M"]
        assert set(envelope) == {"v", "edk", "nonce", "ct"}
        assert all(SENTINEL.encode() not in v.get("B", b"") for v in envelope.values())
    decoded = gen.Record.from_item(item, CONN)
    assert (decoded.secret, decoded.secret_note) == (SENTINEL + "s", SENTINEL + "n")


@VALUES
@given(
    # places=30 keeps the values within DynamoDB's 38 significant digits.
    rate=st.decimals(min_value="0.1", max_value="99.9", allow_nan=False, places=30),
    outside=st.one_of(
        st.decimals(max_value="0.1", allow_nan=False, allow_infinity=True),
        st.decimals(min_value="99.9", allow_nan=False, allow_infinity=True),
    ).filter(lambda d: not Decimal("0.1") <= d <= Decimal("99.9")),
)
def test_decimal_bounds_are_exact(
    gen: ModuleType, rate: Decimal, outside: Decimal
) -> None:
    """Decimal bounds compare exactly: every value in [0.1, 99.9] passes, none outside."""
    inside = gen.Bounds(bounds_id="b", rate=rate, share=0.5)
    assert gen.Bounds.from_item(inside.to_item()) == inside
    with pytest.raises(
        ConstraintViolation, match=r"Bounds\.rate .*(min 0\.1|max 99\.9|finite)"
    ):
        gen.Bounds(bounds_id="b", rate=outside, share=0.5).to_item()


# --- regressions: bugs these properties found, now fixed -----------------------------------------


def test_decimal_min_accepts_its_bound(gen: ModuleType) -> None:
    gen.Bounds(bounds_id="b", rate=Decimal("0.1"), share=0.5).to_item()


def test_decimal_max_rejects_values_above_it(gen: ModuleType) -> None:
    gen.Bounds(bounds_id="b", rate=Decimal("99.9"), share=0.5).to_item()
    with pytest.raises(ConstraintViolation):
        gen.Bounds(
            bounds_id="b", rate=Decimal("99.900000000000001"), share=0.5
        ).to_item()


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("sNaN")], ids=str)
def test_non_finite_decimal_with_bounds_is_a_violation(
    gen: ModuleType, bad: Decimal
) -> None:
    bounds = gen.Bounds(bounds_id="b", rate=Decimal(1), share=0.5, limited=bad)
    with pytest.raises(ConstraintViolation):
        bounds.to_item()


@pytest.mark.parametrize(
    ("attribute", "bad"),
    [("levels", ["low", SENTINEL]), ("moods", {"a": "calm", "b": SENTINEL})],
)
def test_enum_elements_of_lists_and_maps_are_checked(
    gen: ModuleType, attribute: str, bad: Any
) -> None:
    record = base_record(gen)
    setattr(record, attribute, bad)
    with pytest.raises(ConstraintViolation, match=f"Record.{attribute} ") as info:
        record.to_item(CONN)
    assert SENTINEL not in str(info.value)


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity")], ids=str)
def test_non_finite_number_in_free_form_set_is_a_violation(bad: Decimal) -> None:
    with pytest.raises(ConstraintViolation):
        wire.to_wire_map({"k": {Decimal(1), bad}}, "T.x")
