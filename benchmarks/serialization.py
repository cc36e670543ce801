"""Item conversion cost: generated converters next to boto3, pydynox and PynamoDB, in one process.

One Payment item (generated_examples.payment) with 12 of its 15 attributes set (strings,
integers, an enum, a Decimal, datetimes stored as strings, a string set, and a free-form map
holding a boolean, a list and a nested map), which the generated code stores as 19 top-level
attributes: the 12, the 6 key attributes its schema derives (PK, SK, GSI1PK/SK, GSI2PK/SK)
and the entity-type tag. Its encrypted card token is left unset: sealing it is KMS envelope
encryption, which none of the peers here does; ``encryption.py`` measures that. Every library
converts that same 19-attribute item, as far as its type system allows:

- ours: ``Payment.to_item()`` / ``Payment.from_item()``: key building, constraint checks and
  datetime formatting included.
- boto3: ``TypeSerializer``/``TypeDeserializer`` over the dict of Python values, one call per
  attribute, as boto3's resource layer does. Datetimes are given as the stored strings (boto3
  has no datetime type).
- pydynox: its Rust converters ``pydynox_core.item_to_dynamo``/``item_from_dynamo`` (what its
  client and models call) over the same dict; reading back with a number schema naming
  ``fee_rate`` so it comes back as a Decimal, as its models ask for declared Decimal fields.
  Its binary values are base64 text in the converted item (its wire format), not bytes.
- PynamoDB: a Model with one attribute object per attribute (UTCDateTimeAttribute,
  UnicodeSetAttribute, raw MapAttribute, VersionAttribute, ...): ``Model.serialize()`` and
  ``Model.from_raw_data()``. Its NumberAttribute goes through ``json.dumps``, which takes no
  Decimal, so ``fee_rate`` is the float 0.0125 there.

Each case is timed with ``timeit`` (loops calibrated to ~0.1 s), in rounds interleaved with the
other cases so machine noise spreads evenly; the median ns/op of the rounds is printed with its
ratio to ours. Absolute times drift on shared machines: compare ratios within one run.

    python benchmarks/serialization.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generated_examples.payment import Merchant, Payment  # noqa: E402

OURS = "dynamorm-gen (generated)"
BOTO = "boto3 TypeSerializer/Deserializer"
PYDYNOX = "pydynox (Rust converters)"
PYNAMO = "PynamoDB Model"


CREATED = datetime(2024, 5, 17, 9, 30, 12, 345678, tzinfo=UTC)
UPDATED = datetime(2024, 5, 17, 9, 31, 2, 5, tzinfo=UTC)


def our_payment() -> Payment:
    return Payment(
        merchant_id="m-1042",
        payment_id="01HXZ3KQ8J5V2N7WBC4T6YDFGM",
        customer_id="c-77812",
        amount=129900,
        currency="EUR",
        status="captured",
        # card_token (encrypted) unset: KMS envelopes are benchmarks/encryption.py's.
        metadata={
            "channel": "web",
            "risk_checked": True,
            "items": ["sku-1", "sku-2", 3],
            "shipping": {"country": "DE", "express": False},
        },
        tags={"vip", "recurring"},
        fee_rate=Decimal("0.0125"),
        version=3,
        created_at=CREATED,
        updated_at=UPDATED,
    )


def python_values(payment: Payment) -> dict[str, Any]:
    """The item as Python values: what boto3's resource layer and pydynox's client take."""
    item = payment.to_item()
    return {
        "PK": item["PK"]["S"],
        "SK": item["SK"]["S"],
        "GSI1PK": item["GSI1PK"]["S"],
        "GSI1SK": item["GSI1SK"]["S"],
        "GSI2PK": item["GSI2PK"]["S"],
        "GSI2SK": item["GSI2SK"]["S"],
        "_et": "Payment",
        "merchant_id": payment.merchant_id,
        "payment_id": payment.payment_id,
        "customer_id": payment.customer_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "metadata": payment.metadata,
        "tags": set(payment.tags),
        "fee_rate": payment.fee_rate,
        "version": payment.version,
        "created_at": item["created_at"]["S"],
        "updated_at": item["updated_at"]["S"],
    }


def pynamodb_model(host: str | None = None) -> type[Any]:
    from pynamodb.attributes import (
        BinaryAttribute,
        MapAttribute,
        NumberAttribute,
        UnicodeAttribute,
        UnicodeSetAttribute,
        UTCDateTimeAttribute,
        VersionAttribute,
    )
    from pynamodb.models import Model

    class PynamoPayment(Model):
        class Meta:
            table_name = "payments"
            region = "us-east-1"
            max_retry_attempts = 0

        Meta.host = host  # None: the AWS endpoint (never contacted here)

        PK = UnicodeAttribute(hash_key=True)
        SK = UnicodeAttribute(range_key=True)
        GSI1PK = UnicodeAttribute()
        GSI1SK = UnicodeAttribute()
        GSI2PK = UnicodeAttribute()
        GSI2SK = UnicodeAttribute()
        entity_type = UnicodeAttribute(attr_name="_et")
        merchant_id = UnicodeAttribute()
        payment_id = UnicodeAttribute()
        customer_id = UnicodeAttribute()
        amount = NumberAttribute()
        currency = UnicodeAttribute()
        status = UnicodeAttribute()
        card_token = BinaryAttribute(legacy_encoding=False, null=True)  # unset
        metadata = MapAttribute()
        tags = UnicodeSetAttribute()
        fee_rate = NumberAttribute()
        version = VersionAttribute()
        created_at = UTCDateTimeAttribute()
        updated_at = UTCDateTimeAttribute()

    return PynamoPayment


def pynamodb_instance(model: type[Any], payment: Payment) -> Any:
    values = python_values(payment)
    values["entity_type"] = values.pop("_et")
    values["fee_rate"] = float(payment.fee_rate or 0)
    values["created_at"] = payment.created_at
    values["updated_at"] = payment.updated_at
    return model(**values)


def _sorted_sets(item: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {"SS": sorted(value["SS"])} if "SS" in value else value
        for name, value in item.items()
    }


def payment_cases() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """For each library: (python -> wire, wire -> python), over the same logical item."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from pydynox import pydynox_core

    payment = our_payment()
    our_item = payment.to_item()
    assert Payment.from_item(our_item) == payment

    values = python_values(payment)
    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    serialize, deserialize = serializer.serialize, deserializer.deserialize
    boto_item = {name: serialize(value) for name, value in values.items()}
    assert boto_item == our_item, "boto3 and ours must write the same item"

    def boto_to() -> object:
        return {name: serialize(value) for name, value in values.items()}

    def boto_from() -> object:
        return {name: deserialize(value) for name, value in boto_item.items()}

    to_dynamo, from_dynamo = pydynox_core.item_to_dynamo, pydynox_core.item_from_dynamo
    schema = {"fields": frozenset({"fee_rate"}), "variants": {}}
    pydynox_item = to_dynamo(values)
    assert from_dynamo(pydynox_item, _number_schema=schema) == values
    assert set(pydynox_item) == set(our_item)

    model = pynamodb_model()
    instance = pynamodb_instance(model, payment)
    pynamo_item = instance.serialize()
    assert set(pynamo_item) == set(our_item)
    # Sets serialise in iteration order, which a rebuilt set need not keep: compare sorted.
    assert _sorted_sets(model.from_raw_data(pynamo_item).serialize()) == _sorted_sets(
        pynamo_item
    )

    return {
        OURS: (payment.to_item, lambda: Payment.from_item(our_item)),
        BOTO: (boto_to, boto_from),
        PYDYNOX: (
            lambda: to_dynamo(values),
            lambda: from_dynamo(pydynox_item, _number_schema=schema),
        ),
        PYNAMO: (instance.serialize, lambda: model.from_raw_data(pynamo_item)),
    }


def our_merchant() -> Merchant:
    return Merchant(
        merchant_id="m-1042",
        legal_name="Example Trading GmbH",
        country="DE",
        default_currency="EUR",
        category_code="5999",
        status="active",
        fee_bps=145,
        daily_limit=Decimal("250000.00"),
        payouts_enabled=True,
        settlement_days=2,
        risk_tier=2,
        version=7,
    )


def merchant_cases() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """The flat Merchant item (12 attributes, 15 stored): the shape issue 3's figures quote."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from pydynox import pydynox_core
    from pynamodb.attributes import (
        BooleanAttribute,
        NumberAttribute,
        UnicodeAttribute,
        VersionAttribute,
    )
    from pynamodb.models import Model

    merchant = our_merchant()
    our_item = merchant.to_item()
    assert Merchant.from_item(our_item) == merchant
    values = _plain(our_item)

    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    serialize, deserialize = serializer.serialize, deserializer.deserialize
    assert {name: serialize(value) for name, value in values.items()} == our_item

    def boto_to() -> object:
        return {name: serialize(value) for name, value in values.items()}

    def boto_from() -> object:
        return {name: deserialize(value) for name, value in our_item.items()}

    to_dynamo, from_dynamo = pydynox_core.item_to_dynamo, pydynox_core.item_from_dynamo
    schema = {"fields": frozenset({"daily_limit"}), "variants": {}}
    pydynox_item = to_dynamo(values)
    assert _plain(pydynox_item) == values  # its Decimal text differs: 25E4
    assert from_dynamo(pydynox_item, _number_schema=schema) == values

    class PynamoMerchant(Model):
        class Meta:
            table_name = "payments"
            region = "us-east-1"

        PK = UnicodeAttribute(hash_key=True)
        SK = UnicodeAttribute(range_key=True)
        entity_type = UnicodeAttribute(attr_name="_et")
        merchant_id = UnicodeAttribute()
        legal_name = UnicodeAttribute()
        country = UnicodeAttribute()
        default_currency = UnicodeAttribute()
        category_code = UnicodeAttribute()
        status = UnicodeAttribute()
        fee_bps = NumberAttribute()
        daily_limit = NumberAttribute()  # a float: its NumberAttribute takes no Decimal
        payouts_enabled = BooleanAttribute()
        settlement_days = NumberAttribute()
        risk_tier = NumberAttribute()
        version = VersionAttribute()

    pynamo_values = dict(values)
    pynamo_values["entity_type"] = pynamo_values.pop("_et")
    pynamo_values["daily_limit"] = float(merchant.daily_limit or 0)
    instance = PynamoMerchant(**pynamo_values)
    pynamo_item = instance.serialize()
    assert set(pynamo_item) == set(our_item)

    return {
        OURS: (merchant.to_item, lambda: Merchant.from_item(our_item)),
        BOTO: (boto_to, boto_from),
        PYDYNOX: (
            lambda: to_dynamo(values),
            lambda: from_dynamo(pydynox_item, _number_schema=schema),
        ),
        PYNAMO: (instance.serialize, lambda: PynamoMerchant.from_raw_data(pynamo_item)),
    }


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A flat item's Python values, as boto3's resource layer and pydynox's client take them."""
    values: dict[str, Any] = {}
    for name, value in item.items():
        ((tag, data),) = value.items()
        if tag == "N":
            data = int(data) if data.lstrip("-").isdigit() else Decimal(data)
        values[name] = data
    return values


def calibrate(timer: timeit.Timer, target: float) -> int:
    loops = 1
    while True:
        elapsed = timer.timeit(loops)
        if elapsed >= target / 5:
            return max(1, int(loops * target / elapsed))
        loops *= 4


def measure(
    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]],
    rounds: int,
    seconds: float,
) -> dict[tuple[str, str], float]:
    """Median ns/op per (library, direction), rounds interleaved across all of them."""
    timers: dict[tuple[str, str], tuple[timeit.Timer, int]] = {}
    for name, (to_wire, from_wire) in cases.items():
        for direction, func in (("to", to_wire), ("from", from_wire)):
            timer = timeit.Timer(func)
            timers[name, direction] = (timer, calibrate(timer, seconds))
    samples: dict[tuple[str, str], list[float]] = {case: [] for case in timers}
    for _ in range(rounds):
        for case, (timer, loops) in timers.items():
            samples[case].append(timer.timeit(loops) / loops * 1e9)
    return {case: statistics.median(values) for case, values in samples.items()}


def report(title: str, ns: dict[tuple[str, str], float]) -> None:
    print(title)
    print(
        f"{'library':36} {'to ns/op':>10} {'from ns/op':>11} {'to x ours':>10} {'from x ours':>12}"
    )
    for name in dict.fromkeys(case[0] for case in ns):
        to_ns, from_ns = ns[name, "to"], ns[name, "from"]
        print(
            f"{name:36} {to_ns:10,.0f} {from_ns:11,.0f}"
            f" {to_ns / ns[OURS, 'to']:10.2f} {from_ns / ns[OURS, 'from']:12.2f}"
        )
    targets = [
        ("faster than pydynox, to", ns[PYDYNOX, "to"] / ns[OURS, "to"], 1.0),
        ("faster than pydynox, from", ns[PYDYNOX, "from"] / ns[OURS, "from"], 1.0),
        (">= 8x TypeSerializer", ns[BOTO, "to"] / ns[OURS, "to"], 8.0),
        (">= 5.5x TypeDeserializer", ns[BOTO, "from"] / ns[OURS, "from"], 5.5),
    ]
    for label, ratio, goal in targets:
        verdict = "met" if ratio > goal or (goal > 1 and ratio >= goal) else "MISSED"
        print(f"  target {label:28} {ratio:6.2f}x  {verdict}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.1, help="per measurement")
    args = parser.parse_args()

    version = sys.version.split()[0]
    items = [
        ("Merchant: flat, 12 attributes, 15 stored", merchant_cases()),
        ("Payment: rich, 12 of 15 attributes, 19 stored", payment_cases()),
    ]
    for title, cases in items:
        ns = measure(cases, args.rounds, args.seconds)
        report(
            f"{title}; ns/op, median of {args.rounds} interleaved rounds (Python {version})",
            ns,
        )


if __name__ == "__main__":
    main()
