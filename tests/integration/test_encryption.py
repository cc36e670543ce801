"""Encrypted attributes against moto's server over loopback HTTP: DynamoDB and KMS, on both
transports (``dynamorm_transport``), in the function's own account and in partners'.

The fixtures are the plugin's: ``dynamorm_engine`` (moto's server, reset per test; DynamoDB,
STS and KMS pointed at it), ``dynamorm_kms`` (a new key, in ``DYNAMORM_KMS_KEY``) and
``dynamorm_partners``. What moto's KMS does not do: it never refuses a disabled key, and it
checks no key policy; a key of another account is unknown to it (NotFoundException) and an
encrypted data key of another account does not decrypt. Refusals of disabled keys are
tested in-process (tests/unit/test_encryption.py, ``LocalKms.disable``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dynamorm_gen.runtime import (
    DecryptionFailed,
    EncryptionFailed,
    EncryptionNotConfigured,
    TransactGet,
    TransactWrite,
)
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.partners import Partner, PartnerRegistry
from dynamorm_gen.testing import LocalEngine, MotoKms
from generated_examples.payment import (
    Customer,
    Payment,
    PaymentsTable,
    PaymentUpdate,
)
from tests.integration.conftest import Recorder

pytestmark = pytest.mark.integration

A, B = "partner-a", "partner-b"
SECRET = "4111-1111-1111-1111-xo7"  # a card token; never in a log line or error


def _payment(n: int, merchant: str = "m-1") -> Payment:
    return Payment(
        merchant_id=merchant,
        customer_id="c-1",
        amount=100 + n,
        currency="EUR",
        card_token=f"{SECRET}-{n}",
    )


def kms_calls(recorder: Recorder) -> list[tuple[str, str | None]]:
    """The KMS calls the hooks saw: (operation, partner)."""
    return [(c.operation, c.partner) for c in recorder.calls if c.service == "kms"]


@pytest.fixture
def db(dynamorm_kms: MotoKms, dynamorm_transport: str) -> Iterator[LambdaDatabase]:
    found = LambdaDatabase(region="us-east-1", xray=False)
    assert found.transport == dynamorm_transport
    yield found
    found.close()


@pytest.fixture
def payments(db: LambdaDatabase, dynamorm_engine: LocalEngine) -> PaymentsTable:
    table = db.table(PaymentsTable, name="payments")
    dynamorm_engine.create(table)
    return table


def test_every_route_over_http(payments: PaymentsTable, recorder: Recorder) -> None:
    p = _payment(1)
    payments.put_payment(p)
    raw = payments.handle.get_item(p.key(), entity="Payment")
    assert raw is not None and set(raw["card_token"]["M"]) == {
        "v",
        "edk",
        "nonce",
        "ct",
    }
    assert SECRET.encode() not in raw["card_token"]["M"]["ct"]["B"]
    assert payments.get_payment(merchant_id="m-1", payment_id=p.payment_id) == p
    changed = payments.update_payment(
        PaymentUpdate().set_card_token("tok-new"),
        merchant_id="m-1",
        payment_id=p.payment_id,
        expected_version=1,
    )
    assert changed is not None and changed.card_token == "tok-new"
    q = _payment(2)
    tx = TransactWrite()
    payments.tx_put_payment(tx, q)
    tx.commit()
    txg = TransactGet()
    payments.tx_get_payment(txg, merchant_id="m-1", payment_id=q.payment_id)
    assert [x.card_token for x in txg.fetch()] == [f"{SECRET}-2"]
    found = payments.batch_get_payment([p.key(), q.key()])
    assert {x.card_token for x in found.items if x} == {"tok-new", f"{SECRET}-2"}
    customer = Customer(
        merchant_id="m-1", email="ada@example.com", name="Ada", addresses=[]
    )
    payments.put_customer(customer)
    assert (
        payments.get_customer(merchant_id="m-1", customer_id=customer.customer_id)
        == customer
    )
    # One data key per entity, none asked back: hooks saw exactly these KMS calls.
    assert kms_calls(recorder) == [("GenerateDataKey", None), ("GenerateDataKey", None)]
    assert [c.entity for c in recorder.calls if c.service == "kms"] == [
        "Payment",
        "Customer",
    ]


def test_kms_calls_for_1000_writes_and_reads(
    payments: PaymentsTable, recorder: Recorder
) -> None:
    """The target: at most one KMS call per entity per invocation in steady state. 1,000
    Payments written (one put each), then read back (query, 10 pages) by a new container
    (another LambdaDatabase: a cold cache)."""
    for n in range(1000):
        payments.put_payment(_payment(n))
    assert kms_calls(recorder) == [("GenerateDataKey", None)]
    writes = [c for c in recorder.calls if c.operation == "PutItem"]
    assert len(writes) == 1000
    del recorder.calls[:]
    container = LambdaDatabase(region="us-east-1", xray=False)
    try:
        fresh = container.table(PaymentsTable, name="payments")
        pages = fresh.iter_payment_by_merchant(merchant_id="m-1", page_size=100)
        tokens = [x.card_token for x in pages]
    finally:
        container.close()
    assert sorted(tokens) == sorted(f"{SECRET}-{n}" for n in range(1000))
    assert kms_calls(recorder) == [("Decrypt", None)]


def test_a_ciphertext_moved_between_items_fails_over_http(
    payments: PaymentsTable,
) -> None:
    a, b = _payment(1), _payment(2)
    payments.put_payment(a)
    payments.put_payment(b)
    stolen = payments.handle.get_item(a.key(), entity="Payment")
    target = payments.handle.get_item(b.key(), entity="Payment")
    assert stolen is not None and target is not None
    payments.handle.put_item(
        {**target, "card_token": stolen["card_token"]}, entity="Payment"
    )
    with pytest.raises(DecryptionFailed) as failure:
        payments.get_payment(merchant_id="m-1", payment_id=b.payment_id)
    assert (failure.value.entity, failure.value.attribute) == ("Payment", "card_token")
    assert SECRET not in str(failure.value)


def test_a_key_kms_refuses_fails_closed_over_http(
    db: LambdaDatabase,
    payments: PaymentsTable,
    dynamorm_kms: MotoKms,
    monkeypatch: pytest.MonkeyPatch,
    dynamorm_partners: PartnerRegistry,
) -> None:
    # A key of a partner's account: unknown to the function's own credentials.
    theirs = dynamorm_kms.create_key(dynamorm_partners.get(A))
    monkeypatch.setenv("DYNAMORM_KMS_KEY", theirs)
    p = _payment(1)
    with pytest.raises(EncryptionFailed) as failure:
        payments.put_payment(p)
    assert failure.value.code == "NotFoundException"
    assert SECRET not in str(failure.value)
    monkeypatch.delenv("DYNAMORM_KMS_KEY")
    with pytest.raises(EncryptionNotConfigured):
        payments.put_payment(p)
    assert list(payments.iter_payment_by_merchant(merchant_id="m-1")) == []


# --- partners' accounts ---------------------------------------------------------------------------


@pytest.fixture
def partner_keys(
    dynamorm_kms: MotoKms, dynamorm_partners: PartnerRegistry
) -> dict[str, str]:
    return {p.id: dynamorm_kms.create_key(p) for p in dynamorm_partners}


@pytest.fixture
def partner_db(
    dynamorm_partners: PartnerRegistry,
    partner_keys: dict[str, str],
    dynamorm_transport: str,
) -> Iterator[LambdaDatabase]:
    keyed = PartnerRegistry(
        Partner(
            p.id,
            role_arn=p.role_arn,
            external_id=p.external_id,
            kms_key=partner_keys[p.id],
        )
        for p in dynamorm_partners
    )
    found = LambdaDatabase(partners=keyed, region="us-east-1", xray=False)
    yield found
    found.close()


@pytest.fixture
def partner_payments(
    partner_db: LambdaDatabase, dynamorm_engine: LocalEngine
) -> PaymentsTable:
    table = partner_db.partner_table(PaymentsTable, name="payments")
    for partner in partner_db.partners.ids():
        with partner_db.partner(partner):
            dynamorm_engine.create(table)
    return table


def test_a_partners_items_are_sealed_with_its_key_in_its_account(
    partner_db: LambdaDatabase,
    partner_payments: PaymentsTable,
    partner_keys: dict[str, str],
    recorder: Recorder,
) -> None:
    assert ":111111111111:" in partner_keys[A] and ":222222222222:" in partner_keys[B]
    written = {}
    for partner in (A, B):
        with partner_db.partner(partner):
            p = _payment(1, merchant="m-1")
            p.payment_id = "p-1"  # the same key in both accounts
            partner_payments.put_payment(p)
            written[partner] = partner_payments.handle.get_item(
                p.key(), entity="Payment"
            )
            got = partner_payments.get_payment(merchant_id="m-1", payment_id="p-1")
            assert got is not None and got.card_token == f"{SECRET}-1"
    # KMS was asked in each partner's account, with its credentials.
    assert sorted(kms_calls(recorder)) == [
        ("GenerateDataKey", A),
        ("GenerateDataKey", B),
    ]
    # A's envelope copied into B's item with the same key: B's account cannot open it.
    stolen = written[A]
    assert stolen is not None
    with partner_db.partner(B):
        partner_payments.handle.put_item(stolen, entity="Payment")
        with pytest.raises(DecryptionFailed) as failure:
            partner_payments.get_payment(merchant_id="m-1", payment_id="p-1")
    assert failure.value.attribute == "card_token" and SECRET not in str(failure.value)


def test_a_partner_without_a_key_writes_nothing(
    dynamorm_partners: PartnerRegistry,
    dynamorm_engine: LocalEngine,
    dynamorm_kms: MotoKms,
) -> None:
    db = LambdaDatabase(partners=dynamorm_partners, region="us-east-1", xray=False)
    try:
        table = db.partner_table(PaymentsTable, name="payments")
        with db.partner(A):
            dynamorm_engine.create(table)
            with pytest.raises(EncryptionNotConfigured, match="has no kms_key"):
                table.put_payment(_payment(1))
            assert list(table.iter_payment_by_merchant(merchant_id="m-1")) == []
    finally:
        db.close()
