"""Idempotent calls under network faults: the fault proxy (proxy.py) breaks one request of a
call at each step, on moto's server, over both transports; the effect is counted on the
server.

A call's requests: the conditional PutItem that takes the key (IN_PROGRESS), the business
write (plain mode: an ADD sent ``retry_safe``, a one-action TransactWriteItems), and what
records the outcome (plain: a PutItem of the COMPLETED record; atomic: the one
TransactWriteItems with the business write and the record). For every fault of one attempt,
the call itself must recover: it succeeds, the server applied the effect once and holds one
COMPLETED record, and a repeat replays. For faults that outlast the call's resends, the call
fails, and the next call must still give one effect (atomic mode), or be refused while the
key is held (plain mode, whose effect was applied before its record could be written).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dynamorm_gen.runtime.client import Client, create
from dynamorm_gen.runtime.errors import (
    AlreadyInProgress,
    DynamormError,
    PreviousCallFailed,
)
from dynamorm_gen.runtime.idempotency import Idempotency, IdempotentOperation
from dynamorm_gen.runtime.table import Connection
from dynamorm_gen.runtime.transact import TransactWrite
from dynamorm_gen.testing import LocalEngine
from generated_examples.payment import (
    Payment,
    PaymentsTable,
    PaymentUpdate,
)

from .proxy import Fault, FaultProxy

pytestmark = pytest.mark.integration

REGION = "us-east-1"
MERCHANT = "m-1"
TRANSPORTS = ("fast", "botocore")
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
OPERATION = IdempotentOperation("capture", key="payment_id")
# One of each way the proxy breaks a request: refused (never applied), unknown and not
# applied, unknown and applied, applied with a broken answer.
FAULTS = (
    Fault.THROTTLE,
    Fault.ERROR_500,
    Fault.RESET_BEFORE,
    Fault.ERROR_500_AFTER,
    Fault.CLOSE_AFTER,
    Fault.RESET_AFTER,
    Fault.TRUNCATE,
    Fault.BAD_CRC,
)
# (mode, operation, skip): the requests of a call, in order.
STEPS = (
    ("plain", "PutItem", 0),  # takes the key
    ("plain", "TransactWriteItems", 0),  # the business write, retry_safe
    ("plain", "PutItem", 1),  # the COMPLETED record
    ("atomic", "PutItem", 0),  # takes the key
    ("atomic", "TransactWriteItems", 0),  # the business write with the record
)


def no_sleep(seconds: float) -> None:
    """Resends without backoff: the tests cost no time."""


@dataclass
class Bench:
    """One transport: a table of its own on moto's server, the proxy in front of it, and
    the payment of the current test (a fresh id, so tests share the table and its clients:
    making a botocore client costs more than a test)."""

    proxy: FaultProxy
    direct: PaymentsTable  # straight to the engine: seeding and counting
    through: PaymentsTable  # through the proxy: the calls under test
    payment_id: str = ""

    def new_payment(self) -> None:
        self.payment_id = f"p-{uuid.uuid4().hex[:12]}"
        self.direct.put_payment(
            Payment(
                merchant_id=MERCHANT,
                payment_id=self.payment_id,
                customer_id="c-1",
                amount=0,
                currency="EUR",
            )
        )

    def effects(self) -> int:
        found = self.direct.get_payment(
            merchant_id=MERCHANT, payment_id=self.payment_id, consistent=True
        )
        assert found is not None
        return found.amount

    def statuses(self) -> list[str]:
        """The status of the current payment's record, if there is one."""
        found = Idempotency(self.direct).record(OPERATION, self.payment_id)
        return [] if found is None else [found.status]


@pytest.fixture(scope="module", params=TRANSPORTS)
def shared_bench(
    request: pytest.FixtureRequest, dynamorm_moto: LocalEngine
) -> Iterator[Bench]:
    name = f"idem-faults-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as environment:
        # Made once for the module, before any test's own sandbox: fake credentials here.
        for variable, value in FAKE_CREDENTIALS.items():
            environment.setenv(variable, value)
        yield from _bench(request.param, dynamorm_moto, name)


def _bench(transport: str, engine: LocalEngine, name: str) -> Iterator[Bench]:
    direct = PaymentsTable(
        Connection(client=create(REGION, engine.url, transport="fast")),
        name=name,
    )
    direct.handle.create()
    with FaultProxy(engine.url) as proxy:
        made = create(REGION, proxy.url, transport=transport)
        client = Client(made.transport, made.policy.replace(sleep=no_sleep))
        try:
            yield Bench(
                proxy, direct, PaymentsTable(Connection(client=client), name=name)
            )
        finally:
            client.close()
            direct.handle.connection.client.close()


@pytest.fixture
def bench(shared_bench: Bench) -> Bench:
    """The shared bench, with an empty script and a fresh payment."""
    shared_bench.proxy.reset()
    shared_bench.new_payment()
    return shared_bench


def capture_in(bench: Bench, mode: str) -> Any:
    """The idempotent function of ``mode``: adds 1 to the payment's amount."""
    idempotency = Idempotency(bench.through)
    payments = bench.through
    if mode == "plain":

        @idempotency.function(OPERATION)
        def plain(payment_id: str) -> dict[str, str]:
            payments.update_payment(
                PaymentUpdate().add_amount(1),
                merchant_id=MERCHANT,
                payment_id=payment_id,
                returning="none",
                retry_safe=True,
            )
            return {"captured": payment_id}

        return plain

    @idempotency.atomic_function(OPERATION)
    def atomic(payment_id: str, *, tx: TransactWrite) -> dict[str, str]:
        payments.tx_update_payment(
            tx,
            PaymentUpdate().add_amount(1),
            merchant_id=MERCHANT,
            payment_id=payment_id,
        )
        return {"captured": payment_id}

    return atomic


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize(("mode", "operation", "skip"), STEPS, ids=lambda s: str(s))
def test_one_fault_at_each_step_the_call_recovers(
    bench: Bench, mode: str, operation: str, skip: int, fault: Fault
) -> None:
    capture = capture_in(bench, mode)
    bench.proxy.inject(operation, fault, skip=skip)
    assert capture(bench.payment_id) == {"captured": bench.payment_id}
    assert bench.proxy.unfired() == []  # the fault did hit its request
    assert bench.effects() == 1
    assert bench.statuses() == ["COMPLETED"]
    assert capture(bench.payment_id) == {
        "captured": bench.payment_id
    }  # a repeat replays
    assert bench.effects() == 1
    assert bench.proxy.errors == []


@pytest.mark.parametrize(
    "fault",
    (
        Fault.THROTTLE,
        Fault.ERROR_503,
        Fault.RESET_BEFORE,
        Fault.CLOSE_AFTER,
        Fault.TRUNCATE,
    ),
    ids=lambda f: f.name,
)
def test_atomic_a_commit_that_keeps_failing_then_the_next_call(
    bench: Bench, fault: Fault
) -> None:
    """The transaction never gets a good answer. Refused every time (throttled): nothing
    was applied, the record is released. No answer: the call settles what happened (a
    release that finds the record COMPLETED means it committed; one that succeeds means it
    never will). Applied but every answer broken: it committed. In all, the next call
    gives one effect."""
    capture = capture_in(bench, "atomic")
    bench.proxy.inject("TransactWriteItems", fault, times=None)
    try:
        outcome: object = capture(bench.payment_id)
    except DynamormError as exc:
        outcome = exc
    applied = bench.proxy.forwarded("TransactWriteItems") > 0
    if fault.forwards:
        assert applied
        # Committed on its first attempt: the release found the record COMPLETED.
        assert outcome == {"captured": bench.payment_id}
    else:
        assert not applied
        assert isinstance(outcome, DynamormError)
        assert bench.statuses() == []  # released: nothing will commit
    bench.proxy.reset()
    assert capture(bench.payment_id) == {"captured": bench.payment_id}
    assert bench.effects() == 1
    assert bench.statuses() == ["COMPLETED"]


def test_plain_a_completion_that_keeps_failing_holds_the_key(bench: Bench) -> None:
    """Plain mode's limit: the effect was applied but the COMPLETED record could not be
    written, so the record stays IN_PROGRESS; repeats are refused while the lock lasts
    (never run again then). Atomic mode has no such window."""
    capture = capture_in(bench, "plain")
    bench.proxy.inject("PutItem", Fault.ERROR_503, skip=1, times=None)
    with pytest.raises(DynamormError):
        capture(bench.payment_id)
    bench.proxy.reset()
    assert bench.effects() == 1
    assert bench.statuses() == ["IN_PROGRESS"]
    with pytest.raises(AlreadyInProgress):
        capture(bench.payment_id)
    assert bench.effects() == 1


def fails_once(idempotency: Idempotency) -> tuple[Callable[[str], str], list[int]]:
    """An idempotent function that raises on its first run (before any effect), and the
    list of its runs."""
    runs: list[int] = []

    @idempotency.function(OPERATION)
    def failing(payment_id: str) -> str:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("before any effect")
        return "ok"

    return failing, runs


def test_a_release_that_fails_leaves_the_key_to_its_lock(bench: Bench) -> None:
    """The function raised and the record could not be deleted: it stays IN_PROGRESS until
    its lock ends, and the error the caller sees is the function's."""
    now = [1000.0]
    idempotency = Idempotency(bench.through, in_progress_expiry=5, clock=lambda: now[0])
    failing, runs = fails_once(idempotency)
    bench.proxy.inject("DeleteItem", Fault.ERROR_503, times=None)
    with pytest.raises(RuntimeError):
        failing(bench.payment_id)
    bench.proxy.reset()
    assert bench.statuses() == ["IN_PROGRESS"]
    with pytest.raises(AlreadyInProgress):
        failing(bench.payment_id)
    now[0] += 6
    assert failing(bench.payment_id) == "ok"
    assert len(runs) == 2


@pytest.mark.parametrize("on_failure", ["delete", "keep"])
def test_a_release_whose_answer_is_lost(bench: Bench, on_failure: str) -> None:
    """The function raised; the release (a DeleteItem, or a PutItem of the FAILED record)
    was applied but its answer lost: the resend fails its condition on its own earlier
    attempt, which counts as released."""
    idempotency = Idempotency(bench.through, on_failure=on_failure)  # type: ignore[arg-type]
    failing, _ = fails_once(idempotency)
    release = "DeleteItem" if on_failure == "delete" else "PutItem"
    bench.proxy.inject(
        release, Fault.CLOSE_AFTER, skip=0 if release == "DeleteItem" else 1
    )
    with pytest.raises(RuntimeError):
        failing(bench.payment_id)
    assert bench.proxy.unfired() == []
    if on_failure == "delete":
        assert bench.statuses() == []
        assert failing(bench.payment_id) == "ok"
    else:
        assert bench.statuses() == ["FAILED"]
        with pytest.raises(PreviousCallFailed):
            failing(bench.payment_id)


def test_atomic_a_commit_cancelled_by_a_conflict_is_sent_again(bench: Bench) -> None:
    """DynamoDB cancels a transaction when another request holds one of its items
    (TransactionConflict): nothing was applied, so the commit is sent again, under a token
    of its own; when conflicts go on, the key is released and the cancellation raised."""
    from dynamorm_gen.runtime.errors import TransactionCancelled

    capture = capture_in(bench, "atomic")
    bench.proxy.inject("TransactWriteItems", Fault.TRANSACTION_CONFLICT, times=2)
    assert capture(bench.payment_id) == {"captured": bench.payment_id}
    commits = [r for r in bench.proxy.requests if r.operation == "TransactWriteItems"]
    tokens = [r.body["ClientRequestToken"] for r in commits]
    assert len(tokens) == 3 and len(set(tokens)) == 3
    assert bench.effects() == 1
    assert bench.statuses() == ["COMPLETED"]

    bench.new_payment()
    bench.proxy.inject("TransactWriteItems", Fault.TRANSACTION_CONFLICT, times=None)
    with pytest.raises(TransactionCancelled) as caught:
        capture(bench.payment_id)
    assert "TransactionConflict" in str(caught.value)
    assert bench.statuses() == []  # released: the next call may run
    bench.proxy.reset()
    assert capture(bench.payment_id) == {"captured": bench.payment_id}
    assert bench.effects() == 1
