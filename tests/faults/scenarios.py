"""The exactly-once scenarios: one operation of the generated API, called through the fault
proxy with one fault scripted, then counted on the engine directly.

Shared by the test (``test_exactly_once.py``, which holds the table of expectations) and the
report (``report.py``, which prints what each cell did). Nothing here asserts: ``run_cell``
returns what it observed, and ``test_exactly_once.compare`` judges it.

A ``Bench`` is one engine and one transport: a proxy in front of the engine, two transports
through the proxy (the usual read timeout, and a short one for ``Fault.DELAY``), a connection
straight to the engine for seeding and counting, and the tables. Each cell uses keys of its
own (a fresh merchant or user id), so cells share tables and need no reset between them.

Item values never reach a message here: outcomes are error class names, and counts are
numbers. Every item written holds ``MARKER``, which error messages must not quote.
"""

from __future__ import annotations

import gc
import inspect
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dynamorm_gen.runtime.client import Client, create
from dynamorm_gen.runtime.retry import READ
from dynamorm_gen.runtime.table import Connection
from dynamorm_gen.runtime.transact import TransactWrite
from generated_examples import basic, payment

from .proxy import Fault, FaultProxy

ENGINES = ("moto", "dynalite")
TRANSPORTS = ("fast", "botocore")
# Every network fault of the proxy, and none. DELAY comes last: its late response keeps a
# proxy connection open for DELAY_SECONDS, which the next STALE_CLOSE cell would wait out.
# EXPIRED_TOKEN is a refusal of the credentials, tested with partners (tests/partners/);
# TRANSACTION_CONFLICT a cancellation, tested with idempotency (test_idempotency_faults.py).
FAULTS: tuple[str, ...] = (
    "none",
    *(
        fault.name
        for fault in Fault
        if fault not in (Fault.DELAY, Fault.EXPIRED_TOKEN, Fault.TRANSACTION_CONFLICT)
    ),
    Fault.DELAY.name,
)
REGION = "us-east-1"
READ_TIMEOUT = 10.0  # seconds: the clients' usual read timeout
SHORT_READ_TIMEOUT = 0.5  # seconds: the read timeout of DELAY cells
DELAY_SECONDS = (
    1.5  # seconds the proxy holds a DELAY response back: past SHORT_READ_TIMEOUT
)
WAIT_TIMEOUT = 5.0  # seconds to wait for the proxy to close its connections
ANSWER_TIMEOUT = 30.0  # seconds a loaded engine may take over a forwarded request
# In every item written; error messages must never quote it.
MARKER = "xo-private-value-7Qx9"
START_AMOUNT = 100  # the counter of ADD updates and transactions starts here
BATCH_SIZE = 3
CREATED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def retry_safe_available() -> bool:
    """Whether generated updates take ``retry_safe`` yet (being added in another branch)."""
    return (
        "retry_safe"
        in inspect.signature(payment.PaymentsTable.update_payment).parameters
    )


# --- what one cell observed ------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """What a cell did.

    * ``error``: the class of the error the call raised; None when it succeeded.
    * ``applications``: how many times the engine applied the write, read from the engine
      (None for reads; see each scenario's ``applications``).
    * ``requests``: requests of the scenario's operation the proxy saw during the call.
    * ``trace``: the operation of every request the proxy saw during the call, in order.
    * ``leaks``: where an error's str() or repr() quoted MARKER (must be empty).
    * ``problems``: anything else wrong (a wrong returned value, a fault that never fired).
    """

    error: type[BaseException] | None
    applications: int | None
    requests: int
    trace: tuple[str, ...]
    leaks: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def outcome(self) -> str:
        return "success" if self.error is None else self.error.__name__


# --- tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    """The two tables of the scenarios, on one connection."""

    payments: payment.PaymentsTable
    todos: basic.TodosTable

    @staticmethod
    def on(connection: Connection, names: tuple[str, str]) -> Tables:
        return Tables(
            payment.PaymentsTable(connection, name=names[0]),
            basic.TodosTable(connection, name=names[1]),
        )


class Bench:
    """One engine and one transport: the proxy in front of the engine, the transports
    through it, a connection straight to the engine, and tables of this bench's own."""

    def __init__(self, engine: str, transport: str, engine_url: str) -> None:
        self.engine = engine
        self.transport = transport
        self._clients: dict[bool, Client] = {}
        suffix = uuid.uuid4().hex[:8]
        self.names = (f"xo-payments-{suffix}", f"xo-todos-{suffix}")
        direct = create(REGION, engine_url, transport="fast")
        self.direct = Tables.on(Connection(client=direct), self.names)
        # dynalite has no UpdateTimeToLive.
        self.direct.payments.handle.create(ttl=engine == "moto")
        self.direct.todos.handle.create(ttl=False)
        # Started last: nothing is left running if the tables cannot be made.
        self.proxy = FaultProxy(engine_url)
        self.proxy.start()

    def client(self, *, short_timeout: bool) -> Client:
        """A new client through the proxy (a fresh retry quota, backoff waiting only for the engine), on this
        bench's transport; the transports themselves are made once and kept."""
        made = self._clients.get(short_timeout)
        if made is None:
            made = self._clients[short_timeout] = create(
                REGION,
                self.proxy.url,
                transport=self.transport,
                read_timeout=SHORT_READ_TIMEOUT if short_timeout else READ_TIMEOUT,
            )
        return Client(made.transport, made.policy.replace(sleep=self.backoff))

    def backoff(self, seconds: float) -> None:
        """The retry policy's pause: not the time it asks for, but until the engine has
        answered what the proxy forwarded. A resend then meets what a real backoff would
        let it meet (the first transaction done, not still in progress), however slow a
        loaded engine is, and costs no time when nothing is in flight."""
        self.wait_until_answered()

    def close_idle_connections(self) -> None:
        for made in self._clients.values():
            made.close()

    def wait_until_no_connection(self) -> None:
        """Until the proxy holds no client connection open (each closed has sent its FIN)."""
        deadline = time.monotonic() + WAIT_TIMEOUT
        while self.proxy.open_connections:
            if time.monotonic() > deadline:
                raise RuntimeError("the proxy kept a client connection open")
            time.sleep(0.005)

    def wait_until_answered(self) -> None:
        """Until the engine has answered every request the proxy forwarded: a client that
        gave up (a DELAY past its read timeout, a resend refused as in progress) may leave
        one that a loaded engine is still applying, and counting then would miss it."""
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while self.proxy.answering:
            if time.monotonic() > deadline:
                raise RuntimeError("the engine kept a forwarded request unanswered")
            time.sleep(0.005)

    def close(self) -> None:
        try:
            self.close_idle_connections()
            for handle in (self.direct.payments.handle, self.direct.todos.handle):
                handle.drop()
            self.direct.payments.handle.connection.client.close()
        finally:
            self.proxy.stop()


def make_payment(merchant_id: str, n: int = 0) -> payment.Payment:
    return payment.Payment(
        merchant_id=merchant_id,
        customer_id="c1",
        amount=START_AMOUNT,
        currency="EUR",
        description=f"{MARKER} payment {n}",
        created_at=CREATED_AT + timedelta(minutes=n),
    )


def make_todo(user_id: str, n: int = 0) -> basic.Todo:
    return basic.Todo(user_id=user_id, title=f"{MARKER} todo {n}")


# --- the scenarios ---------------------------------------------------------------------------


@dataclass
class Case:
    """What one cell seeded (on the engine directly) or is about to write."""

    owner: str  # the merchant or user id, fresh for each cell
    payments: list[payment.Payment] = field(default_factory=list)
    todos: list[basic.Todo] = field(default_factory=list)
    payouts: list[payment.Payout] = field(default_factory=list)


class Scenario:
    """One operation under test. ``seed`` writes what it needs on the engine directly;
    ``call`` makes the call through the proxy; ``applications`` reads the engine directly and
    says how many times the write landed (with problems found on the way); ``check`` looks at
    what a successful call returned."""

    name = ""
    operation = ""  # the DynamoDB operation the call sends, which the fault hits
    description = ""
    needs_transactions = False

    def seed(self, direct: Tables, case: Case) -> None:
        pass

    def call(self, tables: Tables, case: Case) -> Any:
        raise NotImplementedError

    def applications(self, direct: Tables, case: Case) -> tuple[int | None, list[str]]:
        return None, []

    def check(self, result: Any, case: Case) -> list[str]:
        return []


def _stored_payment(direct: Tables, seeded: payment.Payment) -> payment.Payment | None:
    return direct.payments.get_payment(
        merchant_id=seeded.merchant_id, payment_id=seeded.payment_id, consistent=True
    )


class GetItem(Scenario):
    name = "get"
    operation = "GetItem"
    description = "get_payment"

    def seed(self, direct: Tables, case: Case) -> None:
        case.payments.append(make_payment(case.owner))
        direct.payments.put_payment(case.payments[0])

    def call(self, tables: Tables, case: Case) -> Any:
        seeded = case.payments[0]
        return tables.payments.get_payment(
            merchant_id=seeded.merchant_id, payment_id=seeded.payment_id
        )

    def check(self, result: Any, case: Case) -> list[str]:
        return (
            [] if result == case.payments[0] else ["get_payment returned another item"]
        )


class Query(Scenario):
    name = "query"
    operation = "Query"
    description = "query_payment_by_merchant"

    def seed(self, direct: Tables, case: Case) -> None:
        case.payments += [make_payment(case.owner, n) for n in range(2)]
        for seeded in case.payments:
            direct.payments.put_payment(seeded)

    def call(self, tables: Tables, case: Case) -> Any:
        return tables.payments.query_payment_by_merchant(merchant_id=case.owner)

    def check(self, result: Any, case: Case) -> list[str]:
        found = sorted(p.payment_id for p in result)
        if result.cursor is not None or found != sorted(
            p.payment_id for p in case.payments
        ):
            return ["the query returned other items"]
        return []


class PutTodo(Scenario):
    name = "put_todo"
    operation = "PutItem"
    description = "put_todo (unconditional)"

    def call(self, tables: Tables, case: Case) -> Any:
        case.todos.append(make_todo(case.owner))
        tables.todos.put_todo(case.todos[0])

    def applications(self, direct: Tables, case: Case) -> tuple[int | None, list[str]]:
        todo = case.todos[0]
        stored = direct.todos.get_todo(
            user_id=todo.user_id, todo_id=todo.todo_id, consistent=True
        )
        if stored is None:
            return 0, []
        return 1, [] if stored == todo else ["the stored todo is not the one written"]


class PutPayment(Scenario):
    name = "put_payment"
    operation = "PutItem"
    description = "put_payment of a new Payment (versioned: version 0 -> 1)"

    def call(self, tables: Tables, case: Case) -> Any:
        case.payments.append(make_payment(case.owner))
        tables.payments.put_payment(case.payments[0])

    def applications(self, direct: Tables, case: Case) -> tuple[int | None, list[str]]:
        written = case.payments[0]
        stored = _stored_payment(direct, written)
        if stored is None:
            return 0, []
        # A second application would fail its condition: the version counts creations.
        problems = []
        if stored.description != written.description:
            problems.append("the stored payment is not the one written")
        return stored.version, problems


class UpdateVersioned(Scenario):
    name = "update_versioned"
    operation = "UpdateItem"
    description = (
        'update_payment(set_status("captured", created_at=...), expected_version=1,'
        ' returning="none")'
    )

    def seed(self, direct: Tables, case: Case) -> None:
        case.payments.append(make_payment(case.owner))
        direct.payments.put_payment(case.payments[0])  # stored at version 1

    def call(self, tables: Tables, case: Case) -> Any:
        seeded = case.payments[0]
        return tables.payments.update_payment(
            payment.PaymentUpdate().set_status(
                "captured", created_at=seeded.created_at
            ),
            merchant_id=seeded.merchant_id,
            payment_id=seeded.payment_id,
            expected_version=1,
            returning="none",
        )

    def applications(self, direct: Tables, case: Case) -> tuple[int | None, list[str]]:
        stored = _stored_payment(direct, case.payments[0])
        if stored is None:
            return 0, ["the updated payment is gone"]
        applied = stored.version - 1
        if (stored.status == "captured") != (applied > 0):
            return applied, ["the status does not match the version"]
        return applied, []


class AddUpdate(Scenario):
    """``add_amount(1)``: an update that is not safe to repeat (UNSAFE in retry.py)."""

    operation = "UpdateItem"

    def __init__(self, name: str, returning: str, *, retry_safe: bool = False) -> None:
        self.name = name
        self.returning = returning
        self.retry_safe = retry_safe
        self.needs_transactions = retry_safe
        if retry_safe:
            self.operation = "TransactWriteItems"
        extra = ", retry_safe=True" if retry_safe else ""
        self.description = (
            f'update_payment(add_amount(1), returning="{returning}"{extra})'
        )

    def seed(self, direct: Tables, case: Case) -> None:
        case.payments.append(make_payment(case.owner))
        direct.payments.put_payment(case.payments[0])  # version 1, amount START_AMOUNT

    def call(self, tables: Tables, case: Case) -> Any:
        seeded = case.payments[0]
        options: dict[str, Any] = {"retry_safe": True} if self.retry_safe else {}
        return tables.payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id=seeded.merchant_id,
            payment_id=seeded.payment_id,
            returning=self.returning,  # type: ignore[arg-type]
            **options,
        )

    def applications(self, direct: Tables, case: Case) -> tuple[int | None, list[str]]:
        stored = _stored_payment(direct, case.payments[0])
        if stored is None:
            return 0, ["the updated payment is gone"]
        added = stored.amount - START_AMOUNT
        if stored.version - 1 != added:
            return added, ["the version and the amount disagree on the applications"]
        return added, []

    def check(self, result: Any, case: Case) -> list[str]:
        if self.returning == "none":
            return [] if result is None else ['returning="none" returned an item']
        if result is None or result.amount != START_AMOUNT + 1:
            return ['returning="new" returned another amount']
        return []


class Transaction(Scenario):
    name = "transact"
    operation = "TransactWriteItems"
    description = (
        "TransactWrite: tx_update_payment(add_amount(1)) + tx_put_payment, commit()"
    )
    needs_transactions = True

    def seed(self, direct: Tables, case: Case) -> None:
        case.payments.append(make_payment(case.owner))
        direct.payments.put_payment(case.payments[0])  # the counter

    def call(self, tables: Tables, case: Case) -> Any:
        counter = case.payments[0]
        case.payments.append(make_payment(case.owner, 1))
        tx = TransactWrite()
        tables.payments.tx_update_payment(
            tx,
            payment.PaymentUpdate().add_amount(1),
            merchant_id=counter.merchant_id,
            payment_id=counter.payment_id,
        )
        tables.payments.tx_put_payment(tx, case.payments[1])
        tx.commit()

    def applications(self, direct: Tables, case: Case) -> tuple[int | None, list[str]]:
        stored = _stored_payment(direct, case.payments[0])
        if stored is None:
            return 0, ["the counter payment is gone"]
        added = stored.amount - START_AMOUNT
        put = _stored_payment(direct, case.payments[1]) is not None
        if put != (added > 0):
            return added, ["the transaction was applied in part"]
        return added, []


class AuditedUpdate(Scenario):
    name = "audited_update"
    operation = "TransactWriteItems"
    description = (
        'update_payout(set_status("paid"), expected_version=1) of an audited Payout: the'
        " update and its audit record in one TransactWriteItems"
    )
    needs_transactions = True

    def seed(self, direct: Tables, case: Case) -> None:
        payout = payment.Payout(
            merchant_id=case.owner, amount=START_AMOUNT, currency="EUR"
        )
        direct.payments.put_payout(payout)  # version 1, and the record of its put
        case.payouts.append(payout)

    def call(self, tables: Tables, case: Case) -> Any:
        payout = case.payouts[0]
        return tables.payments.update_payout(
            payment.PayoutUpdate().set_status("paid"),
            merchant_id=payout.merchant_id,
            payout_id=payout.payout_id,
            expected_version=1,
        )

    def applications(self, direct: Tables, case: Case) -> tuple[int | None, list[str]]:
        payout = case.payouts[0]
        stored = direct.payments.get_payout(
            merchant_id=payout.merchant_id, payout_id=payout.payout_id, consistent=True
        )
        if stored is None:
            return 0, ["the updated payout is gone"]
        records = list(
            direct.payments.iter_history_payout(
                merchant_id=payout.merchant_id, payout_id=payout.payout_id
            )
        )
        updates = [r for r in records if r.operation == "update"]
        applied = stored.version - 1
        if len(updates) != applied:
            return applied, [f"{applied} updates applied, {len(updates)} recorded"]
        if (stored.status == "paid") != (applied > 0):
            return applied, ["the status does not match the version"]
        return applied, []


class BatchPut(Scenario):
    name = "batch_put"
    operation = "BatchWriteItem"
    description = f"batch_put_todo of {BATCH_SIZE} Todos"

    def call(self, tables: Tables, case: Case) -> Any:
        case.todos += [make_todo(case.owner, n) for n in range(BATCH_SIZE)]
        return tables.todos.batch_put_todo(case.todos)

    def applications(self, direct: Tables, case: Case) -> tuple[int | None, list[str]]:
        present = 0
        for todo in case.todos:
            stored = direct.todos.get_todo(
                user_id=todo.user_id, todo_id=todo.todo_id, consistent=True
            )
            present += stored == todo
        if present == len(case.todos):
            return 1, []
        if present == 0:
            return 0, []
        return 0, [f"the batch was written in part ({present} of {len(case.todos)})"]

    def check(self, result: Any, case: Case) -> list[str]:
        return [] if result == [] else ["batch_put_todo left items unwritten"]


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        GetItem(),
        Query(),
        PutTodo(),
        PutPayment(),
        UpdateVersioned(),
        AddUpdate("add", "none"),
        AddUpdate("add_new", "new"),
        AddUpdate("add_retry_safe", "new", retry_safe=True),
        Transaction(),
        AuditedUpdate(),
        BatchPut(),
    )
}
OPERATIONS = tuple(SCENARIOS)


def cells() -> list[tuple[str, str, str, str]]:
    """Every (engine, transport, operation, fault) run: the whole matrix, except that
    dynalite has no transactions. Fault by fault, so that the DELAY cells come last on each
    bench: a STALE_CLOSE cell waits until the proxy holds no connection, and a DELAY cell
    leaves one open for DELAY_SECONDS."""
    return [
        (engine, transport, operation, fault)
        for engine in ENGINES
        for transport in TRANSPORTS
        for fault in FAULTS
        for operation in OPERATIONS
        if not (engine == "dynalite" and SCENARIOS[operation].needs_transactions)
    ]


# --- running one cell ------------------------------------------------------------------------


def leaks(error: BaseException) -> list[str]:
    """Where ``error`` (or an exception it was raised from) quotes MARKER in str() or repr()."""
    found = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for form, text in (("str", str(current)), ("repr", repr(current))):
            if MARKER in text:
                found.append(f"{form}({type(current).__name__})")
        current = current.__cause__ or current.__context__
    return found


def go_stale(bench: Bench, client: Client) -> None:
    """Leave ``client`` one pooled connection that the proxy has closed while it was idle,
    so that the call under test meets a stale keep-alive connection."""
    bench.close_idle_connections()
    # A response that failed its checks on botocore is held, socket open, by the cycle
    # between the error and the traceback it was caught in, until the garbage collector
    # breaks it; the proxy closes that connection only once the client has.
    gc.collect()
    bench.wait_until_no_connection()
    bench.proxy.inject("DescribeTable", Fault.STALE_CLOSE)
    client.call("DescribeTable", {"TableName": bench.names[0]}, READ)
    bench.wait_until_no_connection()


def run_cell(bench: Bench, operation: str, fault: str) -> Observed:
    """Seed, script ``fault`` for the scenario's operation, make the call through the proxy,
    and count on the engine what it applied."""
    scenario = SCENARIOS[operation]
    client = bench.client(short_timeout=fault == Fault.DELAY.name)
    tables = Tables.on(Connection(client=client), bench.names)
    case = Case(owner=f"xo-{uuid.uuid4().hex[:12]}")
    scenario.seed(bench.direct, case)
    bench.proxy.reset()
    if fault == Fault.STALE_CLOSE.name:
        go_stale(bench, client)
    elif fault != "none":
        delay = DELAY_SECONDS if fault == Fault.DELAY.name else None
        bench.proxy.inject(scenario.operation, Fault[fault], delay=delay)
    mark = len(bench.proxy.requests)
    error: BaseException | None = None
    result: Any = None
    try:
        result = scenario.call(tables, case)
    except Exception as caught:  # any error is observed; the table says which is right
        error = caught
    bench.wait_until_answered()
    trace = tuple(record.operation for record in bench.proxy.requests[mark:])
    applications, problems = scenario.applications(bench.direct, case)
    if error is None:
        problems += scenario.check(result, case)
    if bench.proxy.unfired():
        problems.append("the scripted fault never met its request")
    if bench.proxy.errors:
        problems.append(f"the proxy failed: {bench.proxy.errors}")
    return Observed(
        error=None if error is None else type(error),
        applications=applications,
        requests=trace.count(scenario.operation),
        trace=trace,
        leaks=tuple(leaks(error)) if error is not None else (),
        problems=tuple(problems),
    )
