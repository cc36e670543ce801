"""Audit trails on moto's server over loopback HTTP, on both transports.

The schema is tests/golden/cases/audit: Account keeps its records in its own table (bank),
the tenant entity Charge in a declared audit table (audit_log, 90 days). Every write through
the generated methods must leave exactly one record, in the same transaction; a failed
condition or a cancelled transaction none; records never hold values.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from typing import Any

import pytest

from dynamorm_gen.runtime import (
    ConditionFailed,
    InvalidCursor,
    TenantMismatch,
    TenantRequired,
    TransactionCancelled,
    TransactWrite,
    actor,
    tenant,
)
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.context import bind_partner
from dynamorm_gen.runtime.table import Connection
from dynamorm_gen.testing import LocalEngine
from tests.golden.cases.audit.expected.audited import (
    Account,
    AccountUpdate,
    AuditLogTable,
    BankTable,
    Charge,
    ChargeUpdate,
    LedgerTable,
)

pytestmark = pytest.mark.integration

OWNER, BALANCE, NOTE = "Alice Secretname", 987654321, "a private note"
A, B = "m-a", "m-b"


def _bank(engine: LocalEngine) -> BankTable:
    bank = BankTable(Connection(region="us-east-1"), name="bank")
    engine.create(bank)
    return bank


def _records(table: Any) -> list[dict[str, Any]]:
    """Every audit record in the table, raw, as DynamoDB holds it."""
    handle = table.handle
    items, _ = handle.scan(
        {
            "FilterExpression": "#et = :et",
            "ExpressionAttributeNames": {"#et": "_et"},
            "ExpressionAttributeValues": {":et": {"S": "dynamorm.audit"}},
        },
        entity="test",
    )
    return items


def test_each_write_leaves_one_record_with_who_when_what(
    dynamorm_engine: LocalEngine, dynamorm_transport: str
) -> None:
    bank = _bank(dynamorm_engine)
    account = Account(account_id="a-1", owner=OWNER, balance=BALANCE, note=NOTE)
    before = time.time_ns() // 1_000_000
    with bind_partner("acme"), actor("user-1"):
        bank.put_account(account)
        assert account.version == 1
        bank.update_account(
            AccountUpdate().set_balance(5).remove_note(),
            account_id="a-1",
            expected_version=1,
        )
        bank.delete_account(account_id="a-1", expected_version=2)
    after = time.time_ns() // 1_000_000
    assert bank.get_account(account_id="a-1", consistent=True) is None

    delete, update, put = bank.history_account(account_id="a-1").items
    assert [r.operation for r in (put, update, delete)] == ["put", "update", "delete"]
    assert [(r.old_version, r.new_version) for r in (put, update, delete)] == [
        (None, 1),
        (1, 2),
        (2, None),
    ]
    assert put.changed == ("account_id", "balance", "note", "owner", "version")
    assert update.changed == ("balance", "note")
    assert delete.changed == ()
    for record in (put, update, delete):
        assert record.entity == "Account"
        assert record.key == Account.make_key(account_id="a-1")
        assert record.partner == "acme" and record.actor == "user-1"
        assert before <= record.at_ms <= after
        assert record.expires_at is None
    assert len(_records(bank)) == 3


def test_records_hold_no_values(
    dynamorm_engine: LocalEngine, dynamorm_transport: str
) -> None:
    bank = _bank(dynamorm_engine)
    account = Account(account_id="a-1", owner=OWNER, balance=BALANCE, note=NOTE)
    bank.put_account(account)
    bank.update_account(
        AccountUpdate().set_owner(OWNER + " II").set_balance(BALANCE + 1),
        account_id="a-1",
        expected_version=1,
    )
    records = _records(bank)
    assert len(records) == 2
    text = json.dumps(records)
    for value in (OWNER, str(BALANCE), str(BALANCE + 1), NOTE):
        assert value not in text
    assert OWNER not in repr(bank.history_account(account_id="a-1").items)


def test_a_failed_condition_writes_no_record(
    dynamorm_engine: LocalEngine, dynamorm_transport: str
) -> None:
    bank = _bank(dynamorm_engine)
    account = Account(account_id="a-1", owner=OWNER, balance=1)
    bank.put_account(account)
    stale = Account(account_id="a-1", owner=OWNER, balance=2)  # version 0: a create
    with pytest.raises(ConditionFailed):
        bank.put_account(stale)
    assert stale.version == 0
    with pytest.raises(ConditionFailed):
        bank.put_account(account, if_not_exists=True)
    with pytest.raises(ConditionFailed):
        bank.update_account(
            AccountUpdate().set_balance(3), account_id="a-1", expected_version=7
        )
    with pytest.raises(ConditionFailed):
        bank.update_account(
            AccountUpdate().set_balance(3), account_id="nobody", expected_version=1
        )
    with pytest.raises(ConditionFailed):
        bank.delete_account(account_id="a-1", expected_version=7)
    with pytest.raises(ConditionFailed):
        bank.delete_account(account_id="a-1", expected_version=1, when=_never())
    assert len(_records(bank)) == 1
    assert [r.new_version for r in bank.history_account(account_id="a-1")] == [1]
    stored = bank.get_account(account_id="a-1", consistent=True)
    assert stored is not None and stored.balance == 1 and stored.version == 1


def _never() -> Any:
    from tests.golden.cases.audit.expected.audited import AccountWhen

    return AccountWhen().balance("gt", 1_000_000_000_000)


def test_a_cancelled_transaction_writes_no_record(
    dynamorm_engine: LocalEngine, dynamorm_transport: str
) -> None:
    bank = _bank(dynamorm_engine)
    bank.put_account(Account(account_id="a-1", owner=OWNER, balance=1))
    tx = TransactWrite()
    bank.tx_update_account(
        tx, AccountUpdate().set_balance(2), account_id="a-1", expected_version=1
    )
    bank.tx_check_account(tx, account_id="missing")  # fails: no such account
    with pytest.raises(TransactionCancelled):
        tx.commit()
    assert len(_records(bank)) == 1
    stored = bank.get_account(account_id="a-1", consistent=True)
    assert stored is not None and stored.version == 1

    # The same actions in a transaction that commits leave their records.
    tx = TransactWrite()
    bank.tx_update_account(
        tx, AccountUpdate().set_balance(2), account_id="a-1", expected_version=1
    )
    bank.tx_put_account(tx, Account(account_id="a-2", owner=OWNER, balance=3))
    tx.commit()
    assert len(_records(bank)) == 3
    assert [r.operation for r in bank.history_account(account_id="a-1")] == [
        "update",
        "put",
    ]


def test_concurrent_writers_leave_exactly_one_record_each(
    dynamorm_engine: LocalEngine, dynamorm_transport: str
) -> None:
    """N writers, each retrying with a fresh read until its write is applied: exactly N
    records, with versions 1..N in order.

    The writers read and decide concurrently, so most write from a stale read and fail
    their version condition; only sending the transaction is serialized, on ``sending``:
    moto's server does not isolate concurrent transactions (one that fails restores every
    table it touched from a copy taken when it started, undoing what other threads
    committed meanwhile; moto/dynamodb/models transact_write_items), which DynamoDB does."""
    bank = _bank(dynamorm_engine)
    writers = 20
    barrier = threading.Barrier(writers)
    sending = threading.Lock()
    failures: list[BaseException] = []
    retries = [0]
    lock = threading.Lock()

    def write(n: int) -> None:
        barrier.wait()
        while True:
            stored = bank.get_account(account_id="a-1", consistent=True)
            try:
                with sending:
                    if stored is None:
                        bank.put_account(
                            Account(account_id="a-1", owner=OWNER, balance=n)
                        )
                    else:
                        bank.update_account(
                            AccountUpdate().set_balance(n),
                            account_id="a-1",
                            expected_version=stored.version,
                        )
                return
            except ConditionFailed:
                pass
            except TransactionCancelled as exc:
                # Another writer's transaction held the item at that moment.
                if {code for _, _, code in exc.reasons} != {"TransactionConflict"}:
                    raise
            with lock:
                retries[0] += 1

    def run(n: int) -> None:
        try:
            write(n)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(run, n))
        for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    history = list(bank.iter_history_account(account_id="a-1", page_size=7))
    assert len(history) == len(_records(bank)) == writers
    versions = sorted(r.new_version or 0 for r in history)
    assert versions == list(range(1, writers + 1))
    assert sorted(r.old_version or 0 for r in history) == list(range(writers))
    stored = bank.get_account(account_id="a-1", consistent=True)
    assert stored is not None and stored.version == writers
    assert retries[0] > 0  # the writers did collide


def test_history_pages_newest_first_and_continues_after_a_delete(
    dynamorm_engine: LocalEngine, dynamorm_transport: str
) -> None:
    bank = _bank(dynamorm_engine)
    account = Account(account_id="a-1", owner=OWNER, balance=0)
    bank.put_account(account)
    for n in range(1, 5):
        bank.update_account(
            AccountUpdate().set_balance(n), account_id="a-1", expected_version=n
        )
    bank.delete_account(account_id="a-1", expected_version=5)
    bank.put_account(Account(account_id="a-1", owner=OWNER, balance=0))  # recreated
    bank.put_account(Account(account_id="a-2", owner=OWNER, balance=0))  # another item

    seen = []
    cursor = None
    pages = 0
    while True:
        page = bank.history_account(account_id="a-1", limit=3, cursor=cursor)
        seen.extend(page.items)
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert pages >= 3
    assert [(r.operation, r.new_version) for r in seen] == [
        ("put", 1),
        ("delete", None),
        *[("update", n) for n in range(5, 1, -1)],
        ("put", 1),
    ]
    assert [r.at_ms for r in seen] == sorted((r.at_ms for r in seen), reverse=True)
    with pytest.raises(InvalidCursor):
        bank.history_account(account_id="a-2", limit=3, cursor=page_cursor(bank))


def page_cursor(bank: BankTable) -> str:
    cursor = bank.history_account(account_id="a-1", limit=1).cursor
    assert cursor is not None
    return cursor


def _ledger(engine: LocalEngine) -> LedgerTable:
    ledger = LedgerTable(Connection(region="us-east-1"), name="ledger")
    engine.create(ledger)
    engine.create(AuditLogTable(Connection(region="us-east-1"), name="audit_log"))
    return ledger


def test_tenant_records_go_to_the_audit_table_with_their_retention(
    dynamorm_engine: LocalEngine,
    dynamorm_transport: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDIT_LOG_TABLE", "audit_log")
    ledger = _ledger(dynamorm_engine)
    db = LambdaDatabase(region="us-east-1", xray=False)
    try:
        with db.tenant(A), db.actor("clerk-7"):
            charge = Charge(merchant_id=A, amount=100)
            ledger.put_charge(charge)
            ledger.update_charge(
                ChargeUpdate().set_status("captured"),
                charge_id=charge.charge_id,
                expected_version=1,
            )
            first, second = ledger.iter_history_charge(charge_id=charge.charge_id)
    finally:
        db.close()
    assert (first.operation, second.operation) == ("update", "put")
    assert first.actor == "clerk-7" and first.partner is None
    assert first.changed == ("status",)
    now = time.time()
    for record in (first, second):
        assert record.expires_at is not None
        assert abs(record.expires_at - (now + 90 * 86_400)) < 120
    raw = _records(AuditLogTable(Connection(region="us-east-1"), name="audit_log"))
    assert len(raw) == 2
    assert all(r["expires_at"] == r["audit_expires_at"] for r in raw)
    assert all(r["PK"]["S"].startswith(f"TENANT_AUDIT#{A}#Charge#") for r in raw)
    assert not _records(ledger)  # nothing in the entity's own table


def test_history_of_a_tenant_entity_is_the_bound_tenants_only(
    dynamorm_engine: LocalEngine,
    dynamorm_transport: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDIT_LOG_TABLE", "audit_log")
    ledger = _ledger(dynamorm_engine)
    charge_id = "c-shared-id"
    for merchant in (A, B):
        with tenant(merchant):
            for n in range(3 if merchant == A else 1):
                charge = Charge(
                    merchant_id=merchant, charge_id=charge_id, amount=n, version=n
                )
                ledger.put_charge(charge, if_not_exists=n == 0)
    with tenant(A):
        page = ledger.history_charge(charge_id=charge_id, limit=2)
        assert len(page.items) == 2 and page.cursor is not None
        a_cursor = page.cursor
    with tenant(B):
        mine = list(ledger.iter_history_charge(charge_id=charge_id))
        assert [r.key["PK"]["S"] for r in mine] == [f"MERCHANT#{B}"]
        with pytest.raises(TenantMismatch):
            ledger.history_charge(merchant_id=A, charge_id=charge_id)
        with pytest.raises(InvalidCursor):
            ledger.history_charge(charge_id=charge_id, cursor=a_cursor)
        with pytest.raises(TenantMismatch):
            ledger.put_charge(Charge(merchant_id=A, charge_id=charge_id, amount=1))
    with pytest.raises(TenantRequired):
        ledger.history_charge(charge_id=charge_id)
    with tenant(A):
        assert len(list(ledger.iter_history_charge(charge_id=charge_id))) == 3
