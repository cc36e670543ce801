"""Every route to a tenant entity's items, tried across two tenants sharing one table.

The ledger (tests/golden/cases/tenants: merchants' Charge and Refund items, tenant
``merchant_id``) is seeded with the items of two merchants, then each route runs with the
other merchant bound, or none, and must either be scoped to the bound tenant (it finds only
that tenant's items, and leaves the other's as they were) or raise the typed error before
anything is sent. The same routes run on moto in-process (tests/unit/test_tenants.py) and on
moto's server over both transports (tests/integration/test_tenants.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dynamorm_gen.runtime import (
    InvalidCursor,
    KeyViolation,
    NotFound,
    TenantMismatch,
    TenantRequired,
    TransactGet,
    TransactionCancelled,
    TransactWrite,
    hooks,
    tenant,
)
from dynamorm_gen.runtime.hooks import CallInfo
from tests.golden.cases.tenants.expected.charges import (
    Charge,
    ChargeUpdate,
    LedgerTable,
    Plan,
    Refund,
    RefundUpdate,
)

A, B = (
    "m-a",
    "m-b",
)  # the victim's tenant, and the tenant bound while trying to reach it
CUSTOMER = "c-1"
CHARGES, REFUNDS = 3, 2  # per tenant


class Sent:
    """A hook counting the requests sent: a refused call sends none."""

    wants_capacity = False

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def before_call(self, call: CallInfo) -> None:
        with self.lock:
            self.calls.append(call.operation)

    def after_call(self, call: CallInfo) -> None:
        pass

    def __len__(self) -> int:
        return len(self.calls)


@pytest.fixture
def sent() -> Iterator[Sent]:
    found = Sent()
    hooks.add_hook(found)
    yield found
    hooks.remove_hook(found)


@dataclass
class Ledger:
    """The seeded table: each tenant's charges and refunds, by tenant."""

    table: LedgerTable
    sent: Sent
    charges: dict[str, list[Charge]] = field(default_factory=dict)
    refunds: dict[str, list[Refund]] = field(default_factory=dict)

    def charge_ids(self, merchant: str) -> set[str]:
        return {c.charge_id for c in self.charges[merchant]}

    def refund_ids(self, merchant: str) -> set[str]:
        return {r.refund_id for r in self.refunds[merchant]}

    def victim(self) -> Charge:
        return self.charges[A][0]

    def victims_refund(self) -> Refund:
        return self.refunds[A][0]

    def refused(self, error: type[Exception], call: Callable[[], object]) -> Exception:
        """``call`` raises ``error`` and sends nothing; the message names no tenant."""
        before = len(self.sent)
        with pytest.raises(error) as refused:
            call()
        assert len(self.sent) == before, f"sent {self.sent.calls[before:]}"
        message = str(refused.value)
        assert A not in message and B not in message, message
        return refused.value

    def unharmed(self) -> None:
        """The victim's items are all there, unchanged."""
        with tenant(A):
            for charge in self.charges[A]:
                stored = self.table.get_charge(
                    charge_id=charge.charge_id, consistent=True
                )
                assert stored == charge
            found = {
                r.refund_id: r
                for r in self.table.iter_refund_for_charge(
                    charge_id=self.victim().charge_id
                )
            }
            assert found == {r.refund_id: r for r in self.refunds[A]}


def seed(table: LedgerTable, sent: Sent) -> Ledger:
    ledger = Ledger(table, sent)
    table.put_plan(Plan(plan_id="basic", fee_bps=120))
    for merchant in (A, B):
        with tenant(merchant):
            charges = [
                Charge(merchant_id=merchant, customer_id=CUSTOMER, amount=100 * (n + 1))
                for n in range(CHARGES)
            ]
            for charge in charges:
                table.put_charge(charge)
            refunds = [
                Refund(
                    merchant_id=merchant,
                    charge_id=charges[0].charge_id,
                    customer_id=CUSTOMER,
                    amount=10 + n,
                )
                for n in range(REFUNDS)
            ]
            assert table.batch_put_refund(refunds) == []
        ledger.charges[merchant] = charges
        ledger.refunds[merchant] = refunds
    return ledger


# --- the routes --------------------------------------------------------------------------------
# Each takes the seeded ledger and runs with nothing bound; it binds what it needs.


def get(ledger: Ledger) -> None:
    table, victim = ledger.table, ledger.victim()
    with tenant(B):
        # Scoped: the key is built from the bound tenant, so A's charge id finds nothing.
        assert table.get_charge(charge_id=victim.charge_id) is None
        own = ledger.charges[B][0]
        assert table.get_charge(charge_id=own.charge_id) == own
        assert table.get_charge(merchant_id=B, charge_id=own.charge_id) == own
        ledger.refused(
            TenantMismatch,
            lambda: table.get_charge(merchant_id=A, charge_id=victim.charge_id),
        )
        refund = ledger.victims_refund()
        assert (
            table.get_refund(charge_id=refund.charge_id, refund_id=refund.refund_id)
            is None
        )
    ledger.unharmed()


def query(ledger: Ledger) -> None:
    table = ledger.table
    with tenant(B):
        assert {c.charge_id for c in table.iter_charge_recent()} == ledger.charge_ids(B)
        assert {
            c.charge_id for c in table.iter_charge_by_status(status="pending")
        } == ledger.charge_ids(B)
        victims = list(
            table.iter_refund_for_charge(charge_id=ledger.victim().charge_id)
        )
        assert victims == []
        ledger.refused(TenantMismatch, lambda: table.query_charge_recent(merchant_id=A))
        ledger.refused(
            TenantMismatch, lambda: list(table.iter_charge_recent(merchant_id=A))
        )


def query_index(ledger: Ledger) -> None:
    table = ledger.table
    with tenant(B):
        # A global index: its partition key leads with the tenant too.
        found = {
            c.charge_id for c in table.iter_charge_by_customer(customer_id=CUSTOMER)
        }
        assert found == ledger.charge_ids(B)
        # A local index shares the table's partition key.
        found = {c.charge_id for c in table.iter_charge_at_least(amount=0)}
        assert found == ledger.charge_ids(B)
        ledger.refused(
            TenantMismatch,
            lambda: table.query_charge_by_customer(merchant_id=A, customer_id=CUSTOMER),
        )
        ledger.refused(
            TenantMismatch, lambda: table.query_charge_at_least(merchant_id=A, amount=0)
        )


def collection(ledger: Ledger) -> None:
    table = ledger.table
    with tenant(B):
        items = list(table.iter_customer_history(customer_id=CUSTOMER))
        assert {i.merchant_id for i in items} == {B}
        assert {
            i.charge_id for i in items if isinstance(i, Charge)
        } == ledger.charge_ids(B)
        assert {
            i.refund_id for i in items if isinstance(i, Refund)
        } == ledger.refund_ids(B)
        ledger.refused(
            TenantMismatch,
            lambda: table.query_customer_history(merchant_id=A, customer_id=CUSTOMER),
        )


def count(ledger: Ledger) -> None:
    table = ledger.table
    with tenant(B):
        assert table.count_charge_recent() == CHARGES
        assert table.count_charge_by_customer(customer_id=CUSTOMER) == CHARGES
        assert table.count_refund_for_charge(charge_id=ledger.victim().charge_id) == 0
        ledger.refused(TenantMismatch, lambda: table.count_charge_recent(merchant_id=A))


def batch_get(ledger: Ledger) -> None:
    table, victim, refund = ledger.table, ledger.victim(), ledger.victims_refund()
    own = ledger.charges[B][0]
    with tenant(B):
        found = table.batch_get_charge([own.key()])
        assert found.items == [own]
        # A key of another tenant, alone or among the bound tenant's own, is refused whole.
        ledger.refused(TenantMismatch, lambda: table.batch_get_charge([victim.key()]))
        ledger.refused(
            TenantMismatch, lambda: table.batch_get_charge([own.key(), victim.key()])
        )
        ledger.refused(TenantMismatch, lambda: table.batch_get_refund([refund.key()]))
        mine = ledger.refunds[B][0]
        assert table.batch_get_refund([mine.key()]).items == [mine]


def batch_put(ledger: Ledger) -> None:
    table = ledger.table
    theirs = Refund(
        merchant_id=A,
        charge_id=ledger.victim().charge_id,
        customer_id=CUSTOMER,
        amount=1,
    )
    mine = Refund(
        merchant_id=B,
        charge_id=ledger.victim().charge_id,
        customer_id=CUSTOMER,
        amount=1,
    )
    stamp = mine.updated_at
    with tenant(B):
        ledger.refused(TenantMismatch, lambda: table.batch_put_refund([mine, theirs]))
        assert mine.updated_at == stamp  # refused before any object was touched
    ledger.unharmed()


def batch_delete(ledger: Ledger) -> None:
    table, victim, refund = ledger.table, ledger.victim(), ledger.victims_refund()
    with tenant(B):
        ledger.refused(
            TenantMismatch, lambda: table.batch_delete_charge([victim.key()])
        )
        ledger.refused(
            TenantMismatch, lambda: table.batch_delete_refund([refund.key()])
        )
        own = ledger.charges[B][-1]
        assert table.batch_delete_charge([own.key()]) == []
        assert table.get_charge(charge_id=own.charge_id, consistent=True) is None
    ledger.unharmed()


def put(ledger: Ledger) -> None:
    table, victim = ledger.table, ledger.victim()
    forged = Charge(
        merchant_id=A, charge_id=victim.charge_id, customer_id="c-x", amount=1
    )
    with tenant(B):
        ledger.refused(TenantMismatch, lambda: table.put_charge(forged))
        ledger.refused(
            TenantMismatch, lambda: table.put_charge(forged, if_not_exists=True)
        )
        assert forged.version == 0
    ledger.unharmed()


def update(ledger: Ledger) -> None:
    table, victim = ledger.table, ledger.victim()
    own = ledger.charges[B][0]
    with tenant(B):
        # Scoped: the key is the bound tenant's, where A's charge id names no item.
        with pytest.raises(NotFound):
            table.update_charge(
                ChargeUpdate().set_note("x"), charge_id=victim.charge_id
            )
        ledger.refused(
            TenantMismatch,
            lambda: table.update_charge(
                ChargeUpdate().set_note("x"), merchant_id=A, charge_id=victim.charge_id
            ),
        )
        # An index key rebuilt for another tenant: B's own charge, moved into A's GSI1.
        ledger.refused(
            TenantMismatch,
            lambda: table.update_charge(
                ChargeUpdate().set_customer_id("c-2", merchant_id=A),
                charge_id=own.charge_id,
            ),
        )
        ledger.refused(
            TenantMismatch,
            lambda: table.update_refund(
                RefundUpdate().set_customer_id("c-2", merchant_id=A),
                charge_id=ledger.refunds[B][0].charge_id,
                refund_id=ledger.refunds[B][0].refund_id,
            ),
        )
        moved = table.update_charge(
            ChargeUpdate().set_customer_id("c-2", merchant_id=B),
            charge_id=own.charge_id,
        )
        assert moved is not None and moved.customer_id == "c-2"
    with tenant(A):
        assert [
            c.merchant_id for c in table.iter_charge_by_customer(customer_id="c-2")
        ] == []
    ledger.unharmed()


def delete(ledger: Ledger) -> None:
    table, victim = ledger.table, ledger.victim()
    with tenant(B):
        with pytest.raises(NotFound):
            table.delete_charge(charge_id=victim.charge_id, must_exist=True)
        assert table.delete_charge(charge_id=victim.charge_id, return_old=True) is None
        ledger.refused(
            TenantMismatch,
            lambda: table.delete_charge(merchant_id=A, charge_id=victim.charge_id),
        )
    ledger.unharmed()


def transaction(ledger: Ledger) -> None:
    table, victim = ledger.table, ledger.victim()
    own = ledger.charges[B][1]
    with tenant(B):
        tx = TransactWrite()
        forged = Charge(merchant_id=A, customer_id=CUSTOMER, amount=5)
        ledger.refused(TenantMismatch, lambda: table.tx_put_charge(tx, forged))
        ledger.refused(
            TenantMismatch,
            lambda: table.tx_update_charge(
                tx,
                ChargeUpdate().set_note("x"),
                merchant_id=A,
                charge_id=victim.charge_id,
            ),
        )
        ledger.refused(
            TenantMismatch,
            lambda: table.tx_update_charge(
                tx,
                ChargeUpdate().set_customer_id("c-2", merchant_id=A),
                charge_id=own.charge_id,
            ),
        )
        ledger.refused(
            TenantMismatch,
            lambda: table.tx_delete_charge(
                tx, merchant_id=A, charge_id=victim.charge_id
            ),
        )
        ledger.refused(
            TenantMismatch,
            lambda: table.tx_check_charge(
                tx, merchant_id=A, charge_id=victim.charge_id
            ),
        )
        assert len(tx) == 0
        # Scoped: A's charge id, in the bound tenant's partition, names no item.
        for add in (
            lambda t: table.tx_update_charge(
                t, ChargeUpdate().set_note("x"), charge_id=victim.charge_id
            ),
            lambda t: table.tx_check_charge(t, charge_id=victim.charge_id),
            lambda t: table.tx_delete_charge(
                t, charge_id=victim.charge_id, must_exist=True
            ),
        ):
            tx = TransactWrite()
            add(tx)
            with pytest.raises(TransactionCancelled):
                tx.commit()
        tx = TransactWrite()
        table.tx_delete_charge(tx, charge_id=victim.charge_id)  # deletes nothing of A's
        table.tx_update_charge(
            tx, ChargeUpdate().set_note("mine"), charge_id=own.charge_id
        )
        tx.commit()
        txg = TransactGet()
        table.tx_get_charge(txg, charge_id=victim.charge_id)
        table.tx_get_charge(txg, charge_id=own.charge_id)
        fetched = txg.fetch()
        assert fetched[0] is None and fetched[1].note == "mine"
        ledger.refused(
            TenantMismatch,
            lambda: table.tx_get_charge(
                TransactGet(), merchant_id=A, charge_id=victim.charge_id
            ),
        )
    ledger.unharmed()


def cursor_reuse(ledger: Ledger) -> None:
    table = ledger.table
    with tenant(A):
        first = table.query_charge_recent(limit=1)
        by_customer = table.query_charge_by_customer(customer_id=CUSTOMER, limit=1)
        history = table.query_customer_history(customer_id=CUSTOMER, limit=1)
        assert first.cursor and by_customer.cursor and history.cursor
        more = table.query_charge_recent(limit=1, cursor=first.cursor)
        assert more.items[0].merchant_id == A
    with tenant(B):
        # Signed over the query's parameter values, which hold A's partition key.
        ledger.refused(
            InvalidCursor,
            lambda: table.query_charge_recent(limit=1, cursor=first.cursor),
        )
        ledger.refused(
            InvalidCursor,
            lambda: table.query_charge_by_customer(
                customer_id=CUSTOMER, cursor=by_customer.cursor
            ),
        )
        ledger.refused(
            InvalidCursor,
            lambda: table.query_customer_history(
                customer_id=CUSTOMER, cursor=history.cursor
            ),
        )
        ledger.refused(
            InvalidCursor, lambda: list(table.iter_charge_recent(cursor=first.cursor))
        )
    # An iteration started for A cannot go on for B: its next page is refused.
    with tenant(A):
        pages = table.iter_charge_recent(page_size=1)
        assert next(pages).merchant_id == A
    with tenant(B):
        ledger.refused(InvalidCursor, lambda: next(pages))


def forged_keys(ledger: Ledger) -> None:
    """Raw keys that are not what Charge.make_key (or Refund.make_key) builds for the bound
    tenant, whatever they look like, are refused before anything is sent."""
    table = ledger.table
    own, refund = ledger.charges[B][0], ledger.refunds[B][0]
    sk = own.key()["SK"]
    refund_sk = refund.key()["SK"]
    charge_keys: list[Any] = [
        {"PK": {"S": f"MERCHANT#{A}"}, "SK": sk},
        {"PK": {"S": f"MERCHANT#{B}x"}, "SK": sk},  # another tenant whose id starts so
        {"PK": {"S": f"MERCHANT#{B}#REFUNDS"}, "SK": refund_sk},  # a Refund's partition
        {"PK": {"S": f"merchant#{B}"}, "SK": sk},
        {"PK": {"N": "1"}, "SK": sk},
        {"PK": {"S": f"MERCHANT#{B}", "N": "1"}, "SK": sk},
        {"SK": sk},
        {"pk": {"S": f"MERCHANT#{B}"}, "SK": sk},
        "MERCHANT#m-b",
    ]
    refund_keys: list[Any] = [
        {"PK": {"S": f"MERCHANT#{A}#REFUNDS"}, "SK": refund_sk},
        {"PK": {"S": f"MERCHANT#{B}x#REFUNDS"}, "SK": refund_sk},
        {"PK": {"S": f"MERCHANT#{B}"}, "SK": refund_sk},
        {"PK": {"S": f"MERCHANT#{B}"}, "SK": sk},
        {"PK": {"B": b"MERCHANT#m-b#"}, "SK": refund_sk},
        {"PK": {"S": f"MERCHANT#{B}#REFUNDS", "B": b"x"}, "SK": refund_sk},
    ]
    with tenant(B):
        for key in charge_keys:
            ledger.refused(TenantMismatch, lambda k=key: table.batch_get_charge([k]))
            ledger.refused(TenantMismatch, lambda k=key: table.batch_delete_charge([k]))
        for key in refund_keys:
            ledger.refused(TenantMismatch, lambda k=key: table.batch_get_refund([k]))
            ledger.refused(TenantMismatch, lambda k=key: table.batch_delete_refund([k]))
        # Values that would reach into other keys are refused by the key checks, as ever.
        for value in ("x#y", f"{A}#x"):
            ledger.refused(KeyViolation, lambda v=value: table.get_charge(charge_id=v))
    ledger.unharmed()


def untenanted_neighbour(ledger: Ledger) -> None:
    """Plan has no tenant and shares the table: its batch methods take raw keys, and refuse
    any that is not a Plan's (DG220 keeps its keys out of the tenants' partitions), so a
    tenant's key given to them reads and deletes nothing, bound tenant or not."""
    table, victim = ledger.table, ledger.victim()
    plan = Plan.make_key(plan_id="basic")
    for key in (victim.key(), ledger.victims_refund().key(), {"PK": {"S": "PLAN"}}):
        ledger.refused(KeyViolation, lambda k=key: table.batch_get_plan([plan, k]))
        ledger.refused(KeyViolation, lambda k=key: table.batch_delete_plan([k]))
        with tenant(B):
            ledger.refused(KeyViolation, lambda k=key: table.batch_delete_plan([k]))
    assert [p.plan_id for p in table.batch_get_plan([plan]).items if p] == ["basic"]
    ledger.unharmed()


def unbound(ledger: Ledger) -> None:
    """No tenant bound: every method of a tenant entity refuses, even given a tenant."""
    table, victim = ledger.table, ledger.victim()
    calls: list[Callable[[], object]] = [
        lambda: table.get_charge(merchant_id=A, charge_id=victim.charge_id),
        lambda: table.get_charge(charge_id=victim.charge_id),
        lambda: table.query_charge_recent(merchant_id=A),
        lambda: table.count_charge_recent(),
        lambda: table.query_charge_by_customer(customer_id=CUSTOMER),
        lambda: table.query_customer_history(customer_id=CUSTOMER),
        lambda: table.batch_get_charge([victim.key()]),
        lambda: table.batch_delete_charge([victim.key()]),
        lambda: table.batch_put_refund([ledger.victims_refund()]),
        lambda: table.put_charge(victim),
        lambda: table.update_charge(
            ChargeUpdate().set_note("x"), charge_id=victim.charge_id
        ),
        lambda: table.delete_charge(merchant_id=A, charge_id=victim.charge_id),
        lambda: table.tx_put_charge(TransactWrite(), victim),
        lambda: table.tx_check_charge(TransactWrite(), charge_id=victim.charge_id),
        lambda: table.tx_get_charge(TransactGet(), charge_id=victim.charge_id),
    ]
    for call in calls:
        ledger.refused(TenantRequired, call)
    # Entities without a tenant do not need one: the plans are everyone's.
    assert [p.plan_id for p in table.iter_scan_plan()] == ["basic"]
    assert not hasattr(table, "scan_charge") and not hasattr(table, "iter_scan_refund")
    ledger.unharmed()


ROUTES: dict[str, Callable[[Ledger], None]] = {
    f.__name__: f
    for f in (
        get,
        query,
        query_index,
        collection,
        count,
        batch_get,
        batch_put,
        batch_delete,
        put,
        update,
        delete,
        transaction,
        cursor_reuse,
        forged_keys,
        untenanted_neighbour,
        unbound,
    )
}
