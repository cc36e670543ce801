"""Write transactions across entities: all or nothing, per-action reasons, idempotent token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dynamorm_gen.runtime import (
    TransactGet,
    TransactionCancelled,
    TransactWrite,
    ValidationFailed,
)
from generated_examples import payment
from tests.unit.payments import make_payment


def ledger_entry(payment_id: str, sequence: int) -> payment.Transaction:
    return payment.Transaction(
        merchant_id="m1",
        payment_id=payment_id,
        sequence=sequence,
        kind="capture",
        amount=100,
        currency="EUR",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        audit=[],
    )


def test_commit_applies_every_action(payments: payment.PaymentsTable) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    tx = TransactWrite()
    payments.tx_update_payment(
        tx,
        payment.PaymentUpdate().add_amount(-100),
        merchant_id="m1",
        payment_id=p.payment_id,
        expected_version=1,
    )
    payments.tx_put_transaction(tx, ledger_entry(p.payment_id, 1), if_not_exists=True)
    fresh = make_payment(2)
    payments.tx_put_payment(tx, fresh)
    assert fresh.version == 0  # moves only after commit
    tx.commit()
    assert fresh.version == 1 and tx.committed
    stored = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert stored is not None and stored.amount == 0 and stored.version == 2
    assert payments.get_transaction(
        merchant_id="m1", payment_id=p.payment_id, sequence=1
    )


def test_cancellation_names_the_failing_action_and_applies_nothing(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    tx = TransactWrite()
    payments.tx_put_transaction(tx, ledger_entry(p.payment_id, 1))
    payments.tx_check_payment(
        tx, merchant_id="m1", payment_id=p.payment_id, expected_version=9
    )
    with pytest.raises(TransactionCancelled) as failure:
        tx.commit()
    assert failure.value.reasons == [(1, "Payment", "ConditionalCheckFailed")]
    message = str(failure.value)
    assert "action 1 (Payment ConditionCheck): ConditionalCheckFailed" in message
    assert "tok_" not in message and p.payment_id not in message
    assert (
        payments.get_transaction(merchant_id="m1", payment_id=p.payment_id, sequence=1)
        is None
    )


def test_transaction_limits(payments: payment.PaymentsTable) -> None:
    tx = TransactWrite()
    with pytest.raises(ValidationFailed, match="needs a condition"):
        payments.tx_check_payment(
            tx, merchant_id="m1", payment_id="p", must_exist=False
        )
    for n in range(100):
        payments.tx_delete_payment(tx, merchant_id="m1", payment_id=f"p{n}")
    with pytest.raises(ValidationFailed, match="at most 100"):
        payments.tx_delete_payment(tx, merchant_id="m1", payment_id="one-too-many")
    tx.commit()
    with pytest.raises(ValidationFailed, match="committed already"):
        payments.tx_delete_payment(tx, merchant_id="m1", payment_id="later")
    TransactWrite().commit()  # empty: nothing to send


def test_objects_change_only_when_the_transaction_commits(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    stamped, version = p.updated_at, p.version
    tx = TransactWrite()
    payments.tx_put_payment(tx, p)
    payments.tx_check_payment(tx, merchant_id="m1", payment_id="absent")
    with pytest.raises(TransactionCancelled):
        tx.commit()
    assert (p.updated_at, p.version) == (stamped, version)
    tx = TransactWrite()
    payments.tx_put_payment(tx, p)
    tx.commit()
    assert p.version == version + 1 and p.updated_at > stamped
    with pytest.raises(ValidationFailed, match="committed already"):
        tx.commit()


def test_transactional_read_of_several_entities(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    payments.put_transaction(ledger_entry(p.payment_id, 1))
    txg = TransactGet()
    payments.tx_get_payment(txg, merchant_id="m1", payment_id=p.payment_id)
    payments.tx_get_transaction(
        txg, merchant_id="m1", payment_id=p.payment_id, sequence=1
    )
    payments.tx_get_payment(txg, merchant_id="m1", payment_id="absent")
    got_payment, got_entry, missing = txg.fetch()
    assert got_payment == p
    assert isinstance(got_entry, payment.Transaction) and got_entry.sequence == 1
    assert missing is None
    assert TransactGet().fetch() == []
