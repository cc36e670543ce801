"""Paths into events and arguments (runtime/event_paths.py), and the idempotent operations
that hold them (runtime/idempotency.py's IdempotentOperation)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.event_paths import (
    JSON,
    MAX_JSON_DEPTH,
    MAX_PATH_LENGTH,
    Missing,
    NotJson,
    Path,
    PathSyntaxError,
    parse,
)
from dynamorm_gen.runtime.idempotency import IdempotentOperation

EVENT = {
    "pathParameters": {"merchant_id": "m-1"},
    "headers": {"Idempotency-Key": "k-1", "x.y": "dotted"},
    "body": json.dumps({"payment_id": "p-1", "lines": [{"sku": "a"}, {"sku": "b"}]}),
    "Records": [{"messageId": "msg-1", "body": json.dumps({"batch": json.dumps([7])})}],
}


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("merchant_id", ("merchant_id",)),
        ("body.payment.id", ("body", "payment", "id")),
        ("Records[0].messageId", ("Records", 0, "messageId")),
        ("a[1][2]", ("a", 1, 2)),
        ('headers."Idempotency-Key"', ("headers", "Idempotency-Key")),
        ("headers.Idempotency-Key", ("headers", "Idempotency-Key")),
        ('"a.b"', ("a.b",)),
        ("json(body).payment_id", ("body", JSON, "payment_id")),
        ("json(json(a).b)[0]", ("a", JSON, "b", JSON, 0)),
    ],
)
def test_paths_parse_into_steps(text: str, steps: tuple[object, ...]) -> None:
    assert parse(text) == steps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a name at the end"),
        ("body..amount", "expected a name after 'body.', found '.'"),
        ("body.", "expected a name at the end"),
        (".body", "expected a name at the start, found '.'"),
        ("records[x].id", "an index is written [digits] (at most 9) after 'records'"),
        ("records[1", "an index is written [digits]"),
        ("records[1234567890]", "an index is written [digits] (at most 9)"),
        ("records[-1]", "an index is written [digits]"),
        ('headers."Idempotency-Key', "a quoted name is not closed (after 'headers.')"),
        ('headers.""', "an empty quoted name after 'headers.'"),
        ("json(body", "expected ')' to close json( at the end"),
        ("json(body).", "expected a name at the end"),
        ("body json", "expected '.', '[' or the end after 'body', found ' '"),
        ("a.b c", "after 'a.b', found ' '"),
    ],
)
def test_bad_paths_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(PathSyntaxError) as caught:
        parse(text)
    assert message in str(caught.value)


def test_paths_are_bounded() -> None:
    """No path makes the parser recurse or work without bound."""
    with pytest.raises(PathSyntaxError, match="at most 1000 characters"):
        parse("a" * (MAX_PATH_LENGTH + 1))
    deep = "json(" * (MAX_JSON_DEPTH + 1) + "a" + ")" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(PathSyntaxError, match="nested more than 8 deep"):
        parse(deep)
    fine = "json(" * MAX_JSON_DEPTH + "a" + ")" * MAX_JSON_DEPTH
    assert parse(fine).count(JSON) == MAX_JSON_DEPTH
    with pytest.raises(PathSyntaxError, match="a path is a str"):
        parse(3)  # type: ignore[arg-type]


def test_reading_an_event() -> None:
    assert Path("pathParameters.merchant_id").read(EVENT) == "m-1"
    assert Path('headers."Idempotency-Key"').read(EVENT) == "k-1"
    assert Path('headers."x.y"').read(EVENT) == "dotted"
    assert Path("json(body).payment_id").read(EVENT) == "p-1"
    assert Path("json(body).lines[1].sku").read(EVENT) == "b"
    assert Path("Records[0].messageId").read(EVENT) == "msg-1"
    assert Path("json(json(Records[0].body).batch)[0]").read(EVENT) == 7
    assert Path("body").read(EVENT) == EVENT["body"]
    assert repr(Path("body")) == "Path('body')"


def test_reading_objects_by_attribute() -> None:
    @dataclass
    class Order:
        order_id: str
        _secret: str = "s"

    arguments = {"order": Order("o-1")}
    assert Path("order.order_id").read(arguments) == "o-1"
    with pytest.raises(Missing):
        Path("order.missing").read(arguments)
    with pytest.raises(Missing):  # never a private attribute
        Path("order._secret").read(arguments)


@pytest.mark.parametrize(
    "text",
    [
        "missing",
        "pathParameters.other",
        "Records[1].messageId",
        "Records.messageId",  # a name of a list
        "pathParameters[0]",  # an index of a mapping
        "body[0]",  # an index of a text
        "body.payment_id",  # a name of a text (not decoded)
        "json(body).lines[5]",
    ],
)
def test_a_path_that_names_nothing_is_missing(text: str) -> None:
    with pytest.raises(Missing):
        Path(text).read(EVENT)


def test_json_steps_need_json_text() -> None:
    with pytest.raises(NotJson, match="not a text"):
        Path("json(pathParameters)").read(EVENT)
    with pytest.raises(NotJson, match="not JSON") as caught:
        Path("json(pathParameters.merchant_id)").read(EVENT)
    assert "m-1" not in str(caught.value)  # never the value
    assert Path("json(raw).a").read({"raw": b'{"a": 1}'}) == 1


def test_operations_take_paths_or_functions() -> None:
    op = IdempotentOperation(
        "capture_payment",
        key=["pathParameters.merchant_id", "json(body).payment_id"],
        payload="json(body)",
        expires_after=600,
    )
    assert op.name == "capture_payment"
    assert op.expires_after == 600
    assert isinstance(op.key, tuple)
    assert [p.text for p in op.key] == [
        "pathParameters.merchant_id",
        "json(body).payment_id",
    ]
    assert isinstance(op.payload, tuple)
    assert repr(op) == "IdempotentOperation('capture_payment')"

    def by_id(event: dict[str, str]) -> str:
        return event["id"]

    op = IdempotentOperation("charge", key=by_id)
    assert op.key is by_id
    assert op.payload is None
    assert op.expires_after is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "CapturePayment"}, "an operation name is 1 to 64 lower-case"),
        ({"name": ""}, "an operation name"),
        ({"name": "a" * 65}, "an operation name"),
        ({"name": "1st"}, "starting with a letter"),
        ({"name": "capture#payment"}, "an operation name"),
        ({"name": "op", "expires_after": 0}, "expires_after is a whole number"),
        ({"name": "op", "expires_after": 1.5}, "expires_after is a whole number"),
        ({"name": "op", "expires_after": True}, "expires_after is a whole number"),
        ({"name": "op", "expires_after": 10**9}, "1 to 31622400"),
        ({"name": "op", "key": "body..id"}, "operation 'op': bad key path"),
        ({"name": "op", "payload": ["a", "b["]}, "operation 'op': bad payload path"),
        ({"name": "op", "key": []}, "key is a path, a list of paths or a function"),
        ({"name": "op", "key": 3}, "key is a path, a list of paths or a function"),
    ],
)
def test_bad_operations_are_refused(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        IdempotentOperation(**arguments)  # type: ignore[arg-type]
    assert message in str(caught.value)
