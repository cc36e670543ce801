"""examples/lambda/handler.py, invoked the way Lambda invokes it.

Each test imports the handler afresh (a cold start: its init phase makes the LambdaDatabase
and the table) and calls ``handler(event, context)`` with a simulated context, on three
set-ups: moto's server over loopback HTTP with the fast transport (the Lambda default) and
with botocore, and moto in-process with botocore (which is all it intercepts).

Time is a fake clock (tests/clock.py), read by the context's ``get_remaining_time_in_millis``
and, in place of ``time.monotonic``, by ``dynamorm_gen.runtime.deadline``; as a hook it moves
on by one second per DynamoDB request, and counts the requests. Where a deadline cuts an
export is therefore exact, whatever the machine's speed.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dynamorm_gen.runtime import DeadlineExceeded, hooks
from dynamorm_gen.runtime.hooks import PriceTable
from generated_examples.payment import Payment
from tests.clock import StepClock, step_clock

HANDLER = Path(__file__).resolve().parents[2] / "examples" / "lambda" / "handler.py"
TABLE = "payments-lambda-example"
MERCHANT = "m-42"
# The tests run as a 1,024 MB function: Tuning.for_memory(1024) keeps 0.3 s back.
MARGIN = 0.3

SETUPS = [
    pytest.param(
        ("server", "fast"), id="moto-server-fast", marks=pytest.mark.integration
    ),
    pytest.param(
        ("server", "botocore"), id="moto-server-botocore", marks=pytest.mark.integration
    ),
    pytest.param(("in-process", "botocore"), id="moto-in-process-botocore"),
]
_loaded = itertools.count()


class Context:
    """Lambda's context object, as far as handlers use it; its time runs on the fake clock."""

    def __init__(self, clock: StepClock, budget_ms: int) -> None:
        self.clock = clock
        self.ends = clock.now + budget_ms / 1000
        self.function_name = "payments-test"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return max(0, round((self.ends - self.clock.now) * 1000))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[StepClock]:
    with step_clock(monkeypatch) as fake:
        yield fake


@pytest.fixture(params=SETUPS)
def engine(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The Lambda's environment, pointed at a clean local engine; yields the transport."""
    where, transport = request.param
    for name, value in {
        "AWS_LAMBDA_FUNCTION_NAME": "payments-test",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "PAYMENTS_TABLE": TABLE,
        "DYNAMORM_CURSOR_KEY": "test-cursor-key",
        "DYNAMORM_TRANSPORT": transport,
    }.items():
        monkeypatch.setenv(name, value)
    if where == "server":
        monkeypatch.setenv(
            "DYNAMORM_ENDPOINT_URL", request.getfixturevalue("moto_server")
        )
        yield transport
        return
    monkeypatch.delenv("DYNAMORM_ENDPOINT_URL", raising=False)
    from moto import mock_aws

    with mock_aws():  # before the handler's init: its botocore client is intercepted
        yield transport


@pytest.fixture
def example(engine: str) -> Iterator[ModuleType]:
    """handler.py after its init phase (a cold start), with its table created."""
    spec = importlib.util.spec_from_file_location(
        f"lambda_example_handler_{next(_loaded)}", HANDLER
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        assert module.db.transport == engine
        assert module.db.tuning.safety_margin == MARGIN
        module.payments.handle.create(ttl=False)
        yield module
    finally:
        if hasattr(module, "db"):
            module.db.close()  # unregisters its hooks: the next test starts clean
            assert module.db.capacity not in hooks.active()


def seed(example: ModuleType, count: int) -> list[str]:
    start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    ids = []
    for n in range(count):
        p = Payment(
            merchant_id=MERCHANT,
            customer_id="c-1",
            amount=100 + n,
            currency="EUR",
            created_at=start + timedelta(minutes=n),
        )
        example.payments.put_payment(p)
        ids.append(p.payment_id)
    return ids


AUTHORIZE = {
    "action": "authorize",
    "merchant_id": MERCHANT,
    "payment_id": "p-0001",
    "customer_id": "cust-7f3a9",
    "amount": 987_654,
    "currency": "EUR",
}
KEY = {"merchant_id": MERCHANT, "payment_id": "p-0001"}


def test_authorize_capture_and_get_round_trip(
    example: ModuleType, clock: StepClock
) -> None:
    def call(event: dict[str, Any]) -> Any:
        return example.handler(event, Context(clock, 3_000))

    assert call(AUTHORIZE)["status"] == "pending"
    assert call(AUTHORIZE)["status"] == "duplicate"  # a retry writes nothing
    captured = call({"action": "capture", **KEY})
    assert (captured["status"], captured["version"]) == ("captured", 2)
    again = call({"action": "capture", **KEY})  # idempotent: reported, not rewritten
    assert (again["status"], again["version"]) == ("captured", 2)
    assert again["capacity"]["write_units"] == 0
    got = call({"action": "get", **KEY})
    assert got["status"] == "found"
    assert got["payment"] == {
        "payment_id": "p-0001",
        "status": "captured",
        "amount": 987_654,
        "currency": "EUR",
        "version": 2,
        "created_at": got["payment"]["created_at"],
    }
    assert call({"action": "get", **KEY, "payment_id": "none"})["status"] == "not_found"
    assert call({"action": "refund", **KEY})["status"] == "unknown_action"


def test_export_cut_off_by_the_deadline_resumes_from_the_cursor(
    example: ModuleType, clock: StepClock
) -> None:
    seeded = seed(example, 23)  # pages of 5: 5, 5, 5, 5 and 3
    export = {"action": "export", "merchant_id": MERCHANT, "page_size": 5}
    everything = example.handler(export, None)  # no context: no deadline, one call
    assert everything["status"] == "done"
    assert sorted(everything["payment_ids"]) == sorted(seeded)

    # 2.5 s after the margin, one second per request: three pages start, the fourth cannot.
    budget_ms = int((2.5 + MARGIN) * 1000)
    clock.requests.clear()
    first = example.handler(export, Context(clock, budget_ms))
    assert first["status"] == "partial" and len(first["payment_ids"]) == 15
    assert first["resume"] is not None
    assert clock.requests == ["Query"] * 3
    assert first["capacity"]["requests"] == 3 and first["capacity"]["read_units"] > 0

    resumed = {**export, "cursor": first["resume"]}
    second = example.handler(resumed, Context(clock, budget_ms))
    assert second["status"] == "done" and second["resume"] is None
    assert len(second["payment_ids"]) == 8 and clock.requests == ["Query"] * 5
    # Together: every payment exactly once, in the order one uninterrupted export gives.
    together = first["payment_ids"] + second["payment_ids"]
    assert together == everything["payment_ids"] and len(set(together)) == 23


def test_export_with_a_bad_cursor_is_refused_before_sending(
    example: ModuleType, clock: StepClock
) -> None:
    bad = {"action": "export", "merchant_id": MERCHANT, "cursor": "e30.forged"}
    assert example.handler(bad, Context(clock, 3_000))["status"] == "invalid_cursor"
    assert clock.requests == []


def test_no_time_even_to_start(example: ModuleType, clock: StepClock) -> None:
    seed(example, 7)
    cursor = example.payments.query_payment_by_merchant(
        merchant_id=MERCHANT, limit=5
    ).cursor
    assert cursor is not None
    clock.requests.clear()

    short = int(MARGIN * 1000) - 50  # less than the safety margin: no time at all
    with pytest.raises(DeadlineExceeded) as info:
        example.handler({"action": "get", **KEY}, Context(clock, short))
    assert info.value.sent is False  # certainly not sent: it had no effect
    assert info.value.operation == "GetItem" and info.value.entity == "Payment"
    assert clock.requests == []
    assert example.db.capacity.summary()["requests"] == 0

    # An export hands back where it would have started: the caller's cursor, or None.
    export = {"action": "export", "merchant_id": MERCHANT, "page_size": 5}
    cut = example.handler({**export, "cursor": cursor}, Context(clock, short))
    assert (cut["status"], cut["payment_ids"], cut["resume"]) == ("partial", [], cursor)
    cut = example.handler(export, Context(clock, short))
    assert (cut["status"], cut["payment_ids"], cut["resume"]) == ("partial", [], None)
    assert clock.requests == []


def test_capacity_summary_of_a_write(example: ModuleType, clock: StepClock) -> None:
    # moto answers ReturnConsumedCapacity=TOTAL with {"TableName", "CapacityUnits"}: one
    # unit for a put of under 1 KB; the summary counts it as a write unit.
    response = example.handler(AUTHORIZE, Context(clock, 3_000))
    capacity = response["capacity"]
    assert capacity["requests"] == 1 and capacity["retries"] == 0
    assert (capacity["write_units"], capacity["read_units"]) == (1.0, 0.0)
    assert capacity["estimated_cost_usd"] == pytest.approx(PriceTable().cost(0, 1))
    assert capacity["tables"] == {
        TABLE: {"requests": 1, "read_units": 0.0, "write_units": 1.0}
    }
    # capture: a consistent read and a put; the meter restarts per invocation. A consistent
    # read of under 4 KB costs DynamoDB one read unit (dynalite says 1.0 too); moto reports
    # 0.5, what an eventually consistent read would cost.
    capture = example.handler({"action": "capture", **KEY}, Context(clock, 3_000))
    assert capture["capacity"]["read_units"] == 0.5
    assert capture["capacity"]["write_units"] == 1.0
    assert capture["capacity"]["requests"] == 2


def test_logs_name_no_item_values(
    example: ModuleType, clock: StepClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="payments"):
        example.handler(AUTHORIZE, Context(clock, 3_000))
        example.handler({"action": "capture", **KEY}, Context(clock, 3_000))
    lines = [r.getMessage() for r in caplog.records if r.name == "payments"]
    assert len(lines) == 5  # 3 requests and 2 invocations
    for value in ("cust-7f3a9", "987654", MERCHANT, "p-0001"):
        assert not any(value in line for line in lines), value
