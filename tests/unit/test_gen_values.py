"""Bad values are typed errors that name the attribute and the rule, never the value, and
nothing is sent: datetimes, integers, decimals, floats and free-form maps (encryption:
test_encryption.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum
from typing import Any

import pytest

from dynamorm_gen.runtime import (
    ConstraintViolation,
    wire,
)
from generated_examples import payment
from tests.unit.payments import make_payment

SENTINEL = "Zq\u2603LEAK"
NAIVE = datetime(2026, 1, 2, 3, 4, 5)


def refused(call: Callable[[], object], where: str, rule: str) -> str:
    """The ConstraintViolation message of ``call``: names ``where`` and ``rule``."""
    with pytest.raises(ConstraintViolation) as failure:
        call()
    message = str(failure.value)
    assert where in message and rule in message, message
    assert SENTINEL not in message
    return message


def assert_absent(payments: payment.PaymentsTable, p: payment.Payment) -> None:
    assert payments.handle.get_item(p.key(), entity="t", consistent=True) is None


# --- datetimes -----------------------------------------------------------------------------------


def test_datetime_errors_name_the_attribute(payments: payment.PaymentsTable) -> None:
    p = make_payment(1, created_at=NAIVE)
    message = refused(
        lambda: payments.put_payment(p), "Payment.created_at", "timezone-aware"
    )
    assert "2026" not in message
    assert_absent(payments, p)
    p.created_at = SENTINEL  # type: ignore[assignment]
    refused(p.to_item, "Payment.created_at", "must be a datetime, not str")
    p.created_at = datetime(2026, 1, 1).date()  # type: ignore[assignment]
    refused(p.to_item, "Payment.created_at", "must be a datetime, not date")
    edge = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    refused(
        lambda: wire.datetime_to_s(edge, "Payment.created_at"),
        "Payment.created_at",
        "out of range once converted to UTC",
    )
    refused(
        lambda: payment.PaymentWhen().created_at("lt", NAIVE),
        "Payment.created_at",
        "timezone-aware",
    )
    refused(
        lambda: payments.query_payment_by_customer_since(
            customer_id="c1", created_at=NAIVE
        ),
        "Payment.created_at",
        "timezone-aware",
    )


def test_dates_refuse_datetimes_and_strings() -> None:
    assert wire.date_to_s(datetime(2026, 5, 1).date(), "T.d") == "2026-05-01"
    refused(lambda: wire.date_to_s(NAIVE, "T.d"), "T.d", "must be a date, not datetime")
    refused(lambda: wire.date_to_s(SENTINEL, "T.d"), "T.d", "must be a date, not str")  # type: ignore[arg-type]


# --- integers ----------------------------------------------------------------------------------


class Level(IntEnum):
    ONE = 1


@pytest.mark.parametrize("bad", [1.5, 1e130, True, "7", Decimal(7)], ids=repr)
def test_integers_must_be_ints(payments: payment.PaymentsTable, bad: Any) -> None:
    p = make_payment(1, amount=bad)
    refused(lambda: payments.put_payment(p), "Payment.amount", "must be an integer")
    assert_absent(payments, p)
    refused(
        lambda: payment.PaymentUpdate().set_amount(bad),
        "Payment.amount",
        "must be an integer",
    )
    refused(
        lambda: payment.PaymentUpdate().add_amount(bad),
        "Payment.amount",
        "must be an integer",
    )
    refused(
        lambda: payment.PaymentWhen().amount("gt", bad),
        "Payment.amount",
        "must be an integer",
    )
    refused(
        lambda: payments.query_payment_large_by_merchant(
            merchant_id="m1", min_amount=bad, status="pending"
        ),
        "Payment.amount",
        "must be an integer",
    )
    refused(
        lambda: payment.PaymentUpdate().set_expires_at(bad),
        "Payment.expires_at",
        "must be an integer",
    )
    p = make_payment(2)
    p.version = bad
    refused(p.to_item, "Payment.version", "must be an integer")


def test_int_subclasses_other_than_bool_are_integers(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1, amount=Level.ONE)
    payments.put_payment(p)
    stored = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert stored is not None and stored.amount == 1


def test_deltas_are_range_checked_and_nothing_is_sent(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    before = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    refused(
        lambda: payments.update_payment(
            payment.PaymentUpdate().add_amount(10**130),
            merchant_id="m1",
            payment_id=p.payment_id,
        ),
        "Payment.amount",
        "DynamoDB number range",
    )
    refused(
        lambda: payment.PaymentUpdate().add_fee_rate(0.5),  # type: ignore[arg-type]
        "Payment.fee_rate",
        "a Decimal (floats are inexact)",
    )
    refused(
        lambda: payment.PaymentUpdate().add_fee_rate(Decimal("NaN")),
        "Payment.fee_rate",
        "finite",
    )
    refused(
        lambda: payment.PaymentUpdate().add_fee_rate(Decimal("1E+200")),
        "Payment.fee_rate",
        "DynamoDB number range",
    )
    after = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert after == before
    payment.PaymentUpdate().add_amount(10**40)  # 1 significant digit: DynamoDB takes it


# --- decimals and floats -------------------------------------------------------------------------


def test_decimals_take_decimals_and_ints_only(payments: payment.PaymentsTable) -> None:
    p = make_payment(1, fee_rate=0.029)
    refused(
        lambda: payments.put_payment(p),
        "Payment.fee_rate",
        "must be a Decimal (floats are inexact), not float",
    )
    assert_absent(payments, p)
    refused(
        lambda: wire.decimal_to_n(SENTINEL, "T.d"),  # type: ignore[arg-type]
        "T.d",
        "not str",
    )
    refused(lambda: wire.decimal_to_n(True, "T.d"), "T.d", "not bool")  # type: ignore[arg-type]
    assert wire.decimal_to_n(7, "T.d") == "7"  # type: ignore[arg-type]
    p.fee_rate = 3  # type: ignore[assignment]
    payments.put_payment(p)
    stored = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert stored is not None and stored.fee_rate == Decimal(3)


def test_floats_take_floats_and_ints_only() -> None:
    assert wire.float_to_n(2, "T.f") == "2.0"  # type: ignore[arg-type]
    refused(
        lambda: wire.float_to_n(Decimal("0.5"), "T.f"), "T.f", "a float, not Decimal"
    )  # type: ignore[arg-type]
    refused(lambda: wire.float_to_n(False, "T.f"), "T.f", "not bool")  # type: ignore[arg-type]
    refused(lambda: wire.float_to_n(float("nan"), "T.f"), "T.f", "finite")
    refused(lambda: wire.float_to_n(10**400, "T.f"), "T.f", "DynamoDB number range")  # type: ignore[arg-type]
    refused(
        lambda: payment.CustomerUpdate().set_risk_score(Decimal("0.5")),  # type: ignore[arg-type]
        "Customer.risk_score",
        "must be a float",
    )


# --- free-form maps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        {"n": 10**130},
        {"deep": {"list": [1, -(10**127)]}},
        {"set": {10**200}},
        {"x": float("inf")},
        {"x": Decimal("NaN")},
        {"x": object()},
        {1: "not a string key"},
    ],
    ids=["int", "nested-int", "set-int", "inf", "nan", "object", "key"],
)
def test_free_form_maps_check_their_values(
    payments: payment.PaymentsTable, metadata: dict[str, Any]
) -> None:
    p = make_payment(1, metadata=metadata)
    refused(lambda: payments.put_payment(p), "Payment.metadata", "")
    assert_absent(payments, p)
    refused(
        lambda: payment.PaymentUpdate().set_metadata(metadata),
        "Payment.metadata",
        "",
    )


def test_free_form_maps_keep_large_integers_dynamodb_takes() -> None:
    value = {"a": 10**37, "b": [10**40, -5], "c": {"d": {1, 2}}}
    item = wire.to_wire_map(value, "T.m")
    assert item["a"] == {"N": str(10**37)}
    assert wire.from_wire_map(item) == value
    refused(lambda: wire.to_wire_map(["a"], "T.m"), "T.m", "must be a dict, not list")  # type: ignore[arg-type]
