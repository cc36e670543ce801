"""Lambda support on moto in-process: deadlines through every multi-request operation, hooks,
capacity and cost, environment detection and memory tuning.

Time is a fake clock that a hook moves on by one second per request, so where a deadline
cuts an operation is exact, not a matter of machine speed.
"""

from __future__ import annotations

import json
import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from dynamorm_gen.runtime import (
    ConditionFailed,
    ConfigurationError,
    DeadlineExceeded,
    deadline,
    hooks,
)
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase, Tuning, detect
from dynamorm_gen.runtime.botocore_transport import BotocoreTransport
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.fast import Credentials, FastTransport
from dynamorm_gen.runtime.hooks import CallInfo, CapacityMeter, PriceTable
from generated_examples import payment
from tests.clock import StepClock, step_clock
from tests.unit.payments import make_payment

SECRET_VALUE = "4111-1111-1111-1111"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[StepClock]:
    with step_clock(monkeypatch) as fake:
        yield fake


def _seed(table: payment.PaymentsTable, count: int) -> list[str]:
    ids = []
    for n in range(count):
        p = make_payment(n + 1, payment_id=f"p-{n:03d}")
        table.put_payment(p)
        ids.append(p.payment_id)
    return ids


# --- deadlines -----------------------------------------------------------------------------------


def test_iteration_stops_at_the_deadline_and_resumes_from_the_cursor(
    payments: payment.PaymentsTable, clock: StepClock
) -> None:
    ids = _seed(payments, 7)
    seen: list[str] = []
    # Requests take one second: three pages of two start within 2.5 s, the fourth cannot.
    with bind(Deadline(clock.now + 2.5)), pytest.raises(DeadlineExceeded) as info:
        for p in payments.iter_payment_by_merchant(merchant_id="m1", page_size=2):
            seen.append(p.payment_id)
    assert len(seen) == 6 and info.value.sent is False
    assert info.value.cursor is not None and info.value.operation == "Query"
    rest = [
        p.payment_id
        for p in payments.iter_payment_by_merchant(
            merchant_id="m1", page_size=2, cursor=info.value.cursor
        )
    ]
    assert sorted(seen + rest) == sorted(ids)  # every payment exactly once


def test_no_time_to_start_raises_before_sending(
    payments: payment.PaymentsTable, clock: StepClock
) -> None:
    with (
        bind(Deadline(clock.now + 0.1, margin=0.2)),
        pytest.raises(DeadlineExceeded) as info,
    ):
        payments.put_payment(make_payment(1))
    assert clock.requests == [] and info.value.sent is False
    assert "no time left before the deadline" in str(info.value)
    # The put's first request is KMS's, for the data key of its encrypted card token.
    assert "entity Payment" in str(info.value)
    assert "GenerateDataKey" in str(info.value)


def test_a_query_page_hands_back_its_own_cursor(
    payments: payment.PaymentsTable, clock: StepClock
) -> None:
    _seed(payments, 3)
    first = payments.query_payment_by_merchant(merchant_id="m1", limit=2)
    with bind(Deadline(clock.now - 1)), pytest.raises(DeadlineExceeded) as info:
        payments.query_payment_by_merchant(merchant_id="m1", cursor=first.cursor)
    assert info.value.cursor == first.cursor  # the same page, next time


def test_batch_get_returns_the_keys_it_had_no_time_for(
    payments: payment.PaymentsTable, clock: StepClock
) -> None:
    ids = _seed(payments, 3)
    keys = [payment.Payment.make_key(merchant_id="m1", payment_id=i) for i in ids]
    keys += [
        payment.Payment.make_key(merchant_id="m1", payment_id=f"x-{n}")
        for n in range(120)
    ]  # 123 keys: two requests of at most 100
    with bind(Deadline(clock.now + 0.5)):  # time for one one-second request
        result = payments.batch_get_payment(keys)
    assert [p.payment_id for p in result.items[:3] if p is not None] == ids
    assert result.unprocessed == keys[100:]  # the second chunk never started


def test_batch_write_returns_what_it_had_no_time_for(
    payments: payment.PaymentsTable, clock: StepClock
) -> None:
    ids = _seed(payments, 30)
    keys = [payment.Payment.make_key(merchant_id="m1", payment_id=i) for i in ids]
    with bind(Deadline(clock.now + 0.5)):  # time for one request of 25 deletes
        left = payments.batch_delete_payment(keys)
    assert left == keys[25:]
    assert len(list(payments.iter_payment_by_merchant(merchant_id="m1"))) == 5


def test_count_over_many_pages_stops_at_the_deadline(
    payments: payment.PaymentsTable, clock: StepClock
) -> None:
    _seed(payments, 2)
    with bind(Deadline(clock.now + 0.5)):
        assert payments.count_payment_by_merchant(merchant_id="m1") == 2
        with pytest.raises(DeadlineExceeded):
            payments.count_payment_by_merchant(merchant_id="m1")


def test_deadline_binding_is_per_context() -> None:
    assert deadline.current() is None
    outer = Deadline.after(5)
    with bind(outer):
        assert deadline.current() is outer
        with bind(None):
            assert deadline.current() is None
        assert deadline.current() is outer
    assert deadline.current() is None


# --- hooks, capacity and cost --------------------------------------------------------------------


@pytest.fixture
def meter() -> Iterator[CapacityMeter]:
    found = CapacityMeter(PriceTable(read_per_million=0.25, write_per_million=1.25))
    hooks.add_hook(found)
    yield found
    hooks.remove_hook(found)


def test_capacity_is_summed_per_table_with_a_cost(
    payments: payment.PaymentsTable, meter: CapacityMeter
) -> None:
    calls: list[CallInfo] = []
    recorder = Recorder(calls)
    hooks.add_hook(recorder)
    try:
        p = make_payment(1)
        payments.put_payment(p)
        payments.get_payment(merchant_id=p.merchant_id, payment_id=p.payment_id)
        list(payments.iter_payment_by_merchant(merchant_id=p.merchant_id))
    finally:
        hooks.remove_hook(recorder)
    generate, put, get, query = calls
    # Hooks see KMS's call for the card token's data key too (none for reading it back:
    # the key is cached); it consumes no capacity.
    assert (generate.service, generate.operation) == ("kms", "GenerateDataKey")
    assert generate.entity == "Payment" and generate.consumed == []
    # moto reports TOTAL capacity: 1 write unit for a small put, 0.5 read units for an
    # eventually consistent get of under 4 KB.
    assert (put.write_units, put.read_units) == (1.0, 0.0)
    assert (get.write_units, get.read_units) == (0.0, 0.5)
    assert query.read_units > 0 and query.write_units == 0
    usage = meter.usage["payments-test"]
    assert usage.requests == 3 and usage.retries == 0
    reads = 0.5 + query.read_units
    assert usage.write_units == 1.0 and usage.read_units == reads
    assert meter.estimated_cost() == pytest.approx((reads * 0.25 + 1.0 * 1.25) / 1e6)
    summary = meter.summary()
    assert (
        summary["requests"] == 3
        and summary["tables"]["payments-test"]["write_units"] == 1
    )
    meter.reset()
    assert meter.summary()["requests"] == 0


class Recorder:
    """Keeps every CallInfo it sees."""

    wants_capacity = True

    def __init__(self, calls: list[CallInfo]) -> None:
        self.calls = calls

    def before_call(self, call: CallInfo) -> None:
        pass

    def after_call(self, call: CallInfo) -> None:
        self.calls.append(call)


def test_consumed_capacity_is_asked_for_only_when_a_hook_wants_it(
    payments: payment.PaymentsTable,
) -> None:
    seen: list[dict[str, Any]] = []
    transport = payments.handle.connection.client.transport
    assert isinstance(transport, BotocoreTransport)

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    transport.client.meta.events.register(
        "provide-client-params.dynamodb.GetItem", record
    )
    payments.get_payment(merchant_id="m1", payment_id="none")
    meter = CapacityMeter()
    hooks.add_hook(meter)
    try:
        payments.get_payment(merchant_id="m1", payment_id="none")
    finally:
        hooks.remove_hook(meter)
    assert "ReturnConsumedCapacity" not in seen[0]
    assert seen[1]["ReturnConsumedCapacity"] == "TOTAL"


def test_structured_log_has_no_item_values(
    payments: payment.PaymentsTable, caplog: pytest.LogCaptureFixture
) -> None:
    log_hook = hooks.StructuredLog()
    hooks.add_hook(log_hook)
    try:
        with caplog.at_level(logging.INFO, logger="dynamorm_gen.calls"):
            new = make_payment(1, payment_id="p-1", description=SECRET_VALUE)
            payments.put_payment(new)
            with pytest.raises(ConditionFailed):
                payments.put_payment(
                    make_payment(1, payment_id="p-1", description=SECRET_VALUE)
                )
    finally:
        hooks.remove_hook(log_hook)
    records = [json.loads(r.getMessage()) for r in caplog.records]
    # KMS's call for the card token's data key, then the two puts (the key is cached).
    assert [r["operation"] for r in records] == [
        "GenerateDataKey",
        "PutItem",
        "PutItem",
    ]
    kms, records = records[0], records[1:]
    assert kms["event"] == "kms_call" and kms["error"] is None
    assert records[0]["error"] is None and records[0]["write_units"] == 1.0
    assert records[1]["error"] == "ConditionalCheckFailedException"
    assert records[0]["table"] == "payments-test" and records[0]["entity"] == "Payment"
    assert all(SECRET_VALUE not in r.getMessage() for r in caplog.records)


class FakeSubsegment:
    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.namespace = namespace
        self.annotations: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}
        self.flags: list[str] = []

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str) -> None:
        self.metadata[f"{namespace}.{key}"] = value

    def add_error_flag(self) -> None:
        self.flags.append("error")

    def add_throttle_flag(self) -> None:
        self.flags.append("throttle")


class FakeRecorder:
    """aws-xray-sdk's recorder interface, as far as the XRay hook uses it."""

    def __init__(self) -> None:
        self.open: list[FakeSubsegment] = []
        self.done: list[FakeSubsegment] = []

    def begin_subsegment(self, name: str, namespace: str) -> FakeSubsegment:
        self.open.append(FakeSubsegment(name, namespace))
        return self.open[-1]

    def end_subsegment(self) -> None:
        self.done.append(self.open.pop())


def test_xray_subsegment_per_request(payments: payment.PaymentsTable) -> None:
    recorder = FakeRecorder()
    xray = hooks.XRay(recorder)
    hooks.add_hook(xray)
    try:
        payments.put_payment(make_payment(1, payment_id="p-1"))
        with pytest.raises(ConditionFailed):
            payments.put_payment(make_payment(1, payment_id="p-1"))
    finally:
        hooks.remove_hook(xray)
    assert recorder.open == []
    key, ok, failed = recorder.done
    assert key.name == "KMS.GenerateDataKey" and key.flags == []
    assert ok.name == "DynamoDB.PutItem" and ok.namespace == "aws"
    assert ok.annotations == {
        "table": "payments-test",
        "entity": "Payment",
        "operation": "PutItem",
    }
    assert ok.metadata["dynamorm_gen.dynamodb"]["write_units"] == 1.0
    assert ok.flags == [] and failed.flags == ["error"]


def test_xray_without_the_sdk_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import fail, installed or not.
    monkeypatch.setitem(sys.modules, "aws_xray_sdk", None)
    monkeypatch.setitem(sys.modules, "aws_xray_sdk.core", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'dynamorm-gen\[xray\]'"):
        hooks.XRay()


def test_a_failing_hook_is_logged_not_raised(
    payments: payment.PaymentsTable, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        wants_capacity = False

        def before_call(self, call: CallInfo) -> None:
            raise RuntimeError("hook bug")

        def after_call(self, call: CallInfo) -> None:
            raise RuntimeError("hook bug")

    broken = Broken()
    hooks.add_hook(broken)
    try:
        with caplog.at_level(logging.WARNING, logger="dynamorm_gen"):
            payments.put_payment(make_payment(1, payment_id="p-1"))
    finally:
        hooks.remove_hook(broken)
    assert payments.get_payment(merchant_id="m1", payment_id="p-1") is not None
    # Once for KMS's call (the card token's data key), once for the PutItem.
    assert [r.getMessage() for r in caplog.records] == [
        "dynamorm_gen hook Broken.before_call failed",
        "dynamorm_gen hook Broken.after_call failed",
    ] * 2


# --- the Lambda handle ---------------------------------------------------------------------------


class FakeContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "payments-api",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_REGION": "eu-west-1",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/payments-api",
}


def test_environment_detection() -> None:
    env = detect(LAMBDA_ENV)
    assert env.in_lambda and env.function_name == "payments-api"
    assert env.memory_mb == 256 and env.region == "eu-west-1"
    assert env.function_version == "$LATEST" and env.initialization_type == "on-demand"
    assert env.log_group == "/aws/lambda/payments-api"
    outside = detect({"AWS_DEFAULT_REGION": "us-east-1"})
    assert not outside.in_lambda and outside.memory_mb is None
    assert outside.region == "us-east-1"


@pytest.mark.parametrize(
    ("memory", "pool", "margin", "connect"),
    [
        (128, 2, 0.5, 3.0),
        (1024, 4, 0.3, 2.0),
        (1769, 16, 0.2, 1.0),
        (None, 16, 0.2, 2.0),
    ],
)
def test_memory_tuning_reaches_the_client(
    memory: int | None, pool: int, margin: float, connect: float
) -> None:
    env = dict(LAMBDA_ENV)
    if memory is None:
        env.pop("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    else:
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(memory)
    db = LambdaDatabase(environment=detect(env), transport="fast")
    try:
        transport = db.connection().client.transport
        assert isinstance(transport, FastTransport)
        assert transport.max_idle_connections == pool
        assert transport.connect_timeout == connect
        assert db.tuning.safety_margin == margin
        with db.invocation(FakeContext(10_000)) as inv:
            assert inv.deadline is not None
            assert inv.deadline.margin == margin
            assert 9.0 < inv.deadline.remaining() + margin <= 10.0
    finally:
        db.close()


def test_tuning_replace_keeps_the_memory_based_values() -> None:
    small = Tuning.for_memory(256)
    changed = small.replace(read_timeout=2.0)
    assert changed.read_timeout == 2.0 and small.read_timeout == 5.0
    assert (changed.safety_margin, changed.max_idle_connections) == (0.5, 2)
    assert (changed.connect_timeout, changed.max_retries) == (3.0, 3)


def test_botocore_transport_gets_the_tuning_too() -> None:
    db = LambdaDatabase(
        environment=detect(LAMBDA_ENV),
        transport="botocore",
        tuning=Tuning(read_timeout=3.0, max_idle_connections=3, max_retries=1),
    )
    try:
        client = db.connection().client
        assert isinstance(client.transport, BotocoreTransport)
        config = client.transport.client.meta.config
        assert config.read_timeout == 3.0 and config.max_pool_connections == 3
        # botocore makes one attempt; the runtime's policy decides about resending.
        assert config.retries["total_max_attempts"] == 1
        assert client.policy.max_attempts == 2
    finally:
        db.close()


def test_handler_binds_each_invocation(payments: payment.PaymentsTable) -> None:
    db = LambdaDatabase(transport="botocore", region="us-east-1")
    table = db.table(payment.PaymentsTable, name="payments-test")
    seen: list[Any] = []

    @db.handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(deadline.current())
        table.put_payment(make_payment(1, payment_id=event["id"]))
        return db.capacity.summary()

    try:
        first = handler({"id": "p-1"}, FakeContext(3_000))
        second = handler({"id": "p-2"}, FakeContext(3_000))
        local = handler({"id": "p-3"}, None)  # a local run: no deadline
    finally:
        db.close()
    assert seen[0] is not None and seen[1] is not None and seen[2] is None
    assert seen[0] is not seen[1]
    # Capacity restarts with every invocation.
    assert first["requests"] == second["requests"] == local["requests"] == 1
    assert deadline.current() is None
    assert hooks.active() == ()


def test_invocation_with_no_time_left_fails_the_first_call_clearly(
    payments: payment.PaymentsTable,
) -> None:
    db = LambdaDatabase(transport="botocore", region="us-east-1")
    table = db.table(payment.PaymentsTable, name="payments-test")
    try:
        with db.invocation(FakeContext(100)), pytest.raises(DeadlineExceeded) as info:
            table.get_payment(merchant_id="m1", payment_id="p-1")
    finally:
        db.close()
    assert info.value.sent is False and info.value.entity == "Payment"


def test_one_connection_per_region() -> None:
    db = LambdaDatabase(transport="fast", region="us-east-1")
    try:
        assert db.connection() is db.connection("us-east-1")
        assert db.connection("eu-west-1") is not db.connection()
        a = db.table(payment.PaymentsTable)
        b = db.table(payment.PaymentsTable)
        assert a.handle.connection is b.handle.connection
    finally:
        db.close()


def test_one_connection_per_account_and_region() -> None:
    db = LambdaDatabase(transport="fast", region="us-east-1")
    other = Credentials("AKIAOTHERACCOUNT", "secret", "token")
    try:
        mine = db.connection()
        theirs = db.connection(account="210987654321", credentials=other)
        assert theirs is not mine
        # Later asks reuse it, with or without the credentials.
        assert db.connection(account="210987654321") is theirs
        assert db.connection("eu-west-1", account="210987654321") is not theirs
        transport = db.connection("eu-west-1", account="210987654321").client.transport
        assert isinstance(transport, FastTransport)
        assert transport._credentials().access_key == "AKIAOTHERACCOUNT"
        table = db.table(payment.PaymentsTable, account="210987654321")
        assert table.handle.connection is theirs
        with pytest.raises(ConfigurationError, match="no credentials for account 1234"):
            db.connection(account="123456789012")
        refreshed: list[int] = []

        def assume_role() -> Credentials:
            refreshed.append(1)
            return Credentials("AKIAROLE", "secret", "token")

        role = db.connection(account="111122223333", credentials=assume_role).client
        assert isinstance(role.transport, FastTransport)
        assert role.transport._credentials().access_key == "AKIAROLE"
        assert refreshed == [1]
    finally:
        db.close()


def test_botocore_transport_takes_static_account_credentials() -> None:
    db = LambdaDatabase(transport="botocore", region="us-east-1")
    try:
        transport = db.connection(
            account="210987654321", credentials=Credentials("AKIASTATIC", "secret")
        ).client.transport
        assert isinstance(transport, BotocoreTransport)
        signer = transport.client._request_signer
        assert signer._credentials.access_key == "AKIASTATIC"
        with pytest.raises(ConfigurationError, match="need the fast transport"):
            db.connection(
                account="111122223333",
                credentials=lambda: Credentials("AKIAROLE", "secret"),
            )
    finally:
        db.close()


def test_xray_hook_is_added_when_the_sdk_is_there_and_tracing_is_on(
    monkeypatch: pytest.MonkeyPatch, payments: payment.PaymentsTable
) -> None:
    recorder = FakeRecorder()
    sdk = types.ModuleType("aws_xray_sdk.core")
    sdk.xray_recorder = recorder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aws_xray_sdk", types.ModuleType("aws_xray_sdk"))
    monkeypatch.setitem(sys.modules, "aws_xray_sdk.core", sdk)
    monkeypatch.setattr(hooks.XRay, "available", staticmethod(lambda: True))
    env = detect(LAMBDA_ENV)
    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS", raising=False)
    untraced = LambdaDatabase(environment=env, transport="botocore")
    try:
        assert not any(isinstance(h, hooks.XRay) for h in hooks.active())
    finally:
        untraced.close()
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000")
    db = LambdaDatabase(environment=env, transport="botocore", region="us-east-1")
    table = db.table(payment.PaymentsTable, name="payments-test")
    try:
        table.get_payment(merchant_id="m1", payment_id="p-1")
    finally:
        db.close()
    assert [s.name for s in recorder.done] == ["DynamoDB.GetItem"]
    assert hooks.active() == ()
    off = LambdaDatabase(environment=env, transport="botocore", xray=False)
    try:
        assert not any(isinstance(h, hooks.XRay) for h in hooks.active())
    finally:
        off.close()
