"""Encrypted attributes: KMS envelopes bound to their item, failing closed.

- a ciphertext moved to another item, attribute, entity or table never decrypts (a property
  over drawn places and key values), with a typed error naming the entity and attribute and
  carrying no value;
- tampering with each field of the envelope fails; a wrong key, or a key KMS refuses, is
  typed; with no key configured nothing is written;
- where keys come from: the schema, the environment, the partner's account;
- the data-key cache: bounds on age, uses and size, wiping, one KMS call for concurrent
  misses, and the KMS call counts of 1,000 writes;
- TableTheory's format (``encrypted: tabletheory``): envelopes built here from the DMS v0.1
  layout read back, ours read as TableTheory reads them, and its weaker binding.

In-process: the key service is ``LocalKms`` (real AES-GCM data keys, answered in this
process) or moto's in-process KMS (``mock_aws``, botocore transport). KMS over HTTP, both
transports and partners' accounts: tests/integration/test_encryption.py.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import threading
from collections.abc import Iterator, Mapping
from decimal import Context, Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from dynamorm_gen.runtime import (
    ConstraintViolation,
    DecryptionFailed,
    DynamormError,
    EncryptionError,
    EncryptionFailed,
    EncryptionNotConfigured,
    Throttled,
    TransactGet,
    TransactWrite,
)
from dynamorm_gen.runtime.data_keys import DataKeys
from dynamorm_gen.runtime.encryption import EncryptedField, canonical_number
from dynamorm_gen.runtime.partners import Partner
from dynamorm_gen.runtime.table import Connection, reset_clients
from dynamorm_gen.testing import LocalKms
from generated_examples import payment
from tests.unit.payments import create_moto_key, make_payment

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = "Zq\u2603LEAK-4111"
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEY_ID = "alias/payments"


@pytest.fixture(autouse=True)
def _kms_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMORM_KMS_KEY", KEY_ID)


@pytest.fixture
def kms() -> LocalKms:
    return LocalKms()


@pytest.fixture
def connection(kms: LocalKms) -> Connection:
    return Connection(kms=kms)


def assert_clean(error: BaseException, *secrets: str | bytes) -> None:
    """An error that quotes nothing: no value, no plaintext, no ciphertext."""
    shown = str(error) + repr(error)
    for secret in (SENTINEL, *secrets):
        text = secret if isinstance(secret, str) else secret.hex()
        assert text not in shown
    assert error.__cause__ is None


# --- the stored form ----------------------------------------------------------------------------


def test_the_stored_form_is_the_dms_envelope(connection: Connection) -> None:
    p = make_payment(1, card_token=SENTINEL)
    item = p.to_item(connection)
    envelope = item["card_token"]
    assert set(envelope) == {"M"}
    fields = envelope["M"]
    assert set(fields) == {"v", "edk", "nonce", "ct"}
    assert fields["v"] == {"N": "1"}
    assert len(fields["nonce"]["B"]) == 12
    # AES-GCM: ciphertext as long as the plaintext, then its 16-byte tag.
    assert len(fields["ct"]["B"]) == len(SENTINEL.encode()) + 16
    assert SENTINEL.encode() not in b"".join(
        f["B"] for f in fields.values() if "B" in f
    )
    assert payment.Payment.from_item(item, connection).card_token == SENTINEL


def test_each_value_gets_its_own_nonce(connection: Connection) -> None:
    p = make_payment(1)
    first, second = p.to_item(connection), p.to_item(connection)
    a, b = first["card_token"]["M"], second["card_token"]["M"]
    assert a["edk"] == b["edk"]  # one cached data key ...
    assert a["nonce"] != b["nonce"] and a["ct"] != b["ct"]  # ... a fresh nonce each


def test_the_associated_data_binds_table_entity_attribute_and_key() -> None:
    field = EncryptedField(
        "Payment.card_token",
        table="payments",
        entity_type="Payment",
        stored="card_token",
        key_names=("PK", "SK"),
    )
    key = {"PK": {"S": "MERCHANT#m1"}, "SK": {"N": "1.50"}}
    data = field.associated_data(key, DecryptionFailed)
    assert data.startswith(b"dynamorm-gen:encrypted:v1")
    for part in (b"payments", b"Payment", b"card_token", b"MERCHANT#m1", b"PK", b"SK"):
        assert part in data
    # DynamoDB may give the number back spelled otherwise: the same bytes.
    assert field.associated_data({**key, "SK": {"N": "1.5"}}, DecryptionFailed) == data
    assert (
        field.associated_data({**key, "SK": {"N": "15E-1"}}, DecryptionFailed) == data
    )
    assert field.associated_data({**key, "SK": {"S": "1.5"}}, DecryptionFailed) != data
    with pytest.raises(DecryptionFailed) as missing:
        field.associated_data({"PK": key["PK"]}, DecryptionFailed)
    assert missing.value.code == "KeyMissing"


@PROPERTY
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_canonical_numbers_are_equal_exactly_when_the_numbers_are(
    value: Decimal,
) -> None:
    text = str(value)
    assert Decimal(canonical_number(text)) == value
    exact = Context(prec=100)  # normalize() rounds to the context's precision
    for other in (f"{value:f}", format(value, "E"), str(value.normalize(exact))):
        assert canonical_number(other) == canonical_number(text)


# --- a moved ciphertext never decrypts ------------------------------------------------------------

names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_#.-", min_size=1, max_size=8
)
key_values = st.one_of(
    st.text(max_size=12).map(lambda s: {"S": s}),
    st.integers(-(10**12), 10**12).map(lambda n: {"N": str(n)}),
    st.binary(max_size=8).map(lambda b: {"B": b}),
)


@st.composite
def places(draw: st.DrawFn) -> tuple[EncryptedField, dict[str, Any]]:
    """Where a value lives: its table, entity type and attribute, and its item's key."""
    entity = draw(names)
    field = EncryptedField(
        f"{entity}.{draw(names)}",
        table=draw(names),
        entity_type=entity,
        stored=draw(names),
        key_names=("PK", "SK"),
    )
    return field, {"PK": draw(key_values), "SK": draw(key_values)}


def _same_place(a: tuple[EncryptedField, dict[str, Any]], b: Any) -> bool:
    (fa, ka), (fb, kb) = a, b
    return (fa.table, fa.entity_type, fa.stored) == (
        fb.table,
        fb.entity_type,
        fb.stored,
    ) and EncryptedField.associated_data(fa, ka, DecryptionFailed) == (
        EncryptedField.associated_data(fb, kb, DecryptionFailed)
    )


SHARED = Connection(kms=LocalKms())


@PROPERTY
@given(source=places(), target=places(), value=st.text(max_size=40))
def test_a_ciphertext_moved_to_another_place_never_decrypts(
    source: tuple[EncryptedField, dict[str, Any]],
    target: tuple[EncryptedField, dict[str, Any]],
    value: str,
) -> None:
    field, key = source
    sealed = field.seal(SHARED, key, SENTINEL + value)
    assert field.open_text(SHARED, key, sealed) == SENTINEL + value
    other, other_key = target
    if _same_place(source, target):
        return
    with pytest.raises(DecryptionFailed) as moved:
        other.open_text(SHARED, other_key, sealed)
    assert moved.value.entity == other.entity
    assert moved.value.attribute == other.where.partition(".")[2]
    assert other.where in str(moved.value)
    assert_clean(moved.value, sealed["M"]["ct"]["B"])


@PROPERTY
@given(
    merchants=st.lists(
        st.text(alphabet="abcdefghij0123456789-_", min_size=1, max_size=6),
        min_size=2,
        max_size=2,
        unique=True,
    ),
    token=st.text(min_size=1, max_size=30),
)
def test_a_card_token_moved_to_another_payment_or_attribute_fails_to_decrypt(
    merchants: list[str], token: str
) -> None:
    a = make_payment(1, merchant_id=merchants[0], card_token=SENTINEL + token)
    b = make_payment(2, merchant_id=merchants[1], card_token="tok_b")
    item_a, item_b = a.to_item(SHARED), b.to_item(SHARED)
    moved = {**item_b, "card_token": item_a["card_token"]}
    with pytest.raises(DecryptionFailed) as failure:
        payment.Payment.from_item(moved, SHARED)
    assert (failure.value.entity, failure.value.attribute) == ("Payment", "card_token")
    assert_clean(failure.value)
    # Into another entity's encrypted attribute, in an item with the same key.
    customer = payment.Customer(
        merchant_id=merchants[0], email="e@example.com", name="n", addresses=[]
    ).to_item(SHARED)
    customer_moved = {
        **customer,
        "PK": item_a["PK"],
        "SK": item_a["SK"],
        "email": item_a["card_token"],
    }
    with pytest.raises(DecryptionFailed) as failure:
        payment.Customer.from_item(customer_moved, SHARED)
    assert (failure.value.entity, failure.value.attribute) == ("Customer", "email")
    assert_clean(failure.value)


# --- tampering ----------------------------------------------------------------------------------


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _with(item: dict[str, Any], **fields: Any) -> dict[str, Any]:
    envelope = dict(item["card_token"]["M"])
    for name, value in fields.items():
        if value is None:
            envelope.pop(name)
        else:
            envelope[name] = value
    return {**item, "card_token": {"M": envelope}}


@pytest.mark.parametrize(
    ("name", "tamper", "code"),
    [
        ("v 2", lambda e: {"v": {"N": "2"}}, "InvalidEnvelope"),
        ("v as text", lambda e: {"v": {"S": "1"}}, "InvalidEnvelope"),
        ("v missing", lambda e: {"v": None}, "InvalidEnvelope"),
        (
            "edk flipped",
            lambda e: {"edk": {"B": _flip(e["edk"]["B"], 20)}},
            "InvalidCiphertextException",
        ),
        ("edk empty", lambda e: {"edk": {"B": b""}}, "InvalidEnvelope"),
        ("edk as text", lambda e: {"edk": {"S": "x"}}, "InvalidEnvelope"),
        (
            "nonce flipped",
            lambda e: {"nonce": {"B": _flip(e["nonce"]["B"], 0)}},
            "InvalidTag",
        ),
        (
            "nonce short",
            lambda e: {"nonce": {"B": e["nonce"]["B"][:11]}},
            "InvalidEnvelope",
        ),
        ("ct flipped", lambda e: {"ct": {"B": _flip(e["ct"]["B"], 0)}}, "InvalidTag"),
        ("tag flipped", lambda e: {"ct": {"B": _flip(e["ct"]["B"], -1)}}, "InvalidTag"),
        ("ct cut", lambda e: {"ct": {"B": e["ct"]["B"][:-1]}}, "InvalidTag"),
        ("ct too short", lambda e: {"ct": {"B": e["ct"]["B"][:15]}}, "InvalidEnvelope"),
        ("ct missing", lambda e: {"ct": None}, "InvalidEnvelope"),
        ("an extra field", lambda e: {"x": {"S": "1"}}, "InvalidEnvelope"),
    ],
)
def test_tampering_with_each_field_of_the_envelope_fails(
    connection: Connection, name: str, tamper: Any, code: str
) -> None:
    p = make_payment(1, card_token=SENTINEL)
    item = p.to_item(connection)
    tampered = _with(item, **tamper(item["card_token"]["M"]))
    with pytest.raises(DecryptionFailed) as failure:
        payment.Payment.from_item(tampered, connection)
    assert failure.value.code == code, name
    assert (failure.value.entity, failure.value.attribute) == ("Payment", "card_token")
    assert_clean(failure.value)


@pytest.mark.parametrize(
    "stored",
    [{"B": b"legacy ciphertext"}, {"S": "x"}, {"M": {}}, {"M": {"v": {"N": "1"}}}],
    ids=["binary", "text", "empty map", "partial map"],
)
def test_what_is_not_an_envelope_fails_closed(
    connection: Connection, stored: dict[str, Any]
) -> None:
    item = make_payment(1).to_item(connection)
    with pytest.raises(DecryptionFailed) as failure:
        payment.Payment.from_item({**item, "card_token": stored}, connection)
    assert failure.value.code == "InvalidEnvelope"


@PROPERTY
@given(at=st.integers(0, 200), bit=st.integers(0, 7))
def test_flipping_any_bit_of_the_ciphertext_fails(at: int, bit: int) -> None:
    item = make_payment(1, card_token=SENTINEL).to_item(SHARED)
    sealed = item["card_token"]["M"]["ct"]["B"]
    at %= len(sealed)
    flipped = sealed[:at] + bytes([sealed[at] ^ (1 << bit)]) + sealed[at + 1 :]
    with pytest.raises(DecryptionFailed):
        payment.Payment.from_item(_with(item, ct={"B": flipped}), SHARED)


# --- wrong keys, refused keys, no key -----------------------------------------------------------


def test_a_wrong_key_is_typed(connection: Connection) -> None:
    item = make_payment(1, card_token=SENTINEL).to_item(connection)
    # Another key service: its keys never unwrap this data key.
    elsewhere = Connection(kms=LocalKms())
    with pytest.raises(DecryptionFailed) as failure:
        payment.Payment.from_item(item, elsewhere)
    assert failure.value.code == "InvalidCiphertextException"
    assert_clean(failure.value)


class WrongDataKey:
    """A key service that unwraps every data key to the wrong bytes."""

    def generate_data_key(
        self, key_id: str, context: Mapping[str, str]
    ) -> tuple[bytes, bytes]:
        return b"k" * 32, b"edk"

    def decrypt_data_key(self, edk: bytes, context: Mapping[str, str]) -> bytes:
        return b"w" * 32


def test_a_wrong_data_key_is_typed(connection: Connection) -> None:
    item = make_payment(1, card_token=SENTINEL).to_item(connection)
    with pytest.raises(DecryptionFailed) as failure:
        payment.Payment.from_item(item, Connection(kms=WrongDataKey()))
    assert failure.value.code == "InvalidTag"
    assert_clean(failure.value)


def test_a_disabled_key_fails_both_ways_and_nothing_is_written(kms: LocalKms) -> None:
    writer = Connection(kms=kms)
    item = make_payment(1).to_item(writer)
    kms.disable(KEY_ID)
    with pytest.raises(EncryptionFailed) as sealing:
        make_payment(2).to_item(Connection(kms=kms))  # a fresh cache: asks KMS
    assert sealing.value.code == "DisabledException"
    with pytest.raises(DecryptionFailed) as opening:
        payment.Payment.from_item(item, Connection(kms=kms))
    assert opening.value.code == "DisabledException"


def test_a_key_kms_does_not_know_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMORM_KMS_KEY", "alias/unknown")
    with pytest.raises(EncryptionFailed) as failure:
        make_payment(1).to_item(Connection(kms=LocalKms(keys=[KEY_ID])))
    assert failure.value.code == "NotFoundException"
    assert "alias/unknown" not in str(failure.value)


class Throttling:
    def generate_data_key(
        self, key_id: str, context: Mapping[str, str]
    ) -> tuple[bytes, bytes]:
        raise Throttled("ThrottlingException", code="ThrottlingException")

    def decrypt_data_key(self, edk: bytes, context: Mapping[str, str]) -> bytes:
        raise Throttled("ThrottlingException", code="ThrottlingException")


def test_kms_failures_that_are_not_refusals_keep_their_type() -> None:
    with pytest.raises(Throttled):
        make_payment(1).to_item(Connection(kms=Throttling()))


def test_with_no_key_configured_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, kms: LocalKms
) -> None:
    monkeypatch.delenv("DYNAMORM_KMS_KEY")
    with pytest.raises(EncryptionNotConfigured) as failure:
        make_payment(1).to_item(Connection(kms=kms))
    assert failure.value.code == "NoKey" and failure.value.attribute == "card_token"
    assert "DYNAMORM_KMS_KEY" in str(failure.value)
    assert kms.calls == {"GenerateDataKey": 0, "Decrypt": 0}
    # An update refuses when it is sent: nothing reaches DynamoDB either (below, on moto).


def test_without_cryptography_encryption_is_not_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None
    )
    with pytest.raises(EncryptionNotConfigured, match=r"dynamorm-gen\[encryption\]"):
        make_payment(1).to_item(Connection(kms=WrongDataKey()))


def test_wrong_types_are_constraint_violations_before_any_kms_call(
    kms: LocalKms, connection: Connection
) -> None:
    with pytest.raises(
        ConstraintViolation, match=r"Payment\.card_token must be a string"
    ):
        make_payment(1, card_token=41111111).to_item(connection)
    with pytest.raises(
        ConstraintViolation, match=r"Payment\.card_token must be a string"
    ):
        payment.PaymentUpdate().set_card_token(b"bytes")  # type: ignore[arg-type]
    assert kms.calls == {"GenerateDataKey": 0, "Decrypt": 0}


# --- where keys come from -----------------------------------------------------------------------


def _field(**settings: Any) -> EncryptedField:
    return EncryptedField(
        "Secret.pin",
        table="vault",
        entity_type="Secret",
        stored="pin",
        key_names=("PK",),
        **settings,
    )


def test_the_environment_variable_wins_then_the_schema_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = Connection()
    field = _field(kms_key="alias/schema", kms_key_env="VAULT_KMS_KEY")
    monkeypatch.setenv("VAULT_KMS_KEY", "alias/from-env")
    assert field.key_id(own) == "alias/from-env"
    monkeypatch.delenv("VAULT_KMS_KEY")
    assert field.key_id(own) == "alias/schema"
    assert _field(kms_key_env="VAULT_KMS_KEY").key_id(own) == KEY_ID
    monkeypatch.setenv("VAULT_KMS_KEY", "bad key id")
    with pytest.raises(EncryptionNotConfigured) as bad:
        field.key_id(own)
    assert bad.value.code == "InvalidKeyId" and "bad key id" not in str(bad.value)


class PartnerConnection(Connection):
    __slots__ = ("partner",)

    def __init__(self, partner: Partner) -> None:
        super().__init__(kms=LocalKms())
        self.partner = partner

    def current_partner(self) -> Partner:
        return self.partner


def test_a_partners_items_are_sealed_with_the_partners_key_only() -> None:
    role = "arn:aws:iam::111122223333:role/payments"
    field = _field(kms_key="alias/own")
    keyed = PartnerConnection(Partner("acme", role_arn=role, kms_key="alias/acme"))
    assert field.key_id(keyed) == "alias/acme"
    keyless = PartnerConnection(Partner("bolt", role_arn=role))
    with pytest.raises(EncryptionNotConfigured, match="partner 'bolt' has no kms_key"):
        field.key_id(keyless)  # never the function's own key


def test_a_partners_kms_key_is_checked_and_read_from_json() -> None:
    from dynamorm_gen.runtime import ConfigurationError
    from dynamorm_gen.runtime.partners import PartnerRegistry

    role = "arn:aws:iam::111122223333:role/payments"
    with pytest.raises(ConfigurationError, match="kms_key must be a KMS key id"):
        Partner("acme", role_arn=role, kms_key="two words")
    registry = PartnerRegistry.from_mapping(
        {"partners": {"acme": {"role_arn": role, "kms_key": "alias/acme"}}}
    )
    assert registry.get("acme").kms_key == "alias/acme"


# --- the data-key cache -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_sealing_key_is_replaced_after_its_uses_or_its_age() -> None:
    kms, clock = LocalKms(), Clock()
    keys = DataKeys(kms, max_uses=3, max_age=60, clock=clock)
    first = [keys.for_sealing("k", ()) for _ in range(3)]
    assert len({id(k) for k in first}) == 1 and kms.calls["GenerateDataKey"] == 1
    fourth = keys.for_sealing("k", ())
    assert fourth is not first[0] and kms.calls["GenerateDataKey"] == 2
    clock.now = 59.9
    assert keys.for_sealing("k", ()) is fourth
    clock.now = 60.0
    assert keys.for_sealing("k", ()) is not fourth
    assert kms.calls["GenerateDataKey"] == 3
    # Another context, or another key id, is another data key.
    assert keys.for_sealing("k", (("a", "b"),)) is not keys.for_sealing("j", ())


def test_opening_keys_are_bounded_by_age_and_number_and_wiped() -> None:
    kms, clock = LocalKms(), Clock()
    writer = DataKeys(kms, max_uses=1)
    edks = [writer.for_sealing("k", ()).edk for _ in range(4)]
    keys = DataKeys(kms, max_keys=2, max_age=60, clock=clock)
    opened = [keys.for_opening(edk, ()) for edk in edks[:2]]
    assert kms.calls["Decrypt"] == 2
    assert keys.for_opening(edks[0], ()) is opened[0]  # cached, and now the most recent
    keys.for_opening(edks[2], ())  # evicts edks[1], the least recently used
    assert opened[1].material == bytearray(32) and opened[1].cipher is None
    assert opened[0].material != bytearray(32)
    keys.for_opening(edks[1], ())
    assert kms.calls["Decrypt"] == 4
    clock.now = 61
    kept = keys.for_opening(edks[1], ())
    assert kms.calls["Decrypt"] == 5 and kept.uses == 0
    keys.clear()
    assert kept.material == bytearray(32)


def test_a_key_made_for_sealing_opens_its_own_values_without_kms() -> None:
    kms = LocalKms()
    keys = DataKeys(kms)
    made = keys.for_sealing("k", (("x", "y"),))
    assert keys.for_opening(made.edk, (("x", "y"),)) is made
    assert kms.calls == {"GenerateDataKey": 1, "Decrypt": 0}


def test_a_replaced_sealing_key_is_wiped_once_nothing_holds_it() -> None:
    keys = DataKeys(LocalKms(), max_uses=1, max_keys=1)
    first = keys.for_sealing("k", ())
    keys.for_sealing("k", ())  # replaces it for sealing, and for opening (max_keys 1)
    assert first.material == bytearray(32)


def test_threads_that_miss_together_make_one_kms_call() -> None:
    kms = LocalKms()
    keys = DataKeys(kms)
    start = threading.Barrier(32)
    got: list[Any] = []

    def seal() -> None:
        start.wait()
        got.append(keys.for_sealing("k", ()))

    threads = [threading.Thread(target=seal) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert kms.calls["GenerateDataKey"] == 1 and len({id(k) for k in got}) == 1
    assert got[0].uses == 32


def test_bad_bounds_and_bad_data_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        DataKeys(LocalKms(), max_age=0)
    with pytest.raises(ValueError):
        DataKeys(LocalKms(), max_keys=0)

    class Short(WrongDataKey):
        def generate_data_key(
            self, key_id: str, context: Mapping[str, str]
        ) -> tuple[bytes, bytes]:
            return b"short", b"edk"

    with pytest.raises(EncryptionFailed) as failure:
        make_payment(1).to_item(Connection(kms=Short()))
    assert failure.value.code == "InvalidDataKey"


def test_kms_calls_for_1000_writes_and_1000_reads(kms: LocalKms) -> None:
    """The target: at most one KMS call per entity in steady state. 1,000 Payments and
    1,000 Customers written, then read through a fresh connection (another container)."""
    writer = Connection(kms=kms)
    items = [make_payment(n).to_item(writer) for n in range(1000)]
    customers = [
        payment.Customer(
            merchant_id="m1", email=f"{n}@example.com", name="n", addresses=[]
        ).to_item(writer)
        for n in range(1000)
    ]
    assert kms.calls == {"GenerateDataKey": 2, "Decrypt": 0}  # one per entity
    reader = Connection(kms=kms)
    assert [payment.Payment.from_item(i, reader).card_token for i in items] == [
        f"tok_{n}" for n in range(1000)
    ]
    for c in customers:
        payment.Customer.from_item(c, reader)
    assert kms.calls == {"GenerateDataKey": 2, "Decrypt": 2}


# --- through the generated table, on moto's in-process DynamoDB and KMS ---------------------------


@pytest.fixture
def moto_payments(monkeypatch: pytest.MonkeyPatch) -> Iterator[payment.PaymentsTable]:
    with mock_aws():
        reset_clients()
        monkeypatch.setenv("DYNAMORM_KMS_KEY", create_moto_key())
        table = payment.PaymentsTable(
            Connection(region="us-east-1", transport="botocore"), name="payments-test"
        )
        table.handle.create()
        yield table
        reset_clients()


def test_every_route_seals_and_opens_through_moto_kms(
    moto_payments: payment.PaymentsTable,
) -> None:
    t = moto_payments
    p = make_payment(1, card_token=SENTINEL)
    t.put_payment(p)
    assert t.get_payment(merchant_id="m1", payment_id=p.payment_id) == p
    updated = t.update_payment(
        payment.PaymentUpdate().set_card_token("tok_new"),
        merchant_id="m1",
        payment_id=p.payment_id,
    )
    assert updated is not None and updated.card_token == "tok_new"
    once = t.update_payment(
        payment.PaymentUpdate().set_card_token("tok_once"),
        merchant_id="m1",
        payment_id=p.payment_id,
        retry_safe=True,
    )
    assert once is not None and once.card_token == "tok_once"
    kept = t.update_payment(
        payment.PaymentUpdate().set_card_token_if_absent("ignored"),
        merchant_id="m1",
        payment_id=p.payment_id,
    )
    assert kept is not None and kept.card_token == "tok_once"
    q = make_payment(2)
    tx = TransactWrite()
    t.tx_put_payment(tx, q)
    t.tx_update_payment(
        tx,
        payment.PaymentUpdate().set_card_token("tok_tx"),
        merchant_id="m1",
        payment_id=p.payment_id,
    )
    tx.commit()
    txg = TransactGet()
    t.tx_get_payment(txg, merchant_id="m1", payment_id=p.payment_id)
    t.tx_get_payment(txg, merchant_id="m1", payment_id=q.payment_id)
    got = txg.fetch()
    assert [x.card_token for x in got] == ["tok_tx", "tok_2"]
    batch = t.batch_get_payment([p.key(), q.key()])
    assert {x.card_token for x in batch.items if x is not None} == {"tok_tx", "tok_2"}
    assert {x.card_token for x in t.query_payment_by_merchant(merchant_id="m1")} == {
        "tok_tx",
        "tok_2",
    }
    c = payment.Customer(
        merchant_id="m1", email="ada@example.com", name="Ada", addresses=[]
    )
    assert t.batch_put_customer([c]) == []
    q2 = make_payment(4, customer_id=c.customer_id)
    t.put_payment(q2)
    activity = t.query_customer_activity(customer_id=c.customer_id)
    assert {
        x.email if isinstance(x, payment.Customer) else x.card_token for x in activity
    } == {"ada@example.com", "tok_4"}
    # One KMS call per entity: a data key each for Payment and Customer, none to read.
    assert t.handle.connection.data_keys().calls == {"GenerateDataKey": 2, "Decrypt": 0}


def test_an_update_with_no_key_configured_sends_nothing(
    moto_payments: payment.PaymentsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = make_payment(1)
    moto_payments.put_payment(p)
    monkeypatch.delenv("DYNAMORM_KMS_KEY")
    moto_payments.handle.connection.client.close()  # forget the cached data key
    changes = payment.PaymentUpdate().set_card_token("tok_new").set_description("d")
    with pytest.raises(EncryptionNotConfigured):
        moto_payments.update_payment(changes, merchant_id="m1", payment_id=p.payment_id)
    stored = moto_payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert stored is not None and stored.card_token == "tok_1"
    assert stored.description is None and stored.version == 1


def test_an_envelope_moved_between_stored_items_fails_closed(
    moto_payments: payment.PaymentsTable,
) -> None:
    t = moto_payments
    a, b = make_payment(1, card_token=SENTINEL), make_payment(2)
    t.put_payment(a)
    t.put_payment(b)
    stolen = t.handle.get_item(a.key(), entity="Payment")
    assert stolen is not None
    target = t.handle.get_item(b.key(), entity="Payment")
    assert target is not None
    t.handle.put_item({**target, "card_token": stolen["card_token"]}, entity="Payment")
    with pytest.raises(DecryptionFailed) as failure:
        t.get_payment(merchant_id="m1", payment_id=b.payment_id)
    assert_clean(failure.value)
    with pytest.raises(DecryptionFailed):
        list(t.iter_payment_by_merchant(merchant_id="m1"))


def test_a_builder_reused_for_two_items_seals_each_for_its_own(
    moto_payments: payment.PaymentsTable,
) -> None:
    t = moto_payments
    a, b = make_payment(1), make_payment(2)
    t.put_payment(a)
    t.put_payment(b)
    changes = payment.PaymentUpdate().set_card_token("shared")
    for p in (a, b):
        t.update_payment(changes, merchant_id="m1", payment_id=p.payment_id)
    for p in (a, b):
        got = t.get_payment(merchant_id="m1", payment_id=p.payment_id)
        assert got is not None and got.card_token == "shared"
    assert changes.changes[0].value is None  # sealed per request, never kept


# --- TableTheory's format -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def vault() -> Iterator[ModuleType]:
    """The golden case ``encrypted`` (tests/golden/cases/encrypted), as generated."""
    path = ROOT / "tests" / "golden" / "cases" / "encrypted" / "expected" / "vault.py"
    spec = importlib.util.spec_from_file_location("_golden_vault", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_golden_vault"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("_golden_vault", None)


def _tabletheory_envelope(
    kms: LocalKms, attribute: str, encoded: dict[str, Any], *, nonce: bytes
) -> dict[str, Any]:
    """An envelope as TableTheory's DMS v0.1 layout and its code make it: a data key with no
    encryption context, AES-256-GCM with a 12-byte nonce, associated data
    ``theorydb:encrypted:v1|attr=<name>``, the value's JSON form as plaintext, the tag after
    the ciphertext, and v the number 1."""
    plaintext_key, edk = kms.generate_data_key(KEY_ID, {})
    plaintext = json.dumps(encoded, separators=(",", ":")).encode()
    aad = f"theorydb:encrypted:v1|attr={attribute}".encode()
    sealed = AESGCM(plaintext_key).encrypt(nonce, plaintext, aad)
    return {
        "M": {
            "v": {"N": "1"},
            "edk": {"B": edk},
            "nonce": {"B": nonce},
            "ct": {"B": sealed},
        }
    }


def _secret(vault: ModuleType, **values: Any) -> Any:
    return vault.Secret(owner="o1", serial=7, label="l", pin="1234", **values)


def test_tabletheory_envelopes_read_back(vault: ModuleType, kms: LocalKms) -> None:
    connection = Connection(kms=kms)
    item = _secret(vault).to_item(connection)
    fixtures = [
        {"t": "S", "s": "hello"},
        {"t": "S", "s": ""},
        {"t": "S", "s": "caf\u00e9 \u2603 <&>"},
    ]
    for n, encoded in enumerate(fixtures):
        envelope = _tabletheory_envelope(kms, "legacy", encoded, nonce=bytes([n]) * 12)
        read = vault.Secret.from_item({**item, "legacy": envelope}, connection)
        assert read.legacy == encoded["s"]


def test_our_tabletheory_envelopes_read_as_tabletheory_reads_them(
    vault: ModuleType, kms: LocalKms
) -> None:
    item = _secret(vault, legacy="caf\u00e9").to_item(Connection(kms=kms))
    fields = item["legacy"]["M"]
    assert set(fields) == {"v", "edk", "nonce", "ct"} and fields["v"] == {"N": "1"}
    # TableTheory asks KMS for the data key with no encryption context ...
    plaintext_key = kms.decrypt_data_key(fields["edk"]["B"], {})
    aad = b"theorydb:encrypted:v1|attr=legacy"
    plaintext = AESGCM(plaintext_key).decrypt(
        fields["nonce"]["B"], fields["ct"]["B"], aad
    )
    assert json.loads(plaintext) == {"t": "S", "s": "caf\u00e9"}


def test_tabletheory_binding_is_weaker_a_copy_between_items_decrypts(
    vault: ModuleType, kms: LocalKms
) -> None:
    """Documented: ``encrypted: tabletheory`` binds the attribute name only. The same
    ciphertext copied into another item decrypts; into another attribute it does not."""
    connection = Connection(kms=kms)
    a = _secret(vault, legacy=SENTINEL).to_item(connection)
    b = vault.Secret(owner="o2", serial=8, label="l", pin="9").to_item(connection)
    assert vault.Secret.from_item({**b, "legacy": a["legacy"]}, connection).legacy == (
        SENTINEL
    )
    with pytest.raises(DecryptionFailed):
        vault.Secret.from_item({**b, "pin": a["legacy"]}, connection)
    # The bound attributes of the same items do not move.
    with pytest.raises(DecryptionFailed):
        vault.Secret.from_item({**b, "pin": a["pin"]}, connection)


def test_binary_attributes_both_formats(vault: ModuleType, kms: LocalKms) -> None:
    connection = Connection(kms=kms)
    secret = _secret(vault, blob=b"\x00\xff" + SENTINEL.encode())
    item = secret.to_item(connection)
    assert vault.Secret.from_item(item, connection).blob == secret.blob
    token = vault.Token(token_id="t1", secret=b"raw").to_item(connection)
    assert vault.Token.from_item(token, connection).secret == b"raw"
    envelope = _tabletheory_envelope(
        kms, "legacy", {"t": "B", "b": base64.b64encode(b"x").decode()}, nonce=b"n" * 12
    )
    with pytest.raises(DecryptionFailed) as failure:
        vault.Secret.from_item({**item, "legacy": envelope}, connection)
    assert failure.value.code == "InvalidPlaintext"  # a string attribute holding bytes


def test_tabletheory_keys_carry_no_encryption_context(vault: ModuleType) -> None:
    assert vault._ENCRYPTED_SECRET_LEGACY.kms_context == ()
    assert dict(vault._ENCRYPTED_SECRET_PIN.kms_context) == {
        "dynamorm-table": "vault",
        "dynamorm-entity": "Secret",
        "dynamorm-attribute": "pin",
    }


def test_a_projection_of_an_encrypted_attribute_reads_the_key_too(
    vault: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_KMS_KEY", "alias/vault")
    with mock_aws():
        reset_clients()
        table = vault.VaultTable(Connection(region="us-east-1", kms=LocalKms()))
        table.handle.create()
        table.put_secret(_secret(vault, legacy="x"))
        page = table.query_secret_by_owner(owner="o1")
        assert [(v.label, v.pin) for v in page] == [("l", "1234")]
        reset_clients()


def test_errors_are_encryption_errors_with_no_values(connection: Connection) -> None:
    item = make_payment(1, card_token=SENTINEL).to_item(connection)
    broken = _with(item, ct={"B": b"\0" * 40})
    with pytest.raises(EncryptionError) as failure:
        payment.Payment.from_item(broken, connection)
    assert isinstance(failure.value, DynamormError)
    assert not isinstance(failure.value, ValueError)  # never an ItemDecodeError
    assert_clean(failure.value, b"\0" * 40)


def _twins(**settings: Any) -> tuple[EncryptedField, EncryptedField]:
    """A text and a binary field of the same place (the same binding)."""
    made = [
        EncryptedField(
            "Doc.body",
            table="docs",
            entity_type="Doc",
            stored="body",
            key_names=("PK",),
            binary=binary,
            **settings,
        )
        for binary in (False, True)
    ]
    return made[0], made[1]


@pytest.mark.parametrize("tabletheory", [False, True], ids=["bound", "tabletheory"])
def test_bytes_read_as_text_or_text_as_bytes_is_refused(
    connection: Connection, tabletheory: bool
) -> None:
    text, binary = _twins(tabletheory=tabletheory)
    key = {"PK": {"S": "DOC#1"}}
    sealed = binary.seal(connection, key, b"\xff\xfe not utf-8")
    assert binary.open_bytes(connection, key, sealed) == b"\xff\xfe not utf-8"
    with pytest.raises(DecryptionFailed) as failure:
        text.open_text(connection, key, sealed)
    assert failure.value.code == "InvalidPlaintext"
    if tabletheory:
        as_text = text.seal(connection, key, "text")
        with pytest.raises(DecryptionFailed) as failure:
            binary.open_bytes(connection, key, as_text)
        assert failure.value.code == "InvalidPlaintext"
    with pytest.raises(ConstraintViolation, match=r"Doc\.body must be bytes"):
        binary.seal(connection, key, "text")  # type: ignore[arg-type]
    assert repr(text) == (
        "EncryptedField(Doc.body, tabletheory)"
        if tabletheory
        else "EncryptedField(Doc.body)"
    )


@pytest.mark.parametrize(
    "value",
    [{"S": "x", "N": "1"}, {"N": "NaN"}, {"N": "not a number"}, {"S": 1}, "PK"],
    ids=["two tags", "NaN", "not a number", "not text", "not a value"],
)
def test_a_key_value_that_is_not_one_is_refused(
    connection: Connection, value: Any
) -> None:
    text, _ = _twins()
    with pytest.raises(EncryptionFailed) as failure:
        text.seal(connection, {"PK": value}, "x")
    assert failure.value.code == "KeyMissing"


def test_a_tabletheory_plaintext_that_is_not_its_json_is_refused(
    kms: LocalKms,
) -> None:
    text, binary = _twins(tabletheory=True)
    connection = Connection(kms=kms)
    key = {"PK": {"S": "DOC#1"}}
    for plaintext in (b"not json", b'{"t": "B", "b": "***"}'):
        data_key, edk = kms.generate_data_key(KEY_ID, {})
        nonce = b"\x07" * 12
        sealed = AESGCM(data_key).encrypt(
            nonce, plaintext, b"theorydb:encrypted:v1|attr=body"
        )
        envelope = {
            "M": {
                "v": {"N": "1"},
                "edk": {"B": edk},
                "nonce": {"B": nonce},
                "ct": {"B": sealed},
            }
        }
        with pytest.raises(DecryptionFailed):
            text.open_text(connection, key, envelope)
        with pytest.raises(DecryptionFailed):
            binary.open_bytes(connection, key, envelope)


def test_an_expired_sealing_key_no_longer_cached_for_opening_is_wiped() -> None:
    keys = DataKeys(LocalKms(), max_uses=1, max_keys=1)
    first = keys.for_sealing("k", ())
    keys.for_sealing("j", ())  # its opening entry pushes out the first key's
    assert first.material != bytearray(32)  # still the sealing key of "k"
    keys.for_sealing("k", ())  # "k"'s key has no use left: replaced, and wiped
    assert first.material == bytearray(32)
    assert repr(first) == f"DataKey({len(first.edk)}-byte edk, 1 uses)"
    assert repr(keys).endswith("1 opening)")


def test_threads_that_miss_the_same_data_key_together_make_one_decrypt() -> None:
    kms = LocalKms()
    edk = DataKeys(kms).for_sealing("k", ()).edk
    keys = DataKeys(kms)
    start = threading.Barrier(16)
    got: list[Any] = []

    def open_key() -> None:
        start.wait()
        got.append(keys.for_opening(edk, ()))

    threads = [threading.Thread(target=open_key) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert kms.calls["Decrypt"] == 1 and len({id(k) for k in got}) == 1
