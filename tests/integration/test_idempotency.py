"""Idempotent handlers and functions (runtime/idempotency.py) on moto's server, over both
transports (the plugin's ``dynamorm_engine`` and ``dynamorm_transport``).

Effects are counted on the server: a Payment's ``amount`` is the counter each call adds 1 to
(plain mode: an ADD update; atomic mode: the same update added to the transaction), and the
records are read back from the table. Whether a call raised is asserted besides, never
instead.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dynamorm_gen.runtime import hooks
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.errors import (
    AlreadyInProgress,
    IdempotencyKeyError,
    LockLost,
    OutcomeUnknown,
    PayloadMismatch,
    PreviousCallFailed,
    ResponseNotStored,
    ValidationFailed,
)
from dynamorm_gen.runtime.hooks import CallInfo
from dynamorm_gen.runtime.idempotency import (
    DISABLED_ENV,
    Idempotency,
    IdempotentOperation,
)
from dynamorm_gen.runtime.table import Connection
from dynamorm_gen.runtime.tenants import tenant
from dynamorm_gen.runtime.transact import TransactWrite
from dynamorm_gen.testing import LocalEngine
from generated_examples.payment import (
    CAPTURE_PAYMENT,
    REFUND_PAYMENT,
    IdempotencyRecord,
    Payment,
    PaymentsTable,
    PaymentUpdate,
)
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.integration

MERCHANT = "m-1"
PAYMENT = "p-1"
START = 1_000.0  # the fake clock's first reading, seconds since the epoch
DUPLICATES = 50


class FakeClock:
    """Seconds since the epoch, moved on by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Requests:
    """A hook: the operations sent, by entity."""

    wants_capacity = False

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def before_call(self, call: CallInfo) -> None:
        with self._lock:
            self.sent.append((call.operation, call.entity))

    def after_call(self, call: CallInfo) -> None:
        pass

    def of_records(self) -> list[str]:
        return [
            op
            for op, entity in self.sent
            if entity in ("IdempotencyRecord", "transaction")
        ]


@pytest.fixture
def requests() -> Iterator[Requests]:
    seen = Requests()
    hooks.add_hook(seen)
    yield seen
    hooks.remove_hook(seen)


@pytest.fixture
def payments(
    request: pytest.FixtureRequest,
    dynamorm_engine: LocalEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> PaymentsTable:
    """The payments table on moto's server, with one payment whose amount counts effects.

    On both transports when the test asks for ``dynamorm_transport`` (the flows whose
    requests the transports send); on the fast one for the others, whose logic is the
    same whatever sends the requests (making a botocore client costs more than a test)."""
    if "dynamorm_transport" in request.fixturenames:
        transport: str = request.getfixturevalue("dynamorm_transport")
    else:
        transport = "fast"
        monkeypatch.setenv("DYNAMORM_TRANSPORT", transport)
    table = PaymentsTable(Connection(transport=transport))
    dynamorm_engine.create(table)
    table.put_payment(_payment())
    return table


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _payment(payment_id: str = PAYMENT) -> Payment:
    return Payment(
        merchant_id=MERCHANT,
        payment_id=payment_id,
        customer_id="c-1",
        amount=0,
        currency="EUR",
    )


def effects(payments: PaymentsTable, payment_id: str = PAYMENT) -> int:
    """How many times the server applied the effect: the counter's value."""
    found = payments.get_payment(
        merchant_id=MERCHANT, payment_id=payment_id, consistent=True
    )
    assert found is not None
    return found.amount


def records(payments: PaymentsTable) -> list[IdempotencyRecord]:
    items, cursor = payments.handle.scan(
        {
            "FilterExpression": "#et = :et",
            "ExpressionAttributeNames": {"#et": "_et"},
            "ExpressionAttributeValues": {":et": {"S": "IdempotencyRecord"}},
            "ConsistentRead": True,
        },
        entity="IdempotencyRecord",
    )
    assert cursor is None
    return [IdempotencyRecord.from_item(item) for item in items]


def statuses(payments: PaymentsTable) -> list[str]:
    return sorted(r.status for r in records(payments))


def event(payment_id: str = PAYMENT, amount: int = 100) -> dict[str, Any]:
    """An API Gateway event as CAPTURE_PAYMENT reads it."""
    import json

    return {
        "pathParameters": {"merchant_id": MERCHANT},
        "requestContext": {"requestId": "differs-on-every-retry"},
        "body": json.dumps({"payment_id": payment_id, "amount": amount}),
    }


class LambdaContext:
    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def add_one(payments: PaymentsTable, payment_id: str = PAYMENT) -> None:
    """The plain-mode effect: an ADD, applied once per call."""
    payments.update_payment(
        PaymentUpdate().add_amount(1),
        merchant_id=MERCHANT,
        payment_id=payment_id,
        returning="none",
    )


def add_one_in(
    tx: TransactWrite, payments: PaymentsTable, payment_id: str = PAYMENT
) -> None:
    """The atomic-mode effect: the same ADD, committed with the record."""
    payments.tx_update_payment(
        tx, PaymentUpdate().add_amount(1), merchant_id=MERCHANT, payment_id=payment_id
    )


# --- the plain mode ------------------------------------------------------------------------------


def test_a_repeat_replays_the_stored_response(
    payments: PaymentsTable, requests: Requests, dynamorm_transport: str
) -> None:
    idempotency = Idempotency(payments)
    calls = []

    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> dict[str, Any]:
        calls.append(1)
        add_one(payments)
        return {"statusCode": 201, "body": "captured", "count": len(calls)}

    first = handler(event(), LambdaContext())
    assert first == {"statusCode": 201, "body": "captured", "count": 1}
    # Two requests for a new key: the conditional put, the COMPLETED put.
    assert requests.of_records() == ["PutItem", "PutItem"]
    requests.sent.clear()
    # A retry of the request: another requestContext, the same key and body.
    again = event()
    again["requestContext"] = {"requestId": "another"}
    assert handler(again, LambdaContext()) == first
    assert requests.of_records() == ["PutItem"]  # one failed put, its old item returned
    assert len(calls) == 1
    assert effects(payments) == 1
    (record,) = records(payments)
    assert record.status == "COMPLETED"
    assert record.operation == "capture_payment"
    assert record.expires_at == pytest.approx(_now() + 86400, abs=60)
    assert "captured" not in repr(record)


def _now() -> float:
    import time

    return time.time()


def test_a_reused_key_with_another_payload_is_refused(payments: PaymentsTable) -> None:
    idempotency = Idempotency(payments)

    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> str:
        add_one(payments)
        return "ok"

    handler(event(amount=100), LambdaContext())
    with pytest.raises(PayloadMismatch) as caught:
        handler(event(amount=999), LambdaContext())
    assert "capture_payment" in str(caught.value)
    assert "999" not in str(caught.value) and "p-1" not in str(caught.value)
    assert effects(payments) == 1


def test_a_missing_key_is_refused_before_anything_is_sent(
    payments: PaymentsTable, requests: Requests
) -> None:
    idempotency = Idempotency(payments)

    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> str:
        add_one(payments)
        return "ok"

    broken = event()
    del broken["pathParameters"]
    with pytest.raises(IdempotencyKeyError, match=r"pathParameters\.merchant_id"):
        handler(broken, LambdaContext())
    broken = event()
    broken["body"] = "not json"
    with pytest.raises(IdempotencyKeyError, match="not JSON"):
        handler(broken, LambdaContext())
    assert requests.of_records() == []
    assert effects(payments) == 0


def test_a_failure_deletes_the_record_and_the_next_call_runs(
    payments: PaymentsTable, dynamorm_transport: str
) -> None:
    idempotency = Idempotency(payments)
    attempts = []

    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("card network down")  # before any effect
        add_one(payments)
        return "ok"

    with pytest.raises(RuntimeError):
        handler(event(), LambdaContext())
    assert records(payments) == []
    assert handler(event(), LambdaContext()) == "ok"
    assert handler(event(), LambdaContext()) == "ok"
    assert len(attempts) == 2
    assert effects(payments) == 1
    assert statuses(payments) == ["COMPLETED"]


def test_a_failure_kept_failed_is_not_run_again(payments: PaymentsTable) -> None:
    idempotency = Idempotency(payments, on_failure="keep")
    attempts = []

    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> str:
        attempts.append(1)
        raise ValueError("declined")

    with pytest.raises(ValueError):
        handler(event(), LambdaContext())
    with pytest.raises(PreviousCallFailed) as caught:
        handler(event(), LambdaContext())
    assert caught.value.failure == "ValueError"
    assert "declined" not in str(caught.value)
    assert len(attempts) == 1
    assert statuses(payments) == ["FAILED"]


def test_a_write_of_unknown_outcome_keeps_the_record_failed(
    payments: PaymentsTable,
) -> None:
    """Whatever on_failure says, a function that raised OutcomeUnknown may have applied its
    effect: its record is kept FAILED, never released to run it again."""
    idempotency = Idempotency(payments)

    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> str:
        raise OutcomeUnknown("the write may or may not have been applied")

    with pytest.raises(OutcomeUnknown):
        handler(event(), LambdaContext())
    with pytest.raises(PreviousCallFailed) as caught:
        handler(event(), LambdaContext())
    assert caught.value.failure == "OutcomeUnknown"


def test_a_plain_function_keys_on_its_arguments(payments: PaymentsTable) -> None:
    idempotency = Idempotency(payments)
    refunds = []

    @idempotency.function(REFUND_PAYMENT)
    def refund(
        merchant_id: str, payment_id: str, refund_id: str, amount: int = 5
    ) -> dict[str, int]:
        refunds.append(refund_id)
        add_one(payments, payment_id)
        return {"refunded": amount}

    assert refund(MERCHANT, PAYMENT, "r-1") == {"refunded": 5}
    assert refund(MERCHANT, payment_id=PAYMENT, refund_id="r-1") == {"refunded": 5}
    assert refund(MERCHANT, PAYMENT, "r-2", amount=5) == {"refunded": 5}
    with pytest.raises(PayloadMismatch):  # same key, another amount
        refund(MERCHANT, PAYMENT, "r-1", amount=7)
    assert refunds == ["r-1", "r-2"]
    assert effects(payments) == 2
    for record in records(payments):  # REFUND_PAYMENT's own expiry, not the section's
        assert record.expires_at == pytest.approx(_now() + 3600, abs=60)


def test_a_function_keyed_by_a_callable_and_the_whole_arguments(
    payments: PaymentsTable,
) -> None:
    idempotency = Idempotency(payments)
    calls = []

    @idempotency.function(IdempotentOperation("charge", key=lambda order: order["id"]))
    def charge(order: dict[str, Any]) -> list[Any]:
        calls.append(order["id"])
        add_one(payments)
        return ["charged", order["id"]]

    assert charge({"id": "o-1", "total": 3}) == ["charged", "o-1"]
    assert charge({"id": "o-1", "total": 3}) == ["charged", "o-1"]
    with pytest.raises(PayloadMismatch):
        charge({"id": "o-1", "total": 4})
    assert calls == ["o-1"]

    @idempotency.function(IdempotentOperation("every_argument"))
    def anything(a: int, b: int) -> int:
        calls.append("x")
        return a + b

    assert anything(1, 2) == anything(1, b=2) == 3
    assert anything(2, 1) == 3
    assert calls == ["o-1", "x", "x"]


def test_a_response_that_cannot_be_stored(payments: PaymentsTable) -> None:
    idempotency = Idempotency(payments)

    @idempotency.function(IdempotentOperation("big", key="n"))
    def big(n: int) -> str:
        add_one(payments)
        return "x" * 500_000

    with pytest.raises(ResponseNotStored) as caught:
        big(1)
    assert caught.value.applied is True
    assert caught.value.response == "x" * 500_000
    assert "xxxx" not in str(caught.value)
    with pytest.raises(ResponseNotStored) as caught:  # a repeat cannot replay it
        big(1)
    assert caught.value.applied is True
    assert effects(payments) == 1

    @idempotency.function(IdempotentOperation("not_json", key="n"))
    def not_json(n: int) -> object:
        return {1, 2}

    with pytest.raises(ResponseNotStored, match="no JSON form"):
        not_json(1)


def test_a_key_in_progress_is_refused_or_waited_for(
    payments: PaymentsTable, clock: FakeClock
) -> None:
    """A repeat while the first call runs: AlreadyInProgress at once, retryable; with
    ``wait``, the repeat waits and replays."""
    refusing = Idempotency(payments, clock=clock)
    waiting = Idempotency(payments, clock=clock, wait=5.0)
    inner: list[Any] = []

    op = IdempotentOperation("slow", key="n")

    @refusing.function(op)
    def repeat_refused(n: int) -> str:
        return "never"

    @waiting.function(op)
    def repeat_waiting(n: int) -> str:
        return "never"

    @refusing.function(op)
    def first(n: int) -> str:
        with pytest.raises(AlreadyInProgress) as caught:
            repeat_refused(n)
        assert caught.value.retryable is True
        assert 0 < caught.value.retry_after <= 900
        inner.append("refused")
        return "done"

    assert first(1) == "done"
    assert inner == ["refused"]
    # The waiting repeat, in another thread while the first call holds the key.
    started = threading.Event()
    release = threading.Event()

    @refusing.function(IdempotentOperation("slow", key="n"))
    def holder(n: int) -> str:
        started.set()
        release.wait(10)
        add_one(payments)
        return "held"

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(holder, 2)
        assert started.wait(10)
        waiter = pool.submit(repeat_waiting, 2)
        release.set()
        assert held.result(10) == "held"
        assert waiter.result(10) == "held"
    assert effects(payments) == 1


def test_the_in_progress_lock_expires_with_the_deadline(
    payments: PaymentsTable, clock: FakeClock, dynamorm_transport: str
) -> None:
    """A call that died holding the key (a Lambda timeout) keeps it until its invocation's
    deadline; after that the next call runs, once."""
    db = LambdaDatabase(transport=payments.handle.connection.transport)
    idempotency = Idempotency(payments, clock=clock)
    runs = []

    class Timeout(BaseException):
        """What Lambda does at a timeout: the process is stopped, no handler code runs."""

    @db.handler
    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> str:
        runs.append(1)
        if len(runs) == 1:
            raise Timeout
        add_one(payments)
        return "ok"

    try:
        with pytest.raises(Timeout):
            handler(event(), LambdaContext(remaining_ms=3_000))
        (record,) = records(payments)
        assert record.status == "IN_PROGRESS"
        # The lock ends with the invocation (3 s, margin included), not an hour later.
        assert record.in_progress_until == pytest.approx((START + 3) * 1000, abs=200)
        with pytest.raises(AlreadyInProgress) as caught:
            handler(event(), LambdaContext())
        assert caught.value.retry_after == pytest.approx(3, abs=0.2)
        clock.advance(3.5)
        assert handler(event(), LambdaContext()) == "ok"
        assert handler(event(), LambdaContext()) == "ok"
        assert (
            len(runs) == 2
        )  # the timed out one and one more: the refused one never ran
        assert effects(payments) == 1
    finally:
        db.close()


def test_a_configured_in_progress_expiry_outlives_the_invocation(
    payments: PaymentsTable, clock: FakeClock
) -> None:
    idempotency = Idempotency(payments, clock=clock, in_progress_expiry=60)
    runs = []

    class Timeout(BaseException):
        pass

    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> str:
        runs.append(1)
        if len(runs) == 1:
            raise Timeout
        return "ok"

    with bind(Deadline.after(3)), pytest.raises(Timeout):
        handler(event(), LambdaContext(3_000))
    clock.advance(10)  # past the invocation, within the configured lock
    with pytest.raises(AlreadyInProgress):
        handler(event(), LambdaContext())
    clock.advance(60)
    assert handler(event(), LambdaContext()) == "ok"


def test_a_completed_record_expires(payments: PaymentsTable, clock: FakeClock) -> None:
    idempotency = Idempotency(payments, clock=clock, cache_size=8)
    op = IdempotentOperation("short", key="n", expires_after=60)
    runs = []

    @idempotency.function(op)
    def short(n: int) -> int:
        runs.append(n)
        add_one(payments)
        return len(runs)

    assert short(1) == 1
    clock.advance(59)
    assert short(1) == 1  # replayed, from the cache
    clock.advance(2)  # past its expiry: DynamoDB's TTL may not have deleted it yet
    idempotency.clear_cache()
    assert short(1) == 2
    assert short(1) == 2
    assert effects(payments) == 2


def test_the_local_cache_replays_without_a_request(
    payments: PaymentsTable, requests: Requests
) -> None:
    idempotency = Idempotency(payments, cache_size=1)
    op = IdempotentOperation("cached", key="n")

    @idempotency.function(op)
    def cached(n: int, note: str = "") -> int:
        return n * 10

    assert cached(1) == 10
    requests.sent.clear()
    assert cached(1) == 10
    assert requests.of_records() == []
    with pytest.raises(PayloadMismatch):  # checked against the cached payload hash
        cached(1, note="other")
    assert cached(2) == 20  # the cache holds one: 1 is dropped
    requests.sent.clear()
    assert cached(1) == 10
    assert requests.of_records() == ["PutItem"]


def test_the_disabled_switch(
    payments: PaymentsTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLED_ENV, "1")
    idempotency = Idempotency(payments)

    @idempotency.handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object) -> str:
        add_one(payments)
        return "ok"

    @idempotency.atomic_handler(CAPTURE_PAYMENT)
    def atomic(evt: dict[str, Any], context: object, tx: TransactWrite) -> str:
        add_one_in(tx, payments)
        return "ok"

    for _ in range(2):
        with pytest.warns(RuntimeWarning, match="for tests only"):
            assert handler(event(), LambdaContext()) == "ok"
        with pytest.warns(RuntimeWarning):
            assert atomic(event(), LambdaContext()) == "ok"
    assert effects(payments) == 4
    assert records(payments) == []


def test_keys_are_scoped_by_tenant(payments: PaymentsTable) -> None:
    """The same key under two tenants is two records: one tenant never replays another's
    response."""
    idempotency = Idempotency(payments)
    seen = []

    @idempotency.function(IdempotentOperation("scoped", key="n"))
    def scoped(n: int) -> str:
        seen.append(n)
        return f"call {len(seen)}"

    with tenant("t-1"):
        assert scoped(1) == "call 1"
        assert scoped(1) == "call 1"
    with tenant("t-2"):
        assert scoped(1) == "call 2"
    assert scoped(1) == "call 3"
    assert len(records(payments)) == 3


def test_handlers_keyed_by_functions_of_the_event(payments: PaymentsTable) -> None:
    idempotency = Idempotency(payments)
    op = IdempotentOperation(
        "from_functions",
        key=lambda evt: evt["headers"]["Idempotency-Key"],
        payload=lambda evt: evt["body"],
    )
    calls = []

    @idempotency.handler(op)
    def handler(evt: dict[str, Any], context: object) -> int:
        calls.append(1)
        return len(calls)

    first = {"headers": {"Idempotency-Key": "k-1"}, "body": "a", "requestId": "1"}
    again = {"headers": {"Idempotency-Key": "k-1"}, "body": "a", "requestId": "2"}
    assert handler(first, LambdaContext()) == handler(again, LambdaContext()) == 1
    with pytest.raises(PayloadMismatch):
        handler({**again, "body": "b"}, LambdaContext())

    # Without a payload path, a repeat must carry the whole event unchanged.
    whole = IdempotentOperation("whole_event", key="headers.Idempotency-Key")

    @idempotency.handler(whole)
    def strict(evt: dict[str, Any], context: object) -> int:
        calls.append(1)
        return len(calls)

    assert strict(first, LambdaContext()) == strict(first, LambdaContext()) == 2
    with pytest.raises(PayloadMismatch):
        strict(again, LambdaContext())


def test_a_function_called_with_arguments_it_does_not_take(
    payments: PaymentsTable,
) -> None:
    idempotency = Idempotency(payments)

    @idempotency.function(REFUND_PAYMENT)
    def refund(merchant_id: str, refund_id: str) -> str:
        return "ok"

    with pytest.raises(TypeError, match="refund_payment: missing a required argument"):
        refund("m-1")  # type: ignore[call-arg]
    with pytest.raises(IdempotencyKeyError, match="names null in the arguments"):
        refund("m-1", None)  # type: ignore[arg-type]


def test_a_waiting_repeat_runs_when_the_first_call_fails(
    payments: PaymentsTable,
) -> None:
    """The call the repeat waits for raises and releases the key: the repeat takes it and
    runs itself."""
    idempotency = Idempotency(payments, wait=10.0)
    op = IdempotentOperation("flaky", key="n")
    started = threading.Event()
    release = threading.Event()
    runs = []

    @idempotency.function(op)
    def flaky(n: int) -> str:
        runs.append(1)
        if len(runs) == 1:
            started.set()
            release.wait(10)
            raise RuntimeError("first call fails")
        add_one(payments)
        return "second"

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(flaky, 1)
        assert started.wait(10)
        second = pool.submit(flaky, 1)
        release.set()
        with pytest.raises(RuntimeError):
            first.result(10)
        assert second.result(10) == "second"
    assert effects(payments) == 1


def test_a_waiting_repeat_gives_up_after_its_wait(
    payments: PaymentsTable, clock: FakeClock
) -> None:
    """``wait`` bounds the time slept (sleep is injected here), and the deadline too."""
    slept: list[float] = []
    idempotency = Idempotency(payments, wait=2.0, clock=clock, sleep=slept.append)
    op = IdempotentOperation("stuck", key="n")

    class Timeout(BaseException):
        pass

    @idempotency.function(op)
    def stuck(n: int) -> str:
        if not slept and clock.now == START:
            raise Timeout  # dies holding the key
        return "ran"

    with pytest.raises(Timeout):
        stuck(1)
    with pytest.raises(AlreadyInProgress):
        stuck(1)
    assert sum(slept) == pytest.approx(2.0)
    assert slept[0] == 0.05 and max(slept) <= 1.0
    # The deadline ends the wait first: here each pause uses up 40 of its 100 seconds.
    deadline = Deadline.after(100)

    def sleep_on_the_deadline(seconds: float) -> None:
        deadline.at -= 40

    impatient = Idempotency(payments, wait=50, clock=clock, sleep=sleep_on_the_deadline)
    with bind(deadline), pytest.raises(AlreadyInProgress):
        impatient.function(op)(lambda n: "ran")(1)
    assert deadline.remaining() < 0
    # The lock expires while a repeat waits: it takes the key and runs.
    slept.clear()
    sleeps = slept.append

    def sleep_and_expire(seconds: float) -> None:
        sleeps(seconds)
        clock.advance(1000)

    waiting = Idempotency(payments, wait=2.0, clock=clock, sleep=sleep_and_expire)
    assert waiting.function(op)(lambda n: "ran")(1) == "ran"


def test_plain_mode_on_both_engines(engine: str) -> None:
    """dynalite returns no old item when a condition fails: the record is read instead."""
    table = PaymentsTable()
    table.handle.create(ttl=False)
    table.put_payment(_payment())
    idempotency = Idempotency(table, on_failure="keep")
    runs = []

    @idempotency.function(IdempotentOperation("both", key="n"))
    def both(n: int) -> int:
        runs.append(n)
        if n == 2:
            raise ValueError("two")
        add_one(table)
        return n * 10

    assert both(1) == both(1) == 10
    with pytest.raises(ValueError):
        both(2)
    with pytest.raises(PreviousCallFailed):
        both(2)
    assert runs == [1, 2]
    assert effects(table) == 1


# --- the atomic mode -----------------------------------------------------------------------------


def test_atomic_the_effect_and_the_record_commit_together(
    payments: PaymentsTable, requests: Requests, dynamorm_transport: str
) -> None:
    idempotency = Idempotency(payments)

    @idempotency.atomic_handler(CAPTURE_PAYMENT)
    def handler(
        evt: dict[str, Any], context: object, tx: TransactWrite
    ) -> dict[str, str]:
        add_one_in(tx, payments)
        return {"status": "captured"}

    assert handler(event(), LambdaContext()) == {"status": "captured"}
    # A put, then one transaction with the business write and the COMPLETED record.
    assert requests.of_records() == ["PutItem", "TransactWriteItems"]
    requests.sent.clear()
    assert handler(event(), LambdaContext()) == {"status": "captured"}
    assert requests.of_records() == ["PutItem"]
    assert effects(payments) == 1
    assert statuses(payments) == ["COMPLETED"]


def test_atomic_a_failure_commits_nothing(
    payments: PaymentsTable, dynamorm_transport: str
) -> None:
    idempotency = Idempotency(payments)
    attempts = []

    @idempotency.atomic_handler(CAPTURE_PAYMENT)
    def handler(evt: dict[str, Any], context: object, tx: TransactWrite) -> str:
        attempts.append(1)
        add_one_in(tx, payments)  # added, not sent
        if len(attempts) == 1:
            raise RuntimeError("after the write was added")
        return "ok"

    with pytest.raises(RuntimeError):
        handler(event(), LambdaContext())
    assert effects(payments) == 0
    assert records(payments) == []
    assert handler(event(), LambdaContext()) == "ok"
    assert effects(payments) == 1


def test_atomic_a_business_condition_that_fails_releases_the_key(
    payments: PaymentsTable,
) -> None:
    idempotency = Idempotency(payments)

    @idempotency.atomic_function(IdempotentOperation("capture", key="payment_id"))
    def capture(payment_id: str, *, tx: TransactWrite) -> str:
        add_one_in(
            tx, payments, payment_id
        )  # no such payment: the update's condition fails
        return "ok"

    from dynamorm_gen.runtime.errors import TransactionCancelled

    with pytest.raises(TransactionCancelled):
        capture("p-missing")
    assert records(payments) == []
    payments.put_payment(_payment("p-missing"))
    assert capture("p-missing") == "ok"
    assert effects(payments, "p-missing") == 1


def test_atomic_a_response_too_large_commits_nothing(payments: PaymentsTable) -> None:
    idempotency = Idempotency(payments)

    @idempotency.atomic_function(IdempotentOperation("big", key="n"))
    def big(n: int, *, tx: TransactWrite) -> str:
        add_one_in(tx, payments)
        return "x" * 500_000

    with pytest.raises(ResponseNotStored) as caught:
        big(1)
    assert caught.value.applied is False
    assert effects(payments) == 0
    assert records(payments) == []


def test_atomic_the_function_may_not_commit_its_transaction(
    payments: PaymentsTable,
) -> None:
    idempotency = Idempotency(payments)

    @idempotency.atomic_function(IdempotentOperation("rogue", key="n"))
    def rogue(n: int, *, tx: TransactWrite) -> str:
        add_one_in(tx, payments)
        tx.commit()
        return "ok"

    with pytest.raises(ValidationFailed, match="committed for it"):
        rogue(1)
    assert effects(payments) == 0
    assert records(payments) == []


def test_atomic_a_call_that_outlived_its_lock_commits_nothing(
    payments: PaymentsTable, clock: FakeClock, dynamorm_transport: str
) -> None:
    """A call whose lock expired while it ran, and whose key another call took over: its
    transaction is cancelled by the record's condition, so only the other's effect stands."""
    idempotency = Idempotency(payments, clock=clock, in_progress_expiry=5)
    op = IdempotentOperation("late", key="n")

    @idempotency.atomic_function(op)
    def other(n: int, *, tx: TransactWrite) -> str:
        add_one_in(tx, payments)
        return "other"

    @idempotency.atomic_function(op)
    def late(n: int, *, tx: TransactWrite) -> str:
        add_one_in(tx, payments)
        clock.advance(10)  # its lock expires while it runs
        assert other(1) == "other"
        return "late"

    with pytest.raises(LockLost) as caught:
        late(1)
    assert "nothing of this call was committed" in str(caught.value)
    assert effects(payments) == 1
    (record,) = records(payments)
    assert record.status == "COMPLETED"
    assert late(1) == "other"  # a repeat replays the call that committed


def test_plain_a_call_that_outlived_its_lock_is_told(
    payments: PaymentsTable, clock: FakeClock
) -> None:
    idempotency = Idempotency(payments, clock=clock, in_progress_expiry=5)
    op = IdempotentOperation("late", key="n")

    @idempotency.function(op)
    def other(n: int) -> str:
        return "other"

    @idempotency.function(op)
    def late(n: int) -> str:
        clock.advance(10)
        assert other(1) == "other"
        return "late"

    with pytest.raises(LockLost, match="effects were applied"):
        late(1)
    assert late(1) == "other"


# --- exactly one effect under 50 concurrent duplicates ---------------------------------------


@pytest.mark.parametrize("mode", ["plain", "atomic"])
@pytest.mark.parametrize("wait", [0.0, 20.0])
def test_fifty_concurrent_duplicates_have_one_effect(
    dynamorm_engine: LocalEngine,
    dynamorm_transport: str,
    payments: PaymentsTable,
    mode: str,
    wait: float,
) -> None:
    """50 threads send the same request at once: the server applies the effect once and
    holds one COMPLETED record; every other call replays the response or (without ``wait``)
    gets the retryable in-progress error.

    Through the fault proxy, serializing: moto's server applies concurrent conditional
    writes of one item without holding it between the check and the write, so two puts
    racing for a new key can both succeed there, where DynamoDB lets one fail (see
    tests/faults/proxy.py)."""
    with FaultProxy(dynamorm_engine.url, serialize=True) as proxy:
        through = PaymentsTable(
            Connection(endpoint_url=proxy.url, transport=dynamorm_transport)
        )
        outcomes, ran = _duplicates(through, mode, wait)
    assert ran == 1
    assert effects(payments) == 1
    assert statuses(payments) == ["COMPLETED"]
    assert sum(outcomes.values()) == DUPLICATES
    if wait:
        assert outcomes == {"response": DUPLICATES}
    else:
        assert outcomes["response"] >= 1
        assert set(outcomes) <= {"response", "in progress"}
    replays = outcomes["response"] - 1
    print(
        f"{dynamorm_transport}, {mode}, wait {wait}: 1 ran, {replays} replayed,"
        f" {outcomes['in progress']} in progress"
    )


def _duplicates(
    payments: PaymentsTable, mode: str, wait: float
) -> tuple[Counter[str], int]:
    """Send DUPLICATES identical requests from as many threads at once: the outcome of
    each ("response" or "in progress"), and how many times the handler ran."""
    idempotency = Idempotency(payments, wait=wait)
    gate = threading.Barrier(DUPLICATES)
    ran = []

    def work() -> dict[str, str]:
        import time

        ran.append(1)
        time.sleep(0.2)  # long enough for every duplicate to find the key in progress
        return {"status": "captured"}

    if mode == "plain":

        @idempotency.handler(CAPTURE_PAYMENT)
        def handler(evt: dict[str, Any], context: object) -> dict[str, str]:
            add_one(payments)
            return work()

    else:

        @idempotency.atomic_handler(CAPTURE_PAYMENT)
        def handler(
            evt: dict[str, Any], context: object, tx: TransactWrite
        ) -> dict[str, str]:
            add_one_in(tx, payments)
            return work()

    def duplicate(_: int) -> str:
        gate.wait(30)
        try:
            response = handler(event(), LambdaContext())
        except AlreadyInProgress:
            return "in progress"
        assert response == {"status": "captured"}
        return "response"

    with ThreadPoolExecutor(DUPLICATES) as pool:
        outcomes = Counter(pool.map(duplicate, range(DUPLICATES)))
    return outcomes, len(ran)


# --- partners -----------------------------------------------------------------------------------


def test_partners_keep_their_records_in_their_accounts(
    dynamorm_engine: LocalEngine,
    dynamorm_partners: Any,
    dynamorm_transport: str,
) -> None:
    db = LambdaDatabase(partners=dynamorm_partners, transport=dynamorm_transport)
    partner_payments = db.partner_table(PaymentsTable)
    idempotency = Idempotency(partner_payments)
    try:
        for partner in ("partner-a", "partner-b"):
            with db.partner(partner):
                dynamorm_engine.create(partner_payments)
                partner_payments.put_payment(_payment())

        @idempotency.atomic_handler(CAPTURE_PAYMENT)
        def handler(evt: dict[str, Any], context: object, tx: TransactWrite) -> str:
            add_one_in(tx, partner_payments)
            return "ok"

        with db.partner("partner-a"):
            assert handler(event(), LambdaContext()) == "ok"
            assert handler(event(), LambdaContext()) == "ok"
        with db.partner("partner-b"):
            assert handler(event(), LambdaContext()) == "ok"
        for partner in ("partner-a", "partner-b"):
            with db.partner(partner):
                assert effects(partner_payments) == 1
                assert statuses(partner_payments) == ["COMPLETED"]
    finally:
        db.close()


def test_errors_of_configuration(payments: PaymentsTable) -> None:
    from dynamorm_gen.runtime.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="holds no idempotency records"):
        Idempotency(object())
    for options in (
        {"in_progress_expiry": 0},
        {"wait": -1},
        {"on_failure": "retry"},
        {"cache_size": -1},
    ):
        with pytest.raises(ConfigurationError):
            Idempotency(payments, **options)  # type: ignore[arg-type]
    idempotency = Idempotency(payments)
    with pytest.raises(ConfigurationError, match="needs a key"):
        idempotency.handler(IdempotentOperation("keyless"))
    with pytest.raises(ConfigurationError, match="takes no 'tx'"):

        @idempotency.atomic_function(IdempotentOperation("no_tx"))
        def no_tx(n: int) -> None:
            pass

    assert repr(idempotency) == "Idempotency(table 'payments')"
