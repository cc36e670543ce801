"""What ``Client.call`` refuses before anything is sent: text that is not Unicode, items over
DynamoDB's 400 KB, and table names DynamoDB would refuse; on both transports, through the
generated table classes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from moto import mock_aws

from dynamorm_gen.runtime import (
    ConfigurationError,
    ConstraintViolation,
    ItemTooLarge,
    TransactWrite,
    ValidationFailed,
    batch,
)
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.limits import item_size
from dynamorm_gen.runtime.table import Connection, reset_clients
from dynamorm_gen.testing import LocalKms
from generated_examples import basic, payment
from tests.unit.payments import make_payment

SURROGATE = "caf\udce9"  # an unpaired surrogate: no UTF-8 form


class Recorder:
    """A transport that records what would be sent and answers an empty success."""

    endpoint_url = "http://recorder.invalid"
    region = "us-east-1"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def exchange(
        self, operation: str, params: Mapping[str, Any], body: bytes, timeout: Any
    ) -> dict[str, Any]:
        self.sent.append(operation)
        return {}

    def prewarm(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(autouse=True)
def _kms_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMORM_KMS_KEY", "alias/payments")


@pytest.fixture
def payments(recorder: Recorder) -> payment.PaymentsTable:
    return payment.PaymentsTable(
        Connection(client=Client(recorder), kms=LocalKms()), name="payments-test"
    )


def test_text_that_is_not_unicode_is_refused_naming_the_attribute(
    payments: payment.PaymentsTable, recorder: Recorder
) -> None:
    with pytest.raises(ConstraintViolation) as caught:
        payments.put_payment(make_payment(1, description=SURROGATE))
    assert "Payment.description holds text that is not valid Unicode" in str(
        caught.value
    )
    assert SURROGATE not in str(caught.value) and SURROGATE not in repr(caught.value)
    # In a free-form map, as a key or a value: the map attribute is named.
    for metadata in ({"note": SURROGATE}, {SURROGATE: "x"}):
        with pytest.raises(ConstraintViolation, match=r"Payment\.metadata holds text"):
            payments.put_payment(make_payment(2, metadata=metadata))
    # An update's value: named through its placeholder's attribute name.
    with pytest.raises(ConstraintViolation, match=r"Payment\.description holds text"):
        payments.update_payment(
            payment.PaymentUpdate().set_description(SURROGATE),
            merchant_id="m1",
            payment_id="p1",
            expected_version=1,
        )
    assert recorder.sent == []


def test_items_over_400_kb_are_refused_by_dynamodb_s_measure(
    recorder: Recorder,
) -> None:
    """Measured as DynamoDB does (attribute names and UTF-8 bytes count, not the JSON of the
    request): an item of exactly 400 KB is sent, one byte more is refused unsent."""
    handle = basic.TodosTable(
        Connection(client=Client(recorder)), name="todos-test"
    ).handle
    item = basic.Todo(user_id="u1", title="t").to_item()
    item["notes"] = {"S": ""}
    room = 400 * 1024 - item_size(item)
    item["notes"] = {"S": "é" * (room // 2) + "x" * (room % 2)}  # é: 2 bytes in UTF-8
    assert item_size(item) == 400 * 1024
    handle.put_item(item, entity="Todo")
    assert recorder.sent == ["PutItem"]
    over = {**item, "notes": {"S": item["notes"]["S"] + "x"}}
    with pytest.raises(ItemTooLarge) as caught:
        handle.put_item(over, entity="Todo")
    assert isinstance(caught.value, ValidationFailed)
    assert f"an item of {400 * 1024 + 1} bytes" in str(caught.value)
    assert "é" not in str(caught.value)
    # The same in a batch write and a transaction.
    with pytest.raises(ItemTooLarge):
        batch.write_many(handle, [over], [], entity="Todo")
    tx = TransactWrite()
    tx.add(handle, "Put", {"TableName": "todos-test", "Item": over}, entity="Todo")
    with pytest.raises(ItemTooLarge):
        tx.commit()
    assert recorder.sent == ["PutItem"]  # nothing after the first


def test_table_names_dynamodb_refuses_fail_before_any_request(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TODOS_TABLE", "todos; DROP")
    todos = basic.TodosTable(Connection(client=Client(recorder)))
    with pytest.raises(ConfigurationError, match=r"\$TODOS_TABLE"):
        todos.get_todo(user_id="u1", todo_id="t1")
    for bad in ("t", "x" * 256, "todos/other"):
        with pytest.raises(ConfigurationError, match="given to the table class"):
            basic.TodosTable(Connection(client=Client(recorder)), name=bad).get_todo(
                user_id="u1", todo_id="t1"
            )
    monkeypatch.setenv(
        "TODOS_TABLE", "arn:aws:dynamodb:eu-west-1:123456789012:table/todos"
    )
    basic.TodosTable(Connection(client=Client(recorder))).get_todo(
        user_id="u1", todo_id="t1"
    )
    assert recorder.sent == ["GetItem"]


@pytest.fixture
def botocore_payments() -> Iterator[payment.PaymentsTable]:
    with mock_aws():
        reset_clients()
        table = payment.PaymentsTable(
            Connection(region="us-east-1", transport="botocore", kms=LocalKms()),
            name="payments-test",
        )
        table.handle.create()
        yield table
        reset_clients()


def test_the_botocore_transport_refuses_the_same_before_botocore_sees_it(
    botocore_payments: payment.PaymentsTable,
) -> None:
    with pytest.raises(ConstraintViolation, match=r"Payment\.description holds text"):
        botocore_payments.put_payment(make_payment(1, description=SURROGATE))
    assert list(botocore_payments.iter_payment_by_merchant(merchant_id="m1")) == []
