"""Updates resent after an attempt whose outcome was unknown (runtime/update.py ``_settled``),
on moto in-process.

A transport wrapper loses the answer of the first UpdateItem after moto applied it, as a
connection that breaks after the request arrived would. The runtime then resends; the resend
fails its condition on the first attempt's own result, and the stored item decides: the
caller's own write is a success, never ConditionFailed. A writer that slips in between the
two attempts makes the stored item someone else's: then ConditionFailed is the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from moto import mock_aws

from dynamorm_gen.runtime import (
    ConditionFailed,
    OutcomeUnknown,
    ResponseLost,
)
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.retry import RetryPolicy
from dynamorm_gen.runtime.table import Connection, reset_clients
from dynamorm_gen.runtime.transport import ExchangeError, Transport
from dynamorm_gen.testing import LocalKms
from generated_examples import payment
from tests.unit.payments import make_payment

# One key service for the table under test and the one that reads behind it.
KMS = LocalKms()


class LoseFirstAnswer:
    """Passes every exchange to ``inner``; the first UpdateItem is applied, then its answer
    is lost. ``between`` runs after that, before the resend (another writer)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.endpoint_url = inner.endpoint_url
        self.region = inner.region
        self.lost = False
        self.between: Callable[[], None] | None = None
        self.operations: list[str] = []

    def exchange(
        self, operation: str, params: Mapping[str, Any], body: bytes, timeout: Any
    ) -> dict[str, Any]:
        self.operations.append(operation)
        response = self.inner.exchange(operation, params, body, timeout)
        if operation == "UpdateItem" and not self.lost:
            self.lost = True
            if self.between is not None:
                self.between()
            raise ExchangeError("ConnectionClosedError", sent=True)
        return response

    def prewarm(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[payment.PaymentsTable]:
    """The payments table on moto, through an ordinary client (for setting up and reading)."""
    monkeypatch.setenv("DYNAMORM_KMS_KEY", "alias/payments")
    with mock_aws():
        reset_clients()
        table = payment.PaymentsTable(
            Connection(region="us-east-1", transport="botocore", kms=KMS),
            name="payments-test",
        )
        table.handle.create()
        yield table
        reset_clients()


@pytest.fixture
def lossy(moto: payment.PaymentsTable) -> LoseFirstAnswer:
    return LoseFirstAnswer(moto.handle.connection.client.transport)


@pytest.fixture
def table(lossy: LoseFirstAnswer) -> payment.PaymentsTable:
    client = Client(lossy, RetryPolicy(sleep=lambda seconds: None))
    return payment.PaymentsTable(
        Connection(client=client, kms=KMS), name="payments-test"
    )


def stored(moto: payment.PaymentsTable, p: payment.Payment) -> payment.Payment:
    found = moto.get_payment(merchant_id="m1", payment_id=p.payment_id, consistent=True)
    assert found is not None
    return found


@pytest.mark.parametrize("old_on_failure", [False, True])
def test_a_versioned_update_whose_first_attempt_landed_succeeds(
    moto: payment.PaymentsTable,
    table: payment.PaymentsTable,
    lossy: LoseFirstAnswer,
    old_on_failure: bool,
) -> None:
    p = make_payment(1)
    moto.put_payment(p)
    after = table.update_payment(
        payment.PaymentUpdate()
        .set_description("settled")
        .set_status("captured", created_at=p.created_at)
        .add_tags({"vip"})
        .remove_fee_rate(),
        merchant_id="m1",
        payment_id=p.payment_id,
        expected_version=1,
        old_on_failure=old_on_failure,
    )
    assert after is not None and after == stored(moto, p)
    assert after.version == 2 and after.status == "captured"
    assert after.description == "settled" and after.fee_rate is None
    # The stored item came with the failure, or was read.
    read = [] if old_on_failure else ["GetItem"]
    assert lossy.operations == ["UpdateItem", "UpdateItem", *read]


def test_an_encrypted_value_set_by_a_landed_first_attempt_settles(
    moto: payment.PaymentsTable,
    table: payment.PaymentsTable,
    lossy: LoseFirstAnswer,
) -> None:
    """The resend carries the envelope the first attempt sealed, byte for byte: the stored
    item shows it, so the update settled (a second sealing would show another nonce)."""
    p = make_payment(1)
    moto.put_payment(p)
    after = table.update_payment(
        payment.PaymentUpdate().set_card_token("tok_settled"),
        merchant_id="m1",
        payment_id=p.payment_id,
        expected_version=1,
    )
    assert after is not None and after.card_token == "tok_settled"
    assert after == stored(moto, p) and after.version == 2
    assert lossy.operations == ["UpdateItem", "UpdateItem", "GetItem"]


def test_an_add_with_a_version_and_a_timestamp_succeeds_once(
    moto: payment.PaymentsTable, table: payment.PaymentsTable
) -> None:
    """An ADD leaves no trace of whose it is, but the update's own updated_at does."""
    p = make_payment(1)
    moto.put_payment(p)
    table.update_payment(
        payment.PaymentUpdate().add_amount(5),
        merchant_id="m1",
        payment_id=p.payment_id,
        expected_version=1,
        returning="none",
    )
    assert stored(moto, p).amount == p.amount + 5  # once


def test_an_add_without_a_trace_is_outcome_unknown(moto: payment.PaymentsTable) -> None:
    """Merchant has a version but no auto: update timestamp: after the resend finds version
    2, an ADD cannot tell its own application from another writer's."""
    merchant = payment.Merchant(
        merchant_id="m1",
        legal_name="Shop",
        country="GB",
        default_currency="GBP",
        category_code="5411",
        fee_bps=100,
    )
    moto.put_merchant(merchant)
    lossy = LoseFirstAnswer(moto.handle.connection.client.transport)
    client = Client(lossy, RetryPolicy(sleep=lambda seconds: None))
    table = payment.PaymentsTable(Connection(client=client), name="payments-test")
    with pytest.raises(OutcomeUnknown) as caught:
        table.update_merchant(
            payment.MerchantUpdate().add_fee_bps(5),
            merchant_id="m1",
            expected_version=1,
        )
    assert "leaves no trace" in str(caught.value)
    got = moto.get_merchant(merchant_id="m1", consistent=True)
    assert got is not None and got.fee_bps == 105  # applied once, and said so honestly


def test_returning_old_after_a_settled_resend_is_response_lost(
    moto: payment.PaymentsTable, table: payment.PaymentsTable
) -> None:
    p = make_payment(1)
    moto.put_payment(p)
    with pytest.raises(ResponseLost):
        table.update_payment(
            payment.PaymentUpdate().set_description("settled"),
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=1,
            returning="old",
        )
    assert stored(moto, p).description == "settled"


def test_another_writer_between_the_attempts_is_a_real_condition_failure(
    moto: payment.PaymentsTable, table: payment.PaymentsTable, lossy: LoseFirstAnswer
) -> None:
    """Our first attempt landed (version 2), then another writer moved it to 3: the stored
    item is not this call's result, so its ConditionFailed is true (the caller re-reads)."""
    p = make_payment(1)
    moto.put_payment(p)

    def other_writer() -> None:
        moto.update_payment(
            payment.PaymentUpdate().set_description("theirs"),
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=2,
        )

    lossy.between = other_writer
    with pytest.raises(ConditionFailed) as caught:
        table.update_payment(
            payment.PaymentUpdate().set_description("ours"),
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=1,
        )
    assert caught.value.after_uncertain is True
    assert stored(moto, p).version == 3


def test_a_set_only_update_with_a_condition_settles_on_its_values(
    moto: payment.PaymentsTable, table: payment.PaymentsTable
) -> None:
    """No version check here: the update of a versioned entity without expected_version is
    never resent (it would increment the version twice), so this uses a plain condition on
    a Customer, which has no version."""
    customer = payment.Customer(
        merchant_id="m1", email="c@example.com", name="Ada", addresses=[]
    )
    moto.put_customer(customer)
    lossy = LoseFirstAnswer(moto.handle.connection.client.transport)
    client = Client(lossy, RetryPolicy(sleep=lambda seconds: None))
    table = payment.PaymentsTable(
        Connection(client=client, kms=KMS), name="payments-test"
    )
    after = table.update_customer(
        payment.CustomerUpdate().set_verified(True).set_name_if_absent("Bob"),
        merchant_id="m1",
        customer_id=customer.customer_id,
        when=payment.CustomerWhen().verified("eq", False),
    )
    assert after is not None and after.verified is True and after.name == "Ada"
    assert lossy.operations == ["UpdateItem", "UpdateItem", "GetItem"]


def test_a_versioned_update_of_a_deleted_item_stays_a_failure(
    moto: payment.PaymentsTable, table: payment.PaymentsTable, lossy: LoseFirstAnswer
) -> None:
    p = make_payment(1)
    moto.put_payment(p)
    lossy.between = lambda: moto.delete_payment(
        merchant_id="m1", payment_id=p.payment_id
    )
    with pytest.raises(ConditionFailed):
        table.update_payment(
            payment.PaymentUpdate().set_description("late"),
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=1,
        )


def test_set_members_settle_by_presence_and_versions_by_their_number(
    moto: payment.PaymentsTable, table: payment.PaymentsTable, lossy: LoseFirstAnswer
) -> None:
    p = make_payment(1, tags={"web", "old"})
    moto.put_payment(p)
    table.update_payment(
        payment.PaymentUpdate().delete_tags({"old"}),
        merchant_id="m1",
        payment_id=p.payment_id,
        expected_version=1,
    )
    assert stored(moto, p).tags == {"web"}
    # Another writer after our landed attempt: the version is not ours plus one.
    lossy.lost = False
    lossy.between = lambda: moto.update_payment(
        payment.PaymentUpdate().add_tags({"old"}),
        merchant_id="m1",
        payment_id=p.payment_id,
        expected_version=3,
    )
    with pytest.raises(ConditionFailed):
        table.update_payment(
            payment.PaymentUpdate().add_tags({"new"}),
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=2,
        )
