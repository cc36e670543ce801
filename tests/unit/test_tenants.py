"""Tenants sharing one table (runtime/tenants.py and the generated methods of tenant
entities): the tenant comes from the context, and no route reaches another tenant's items.

Every route of tests/tenancy.py runs here on moto in-process (botocore transport); the same
routes run on moto's server over both transports in tests/integration/test_tenants.py.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from moto import mock_aws

from dynamorm_gen.compiler import facts
from dynamorm_gen.compiler.model import TENANT_ID_PUNCTUATION, Module
from dynamorm_gen.compiler.project import Project, compile_project
from dynamorm_gen.runtime import (
    DynamormError,
    InvalidTenant,
    TenantMismatch,
    TenantRequired,
    tenant,
    tenants,
)
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.context import TENANT_ID_CHARACTERS, bind_tenant
from dynamorm_gen.runtime.table import Connection, reset_clients
from tests.conftest import ROOT
from tests.golden.cases.tenants.expected.charges import (
    Charge,
    ChargeUpdate,
    LedgerTable,
    Refund,
)
from tests.tenancy import CUSTOMER, ROUTES, A, B, Ledger, Sent, seed, sent

__all__ = ["sent"]  # the fixture, for the tests below

SCHEMA = ROOT / "tests" / "golden" / "cases" / "tenants" / "schemas"


@pytest.fixture
def ledger(sent: Sent) -> Iterator[Ledger]:
    with mock_aws():
        reset_clients()
        table = LedgerTable(Connection(region="us-east-1"), name="ledger")
        table.handle.create()
        yield seed(table, sent)
        reset_clients()


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_is_scoped_to_the_bound_tenant_or_refused(
    ledger: Ledger, route: str
) -> None:
    ROUTES[route](ledger)


# --- the runtime ---------------------------------------------------------------------------------


def test_the_tenant_comes_from_the_context_and_arguments_only_confirm_it() -> None:
    assert tenants.current() is None
    with pytest.raises(TenantRequired) as unbound:
        tenants.resolve(None, "Charge", "merchant_id")
    assert str(unbound.value) == (
        "no tenant is bound, and Charge.merchant_id is the tenant: call it inside"
        " `with tenant(...)` (or `with db.tenant(...)`) (entity Charge)"
    )
    with pytest.raises(TenantRequired):  # an argument alone never chooses the tenant
        tenants.resolve(A, "Charge", "merchant_id")
    with tenant(A) as bound:
        assert bound == A and tenants.current() == A
        assert tenants.resolve(None, "Charge", "merchant_id") == A
        assert tenants.resolve(A, "Charge", "merchant_id") == A
        assert tenants.bound("Charge", "merchant_id") == A
        tenants.check(A, "Charge", "merchant_id")
        for other in (B, "", 7, A.upper()):
            with pytest.raises(TenantMismatch) as mismatch:
                tenants.resolve(other, "Charge", "merchant_id")
            assert mismatch.value.entity == "Charge"
            with pytest.raises(TenantMismatch) as written:
                tenants.check(other, "Charge", "merchant_id")
        assert str(mismatch.value) == (
            "the merchant_id given is not the bound tenant: Charge reads and writes only"
            " the bound tenant's items (entity Charge)"
        )
        assert str(written.value) == (
            "Charge.merchant_id of the object is not the bound tenant: Charge writes only"
            " the bound tenant's items (entity Charge)"
        )
        with tenant(B):  # bindings nest
            assert tenants.current() == B
        assert tenants.current() == A
    assert tenants.current() is None


def test_tenant_errors_are_typed_and_name_no_tenant() -> None:
    for error in (TenantRequired, TenantMismatch, InvalidTenant):
        assert issubclass(error, DynamormError)
    assert issubclass(InvalidTenant, ValueError)
    secret = "m-secret-4711"
    with tenant(secret):
        failures: list[Callable[[], object]] = [
            lambda: tenants.resolve("m-other-0815", "Charge", "merchant_id"),
            lambda: tenants.check("m-other-0815", "Charge", "merchant_id"),
            lambda: tenants.check_keys(
                [{"PK": {"S": "MERCHANT#m-other-0815"}}],
                "PK",
                f"MERCHANT#{secret}",
                "Charge",
                "merchant_id",
            ),
            lambda: tenants.check_key_prefixes(
                [{"PK": {"S": "MERCHANT#m-other-0815#REFUNDS"}}],
                "PK",
                f"MERCHANT#{secret}#",
                "Refund",
                "merchant_id",
            ),
            lambda: tenants.check_changes(
                ChargeUpdate().set_customer_id("c-1", merchant_id="m-other-0815"),
                "merchant_id",
                secret,
                "Charge",
                "merchant_id",
            ),
        ]
        for failure in failures:
            with pytest.raises(TenantMismatch) as refused:
                failure()
            message = str(refused.value)
            assert "merchant_id" in message
            assert "Charge" in message or "Refund" in message
            assert secret not in message and "m-other-0815" not in message
    for bad in ("m#secret", "m secret", "ü"):
        with pytest.raises(InvalidTenant) as invalid, tenant(bad):
            pass
        assert bad not in str(invalid.value)


def test_raw_keys_are_checked_whole_or_by_their_prefix() -> None:
    keys = [{"PK": {"S": "MERCHANT#m-1"}, "SK": {"S": "CHARGE#1"}}]
    tenants.check_keys(keys, "PK", "MERCHANT#m-1", "Charge", "merchant_id")
    with pytest.raises(TenantMismatch, match="key 1 is not the bound tenant's"):
        tenants.check_keys(
            [*keys, {"PK": {"S": "MERCHANT#m-12"}}],
            "PK",
            "MERCHANT#m-1",
            "Charge",
            "merchant_id",
        )
    refunds = [{"PK": {"S": "MERCHANT#m-1#REFUNDS"}}]
    tenants.check_key_prefixes(refunds, "PK", "MERCHANT#m-1#", "Refund", "merchant_id")
    for wrong in ("MERCHANT#m-12#REFUNDS", "MERCHANT#m-1", "MERCHANT#m-1|X"):
        with pytest.raises(TenantMismatch, match="key 0 is not the bound tenant's"):
            tenants.check_key_prefixes(
                [{"PK": {"S": wrong}}], "PK", "MERCHANT#m-1#", "Refund", "merchant_id"
            )


def test_tenant_ids_and_the_separators_the_compiler_allows_agree() -> None:
    # The character after the tenant in a key template is one no tenant id holds (DG220).
    letters = {c for c in TENANT_ID_CHARACTERS if c.isalnum()}
    assert TENANT_ID_CHARACTERS - letters == set(TENANT_ID_PUNCTUATION)
    assert len(letters) == 62


def test_db_tenant_binds_like_tenant() -> None:
    db = LambdaDatabase(region="us-east-1", xray=False)
    with db.tenant("m-1"):
        assert tenants.current() == "m-1"
    with pytest.raises(InvalidTenant), db.tenant("m#1"):
        pass
    assert tenants.current() is None
    db.close()


def test_threads_start_without_a_tenant_and_tasks_keep_theirs(ledger: Ledger) -> None:
    table = ledger.table
    own = ledger.charges[B][0]
    with tenant(B), ThreadPoolExecutor(2) as pool:
        plain = pool.submit(table.get_charge, charge_id=own.charge_id)
        copied = pool.submit(
            contextvars.copy_context().run, table.get_charge, charge_id=own.charge_id
        )
        with pytest.raises(TenantRequired):
            plain.result()
        assert copied.result() == own

    async def serve(merchant: str) -> set[str]:
        found = set()
        with tenant(merchant):
            for _ in range(3):
                await asyncio.sleep(0)  # the other task runs in between
                page = await asyncio.to_thread(
                    contextvars.copy_context().run, table.query_charge_recent
                )
                found |= {c.merchant_id for c in page}
        return found

    async def main() -> list[set[str]]:
        return list(await asyncio.gather(serve(A), serve(B)))

    assert asyncio.run(main()) == [{A}, {B}]


def test_converting_needs_no_tenant_only_sending_does() -> None:
    # make_key, key and to_item send nothing: they build any tenant's key or item (tests,
    # back-fills); every method that sends one checks it against the bound tenant.
    charge = Charge(merchant_id=A, customer_id=CUSTOMER, amount=1)
    assert Charge.make_key(merchant_id=A, charge_id=charge.charge_id) == charge.key()
    assert charge.to_item()["PK"] == {"S": f"MERCHANT#{A}"}
    assert Charge.from_item(charge.to_item()) == charge
    refund = Refund(merchant_id=A, charge_id="c", customer_id=CUSTOMER, amount=1)
    assert refund.key()["PK"] == {"S": f"MERCHANT#{A}#REFUNDS"}
    with bind_tenant(B):
        assert charge.to_item()["PK"] == {"S": f"MERCHANT#{A}"}


# --- the compiler --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module() -> Module:
    project = Project(root=ROOT, schemas=(SCHEMA,), output=ROOT / "unused")
    modules, _ = compile_project(project)
    return modules[0]


def test_the_tenant_prefix_of_raw_keys(module: Module) -> None:
    entities = {e.name: e for e in module.entities}
    charge = facts.tenant_prefix(entities["Charge"])
    assert (charge.template.text, charge.whole) == ("MERCHANT#{merchant_id}", True)
    refund = facts.tenant_prefix(entities["Refund"])
    assert (refund.template.text, refund.whole) == ("MERCHANT#{merchant_id}#", False)
    assert refund.template.names == ("merchant_id",)
    assert facts.tenant_in_updates(
        entities["Charge"]
    )  # set_customer_id takes the tenant
    assert not facts.scans(entities["Charge"]) and facts.scans(entities["Plan"])
    assert entities["Plan"].tenant is None


def test_tenant_methods_take_the_tenant_as_an_optional_keyword() -> None:
    import inspect

    for name in ("get_charge", "query_charge_recent", "count_charge_recent"):
        parameter = inspect.signature(getattr(LedgerTable, name)).parameters[
            "merchant_id"
        ]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default is None
    assert (
        "merchant_id" not in inspect.signature(LedgerTable.batch_get_charge).parameters
    )
    make_key = inspect.signature(Charge.make_key).parameters["merchant_id"]
    assert make_key.default is inspect.Parameter.empty  # pure: any tenant's key
