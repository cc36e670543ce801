"""Generated tables against moto's in-process DynamoDB: CRUD, queries, pagination, locking."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from dynamorm_gen.runtime import (
    ConditionFailed,
    ConstraintViolation,
    EncryptionNotConfigured,
    InvalidCursor,
    TableNotFound,
)
from dynamorm_gen.runtime.cursor import set_cursor_key
from dynamorm_gen.runtime.retry import READ
from dynamorm_gen.runtime.table import Connection, reset_clients
from generated_examples import basic, payment
from tests.unit.payments import make_payment


def test_put_get_delete_round_trip(payments: payment.PaymentsTable) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    assert p.version == 1
    got = payments.get_payment(
        merchant_id="m1", payment_id=p.payment_id, consistent=True
    )
    assert got == p
    assert got is not None and got.card_token == "tok_1" and got.metadata == p.metadata
    raw = payments.handle.connection.client.call(
        "GetItem", {"TableName": "payments-test", "Key": p.key()}, READ
    )
    envelope = raw["Item"]["card_token"]["M"]  # stored encrypted, in an envelope
    assert set(envelope) == {"v", "edk", "nonce", "ct"}
    assert b"tok_1" not in envelope["ct"]["B"]
    assert raw["Item"]["_et"] == {"S": "Payment"}
    payments.delete_payment(merchant_id="m1", payment_id=p.payment_id)
    assert payments.get_payment(merchant_id="m1", payment_id=p.payment_id) is None


def test_optimistic_locking(payments: payment.PaymentsTable) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    stale = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert stale is not None
    p.status = "captured"
    payments.put_payment(p)
    assert p.version == 2
    stale.status = "failed"
    with pytest.raises(ConditionFailed) as failure:
        payments.put_payment(stale)
    message = str(failure.value)
    assert "PutItem" in message and "payments-test" in message and "Payment" in message
    assert "tok_1" not in message and "failed" not in message
    fresh = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert fresh is not None and fresh.status == "captured" and fresh.version == 2
    with pytest.raises(ConditionFailed):
        payments.put_payment(
            make_payment(2, payment_id=p.payment_id)
        )  # version 0 = create


def test_if_not_exists_without_version(payments: payment.PaymentsTable) -> None:
    customer = payment.Customer(
        merchant_id="m1", email="a@example.com", name="Ann", addresses=[]
    )
    payments.put_customer(customer, if_not_exists=True)
    with pytest.raises(ConditionFailed):
        payments.put_customer(customer, if_not_exists=True)
    payments.put_customer(customer)  # plain put replaces


def test_query_pagination_order_and_type_filter(
    payments: payment.PaymentsTable,
) -> None:
    created = [make_payment(n) for n in range(1, 8)]
    for p in created:
        payments.put_payment(p)
    payments.put_customer(
        payment.Customer(
            merchant_id="m1", email="x@example.com", name="X", addresses=[]
        )
    )
    payments.put_transaction(
        payment.Transaction(
            merchant_id="m1",
            payment_id=created[0].payment_id,
            sequence=1,
            kind="capture",
            amount=100,
            currency="EUR",
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            audit=[{"by": "system"}],
        )
    )
    first = payments.query_payment_by_merchant(merchant_id="m1", limit=3)
    assert len(first) == 3 and first.cursor is not None
    seen = list(first)
    cursor = first.cursor
    while cursor is not None:
        page = payments.query_payment_by_merchant(
            merchant_id="m1", limit=3, cursor=cursor
        )
        seen.extend(page)
        cursor = page.cursor
    expected = sorted(created, key=lambda p: p.payment_id, reverse=True)  # order: desc
    assert [p.payment_id for p in seen] == [p.payment_id for p in expected]
    assert list(payments.iter_payment_by_merchant(merchant_id="m1")) == seen


def test_index_queries_views_filters_and_collections(
    payments: payment.PaymentsTable,
) -> None:
    customer = payment.Customer(
        merchant_id="m1",
        customer_id="c1",
        email="c@example.com",
        name="C",
        addresses=[],
    )
    payments.put_customer(customer)
    created = [make_payment(n) for n in range(1, 5)]
    created[1].status = "captured"
    for p in created:
        payments.put_payment(p)
    by_customer = list(payments.iter_payment_by_customer(customer_id="c1"))
    assert [p.payment_id for p in by_customer] == [
        p.payment_id for p in reversed(created)
    ]
    since = payments.query_payment_by_customer_since(
        customer_id="c1", created_at=created[2].created_at
    )
    assert [p.payment_id for p in since] == [
        created[2].payment_id,
        created[3].payment_id,
    ]
    views = payments.query_payment_by_status(merchant_id="m1", status="captured")
    assert [(v.amount, v.currency, v.status) for v in views] == [
        (200, "EUR", "captured")
    ]
    assert type(views.items[0]).__name__ == "PaymentByStatusView"
    large = payments.query_payment_large_by_merchant(
        merchant_id="m1", min_amount=300, status="pending"
    )
    assert sorted(p.amount for p in large) == [300, 400]
    activity = list(payments.iter_customer_activity(customer_id="c1"))
    assert sum(isinstance(i, payment.Customer) for i in activity) == 1
    assert sum(isinstance(i, payment.Payment) for i in activity) == 4


def test_between_on_composite_sort_key(payments: payment.PaymentsTable) -> None:
    for seq in range(1, 13):
        payments.put_transaction(
            payment.Transaction(
                merchant_id="m1",
                payment_id="p1",
                sequence=seq,
                kind="fee",
                amount=seq,
                currency="USD",
                occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                audit=[],
            )
        )
    # "{sequence:6}" pads to six digits, so 9 sorts before 10 as a number would.
    page = payments.query_transaction_between_sequences(
        merchant_id="m1", payment_id="p1", sequence_from=8, sequence_to=11
    )
    assert [t.sequence for t in page] == [8, 9, 10, 11]
    assert [
        t.sequence
        for t in payments.iter_transaction_for_payment(
            merchant_id="m1", payment_id="p1"
        )
    ] == list(range(1, 13))
    with pytest.raises(ConstraintViolation, match="key width 6"):
        payment.Transaction(
            merchant_id="m1",
            payment_id="p1",
            sequence=10**6,
            kind="fee",
            amount=1,
            currency="USD",
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            audit=[],
        ).to_item()


def test_cursors_are_signed_and_bound_to_their_access_pattern(
    payments: payment.PaymentsTable,
) -> None:
    for n in range(1, 4):
        payments.put_payment(make_payment(n))
    page = payments.query_payment_by_merchant(merchant_id="m1", limit=1)
    cursor = page.cursor
    assert cursor is not None and "m1" not in cursor
    with pytest.raises(InvalidCursor, match="by_customer"):
        payments.query_payment_by_customer(customer_id="c1", cursor=cursor)
    payload, _, mac = cursor.partition(".")
    forged_key = base64.urlsafe_b64encode(
        json.dumps({"PK": {"S": "MERCHANT#m2"}, "SK": {"S": "PAYMENT#"}}).encode()
    ).decode()
    for bad in (
        "not-a-cursor!",
        f"{forged_key}.{mac}",
        payload,
        f"{payload}.{mac[:-1]}{'B' if mac.endswith('A') else 'A'}",
    ):
        with pytest.raises(InvalidCursor, match=r"not issued|malformed"):
            payments.query_payment_by_merchant(merchant_id="m1", cursor=bad)
    rest = payments.query_payment_by_merchant(merchant_id="m1", cursor=cursor)
    assert len(rest) == 2


def test_cursors_survive_processes_with_a_shared_key(
    payments: payment.PaymentsTable,
) -> None:
    for n in range(1, 3):
        payments.put_payment(make_payment(n))
    set_cursor_key("one deployment's secret")
    try:
        cursor = payments.query_payment_by_merchant(merchant_id="m1", limit=1).cursor
        assert cursor is not None
        set_cursor_key("another secret")
        with pytest.raises(InvalidCursor, match="DYNAMORM_CURSOR_KEY"):
            payments.query_payment_by_merchant(merchant_id="m1", cursor=cursor)
        set_cursor_key("one deployment's secret")
        assert (
            len(payments.query_payment_by_merchant(merchant_id="m1", cursor=cursor))
            == 1
        )
    finally:
        set_cursor_key(None)


def test_constraints_checked_before_writing(payments: payment.PaymentsTable) -> None:
    with pytest.raises(ConstraintViolation) as failure:
        payments.put_payment(make_payment(1, amount=-5))
    assert "Payment.amount" in str(failure.value) and "-5" not in str(failure.value)
    with pytest.raises(ConstraintViolation):
        payments.put_payment(make_payment(1, currency="JPY"))
    assert payments.query_payment_by_merchant(merchant_id="m1").items == []


def test_encryption_fails_closed(
    payments: payment.PaymentsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DYNAMORM_KMS_KEY")
    p = make_payment(1)
    with pytest.raises(EncryptionNotConfigured) as failure:
        payments.put_payment(p)
    assert failure.value.entity == "Payment" and failure.value.attribute == "card_token"
    assert "tok_1" not in str(failure.value)
    assert payments.get_payment(merchant_id="m1", payment_id=p.payment_id) is None


def test_table_name_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        reset_clients()
        monkeypatch.setenv("TODOS_TABLE", "todos-from-env")
        todos = basic.TodosTable(Connection(region="us-east-1"))
        assert todos.handle.name == "todos-from-env"
        with pytest.raises(TableNotFound):
            todos.get_todo(user_id="u", todo_id="t")
        todos.handle.create()
        todo = basic.Todo(user_id="u1", title="write docs")
        todos.put_todo(todo)
        assert todos.get_todo(user_id="u1", todo_id=todo.todo_id) == todo
        open_items = todos.query_todo_open_for_user(user_id="u1", done=False)
        assert [t.title for t in open_items] == ["write docs"]
        monkeypatch.delenv("TODOS_TABLE")
        monkeypatch.setenv("DYNAMORM_TABLE_PREFIX", "dev-")
        assert basic.TodosTable().handle.name == "dev-todos"
        reset_clients()


def test_count_and_scans(payments: payment.PaymentsTable) -> None:
    for n in range(1, 8):
        payments.put_payment(make_payment(n))
    payments.put_customer(
        payment.Customer(
            merchant_id="m1", email="c@example.com", name="C", addresses=[]
        )
    )
    assert payments.count_payment_by_merchant(merchant_id="m1") == 7
    assert (
        payments.count_payment_large_by_merchant(
            merchant_id="m1", min_amount=500, status="pending"
        )
        == 3
    )
    page = payments.scan_payment(limit=2)
    assert page.cursor is not None
    assert (
        len(list(payments.iter_scan_payment())) == 7
    )  # only Payments, not the Customer
    segments = [
        {p.payment_id for p in payments.iter_scan_payment(segment=s, total_segments=3)}
        for s in range(3)
    ]
    assert sum(len(s) for s in segments) == 7 and len(set().union(*segments)) == 7
    whole = payments.scan_payment(limit=1, segment=0, total_segments=1)
    assert whole.cursor is not None
    with pytest.raises(InvalidCursor):  # a cursor of one segmentation is not another's
        payments.scan_payment(cursor=whole.cursor, segment=0, total_segments=2)
    with pytest.raises(ValueError):
        payments.scan_payment(segment=1)


def test_cursors_are_bound_to_the_query_parameters(
    payments: payment.PaymentsTable,
) -> None:
    for merchant in ("m1", "m2"):
        for n in range(1, 4):
            payments.put_payment(make_payment(n, merchant_id=merchant))
    cursor = payments.query_payment_by_merchant(merchant_id="m1", limit=1).cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor, match="other parameters"):
        payments.query_payment_by_merchant(merchant_id="m2", cursor=cursor)
    assert len(payments.query_payment_by_merchant(merchant_id="m1", cursor=cursor)) == 2


def test_condition_failure_can_return_the_stored_item(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    stale = make_payment(1, payment_id=p.payment_id)
    stale.version = 7
    with pytest.raises(ConditionFailed) as failure:
        payments.put_payment(stale, old_on_failure=True)
    assert failure.value.item is not None
    assert payment.Payment.from_item(failure.value.item) == p
    assert "tok_1" not in str(failure.value)
    with pytest.raises(ConditionFailed) as failure:
        payments.put_payment(stale)
    assert failure.value.item is None  # only when asked


def test_if_not_exists_creates_versioned_items_at_version_one(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    p.version = 5
    payments.put_payment(p, if_not_exists=True)
    assert p.version == 1
    stored = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert stored is not None and stored.version == 1


def test_count_of_a_projected_pattern(payments: payment.PaymentsTable) -> None:
    for n in range(1, 4):
        payments.put_payment(make_payment(n))
    assert payments.count_payment_by_status(merchant_id="m1", status="pending") == 3
