"""Shared pieces of the payment-table tests: a key in moto's KMS and a Payment factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from generated_examples import payment


def create_moto_key() -> str:
    """A new key of KMS in moto's in-process mock (call inside ``mock_aws``): its ARN."""
    import botocore.session

    kms = botocore.session.Session().create_client("kms", region_name="us-east-1")
    try:
        return str(kms.create_key()["KeyMetadata"]["Arn"])
    finally:
        kms.close()


def make_payment(n: int, **overrides: object) -> payment.Payment:
    values: dict[str, object] = {
        "merchant_id": "m1",
        "customer_id": "c1",
        "amount": 100 * n,
        "currency": "EUR",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
        "card_token": f"tok_{n}",
        "tags": {"web"},
        "metadata": {"channel": "web", "attempt": n, "ratio": Decimal("0.5")},
        "fee_rate": Decimal("0.029"),
    }
    values.update(overrides)
    return payment.Payment(**values)  # type: ignore[arg-type]
