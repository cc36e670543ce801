"""Tenants sharing one table, on moto's server over loopback HTTP, on both transports.

The fixtures are the ones users get from the plugin (``dynamorm_gen.testing``):
``dynamorm_engine`` (moto's server, reset per test, both transports pointed at it) and
``dynamorm_transport`` (each test once per transport). Every route of tests/tenancy.py must
be scoped to the bound tenant or refused before anything is sent; the same routes run on moto
in-process in tests/unit/test_tenants.py.
"""

from __future__ import annotations

import pytest

from dynamorm_gen.runtime import InvalidCursor, tenant
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.partners import PartnerRegistry
from dynamorm_gen.runtime.table import Connection
from dynamorm_gen.testing import LocalEngine
from tests.golden.cases.tenants.expected.charges import Charge, LedgerTable
from tests.tenancy import CUSTOMER, ROUTES, A, B, Sent, seed, sent

__all__ = ["sent"]  # the fixture, for the tests below

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_is_scoped_to_the_bound_tenant_or_refused(
    dynamorm_engine: LocalEngine, dynamorm_transport: str, sent: Sent, route: str
) -> None:
    table = LedgerTable(Connection(region="us-east-1"), name="ledger")
    dynamorm_engine.create(table)
    ROUTES[route](seed(table, sent))


def test_tenants_inside_partners_accounts(
    dynamorm_engine: LocalEngine,
    dynamorm_partners: PartnerRegistry,
    dynamorm_transport: str,
    sent: Sent,
) -> None:
    """Partners and tenants together: each partner's account holds a table shared by its
    merchants. A cursor is bound to both: the tenant (in its partition key) and the
    partner (whose account it read)."""
    db = LambdaDatabase(partners=dynamorm_partners, region="us-east-1", xray=False)
    ledger = db.partner_table(LedgerTable, name="ledger")
    partners = dynamorm_partners.ids()
    for partner in partners:
        with db.partner(partner):
            dynamorm_engine.create(ledger)
            for merchant in (A, B):
                with db.tenant(merchant):
                    for n in range(2):
                        ledger.put_charge(
                            Charge(merchant_id=merchant, customer_id=CUSTOMER, amount=n)
                        )
    first, second = partners
    with db.partner(first), db.tenant(A):
        page = ledger.query_charge_recent(limit=1)
        assert page.cursor is not None and page.items[0].merchant_id == A
        assert ledger.query_charge_recent(limit=1, cursor=page.cursor).items
    before = len(sent)
    with db.partner(first), db.tenant(B), pytest.raises(InvalidCursor):
        ledger.query_charge_recent(limit=1, cursor=page.cursor)
    with db.partner(second), tenant(A), pytest.raises(InvalidCursor):
        ledger.query_charge_recent(limit=1, cursor=page.cursor)
    assert len(sent) == before
    for partner in partners:
        with db.partner(partner), db.tenant(B):
            assert {c.merchant_id for c in ledger.iter_charge_recent()} == {B}
            assert ledger.count_charge_recent() == 2
    db.close()
