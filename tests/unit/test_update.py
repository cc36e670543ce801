"""Typed updates: every action, optimistic locking, timestamps, return values, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dynamorm_gen.runtime import (
    ConditionFailed,
    ConstraintViolation,
    NotFound,
    ValidationFailed,
)
from generated_examples import basic, payment
from tests.unit.payments import make_payment


def test_update_actions_and_version(payments: payment.PaymentsTable) -> None:
    p = make_payment(1, description="first")
    payments.put_payment(p)
    before = p.updated_at
    changes = (
        payment.PaymentUpdate()
        .add_amount(50)
        .remove_description()
        .add_tags({"mobile", "retry"})
        .set_fee_rate(Decimal("0.031"))
        .set_card_token("tok_new")
    )
    after = payments.update_payment(
        changes, merchant_id="m1", payment_id=p.payment_id, expected_version=1
    )
    assert after is not None
    assert after.amount == 150 and after.description is None
    assert after.tags == {"web", "mobile", "retry"} and after.fee_rate == Decimal(
        "0.031"
    )
    assert after.card_token == "tok_new" and after.version == 2
    assert after.updated_at > before
    with pytest.raises(ConditionFailed):  # stale version
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=1,
        )
    old = payments.update_payment(
        payment.PaymentUpdate().delete_tags({"retry"}),
        merchant_id="m1",
        payment_id=p.payment_id,
        returning="old",
    )
    assert old is not None and "retry" in old.tags and old.version == 2
    assert (
        payments.update_payment(
            payment.PaymentUpdate().set_description_if_absent("kept"),
            merchant_id="m1",
            payment_id=p.payment_id,
            returning="none",
        )
        is None
    )
    stored = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert (
        stored is not None and stored.tags == {"web", "mobile"} and stored.version == 4
    )
    assert stored.description == "kept"


def test_update_of_a_missing_item_fails(payments: payment.PaymentsTable) -> None:
    with pytest.raises(ConditionFailed):
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1), merchant_id="m1", payment_id="none"
        )
    assert payments.query_payment_by_merchant(merchant_id="m1").items == []


def test_update_appends_to_lists(payments: payment.PaymentsTable) -> None:
    txn = payment.Transaction(
        merchant_id="m1",
        payment_id="p1",
        sequence=1,
        kind="capture",
        amount=10,
        currency="EUR",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        audit=[{"by": "api"}],
    )
    payments.put_transaction(txn)
    after = payments.update_transaction(
        payment.TransactionUpdate().append_audit([{"by": "ops", "note": "refund"}]),
        merchant_id="m1",
        payment_id="p1",
        sequence=1,
    )
    assert after is not None and after.audit == [
        {"by": "api"},
        {"by": "ops", "note": "refund"},
    ]


def test_update_checks_values_and_changes_once() -> None:
    with pytest.raises(ConstraintViolation) as failure:
        basic.TodoUpdate().set_title("")
    assert "Todo.title" in str(failure.value)
    with pytest.raises(ValidationFailed, match="changed twice"):
        basic.TodoUpdate().set_title("a").set_title_if_absent("b")
    with pytest.raises(ConstraintViolation, match="non-empty set"):
        payment.PaymentUpdate().add_tags(set())
    with pytest.raises(ConstraintViolation, match="min 0"):
        payment.PaymentUpdate().set_amount(-1)
    assert not hasattr(
        payment.PaymentUpdate, "set_merchant_id"
    )  # key attributes: use put
    assert not hasattr(payment.PaymentUpdate, "set_version")


def test_conditional_delete_and_return_old(payments: payment.PaymentsTable) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    with pytest.raises(ConditionFailed):
        payments.delete_payment(
            merchant_id="m1", payment_id=p.payment_id, expected_version=7
        )
    with pytest.raises(ConditionFailed):
        payments.delete_payment(merchant_id="m1", payment_id="absent", must_exist=True)
    assert payments.delete_payment(merchant_id="m1", payment_id="absent") is None
    old = payments.delete_payment(
        merchant_id="m1", payment_id=p.payment_id, expected_version=1, return_old=True
    )
    assert old == p
    assert payments.get_payment(merchant_id="m1", payment_id=p.payment_id) is None


def test_writes_with_conditions_from_the_schema(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    pending = payment.PaymentWhen().status("eq", "pending").amount("gte", 100)
    captured = payments.update_payment(
        payment.PaymentUpdate().set_description("captured"),
        merchant_id="m1",
        payment_id=p.payment_id,
        when=pending,
    )
    assert captured is not None and captured.description == "captured"
    with pytest.raises(ConditionFailed):
        payments.update_payment(
            payment.PaymentUpdate().set_description("again"),
            merchant_id="m1",
            payment_id=p.payment_id,
            when=payment.PaymentWhen().amount_between(0, 99),
        )
    p.version = 2
    p.description = "replaced"
    with pytest.raises(ConditionFailed):  # version matches, the condition does not
        payments.put_payment(p, when=payment.PaymentWhen().description_missing())
    payments.put_payment(
        p,
        when=payment.PaymentWhen().description_begins_with("capt").tags_contains("web"),
    )
    with pytest.raises(ConditionFailed):
        payments.delete_payment(
            merchant_id="m1",
            payment_id=p.payment_id,
            when=payment.PaymentWhen().currency("ne", "EUR"),
        )
    assert (
        payments.delete_payment(
            merchant_id="m1",
            payment_id=p.payment_id,
            return_old=True,
            when=payment.PaymentWhen().created_at(
                "lt", datetime(2030, 1, 1, tzinfo=UTC)
            ),
        )
        == p
    )
    assert not hasattr(
        payment.PaymentWhen, "card_token"
    )  # encrypted: never in conditions


def test_missing_items_raise_not_found(payments: payment.PaymentsTable) -> None:
    with pytest.raises(NotFound, match="no such item"):
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1), merchant_id="m1", payment_id="absent"
        )
    with pytest.raises(NotFound):
        payments.delete_payment(merchant_id="m1", payment_id="absent", must_exist=True)
    with pytest.raises(
        NotFound
    ):  # the old item shows the absence, whatever the condition
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id="absent",
            when=payment.PaymentWhen().amount("gt", 0),
            old_on_failure=True,
        )
    p = make_payment(1)
    payments.put_payment(p)
    with pytest.raises(ConditionFailed) as failure:  # there, but the condition fails
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id=p.payment_id,
            when=payment.PaymentWhen().amount("gt", 10_000),
        )
    assert not isinstance(failure.value, NotFound)
