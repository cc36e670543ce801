"""Tenants sharing one table: the tenant bound to the running context, and the checks the
generated methods of tenant entities make before anything is sent.

An entity declares its tenant attribute in the schema (``tenant: merchant_id``); the compiler
makes sure the tenant leads every partition key the entity writes, followed by a character
that tenant ids never hold (DG220). Its generated methods then take the tenant from the
context, never from their arguments alone::

    with tenant("m-1"):                        # or: with db.tenant("m-1"):
        table.get_charge(charge_id=cid)          # the key of m-1's charge cid
        table.get_charge(merchant_id="m-2", charge_id=cid)  # TenantMismatch, nothing sent
    table.get_charge(charge_id=cid)              # TenantRequired, nothing sent

Errors name the entity and the tenant attribute, never a tenant: tenant ids are item values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dynamorm_gen.runtime import context
from dynamorm_gen.runtime.errors import KeyViolation, TenantMismatch, TenantRequired
from dynamorm_gen.runtime.types import Key

if TYPE_CHECKING:
    from dynamorm_gen.runtime.update import Update


@contextmanager
def tenant(tenant_id: str) -> Iterator[str]:
    """``with tenant("m-1"):`` binds the tenant to the calls made inside the block (and to
    the asyncio tasks started there); ``InvalidTenant`` if the id is not a str of 1 to 128
    ASCII letters, digits, ``_``, ``.`` and ``-``. Bindings nest and end with the block."""
    with context.bind_tenant(tenant_id):
        yield tenant_id


def current() -> str | None:
    """The tenant bound to the running context, or None."""
    return context.current().tenant


def bound(entity: str, attribute: str) -> str:
    """The bound tenant, for a method of tenant entity ``entity`` whose tenant attribute is
    ``attribute``; TenantRequired when none is bound."""
    found = context.current().tenant
    if found is None:
        raise TenantRequired(
            f"no tenant is bound, and {entity}.{attribute} is the tenant: call it inside"
            " `with tenant(...)` (or `with db.tenant(...)`)",
            entity=entity,
        )
    return found


def resolve(given: object, entity: str, attribute: str) -> str:
    """The tenant for a method's tenant parameter: the bound tenant. None takes it; any
    other value must equal it (TenantMismatch). TenantRequired when none is bound, whatever
    was given: an argument alone never chooses the tenant."""
    found = bound(entity, attribute)
    if given is not None and given != found:
        raise TenantMismatch(
            f"the {attribute} given is not the bound tenant: {entity} reads and writes"
            " only the bound tenant's items",
            entity=entity,
        )
    return found


def check(value: object, entity: str, attribute: str) -> None:
    """An object about to be written must belong to the bound tenant: its tenant attribute
    ``value`` must equal it (TenantMismatch; TenantRequired when none is bound)."""
    if value != bound(entity, attribute):
        raise TenantMismatch(
            f"{entity}.{attribute} of the object is not the bound tenant: {entity} writes"
            " only the bound tenant's items",
            entity=entity,
        )


def check_keys(
    keys: Sequence[Key], name: str, expected: str, entity: str, attribute: str
) -> None:
    """Raw keys (batch methods) must be the bound tenant's: partition key ``name`` exactly
    ``expected``, the value the entity's template gives for the bound tenant."""
    for position, key in enumerate(keys):
        value = key.get(name) if isinstance(key, dict) else None
        if value != {"S": expected}:
            raise _foreign_key(position, name, entity, attribute)


def check_key_prefixes(
    keys: Sequence[Key], name: str, prefix: str, entity: str, attribute: str
) -> None:
    """Raw keys (batch methods) must be the bound tenant's: partition key ``name`` must
    start with ``prefix``, the entity's template up to the bound tenant and the character
    after it (which no tenant id holds, so no other tenant's key starts so)."""
    for position, key in enumerate(keys):
        text = _partition_text(key, name)
        if text is None or not text.startswith(prefix):
            raise _foreign_key(position, name, entity, attribute)


def check_untenanted_keys(
    keys: Sequence[Key], name: str, prefix: str, entity: str
) -> None:
    """Raw keys of an entity without a tenant, on a table that holds tenants' items, must
    be keys of that entity: partition key ``name`` starting with ``prefix``, the literal
    text its template starts with, which no tenant's key starts with (DG220)."""
    for position, key in enumerate(keys):
        text = _partition_text(key, name)
        if text is None or not text.startswith(prefix):
            raise KeyViolation(
                f"key {position} is not a {entity} key: its {name} does not start with"
                f" {prefix!r} as {entity}.make_key builds it, and this table holds"
                " tenants' items",
                entity=entity,
            )


def _partition_text(key: object, name: str) -> str | None:
    """The string partition key ``name`` of a raw key, or None if it has none."""
    value = key.get(name) if isinstance(key, dict) else None
    text = value.get("S") if isinstance(value, dict) and len(value) == 1 else None
    return text if type(text) is str else None


def _foreign_key(
    position: int, name: str, entity: str, attribute: str
) -> TenantMismatch:
    return TenantMismatch(
        f"key {position} is not the bound tenant's: its {name} is not built from the bound"
        f" tenant ({entity}.{attribute}); build keys with {entity}.make_key",
        entity=entity,
    )


def check_changes(
    changes: Update, stored: str, tenant_id: str, entity: str, attribute: str
) -> None:
    """An update's rebuilt index keys must be the bound tenant's: the tenant attribute
    ``stored`` that the builder expects (given to a ``set_`` method that rebuilds an index
    key holding the tenant) must be ``tenant_id``."""
    expected = dict(changes.expectations)
    if stored in expected and expected[stored] != {"S": tenant_id}:
        raise TenantMismatch(
            f"the {attribute} given to {entity}Update is not the bound tenant: its index"
            " keys would be another tenant's",
            entity=entity,
        )
