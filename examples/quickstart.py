"""Use the generated payment module end to end, with no AWS account.

By default DynamoDB is moto's in-process engine; set DYNAMORM_ENDPOINT_URL to use a local
server instead (e.g. `moto_server -H 127.0.0.1 -p 5000` and http://127.0.0.1:5000).

    python examples/quickstart.py
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).resolve().parent.parent)
)  # for generated_examples

from dynamorm_gen.runtime import ConditionFailed, Connection
from generated_examples.payment import Payment, PaymentsTable


@contextlib.contextmanager
def local_dynamodb() -> Iterator[None]:
    """moto in-process unless an endpoint is configured; never a real AWS account."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    if os.environ.get("DYNAMORM_ENDPOINT_URL"):
        yield
        return
    from moto import mock_aws

    with mock_aws():
        yield


def main() -> None:
    with local_dynamodb():
        table = PaymentsTable(
            Connection(region="us-east-1"), name="quickstart-payments"
        )
        table.handle.create()
        start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        for n in range(5):
            table.put_payment(
                Payment(
                    merchant_id="m-42",
                    customer_id="c-7",
                    amount=1000 + n * 250,
                    currency="EUR",
                    created_at=start + timedelta(minutes=n),
                )
            )
        page = table.query_payment_by_merchant(merchant_id="m-42", limit=3)
        print(f"first page: {len(page)} payments, more: {page.cursor is not None}")
        for p in table.iter_payment_by_merchant(merchant_id="m-42"):
            print(f"  {p.payment_id} {p.amount / 100:8.2f} {p.currency} {p.status}")

        latest = page.items[0]
        stale = table.get_payment(merchant_id="m-42", payment_id=latest.payment_id)
        latest.status = "captured"
        table.put_payment(latest)  # version 1 -> 2
        assert stale is not None
        try:
            table.put_payment(stale)  # still version 1: rejected
        except ConditionFailed as exc:
            print(f"optimistic lock held: {exc}")
        captured = table.query_payment_by_status(merchant_id="m-42", status="captured")
        print(f"captured: {[(v.amount, v.currency) for v in captured]}")


if __name__ == "__main__":
    main()
