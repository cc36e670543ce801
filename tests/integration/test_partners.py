"""Partners' accounts on moto's server over loopback HTTP, on both transports.

The fixtures are the ones users get from the plugin (``dynamorm_gen.testing``):
``dynamorm_engine`` (moto's server, reset per test, both transports and STS pointed at it),
``dynamorm_partners`` (two partners in accounts 111111111111 and 222222222222) and
``dynamorm_transport`` (each test once per transport).

What moto cannot do is simulated, and said so where it is:

- moto's STS issues credentials for any role (no trust policy, no external ID check), so
  AccessDenied, ExpiredToken and RegionDisabledException come from ``StsStub``, a loopback
  STS that answers as STS documents; DynamoDB's ExpiredTokenException comes from the fault
  proxy (``tests/faults/proxy.py``, ``Fault.EXPIRED_TOKEN``) in front of moto.
- moto dates credentials by the real clock; tests of refresh windows move a fake clock, so
  they take credentials from ``StsStub`` dated by the same fake clock, and send DynamoDB
  requests to moto, which answers unknown credentials in its default account (a table made
  there first).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dynamorm_gen.runtime import (
    AccessDenied,
    AssumeRoleFailed,
    CredentialsExpired,
    InvalidCursor,
    PartnerAccessDenied,
    PartnerRequired,
    RegionDisabled,
    SourceCredentialsExpired,
    TableNotFound,
    TransactWrite,
    UnknownPartner,
    ValidationFailed,
    hooks,
)
from dynamorm_gen.runtime.accounts import Accounts
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.partners import Partner, PartnerRegistry
from dynamorm_gen.testing import (
    PARTNERS,
    EngineError,
    LocalEngine,
    StsStub,
    make_partners,
)
from generated_examples.payment import Payment, PaymentsTable
from tests.faults.proxy import Fault, FaultProxy
from tests.integration.conftest import Recorder

pytestmark = pytest.mark.integration

A, B = "partner-a", "partner-b"
MARKER = "xo-private-value-7Qx9"  # in every item written; never in a log line or error
DURATION = 3600


def _payment(n: int, merchant: str = "m-1") -> Payment:
    return Payment(
        merchant_id=merchant,
        customer_id="c-1",
        amount=100 + n,
        currency="EUR",
        description=MARKER,
    )


@pytest.fixture
def db(
    dynamorm_engine: LocalEngine,
    dynamorm_partners: PartnerRegistry,
    dynamorm_transport: str,
) -> Iterator[LambdaDatabase]:
    """The function's database handle, with the test partners; everything from the
    environment the plugin set (endpoints of DynamoDB and STS, transport)."""
    found = LambdaDatabase(partners=dynamorm_partners, region="us-east-1", xray=False)
    assert found.transport == dynamorm_transport
    yield found
    found.close()


@pytest.fixture
def payments(db: LambdaDatabase, dynamorm_engine: LocalEngine) -> PaymentsTable:
    """A partner table named "payments", created in each partner's account."""
    table = db.partner_table(PaymentsTable, name="payments")
    for partner in db.partners.ids():
        with db.partner(partner):
            dynamorm_engine.create(
                table
            )  # checks the table is in the partner's account
    return table


def _ids(table: PaymentsTable) -> list[str]:
    return sorted(
        p.payment_id for p in table.iter_payment_by_merchant(merchant_id="m-1")
    )


# --- isolation -----------------------------------------------------------------------------------


def test_partners_in_separate_accounts_never_see_each_others_data(
    db: LambdaDatabase, payments: PaymentsTable, dynamorm_engine: LocalEngine
) -> None:
    written: dict[str, list[str]] = {}
    for partner, count in ((A, 3), (B, 2)):
        with db.partner(partner):
            written[partner] = []
            for n in range(count):
                p = _payment(n)
                payments.put_payment(p)
                written[partner].append(p.payment_id)
    for partner, other in ((A, B), (B, A)):
        with db.partner(partner):
            assert _ids(payments) == sorted(written[partner])
            for foreign in written[other]:
                assert (
                    payments.get_payment(merchant_id="m-1", payment_id=foreign) is None
                )
            assert dynamorm_engine.account_of(payments) == PARTNERS[partner]
    # The function's own account has no such table: nothing leaked there either.
    own = db.table(PaymentsTable, name="payments")
    with pytest.raises(TableNotFound):
        own.get_payment(merchant_id="m-1", payment_id=written[A][0])
    with db.partner(A), pytest.raises(TableNotFound):  # own tables stay own tables
        own.get_payment(merchant_id="m-1", payment_id=written[A][0])


def test_a_fixed_partner_table_ignores_the_context(
    db: LambdaDatabase, payments: PaymentsTable
) -> None:
    only_a = db.partner_table(PaymentsTable, partner=A, name="payments")
    p = _payment(1)
    only_a.put_payment(p)  # no partner bound: its own
    with db.partner(B):
        assert (
            only_a.get_payment(merchant_id="m-1", payment_id=p.payment_id) is not None
        )
        assert payments.get_payment(merchant_id="m-1", payment_id=p.payment_id) is None


def test_no_partner_bound_is_an_error_never_the_functions_own_account(
    db: LambdaDatabase, payments: PaymentsTable
) -> None:
    own = db.table(PaymentsTable, name="payments")
    own.handle.create()  # a same-named table in the function's account, to fall back to
    with pytest.raises(PartnerRequired, match="no partner is bound"):
        payments.put_payment(_payment(1))
    with pytest.raises(UnknownPartner, match="no partner 'partner-c'"):
        db.partner("partner-c").__enter__()
    with pytest.raises(UnknownPartner):
        db.partner_table(PaymentsTable, partner="partner-c")
    # A worker thread starts with an empty context: no partner, so an error again.
    with db.partner(A), ThreadPoolExecutor(2) as pool:
        plain = pool.submit(payments.put_payment, _payment(2))
        copied = pool.submit(
            contextvars.copy_context().run, payments.put_payment, _payment(3)
        )
        with pytest.raises(PartnerRequired):
            plain.result()
        copied.result()
    assert list(own.iter_payment_by_merchant(merchant_id="m-1")) == []
    with db.partner(A):
        assert len(_ids(payments)) == 1


def test_a_cursor_from_one_partners_query_does_not_continue_anothers(
    db: LambdaDatabase, payments: PaymentsTable, recorder: Recorder
) -> None:
    # The same query, with the same parameters, in two accounts: a cursor is signed with
    # the partner it was read in, so it is refused in the other account before any request.
    for partner in (A, B):
        with db.partner(partner):
            for n in range(3):
                payments.put_payment(_payment(n))
    with db.partner(A):
        first = payments.query_payment_by_merchant(merchant_id="m-1", limit=1)
        assert first.cursor is not None
        more = payments.query_payment_by_merchant(
            merchant_id="m-1", limit=1, cursor=first.cursor
        )
        assert more.items and more.items[0].payment_id != first.items[0].payment_id
    sent = len(recorder.calls)
    with db.partner(B), pytest.raises(InvalidCursor):
        payments.query_payment_by_merchant(
            merchant_id="m-1", limit=1, cursor=first.cursor
        )
    own = db.table(PaymentsTable, name="payments")
    with pytest.raises(InvalidCursor):  # nor in the function's own account
        own.query_payment_by_merchant(merchant_id="m-1", cursor=first.cursor)
    assert len(recorder.calls) == sent


def test_asyncio_tasks_each_reach_their_partners_account(
    db: LambdaDatabase, payments: PaymentsTable
) -> None:
    async def serve(partner: str, count: int) -> None:
        with db.partner(partner):
            for n in range(count):
                await asyncio.to_thread(payments.put_payment, _payment(n))
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(serve(A, 4), serve(B, 2))

    asyncio.run(main())
    with db.partner(A):
        assert len(_ids(payments)) == 4
    with db.partner(B):
        assert len(_ids(payments)) == 2


def test_a_transaction_stays_in_the_account_it_started_in(
    db: LambdaDatabase, payments: PaymentsTable
) -> None:
    tx = TransactWrite()
    first, second = _payment(1), _payment(2)
    with db.partner(A):
        payments.tx_put_payment(tx, first)
    with db.partner(B):
        with pytest.raises(ValidationFailed, match="share one connection"):
            payments.tx_put_payment(tx, second)
        tx.commit()  # sent to partner A's account, where it was started
    with db.partner(A):
        assert _ids(payments) == [first.payment_id]
    with db.partner(B):
        assert _ids(payments) == []


# --- hooks and logs ------------------------------------------------------------------------------


def test_hooks_logs_and_capacity_carry_the_partner_never_a_secret(
    db: LambdaDatabase,
    payments: PaymentsTable,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
    dynamorm_transport: str,
) -> None:
    log = hooks.StructuredLog()
    hooks.add_hook(log)
    db.accounts.forget()  # assume again, inside the log's view
    try:
        with caplog.at_level(logging.INFO, logger="dynamorm_gen.calls"):
            with db.partner(A):
                payments.put_payment(_payment(1))
            with db.partner(B):
                payments.get_payment(merchant_id="m-1", payment_id="none")
    finally:
        hooks.remove_hook(log)
    lines = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "dynamorm_gen.calls"
    ]
    dynamodb = [
        (line["operation"], line["partner"])
        for line in lines
        if line["event"] == "dynamodb_call"
    ]
    assert dynamodb == [("PutItem", A), ("GetItem", B)]
    sts_calls = [
        (line["operation"], line["partner"])
        for line in lines
        if line["event"] == "sts_call"
    ]
    # The fast transport sends AssumeRole itself, through hooks; botocore's is its own.
    assert sts_calls == (
        [("AssumeRole", A), ("AssumeRole", B)] if dynamorm_transport == "fast" else []
    )
    text = caplog.text + repr(recorder.calls)
    assert MARKER not in text and "external-partner" not in text
    usage = db.capacity.usage
    assert set(usage) == {f"{A}/payments", f"{B}/payments"}  # billed to their accounts
    assert usage[f"{A}/payments"].write_units == 1.0


# --- credentials ---------------------------------------------------------------------------------


def test_after_a_reset_roles_are_assumed_again_and_a_fallback_is_detected(
    db: LambdaDatabase, dynamorm_engine: LocalEngine
) -> None:
    table = db.partner_table(PaymentsTable, name="payments")
    with db.partner(A):
        dynamorm_engine.create(table)
        table.put_payment(_payment(1))
    # A bare reset: moto forgets the roles it issued, but the credentials are still kept...
    request = urllib.request.Request(
        f"{dynamorm_engine.url}/moto-api/reset", method="POST"
    )
    urllib.request.urlopen(request, timeout=10).close()
    with db.partner(A):
        # ...and moto answers them in its default account, silently; the check catches it.
        with pytest.raises(EngineError, match="created in account 123456789012, not"):
            dynamorm_engine.create(table)
        assert dynamorm_engine.account_of(table) == "123456789012"
    # The engine's reset (the fixture's) makes every Accounts assume again.
    dynamorm_engine.reset()
    with db.partner(A):
        dynamorm_engine.create(table)
        assert dynamorm_engine.account_of(table) == PARTNERS[A]
        assert _ids(table) == []  # a fresh account


@pytest.fixture
def proxy(dynamorm_engine: LocalEngine) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto, for DynamoDB and STS alike."""
    with FaultProxy(dynamorm_engine.url) as found:
        yield found


def test_expired_credentials_at_dynamodb_are_dropped_and_the_role_assumed_again(
    dynamorm_engine: LocalEngine,
    dynamorm_partners: PartnerRegistry,
    dynamorm_transport: str,
    proxy: FaultProxy,
) -> None:
    db = LambdaDatabase(
        partners=dynamorm_partners,
        region="us-east-1",
        endpoint_url=proxy.url,
        sts_endpoint_url=proxy.url,
        xray=False,
    )
    try:
        payments = db.partner_table(PaymentsTable, name="payments")
        with db.partner(A):
            dynamorm_engine.create(payments)
            assert proxy.forwarded("AssumeRole") == 1
            proxy.inject("PutItem", Fault.EXPIRED_TOKEN)
            refused = _payment(1)
            with pytest.raises(CredentialsExpired) as caught:
                payments.put_payment(refused)
            assert isinstance(
                caught.value, AccessDenied
            )  # existing handlers still see it
            assert proxy.forwarded("PutItem") == 0  # refused: nothing was applied
            kept = _payment(2)
            payments.put_payment(kept)  # new credentials
            assert proxy.forwarded("AssumeRole") == 2
            assert _ids(payments) == [kept.payment_id]
            assert dynamorm_engine.account_of(payments) == PARTNERS[A]
    finally:
        db.close()


@pytest.fixture
def stub_db(
    dynamorm_engine: LocalEngine,
    dynamorm_transport: str,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[LambdaDatabase, StsStub, Clock]]:
    """A handle whose STS is an StsStub on a fake clock (DynamoDB stays moto's, which
    answers the stub's credentials in its default account: the table is made there)."""
    clock = Clock()
    partners = getattr(request, "param", None) or make_partners()
    with StsStub(clock=clock) as stub:
        db = LambdaDatabase(
            partners=partners,
            region="us-east-1",
            sts_endpoint_url=stub.url,
            xray=False,
        )
        db.accounts.clock = clock
        db.table(PaymentsTable, name="payments").handle.create()
        try:
            yield db, stub, clock
        finally:
            db.close()


class Clock:
    """Seconds since the epoch, moved by hand; starts at the real time."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("AccessDenied", PartnerAccessDenied),
        ("ExpiredToken", SourceCredentialsExpired),
        ("RegionDisabledException", RegionDisabled),
        ("ValidationError", AssumeRoleFailed),
    ],
)
def test_sts_refusals_are_typed_and_nothing_reaches_the_partner(
    stub_db: tuple[LambdaDatabase, StsStub, Clock],
    recorder: Recorder,
    code: str,
    error: type[AssumeRoleFailed],
) -> None:
    db, stub, _ = stub_db
    payments = db.partner_table(PaymentsTable, name="payments")
    stub.fail(code)
    with db.partner(A), pytest.raises(error) as caught:
        payments.put_payment(_payment(1))
    failure = caught.value
    assert failure.partner == A and failure.code == code
    assert "external-partner-a" not in str(failure) and MARKER not in str(failure)
    if code == "AccessDenied":
        assert isinstance(failure, AccessDenied)
    if code == "ExpiredToken":
        assert isinstance(failure, CredentialsExpired)
    assert stub.calls[0]["ExternalId"] == "external-partner-a"
    # The PutItem was never sent: hooks saw it end with the STS code, and nothing is stored.
    puts = [c for c in recorder.calls if c.operation == "PutItem"]
    assert [c.error for c in puts] == [code]
    with db.partner(A):
        assert list(payments.iter_payment_by_merchant(merchant_id="m-1")) == []


def test_throttled_assume_role_is_resent(
    stub_db: tuple[LambdaDatabase, StsStub, Clock],
) -> None:
    db, stub, _ = stub_db
    payments = db.partner_table(PaymentsTable, name="payments")
    stub.fail("Throttling")
    with db.partner(A):
        payments.put_payment(_payment(1))
    assert stub.assumed() == 2


def test_refresh_windows_on_a_fake_clock(
    stub_db: tuple[LambdaDatabase, StsStub, Clock],
    dynamorm_transport: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db, stub, clock = stub_db
    payments = db.partner_table(PaymentsTable, name="payments")

    def put() -> None:
        with db.partner(A):
            payments.put_payment(_payment(1))

    put()
    assert stub.assumed() == 1  # on first use
    clock.now += DURATION - 16 * 60
    put()
    assert stub.assumed() == 1  # kept until the advisory window
    clock.now += 2 * 60  # 14 minutes left: advisory
    # The refresh fails: the still-valid credentials serve.
    stub.fail("AccessDenied", times=100)
    with caplog.at_level(logging.WARNING):
        put()
    stub.recover()
    tried = stub.assumed() - 1
    # Ours: one refresh, then a pause; botocore tries at every use of the credentials.
    assert tried == 1 if dynamorm_transport == "fast" else tried >= 1
    assert "advisory" in caplog.text and "external-partner" not in caplog.text
    if dynamorm_transport == "fast":
        put()
        assert stub.assumed() == 2  # not again before RETRY_PAUSE
    clock.now += 6 * 60  # 8 minutes left: mandatory
    stub.fail("AccessDenied", times=100)
    with pytest.raises(PartnerAccessDenied):
        put()
    stub.recover()
    before = stub.assumed()
    put()  # the next call refreshes
    assert stub.assumed() == before + 1
    put()
    assert stub.assumed() == before + 1  # fresh for another hour


def _four_partners() -> PartnerRegistry:
    return make_partners({f"partner-{n}": f"{n + 1}" * 12 for n in range(4)})


@pytest.mark.parametrize("stub_db", [_four_partners()], indirect=True)
def test_32_threads_on_4_partners_make_one_assume_role_per_partner_per_refresh(
    stub_db: tuple[LambdaDatabase, StsStub, Clock],
) -> None:
    db, stub, clock = stub_db
    payments = db.partner_table(PaymentsTable, name="payments")
    partners = db.partners.ids()
    barrier = threading.Barrier(32)
    failures: list[BaseException] = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            with db.partner(partners[i % 4]):
                payments.get_payment(merchant_id="m-1", payment_id=f"p-{i}")
        except BaseException as exc:  # reported below
            failures.append(exc)

    def together() -> dict[str, int]:
        before = {p: stub.assumed(db.partners.get(p).role_arn) for p in partners}
        threads = [threading.Thread(target=work, args=(i,)) for i in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []
        return {
            p: stub.assumed(db.partners.get(p).role_arn) - before[p] for p in partners
        }

    once = {p: 1 for p in partners}
    assert together() == once  # first use: 32 threads, 4 AssumeRoles
    assert together() == {p: 0 for p in partners}  # cached
    clock.now += DURATION - 14 * 60  # advisory: one refreshes, the others carry on
    assert together() == once
    clock.now += DURATION - 5 * 60  # mandatory: one refreshes, the others wait for it
    assert together() == once
    clock.now += DURATION + 60  # expired: the same
    assert together() == once


# --- the cache of connections --------------------------------------------------------------------


def _counting(accounts: Accounts) -> Callable[[], int]:
    """The number of clients of ``accounts`` closed so far (their transports' closes)."""
    closed = [0]
    make = accounts._make_client

    def made(partner: Partner, region: str | None) -> Any:
        client = make(partner, region)
        transport: Any = client.transport
        close = transport.close

        def counted() -> None:
            closed[0] += 1
            close()

        transport.close = counted
        return client

    accounts._make_client = made  # type: ignore[method-assign]
    return lambda: closed[0]


def test_connections_are_bounded_and_evicted_ones_closed(
    db: LambdaDatabase, payments: PaymentsTable, proxy: FaultProxy
) -> None:
    accounts = Accounts(
        db.partners,
        transport=db.transport,
        region="us-east-1",
        endpoint_url=proxy.url,
        sts_endpoint_url=proxy.url,
        max_connections=1,
    )
    closed = _counting(accounts)
    table = PaymentsTable(accounts.connection(), name="payments")
    try:
        for partner in (A, B, A, B):
            with accounts.partner(partner):
                table.get_payment(merchant_id="m-1", payment_id="p-1")
        assert closed() == 3  # one kept at a time
        assert proxy.forwarded("AssumeRole") == 2  # credentials are kept per partner
        assert proxy.forwarded("GetItem") == 4
    finally:
        accounts.forget()


def test_removing_or_replacing_a_partner_drops_what_was_kept(
    db: LambdaDatabase, payments: PaymentsTable, proxy: FaultProxy
) -> None:
    accounts = Accounts(
        db.partners,
        transport=db.transport,
        region="us-east-1",
        endpoint_url=proxy.url,
        sts_endpoint_url=proxy.url,
    )
    closed = _counting(accounts)
    table = PaymentsTable(accounts.connection(), name="payments")
    with accounts.partner(A):
        table.get_payment(merchant_id="m-1", payment_id="p-1")
    old = db.partners.get(A)
    db.partners.add(
        Partner(
            A,
            role_arn=old.role_arn,
            external_id=old.external_id,
            session_name="rotated",
        ),
        replace=True,
    )
    with accounts.partner(A):
        table.get_payment(merchant_id="m-1", payment_id="p-1")
    assert closed() == 1 and proxy.forwarded("AssumeRole") == 2
    accounts.remove(A)
    assert closed() == 2 and A not in db.partners
    with pytest.raises(UnknownPartner):
        accounts.partner(A).__enter__()
    with accounts.partner(B):
        table.get_payment(merchant_id="m-1", payment_id="p-1")
    accounts.forget()
    assert closed() == 3
