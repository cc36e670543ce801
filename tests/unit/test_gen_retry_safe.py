"""``update_<e>(..., retry_safe=True)``: the update as a one-action TransactWriteItems with a
client request token, mapped back to the plain update's results and errors (moto in-process).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dynamorm_gen.runtime import (
    ConditionFailed,
    NotFound,
    ResponseLost,
    Throttled,
    ValidationFailed,
)
from dynamorm_gen.runtime.retry import IDEMPOTENT, Kind
from dynamorm_gen.runtime.table import TableHandle
from generated_examples import payment
from tests.unit.payments import make_payment

Sent = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """Every (operation, request) the table handles send, in order."""
    calls: Sent = []
    original = TableHandle._call

    def recording(
        self: TableHandle,
        operation: str,
        request: dict[str, Any],
        entity: str,
        kind: Kind,
    ) -> Any:
        calls.append((operation, request))
        if operation == "TransactWriteItems":
            # A transaction with a client request token is applied at most once, so the
            # retry loop may always resend it.
            assert kind == IDEMPOTENT
        return original(self, operation, request, entity, kind)

    monkeypatch.setattr(TableHandle, "_call", recording)
    yield calls


def _stored(payments: payment.PaymentsTable, p: payment.Payment) -> payment.Payment:
    found = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert found is not None
    return found


def test_a_retry_safe_update_is_a_one_action_transaction(
    payments: payment.PaymentsTable, sent: Sent
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    sent.clear()
    after = payments.update_payment(
        payment.PaymentUpdate().add_amount(25),
        merchant_id="m1",
        payment_id=p.payment_id,
        retry_safe=True,
    )
    assert after is not None and after.amount == 125 and after.version == 2
    assert after == _stored(payments, p)
    (operation, request), (read, read_request) = sent[:2]
    assert operation == "TransactWriteItems" and read == "GetItem"
    assert read_request["ConsistentRead"] is True
    ((kind, action),) = (next(iter(a.items())) for a in request["TransactItems"])
    assert kind == "Update"
    assert "ReturnValues" not in action
    assert "ReturnValuesOnConditionCheckFailure" not in action
    assert action["UpdateExpression"].startswith("SET ")
    assert "ADD #u0 :u0" in action["UpdateExpression"]
    assert len(request["ClientRequestToken"]) == 36


def test_returning_none_reads_nothing_back(
    payments: payment.PaymentsTable, sent: Sent
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    sent.clear()
    result = payments.update_payment(
        payment.PaymentUpdate().add_amount(1),
        merchant_id="m1",
        payment_id=p.payment_id,
        returning="none",
        retry_safe=True,
    )
    assert result is None
    assert [operation for operation, _ in sent] == ["TransactWriteItems"]
    assert _stored(payments, p).amount == 101


def test_returning_old_is_refused_before_sending(
    payments: payment.PaymentsTable, sent: Sent
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    sent.clear()
    with pytest.raises(ValidationFailed, match='returning="old"'):
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id=p.payment_id,
            returning="old",
            retry_safe=True,
        )
    assert sent == []
    assert _stored(payments, p).amount == 100


def test_a_missing_item_is_not_found(payments: payment.PaymentsTable) -> None:
    with pytest.raises(NotFound, match="no such item") as failure:
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id="absent",
            retry_safe=True,
        )
    assert failure.value.operation == "TransactWriteItems"
    assert payments.get_payment(merchant_id="m1", payment_id="absent") is None
    # With a condition, the absence shows in the old item that did not come back.
    with pytest.raises(NotFound):
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id="absent",
            when=payment.PaymentWhen().amount("gt", 0),
            old_on_failure=True,
            retry_safe=True,
        )


def test_a_failed_condition_is_condition_failed_with_the_stored_item(
    payments: payment.PaymentsTable, sent: Sent
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    with pytest.raises(ConditionFailed) as failure:
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id=p.payment_id,
            when=payment.PaymentWhen().amount("gt", 10_000),
            retry_safe=True,
        )
    assert not isinstance(failure.value, NotFound)
    assert failure.value.item is None
    with pytest.raises(ConditionFailed) as failure:
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=7,
            old_on_failure=True,
            retry_safe=True,
        )
    assert not isinstance(failure.value, NotFound)
    assert failure.value.item is not None
    assert payment.Payment.from_item(failure.value.item) == p
    assert "tok_1" not in str(failure.value)
    operation, request = sent[-1]
    assert operation == "TransactWriteItems"
    action = request["TransactItems"][0]["Update"]
    assert action["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert _stored(payments, p).amount == 100


def test_plain_and_retry_safe_updates_build_the_same_update(
    payments: payment.PaymentsTable, sent: Sent
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    changes = payment.PaymentUpdate().set_description("d").add_tags({"x"})
    for retry_safe in (False, True):
        sent.clear()
        payments.update_payment(
            changes,
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=1 + retry_safe,
            retry_safe=retry_safe,
        )
        _, request = sent[0]
        if retry_safe:
            request = request["TransactItems"][0]["Update"]
        names = request["ExpressionAttributeNames"]
        assert (names["#u0"], names["#u1"]) == ("description", "tags")
    assert _stored(payments, p).version == 3


def test_a_failed_read_back_says_the_update_was_applied(
    payments: payment.PaymentsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = make_payment(1)
    payments.put_payment(p)

    def throttled(self: TableHandle, key: Any, **kwargs: Any) -> Any:
        raise Throttled("ThrottlingException", operation="GetItem", code="Throttling")

    monkeypatch.setattr(TableHandle, "get_item", throttled)
    with pytest.raises(ResponseLost, match="the update was applied") as failure:
        payments.update_payment(
            payment.PaymentUpdate().add_amount(5),
            merchant_id="m1",
            payment_id=p.payment_id,
            retry_safe=True,
        )
    assert failure.value.code == "Throttling"
    monkeypatch.undo()
    assert _stored(payments, p).amount == 105
