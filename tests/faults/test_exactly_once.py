"""Exactly-once under network faults: every fault of the proxy, on every operation, on both
transports and both engines, with the outcome each cell must have.

The issue this closes asks that no write be applied twice and that no caller see
ConditionFailed for its own write, whatever the network does. ``EXPECTED`` is the table of
what the design (``dynamorm_gen/runtime/retry.py``: the request kinds and ``judge``) says each
cell must end in; ``test_exactly_once`` runs every cell (``scenarios.py``) and asserts:

1. the outcome: success, or exactly the typed error class of the table;
2. how many times the engine applied the write, read back from the engine directly (the
   amount counter, the version, or the items' presence): 0 or 1, and 1 after success;
3. that no error's str() or repr() quotes an item value (``scenarios.MARKER``), and that
   nothing printed or logged does;
4. how many requests of the operation the proxy saw: each resend is one more, and a stale
   kept-alive connection (``Fault.STALE_CLOSE``) is found before the request is written to
   it, so it costs none.

``python -m tests.faults.report`` prints the same cells as a table (see ``report.py``).

Cells: (engine, transport, operation, fault) from ``scenarios.cells()``: both engines, both
transports, every operation (on dynalite, none that needs transactions, which it lacks) and
every fault, plus "none".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from dynamorm_gen.runtime.errors import (
    ConditionFailed,
    DynamormError,
    OutcomeUnknown,
    ResponseLost,
)

from .scenarios import MARKER, Bench, Observed, cells, retry_safe_available, run_cell

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Expect:
    """What a cell must end in: ``error`` (None: success), how many times the engine applied
    the write (None for reads), and how many requests of the operation the proxy saw."""

    error: type[DynamormError] | None
    applications: int | None
    requests: int

    @property
    def outcome(self) -> str:
        return "success" if self.error is None else self.error.__name__


def ok(applications: int | None, requests: int) -> Expect:
    return Expect(None, applications, requests)


def raises(error: type[DynamormError], applications: int, requests: int) -> Expect:
    return Expect(error, applications, requests)


# (operation, fault) -> what the design says the cell ends in, on every engine and on the
# fast transport; EXPECTED_ON_BOTOCORE overrides it where the botocore transport differs.
#
# Fault groups (tests/faults/proxy.py): THROTTLE and PROVISIONED_THROUGHPUT are "refused";
# ERROR_500, ERROR_503, RESET_BEFORE and CLOSE_BEFORE never reach the engine, but the client
# sees a 5xx or a lost connection, so "unknown"; ERROR_500_AFTER, CLOSE_AFTER, RESET_AFTER and
# DELAY (past the read timeout) reach it: "unknown", applied; RESET_MID_BODY, TRUNCATE,
# TRUNCATED_JSON and BAD_CRC break a 2xx response: "applied"; STALE_CLOSE leaves the client's
# pooled connection dead before the call, which must find it before writing.
EXPECTED: dict[tuple[str, str], Expect] = {
    # GetItem is a READ: resent after any failure; one request when nothing failed or the
    # stale connection was found before writing to it.
    ("get", "none"): ok(None, 1),
    ("get", "ERROR_500"): ok(None, 2),
    ("get", "ERROR_503"): ok(None, 2),
    ("get", "THROTTLE"): ok(None, 2),
    ("get", "PROVISIONED_THROUGHPUT"): ok(None, 2),
    ("get", "RESET_BEFORE"): ok(None, 2),
    ("get", "CLOSE_BEFORE"): ok(None, 2),
    ("get", "ERROR_500_AFTER"): ok(None, 2),
    ("get", "CLOSE_AFTER"): ok(None, 2),
    ("get", "RESET_AFTER"): ok(None, 2),
    ("get", "RESET_MID_BODY"): ok(None, 2),
    ("get", "TRUNCATE"): ok(None, 2),
    ("get", "TRUNCATED_JSON"): ok(None, 2),
    ("get", "BAD_CRC"): ok(None, 2),
    ("get", "STALE_CLOSE"): ok(None, 1),
    ("get", "DELAY"): ok(None, 2),
    # Query is a READ, like GetItem.
    ("query", "none"): ok(None, 1),
    ("query", "ERROR_500"): ok(None, 2),
    ("query", "ERROR_503"): ok(None, 2),
    ("query", "THROTTLE"): ok(None, 2),
    ("query", "PROVISIONED_THROUGHPUT"): ok(None, 2),
    ("query", "RESET_BEFORE"): ok(None, 2),
    ("query", "CLOSE_BEFORE"): ok(None, 2),
    ("query", "ERROR_500_AFTER"): ok(None, 2),
    ("query", "CLOSE_AFTER"): ok(None, 2),
    ("query", "RESET_AFTER"): ok(None, 2),
    ("query", "RESET_MID_BODY"): ok(None, 2),
    ("query", "TRUNCATE"): ok(None, 2),
    ("query", "TRUNCATED_JSON"): ok(None, 2),
    ("query", "BAD_CRC"): ok(None, 2),
    ("query", "STALE_CLOSE"): ok(None, 1),
    ("query", "DELAY"): ok(None, 2),
    # An unconditional put is IDEMPOTENT: resent after any failure, a broken 2xx body included
    # (applications: the item is stored as written).
    ("put_todo", "none"): ok(1, 1),
    ("put_todo", "ERROR_500"): ok(1, 2),
    ("put_todo", "ERROR_503"): ok(1, 2),
    ("put_todo", "THROTTLE"): ok(1, 2),
    ("put_todo", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("put_todo", "RESET_BEFORE"): ok(1, 2),
    ("put_todo", "CLOSE_BEFORE"): ok(1, 2),
    ("put_todo", "ERROR_500_AFTER"): ok(1, 2),
    ("put_todo", "CLOSE_AFTER"): ok(1, 2),
    ("put_todo", "RESET_AFTER"): ok(1, 2),
    ("put_todo", "RESET_MID_BODY"): ok(1, 2),
    ("put_todo", "TRUNCATE"): ok(1, 2),
    ("put_todo", "TRUNCATED_JSON"): ok(1, 2),
    ("put_todo", "BAD_CRC"): ok(1, 2),
    ("put_todo", "STALE_CLOSE"): ok(1, 1),
    ("put_todo", "DELAY"): ok(1, 2),
    # A new versioned Payment (condition: absent) is CONDITIONAL: resent after "refused"
    # and "unknown"; the resend's condition failure is settled by comparing the stored item
    # (read back with GetItem, not counted here). A broken 2xx body means applied: success,
    # not resent (nothing is returned). Applications: the stored version.
    ("put_payment", "none"): ok(1, 1),
    ("put_payment", "ERROR_500"): ok(1, 2),
    ("put_payment", "ERROR_503"): ok(1, 2),
    ("put_payment", "THROTTLE"): ok(1, 2),
    ("put_payment", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("put_payment", "RESET_BEFORE"): ok(1, 2),
    ("put_payment", "CLOSE_BEFORE"): ok(1, 2),
    ("put_payment", "ERROR_500_AFTER"): ok(1, 2),
    ("put_payment", "CLOSE_AFTER"): ok(1, 2),
    ("put_payment", "RESET_AFTER"): ok(1, 2),
    ("put_payment", "RESET_MID_BODY"): ok(1, 1),
    ("put_payment", "TRUNCATE"): ok(1, 1),
    ("put_payment", "TRUNCATED_JSON"): ok(1, 1),
    ("put_payment", "BAD_CRC"): ok(1, 1),
    ("put_payment", "STALE_CLOSE"): ok(1, 1),
    ("put_payment", "DELAY"): ok(1, 2),
    # expected_version=1, returning="none": CONDITIONAL, like the versioned put; a resend
    # that fails its version check after an uncertain attempt is the caller's own write, and
    # must end in success, not ConditionFailed. Applications: the stored version - 1.
    ("update_versioned", "none"): ok(1, 1),
    ("update_versioned", "ERROR_500"): ok(1, 2),
    ("update_versioned", "ERROR_503"): ok(1, 2),
    ("update_versioned", "THROTTLE"): ok(1, 2),
    ("update_versioned", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("update_versioned", "RESET_BEFORE"): ok(1, 2),
    ("update_versioned", "CLOSE_BEFORE"): ok(1, 2),
    ("update_versioned", "ERROR_500_AFTER"): ok(1, 2),
    ("update_versioned", "CLOSE_AFTER"): ok(1, 2),
    ("update_versioned", "RESET_AFTER"): ok(1, 2),
    ("update_versioned", "RESET_MID_BODY"): ok(1, 1),
    ("update_versioned", "TRUNCATE"): ok(1, 1),
    ("update_versioned", "TRUNCATED_JSON"): ok(1, 1),
    ("update_versioned", "BAD_CRC"): ok(1, 1),
    ("update_versioned", "STALE_CLOSE"): ok(1, 1),
    ("update_versioned", "DELAY"): ok(1, 2),
    # add_amount(1), returning="none": UNSAFE, never resent once it may have reached the
    # server. Refused (throttling) is resent; a 5xx or a connection lost before the proxy
    # forwarded it is OutcomeUnknown although nothing was applied (the client cannot know);
    # after forwarding, OutcomeUnknown with one application; a broken 2xx body is applied and
    # asks for nothing: success. Applications: the amount's increase (and the version's).
    ("add", "none"): ok(1, 1),
    ("add", "ERROR_500"): raises(OutcomeUnknown, 0, 1),
    ("add", "ERROR_503"): raises(OutcomeUnknown, 0, 1),
    ("add", "THROTTLE"): ok(1, 2),
    ("add", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("add", "RESET_BEFORE"): raises(OutcomeUnknown, 0, 1),
    ("add", "CLOSE_BEFORE"): raises(OutcomeUnknown, 0, 1),
    ("add", "ERROR_500_AFTER"): raises(OutcomeUnknown, 1, 1),
    ("add", "CLOSE_AFTER"): raises(OutcomeUnknown, 1, 1),
    ("add", "RESET_AFTER"): raises(OutcomeUnknown, 1, 1),
    ("add", "RESET_MID_BODY"): ok(1, 1),
    ("add", "TRUNCATE"): ok(1, 1),
    ("add", "TRUNCATED_JSON"): ok(1, 1),
    ("add", "BAD_CRC"): ok(1, 1),
    ("add", "STALE_CLOSE"): ok(1, 1),
    ("add", "DELAY"): raises(OutcomeUnknown, 1, 1),
    # add_amount(1), returning="new": as above, but a broken 2xx body loses the values asked
    # for: ResponseLost, applied once.
    ("add_new", "none"): ok(1, 1),
    ("add_new", "ERROR_500"): raises(OutcomeUnknown, 0, 1),
    ("add_new", "ERROR_503"): raises(OutcomeUnknown, 0, 1),
    ("add_new", "THROTTLE"): ok(1, 2),
    ("add_new", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("add_new", "RESET_BEFORE"): raises(OutcomeUnknown, 0, 1),
    ("add_new", "CLOSE_BEFORE"): raises(OutcomeUnknown, 0, 1),
    ("add_new", "ERROR_500_AFTER"): raises(OutcomeUnknown, 1, 1),
    ("add_new", "CLOSE_AFTER"): raises(OutcomeUnknown, 1, 1),
    ("add_new", "RESET_AFTER"): raises(OutcomeUnknown, 1, 1),
    ("add_new", "RESET_MID_BODY"): raises(ResponseLost, 1, 1),
    ("add_new", "TRUNCATE"): raises(ResponseLost, 1, 1),
    ("add_new", "TRUNCATED_JSON"): raises(ResponseLost, 1, 1),
    ("add_new", "BAD_CRC"): raises(ResponseLost, 1, 1),
    ("add_new", "STALE_CLOSE"): ok(1, 1),
    ("add_new", "DELAY"): raises(OutcomeUnknown, 1, 1),
    # add_amount(1), returning="new", retry_safe=True: a one-action TransactWriteItems with
    # a client request token, resent after any failure; the proxy's token memory answers a
    # resend of an applied token as DynamoDB would. "new" is read back with GetItem.
    ("add_retry_safe", "none"): ok(1, 1),
    ("add_retry_safe", "ERROR_500"): ok(1, 2),
    ("add_retry_safe", "ERROR_503"): ok(1, 2),
    ("add_retry_safe", "THROTTLE"): ok(1, 2),
    ("add_retry_safe", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("add_retry_safe", "RESET_BEFORE"): ok(1, 2),
    ("add_retry_safe", "CLOSE_BEFORE"): ok(1, 2),
    ("add_retry_safe", "ERROR_500_AFTER"): ok(1, 2),
    ("add_retry_safe", "CLOSE_AFTER"): ok(1, 2),
    ("add_retry_safe", "RESET_AFTER"): ok(1, 2),
    ("add_retry_safe", "RESET_MID_BODY"): ok(1, 2),
    ("add_retry_safe", "TRUNCATE"): ok(1, 2),
    ("add_retry_safe", "TRUNCATED_JSON"): ok(1, 2),
    ("add_retry_safe", "BAD_CRC"): ok(1, 2),
    ("add_retry_safe", "STALE_CLOSE"): ok(1, 1),
    ("add_retry_safe", "DELAY"): ok(1, 2),
    # TransactWrite (add_amount(1) on a counter + put of a new Payment): IDEMPOTENT through
    # its client request token, as above. Applications: the counter's increase (the put lands
    # with it, never alone).
    ("transact", "none"): ok(1, 1),
    ("transact", "ERROR_500"): ok(1, 2),
    ("transact", "ERROR_503"): ok(1, 2),
    ("transact", "THROTTLE"): ok(1, 2),
    ("transact", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("transact", "RESET_BEFORE"): ok(1, 2),
    ("transact", "CLOSE_BEFORE"): ok(1, 2),
    ("transact", "ERROR_500_AFTER"): ok(1, 2),
    ("transact", "CLOSE_AFTER"): ok(1, 2),
    ("transact", "RESET_AFTER"): ok(1, 2),
    ("transact", "RESET_MID_BODY"): ok(1, 2),
    ("transact", "TRUNCATE"): ok(1, 2),
    ("transact", "TRUNCATED_JSON"): ok(1, 2),
    ("transact", "BAD_CRC"): ok(1, 2),
    ("transact", "STALE_CLOSE"): ok(1, 1),
    ("transact", "DELAY"): ok(1, 2),
    # An audited update (update + audit record in one TransactWriteItems with a client
    # request token): IDEMPOTENT like any transaction. Applications: the version's increase,
    # which must equal the number of update records (never an update without its record).
    ("audited_update", "none"): ok(1, 1),
    ("audited_update", "ERROR_500"): ok(1, 2),
    ("audited_update", "ERROR_503"): ok(1, 2),
    ("audited_update", "THROTTLE"): ok(1, 2),
    ("audited_update", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("audited_update", "RESET_BEFORE"): ok(1, 2),
    ("audited_update", "CLOSE_BEFORE"): ok(1, 2),
    ("audited_update", "ERROR_500_AFTER"): ok(1, 2),
    ("audited_update", "CLOSE_AFTER"): ok(1, 2),
    ("audited_update", "RESET_AFTER"): ok(1, 2),
    ("audited_update", "RESET_MID_BODY"): ok(1, 2),
    ("audited_update", "TRUNCATE"): ok(1, 2),
    ("audited_update", "TRUNCATED_JSON"): ok(1, 2),
    ("audited_update", "BAD_CRC"): ok(1, 2),
    ("audited_update", "STALE_CLOSE"): ok(1, 1),
    ("audited_update", "DELAY"): ok(1, 2),
    # BatchWriteItem of unconditional puts: IDEMPOTENT (applications: 1 when every item
    # is stored as written).
    ("batch_put", "none"): ok(1, 1),
    ("batch_put", "ERROR_500"): ok(1, 2),
    ("batch_put", "ERROR_503"): ok(1, 2),
    ("batch_put", "THROTTLE"): ok(1, 2),
    ("batch_put", "PROVISIONED_THROUGHPUT"): ok(1, 2),
    ("batch_put", "RESET_BEFORE"): ok(1, 2),
    ("batch_put", "CLOSE_BEFORE"): ok(1, 2),
    ("batch_put", "ERROR_500_AFTER"): ok(1, 2),
    ("batch_put", "CLOSE_AFTER"): ok(1, 2),
    ("batch_put", "RESET_AFTER"): ok(1, 2),
    ("batch_put", "RESET_MID_BODY"): ok(1, 2),
    ("batch_put", "TRUNCATE"): ok(1, 2),
    ("batch_put", "TRUNCATED_JSON"): ok(1, 2),
    ("batch_put", "BAD_CRC"): ok(1, 2),
    ("batch_put", "STALE_CLOSE"): ok(1, 1),
    ("batch_put", "DELAY"): ok(1, 2),
}

# botocore reports a connection reset while it reads a body without the status it had read:
# for the botocore transport RESET_MID_BODY is "unknown", not "applied" (fast.py keeps the
# status). Reads, idempotent writes and transactions are resent either way.
EXPECTED_ON_BOTOCORE: dict[tuple[str, str], Expect] = {
    ("put_payment", "RESET_MID_BODY"): ok(1, 2),
    ("update_versioned", "RESET_MID_BODY"): ok(1, 2),
    ("add", "RESET_MID_BODY"): raises(OutcomeUnknown, 1, 1),
    ("add_new", "RESET_MID_BODY"): raises(OutcomeUnknown, 1, 1),
}


def expected(transport: str, operation: str, fault: str) -> Expect:
    if transport == "botocore" and (operation, fault) in EXPECTED_ON_BOTOCORE:
        return EXPECTED_ON_BOTOCORE[operation, fault]
    return EXPECTED[operation, fault]


def compare(expect: Expect, observed: Observed) -> list[str]:
    """Every way ``observed`` departs from ``expect`` and from the rules that hold for every
    cell; empty when the cell is right."""
    problems = list(observed.problems)
    error = observed.error
    if error is not None and not issubclass(error, DynamormError):
        problems.append(f"a bare {error.__name__}, not a typed error")
    if error is not None and issubclass(error, ConditionFailed):
        problems.append("ConditionFailed for the caller's own write")
    if observed.outcome != expect.outcome:
        problems.append(f"outcome {observed.outcome}, expected {expect.outcome}")
    if observed.applications is not None and observed.applications not in (0, 1):
        problems.append(f"applied {observed.applications} times")
    if error is None and observed.applications == 0:
        problems.append("succeeded, but the engine did not apply it")
    if observed.applications != expect.applications:
        problems.append(
            f"{observed.applications} applications, expected {expect.applications}"
        )
    if observed.requests != expect.requests:
        problems.append(
            f"{observed.requests} requests of the operation, expected {expect.requests}"
        )
    if observed.leaks:
        problems.append(f"item values in {', '.join(observed.leaks)}")
    return problems


class Benches:
    """One bench per (engine, transport), made on first use, closed at the end."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str], Bench] = {}

    def get(self, engine: str, transport: str, engine_url: Callable[[], str]) -> Bench:
        bench = self._made.get((engine, transport))
        if bench is None:
            bench = self._made[engine, transport] = Bench(
                engine, transport, engine_url()
            )
        return bench

    def close(self) -> None:
        for bench in self._made.values():
            bench.close()


@pytest.fixture(scope="module")
def benches() -> Iterator[Benches]:
    made = Benches()
    yield made
    made.close()


@pytest.mark.parametrize(
    ("engine", "transport", "operation", "fault"),
    cells(),
    ids=["-".join(cell) for cell in cells()],
)
def test_exactly_once(
    engine: str,
    transport: str,
    operation: str,
    fault: str,
    benches: Benches,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if operation == "add_retry_safe" and not retry_safe_available():
        pytest.skip("pending: update_payment takes no retry_safe yet")
    bench = benches.get(
        engine, transport, lambda: str(request.getfixturevalue(f"{engine}_endpoint"))
    )
    observed = run_cell(bench, operation, fault)
    problems = compare(expected(transport, operation, fault), observed)
    captured = capsys.readouterr()
    if MARKER in caplog.text or MARKER in captured.out + captured.err:
        problems.append("an item value was printed or logged")
    assert not problems, (
        f"{engine} {transport} {operation} {fault}: {'; '.join(problems)}"
        f" (requests seen: {', '.join(observed.trace) or 'none'})"
    )
