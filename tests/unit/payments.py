"""Shared pieces of the payment-table tests: a stand-in encryptor and a Payment factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from generated_examples import payment


class ReversingEncryptor:
    """A stand-in for KMS envelope encryption: reversible, bound to the field's context."""

    def encrypt(self, context: str, plaintext: bytes) -> bytes:
        return context.encode() + b"|" + plaintext[::-1]

    def decrypt(self, context: str, ciphertext: bytes) -> bytes:
        prefix, _, body = ciphertext.partition(b"|")
        assert prefix == context.encode(), "ciphertext from another field"
        return body[::-1]


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
