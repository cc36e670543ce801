"""The same generated code over real HTTP, on every engine (moto server and dynalite).

Each test runs once per engine (``engine`` fixture, tests/integration/conftest.py). A test that
needs a feature some engine lacks says so with ``@pytest.mark.needs("feature")``; it is skipped
on exactly the engines listed in ``UNSUPPORTED`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from dynamorm_gen.runtime import (
    ConditionFailed,
    ConstraintViolation,
    DeadlineExceeded,
    TransactGet,
    TransactionCancelled,
    TransactWrite,
    ValidationFailed,
)
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.retry import READ
from dynamorm_gen.runtime.table import Connection
from dynamorm_gen.testing import LocalKms
from generated_examples import basic, payment
from tests.clock import StepClock, step_clock
from tests.unit.test_transactions import ledger_entry

pytestmark = pytest.mark.integration

# What an engine cannot do, by name; the only reason a test here may be skipped. dynalite
# (4.0.0) implements neither UpdateTimeToLive/DescribeTimeToLive, nor TransactWriteItems/
# TransactGetItems, nor ReturnValuesOnConditionCheckFailure=ALL_OLD.
UNSUPPORTED: dict[str, frozenset[str]] = {
    "moto": frozenset(),
    "dynalite": frozenset({"ttl", "transactions", "return_old_on_condition_failure"}),
}
FEATURES = frozenset({"ttl", "transactions", "return_old_on_condition_failure"})


def supports(engine_name: str, feature: str) -> bool:
    assert feature in FEATURES, f"unknown engine feature {feature!r}"
    return feature not in UNSUPPORTED[engine_name]


@pytest.fixture(autouse=True)
def _skip_unsupported(request: pytest.FixtureRequest, engine_name: str) -> None:
    for marker in request.node.iter_markers("needs"):
        for feature in marker.args:
            if not supports(engine_name, feature):
                pytest.skip(f"{engine_name} has no {feature} (UNSUPPORTED)")


@pytest.fixture
def connection(engine: str) -> Connection:
    # Data keys from an in-process key service: these tests are about the engines (KMS
    # over HTTP: test_encryption.py).
    connection = Connection(region="us-east-1", kms=LocalKms())
    assert connection.client.endpoint_url == engine
    return connection


@pytest.fixture
def payments(
    connection: Connection, engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[payment.PaymentsTable]:
    monkeypatch.setenv("DYNAMORM_KMS_KEY", "alias/payments")
    table = payment.PaymentsTable(connection, name="payments")
    table.handle.create(ttl=supports(engine_name, "ttl"))
    yield table


def make_payment(n: int, **overrides: object) -> payment.Payment:
    values: dict[str, object] = {
        "merchant_id": "m1",
        "customer_id": "c1",
        "amount": 100 * n,
        "currency": "EUR",
        "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
        "card_token": f"tok_{n}",
        "tags": {"web", f"n{n}"},
        "metadata": {"channel": "web", "attempt": n, "ratio": Decimal("0.50")},
        "fee_rate": Decimal("0.0290"),
    }
    values.update(overrides)
    return payment.Payment(**values)  # type: ignore[arg-type]


def test_crud_and_query(connection: Connection) -> None:
    todos = basic.TodosTable(connection, name="todos")
    todos.handle.create()
    items = [basic.Todo(user_id="u1", title=f"task {n}") for n in range(5)]
    for todo in items:
        todos.put_todo(todo, if_not_exists=True)
    with pytest.raises(ConditionFailed):
        todos.put_todo(items[0], if_not_exists=True)
    items[0].done = True
    items[0].due = date(2026, 2, 28)
    todos.put_todo(items[0])
    assert todos.get_todo(user_id="u1", todo_id=items[0].todo_id) == items[0]
    listed = list(todos.iter_todo_for_user(user_id="u1"))
    assert [t.todo_id for t in listed] == sorted(t.todo_id for t in items)
    page = todos.query_todo_for_user(user_id="u1", limit=2)
    assert len(page) == 2 and page.cursor is not None
    rest = list(todos.query_todo_for_user(user_id="u1", cursor=page.cursor))
    assert [t.todo_id for t in [*page, *rest]] == [t.todo_id for t in listed]
    still_open = todos.query_todo_open_for_user(user_id="u1", done=False)
    assert len(still_open) == 4
    todos.delete_todo(user_id="u1", todo_id=items[1].todo_id)
    assert todos.get_todo(user_id="u1", todo_id=items[1].todo_id) is None


def test_payment_locking(payments: payment.PaymentsTable) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    copy = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert copy == p
    payments.put_payment(p)
    assert copy is not None
    with pytest.raises(ConditionFailed):
        payments.put_payment(copy)
    stored = payments.get_payment(
        merchant_id="m1", payment_id=p.payment_id, consistent=True
    )
    assert stored == p and stored is not None and stored.version == 2


def test_indexes_projections_and_filters(payments: payment.PaymentsTable) -> None:
    made = [make_payment(n) for n in range(1, 6)]
    made[1].status = "captured"
    made[3].status = "captured"
    for p in made:
        payments.put_payment(p)
    newest_first = list(payments.iter_payment_by_merchant(merchant_id="m1"))
    assert [p.payment_id for p in newest_first] == sorted(
        (p.payment_id for p in made), reverse=True
    )
    by_customer = list(payments.iter_payment_by_customer(customer_id="c1"))
    assert [p.created_at for p in by_customer] == sorted(
        (p.created_at for p in made), reverse=True
    )
    since = payments.query_payment_by_customer_since(
        customer_id="c1", created_at=made[2].created_at
    )
    assert {p.payment_id for p in since} == {p.payment_id for p in made[2:]}
    views = list(payments.iter_payment_by_status(merchant_id="m1", status="captured"))
    assert sorted(v.amount for v in views) == [200, 400]
    large = payments.query_payment_large_by_merchant(
        merchant_id="m1", min_amount=300, status="pending"
    )
    assert sorted(p.amount for p in large) == [300, 500]


def test_update_set_status_moves_the_payment_in_the_status_index(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    payments.put_payment(make_payment(2))
    after = payments.update_payment(
        payment.PaymentUpdate().set_status("captured", created_at=p.created_at),
        merchant_id="m1",
        payment_id=p.payment_id,
        expected_version=1,
    )
    assert after is not None and after.status == "captured" and after.version == 2
    captured = list(
        payments.iter_payment_by_status(merchant_id="m1", status="captured")
    )
    assert [v.amount for v in captured] == [100]
    pending = list(payments.iter_payment_by_status(merchant_id="m1", status="pending"))
    assert [v.amount for v in pending] == [200]
    stored = payments.handle.get_item(p.key(), entity="Payment", consistent=True)
    assert stored is not None
    connection = payments.handle.connection
    rebuilt = payment.Payment.from_item(stored, connection).to_item(connection)
    assert (
        stored["GSI2SK"] == rebuilt["GSI2SK"] and stored["GSI2PK"] == rebuilt["GSI2PK"]
    )


def test_collection_and_composite_sort_keys(payments: payment.PaymentsTable) -> None:
    customer = payment.Customer(
        merchant_id="m1",
        customer_id="c1",
        email="c1@example.com",
        name="Ada",
        billing_address=payment.Address(
            line1="1 Main St", city="London", postal_code="N1", country="GB"
        ),
        addresses=[],
        risk_score=1e-05,
        date_of_birth=date(1990, 5, 17),
        api_key_hash=b"\x00\xffhash",
    )
    payments.put_customer(customer, if_not_exists=True)
    assert payments.get_customer(merchant_id="m1", customer_id="c1") == customer
    p = make_payment(1)
    payments.put_payment(p)
    activity = list(payments.iter_customer_activity(customer_id="c1"))
    assert sorted(type(x).__name__ for x in activity) == ["Customer", "Payment"]
    for sequence in (0, 7, 10, 99, 100):
        payments.put_transaction(
            payment.Transaction(
                merchant_id="m1",
                payment_id=p.payment_id,
                sequence=sequence,
                kind="capture",
                amount=-5 if sequence else 1250,
                currency="EUR",
                occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                audit=[{"by": "system", "n": sequence}],
            )
        )
    window = payments.query_transaction_between_sequences(
        merchant_id="m1", payment_id=p.payment_id, sequence_from=7, sequence_to=99
    )
    assert [t.sequence for t in window] == [7, 10, 99]
    listed = list(
        payments.iter_transaction_for_payment(merchant_id="m1", payment_id=p.payment_id)
    )
    assert [t.sequence for t in listed] == [0, 7, 10, 99, 100]


@pytest.mark.parametrize(
    "fee_rate",
    [
        Decimal("0"),
        Decimal("-0.000"),
        Decimal("1E-130"),
        Decimal("-1E-130"),
        Decimal("9.9999999999999999999999999999999999999E+125"),
        Decimal("-9.9999999999999999999999999999999999999E+125"),
        Decimal("12345678901234567890.123456789012345678"),
        Decimal("1.000000000000000000000000000000000000000000"),
        Decimal("1E+40"),
    ],
    ids=str,
)
def test_numbers_at_dynamodb_limits_round_trip(
    payments: payment.PaymentsTable, fee_rate: Decimal
) -> None:
    p = make_payment(1, fee_rate=fee_rate, metadata={"rate": fee_rate})
    payments.put_payment(p)
    got = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert got is not None
    assert got.fee_rate == fee_rate
    assert got.metadata == {"rate": fee_rate}


@pytest.mark.parametrize(
    "amount",
    [10**38 - 1, 10**38, 10**125, 99 * 10**124],
    ids=["38 nines", "1E38", "1E125", "9.9E125"],
)
def test_large_integers_round_trip(
    payments: payment.PaymentsTable, amount: int
) -> None:
    p = make_payment(1, amount=amount)
    payments.put_payment(p)
    got = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert got is not None and got.amount == amount


# Found by dynalite: integers beyond 38 digits must be refused before the request.
@pytest.mark.parametrize(
    "amount",
    [10**38 + 1, 10**126],
    ids=["39 significant digits", "1E126"],
)
def test_integers_beyond_dynamodb_numbers_are_refused_before_writing(
    payments: payment.PaymentsTable, amount: int
) -> None:
    with pytest.raises(ConstraintViolation):
        payments.put_payment(make_payment(1, amount=amount))
    assert list(payments.iter_payment_by_merchant(merchant_id="m1")) == []


def test_items_over_400_kb_are_rejected(payments: payment.PaymentsTable) -> None:
    fits = make_payment(1, metadata={"blob": "x" * 300_000})
    payments.put_payment(fits)
    too_big = make_payment(2, metadata={"blob": "x" * (410 * 1024)})
    with pytest.raises(ValidationFailed):
        payments.put_payment(too_big)
    assert too_big.version == 0
    assert payments.get_payment(merchant_id="m1", payment_id=too_big.payment_id) is None


@pytest.mark.needs("ttl")
def test_ttl_is_enabled_on_create(payments: payment.PaymentsTable) -> None:
    description = payments.handle.connection.client.call(
        "DescribeTimeToLive", {"TableName": "payments"}, READ
    )
    spec = description["TimeToLiveDescription"]
    assert spec["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert spec["AttributeName"] == "expires_at"


def test_batches_are_chunked_within_dynamodb_limits(connection: Connection) -> None:
    # dynalite, like DynamoDB, refuses more than 25 writes or 100 keys in one request;
    # moto does not, so only dynalite checks the chunking here.
    todos = basic.TodosTable(connection, name="todos")
    todos.handle.create()
    created = [basic.Todo(user_id="u1", title=f"t{n}") for n in range(130)]
    assert todos.batch_put_todo(created) == []
    keys = [basic.Todo.make_key(user_id="u1", todo_id=t.todo_id) for t in created]
    result = todos.batch_get_todo(list(reversed(keys)))
    assert result.unprocessed == []
    assert [t.todo_id if t else None for t in result.items] == [
        t.todo_id for t in reversed(created)
    ]
    assert todos.batch_delete_todo(keys[:60]) == []
    assert sum(1 for _ in todos.iter_todo_for_user(user_id="u1")) == 70


# --- deadlines (see dynamorm_gen/runtime/deadline.py) ------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[StepClock]:
    with step_clock(monkeypatch) as fake:
        yield fake


def test_long_read_stops_in_time_and_resumes(
    payments: payment.PaymentsTable, clock: StepClock
) -> None:
    made = [make_payment(n) for n in range(1, 8)]
    for p in made:
        payments.put_payment(p)
    clock.requests.clear()
    seen: list[str] = []
    with bind(Deadline(clock.now + 2.5)), pytest.raises(DeadlineExceeded) as info:
        for p in payments.iter_payment_by_merchant(merchant_id="m1", page_size=2):
            seen.append(p.payment_id)
    assert clock.requests == ["Query"] * 3 and len(seen) == 6
    assert info.value.sent is False and info.value.cursor is not None
    rest = payments.iter_payment_by_merchant(
        merchant_id="m1", page_size=2, cursor=info.value.cursor
    )
    assert sorted(seen + [p.payment_id for p in rest]) == sorted(
        p.payment_id for p in made
    )


def test_batch_stops_in_time_with_the_remainder(
    payments: payment.PaymentsTable, clock: StepClock
) -> None:
    made = [make_payment(n) for n in range(1, 31)]
    for p in made:
        payments.put_payment(p)
    keys = [
        payment.Payment.make_key(merchant_id="m1", payment_id=p.payment_id)
        for p in made
    ]
    with bind(Deadline(clock.now + 0.5)):
        left = payments.batch_delete_payment(keys)
    assert left == keys[25:]  # the second request of 25 never started
    assert len(list(payments.iter_payment_by_merchant(merchant_id="m1"))) == 5
    assert payments.batch_delete_payment(left) == []
    assert list(payments.iter_payment_by_merchant(merchant_id="m1")) == []


# --- transactions and old items on failure, over HTTP ------------------------------------------


@pytest.mark.needs("transactions")
def test_transaction_commits_every_action(payments: payment.PaymentsTable) -> None:
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
    tx.commit()
    assert fresh.version == 1 and tx.committed
    stored = payments.get_payment(
        merchant_id="m1", payment_id=p.payment_id, consistent=True
    )
    assert stored is not None and stored.amount == 0 and stored.version == 2
    txg = TransactGet()
    payments.tx_get_payment(txg, merchant_id="m1", payment_id=fresh.payment_id)
    payments.tx_get_transaction(
        txg, merchant_id="m1", payment_id=p.payment_id, sequence=1
    )
    payments.tx_get_payment(txg, merchant_id="m1", payment_id="absent")
    got_fresh, got_entry, missing = txg.fetch()
    assert got_fresh == fresh and missing is None
    assert isinstance(got_entry, payment.Transaction) and got_entry.sequence == 1


@pytest.mark.needs("transactions", "return_old_on_condition_failure")
def test_cancelled_transaction_names_the_action_and_applies_nothing(
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
    assert "tok_" not in str(failure.value)
    assert (
        payments.get_transaction(merchant_id="m1", payment_id=p.payment_id, sequence=1)
        is None
    )


@pytest.mark.needs("return_old_on_condition_failure")
def test_a_failed_condition_returns_the_stored_item_when_asked(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    stale = make_payment(1, payment_id=p.payment_id, amount=999)
    with pytest.raises(ConditionFailed) as failure:
        payments.put_payment(stale, old_on_failure=True)  # version 0: must not exist
    assert failure.value.item is not None
    assert (
        payment.Payment.from_item(failure.value.item, payments.handle.connection) == p
    )
    with pytest.raises(ConditionFailed) as failure:
        payments.delete_payment(
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=7,
            old_on_failure=True,
        )
    assert failure.value.item is not None and failure.value.after_uncertain is False
