"""What idempotency.py computes without a server: canonical JSON and hashes, the local cache,
how long a call holds its key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.errors import IdempotencyKeyError
from dynamorm_gen.runtime.idempotency import (
    DEFAULT_IN_PROGRESS_EXPIRY,
    _Cache,
    _digest,
    _encoded_response,
    _lock_seconds,
    canonical_json,
)


@dataclass
class Order:
    order_id: str
    total: Decimal


def test_canonical_json_sorts_keys_and_keeps_text() -> None:
    assert canonical_json({"b": 1, "a": [True, None, 1.5, "é"]}) == (
        '{"a":[true,null,1.5,"é"],"b":1}'
    )
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})
    assert canonical_json((1, 2)) == canonical_json([1, 2])


def test_canonical_json_of_the_types_functions_take() -> None:
    assert canonical_json(Decimal("1.50")) == canonical_json(Decimal("1.5")) == '"1.5"'
    assert canonical_json(date(2026, 1, 2)) == '"2026-01-02"'
    assert canonical_json(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == (
        '"2026-01-02T03:04:00+00:00"'
    )
    assert canonical_json(Order("o-1", Decimal("9.90"))) == (
        '{"order_id":"o-1","total":"9.9"}'
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({1, 2}, "a set has no JSON form"),
        (b"secret-bytes", "a bytes has no JSON form"),
        (object(), "a object has no JSON form"),
        (Order, "a type has no JSON form"),
        (float("nan"), "ValueError"),
        ({"a": 1, 2: "b"}, "TypeError"),
    ],
)
def test_data_without_a_canonical_form_is_refused(value: object, reason: str) -> None:
    with pytest.raises(IdempotencyKeyError) as caught:
        _digest(value, "capture", "key")
    message = str(caught.value)
    assert reason in message
    assert "operation 'capture': the key has no canonical JSON form" in message
    assert "secret" not in message


def test_hashes_are_sha256_of_canonical_json() -> None:
    data: dict[str, Any] = {"payment_id": "p-1", "amount": 100}
    expected = hashlib.sha256(b'{"amount":100,"payment_id":"p-1"}').hexdigest()
    assert _digest(data, "op", "payload") == expected
    # A lone surrogate hashes (never sent): what a key holds is the caller's business.
    assert len(_digest("\ud800", "op", "key")) == 64


def test_responses_are_stored_as_json_or_not_at_all() -> None:
    assert _encoded_response({"ok": True, "n": [1, 2]}) == '{"ok":true,"n":[1,2]}'
    assert _encoded_response("é") == '"é"'
    assert _encoded_response(None) == "null"
    assert _encoded_response({1, 2}) is None
    assert _encoded_response(float("inf")) is None
    assert _encoded_response("\ud800") is None  # not Unicode: DynamoDB would refuse it


def test_the_cache_keeps_the_most_recently_used_until_they_expire() -> None:
    cache = _Cache(2)
    cache.put(("t", "op", "a"), "ha", '"A"', 100)
    cache.put(("t", "op", "b"), "hb", '"B"', 100)
    assert cache.get(("t", "op", "a"), 50) == ("ha", '"A"')  # a is now the most recent
    cache.put(("t", "op", "c"), "hc", '"C"', 100)  # b goes
    assert cache.get(("t", "op", "b"), 50) is None
    assert cache.get(("t", "op", "c"), 50) == ("hc", '"C"')
    assert len(cache) == 2
    assert cache.get(("t", "op", "a"), 101) is None  # expired, and dropped
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0


class _Options:
    def __init__(self, in_progress_expiry: float | None) -> None:
        self.in_progress_expiry = in_progress_expiry


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 12_345


def test_a_call_holds_its_key_until_its_deadline() -> None:
    assert _lock_seconds(_Options(7.5), _Context()) == 7.5  # type: ignore[arg-type]
    with bind(Deadline.after(30, margin=1)):
        # The whole invocation, margin included: the invocation cannot outlive it.
        assert _lock_seconds(_Options(None), None) == pytest.approx(30, abs=0.5)  # type: ignore[arg-type]
    with bind(Deadline.after(-5)):
        assert _lock_seconds(_Options(None), None) == 0  # type: ignore[arg-type]
    assert _lock_seconds(_Options(None), _Context()) == pytest.approx(12.345)  # type: ignore[arg-type]
    assert _lock_seconds(_Options(None), None) == DEFAULT_IN_PROGRESS_EXPIRY  # type: ignore[arg-type]
