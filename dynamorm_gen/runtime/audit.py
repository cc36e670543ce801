"""Audit records: building the record each write of an audited entity adds to its
transaction, and decoding the records a history query reads.

An entity marked ``audit:`` in the schema has every write through its generated methods
(``put_``, ``update_``, ``delete_`` and the ``tx_`` actions) carry a Put of one audit record
in the same TransactWriteItems: the record exists exactly when the write was applied. A
record names who wrote (the partner bound to the context and the actor the handler binds
with ``actor(...)`` or ``db.actor(...)``), when (the writer's clock, UTC, in ms), the
operation, the names of the attributes written and the item's old and new versions. It
never holds an attribute's value, so never encrypted data either.

Records of one item share one partition key, ``AUDIT#<type tag>#<the item's key as
canonical JSON>`` (for a tenant entity ``TENANT_AUDIT#<tenant>#...``, so a tenant's records
sit in its own partitions, DG220); the sort key is the writer's time, then the sequence
(old version + 1), both fixed width: a descending query reads the history newest first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dynamorm_gen.runtime import context
from dynamorm_gen.runtime.errors import ConditionFailed, TransactionCancelled
from dynamorm_gen.runtime.table import TableHandle
from dynamorm_gen.runtime.transact import TransactWrite
from dynamorm_gen.runtime.types import Item, Key

if TYPE_CHECKING:
    from dynamorm_gen.runtime.update import Update

PREFIX = "AUDIT#"
TENANT_PREFIX = "TENANT_AUDIT#"
RECORD_TYPE = "dynamorm.audit"
PUT, UPDATE, DELETE = "put", "update", "delete"
_DAY_SECONDS = 86_400
# Fixed widths make the sort key's text order its numeric order: ms since 1970 fit 15
# digits until the year 33658, a version fits 20 (DynamoDB numbers hold 38 digits, but a
# version incremented once per write never gets there).
_TIME_WIDTH = 15
_SEQUENCE_WIDTH = 20


@contextmanager
def actor(actor_id: str) -> Iterator[str]:
    """``with actor("user-1"):`` names who the calls made inside the block act for: audit
    records of the writes made there hold it. ``InvalidActor`` unless it is a non-empty str
    of at most 256 characters. Bindings nest and end with the block."""
    with context.bind_actor(actor_id):
        yield actor_id


class AuditRecord:
    """One write of an audited item, as its audit record holds it (no attribute values).

    A plain class rather than a dataclass: importing ``dataclasses`` costs a Lambda's cold
    start more than these few lines."""

    __slots__ = (
        "actor",
        "at_ms",
        "changed",
        "entity",
        "expires_at",
        "key",
        "new_version",
        "old_version",
        "operation",
        "partner",
    )

    def __init__(
        self,
        *,
        entity: str,
        key: Key,
        operation: str,
        at_ms: int,
        partner: str | None,
        actor: str | None,
        changed: tuple[str, ...],
        old_version: int | None,
        new_version: int | None,
        expires_at: int | None = None,
    ) -> None:
        self.entity = entity  # the entity's type tag
        self.key = key  # the item's primary key in its table
        self.operation = operation  # "put", "update" or "delete"
        self.at_ms = at_ms  # when, by the writer's clock: ms since 1970-01-01 UTC
        self.partner = partner
        self.actor = actor
        self.changed = changed  # stored names of the attributes written, sorted
        self.old_version = old_version  # None: the write created the item
        self.new_version = new_version  # None: the write deleted the item
        self.expires_at = expires_at  # the record's TTL (epoch seconds), if retained so

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AuditRecord):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # No key, partner or actor: they are values.
        return (
            f"AuditRecord({self.entity} {self.operation}, old_version={self.old_version},"
            f" new_version={self.new_version}, {len(self.changed)} attributes)"
        )

    @classmethod
    def from_item(cls, item: Item) -> AuditRecord:
        def text(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value["S"])

        def number(name: str) -> int | None:
            value = item.get(name)
            return None if value is None else int(value["N"])

        return cls(
            entity=str(item["audit_entity"]["S"]),
            key=dict(item["audit_key"]["M"]),
            operation=str(item["audit_op"]["S"]),
            at_ms=int(item["audit_at"]["N"]),
            partner=text("audit_partner"),
            actor=text("audit_actor"),
            changed=tuple(str(v["S"]) for v in item["audit_changed"]["L"]),
            old_version=number("audit_old_version"),
            new_version=number("audit_new_version"),
            expires_at=number("audit_expires_at"),
        )


def partition(type_tag: str, key: Key, tenant: str | None = None) -> str:
    """The partition key of an item's records: its key as canonical JSON (sorted names, no
    spaces) makes it unambiguous; a tenant's records start with the tenant."""
    text = json.dumps(
        key, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_binary
    )
    if tenant is None:
        return f"{PREFIX}{type_tag}#{text}"
    return f"{TENANT_PREFIX}{tenant}#{type_tag}#{text}"


def _binary(value: object) -> str:
    """A binary key's bytes in the JSON text: base64, as DynamoDB's JSON writes them."""
    if isinstance(value, bytes | bytearray | memoryview):
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"a key holds no {type(value).__name__}")


def record_request(
    handle: TableHandle,
    *,
    type_tag: str,
    key: Key,
    operation: str,
    changed: Iterable[str],
    old_version: int | None,
    new_version: int | None,
    tenant: str | None = None,
    retention_days: int | None = None,
) -> dict[str, Any]:
    """The Put of one audit record, as a transaction action on ``handle``'s table (the
    entity's, or the declared audit table). Its condition (no record with its key) makes
    a clash of two records fail the transaction rather than overwrite one."""
    found = context.current()
    now_ms = time.time_ns() // 1_000_000
    sequence = 1 if old_version is None else old_version + 1
    pk_name, sk_name = handle.definition.key_names
    item: Item = {
        pk_name: {"S": partition(type_tag, key, tenant)},
        sk_name: {"S": f"{now_ms:0{_TIME_WIDTH}d}#{sequence:0{_SEQUENCE_WIDTH}d}"},
        handle.definition.entity_type_attribute: {"S": RECORD_TYPE},
        "audit_entity": {"S": type_tag},
        "audit_key": {"M": dict(key)},
        "audit_op": {"S": operation},
        "audit_at": {"N": str(now_ms)},
        "audit_changed": {"L": [{"S": name} for name in sorted(set(changed))]},
    }
    if found.partner is not None:
        item["audit_partner"] = {"S": found.partner}
    if found.actor is not None:
        item["audit_actor"] = {"S": found.actor}
    if old_version is not None:
        item["audit_old_version"] = {"N": str(old_version)}
    if new_version is not None:
        item["audit_new_version"] = {"N": str(new_version)}
    if retention_days is not None:
        expires = now_ms // 1000 + retention_days * _DAY_SECONDS
        item["audit_expires_at"] = {"N": str(expires)}
        ttl = handle.definition.ttl_attribute
        if ttl is not None:
            item[ttl] = {"N": str(expires)}
    return {
        "TableName": handle.name,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#a_pk)",
        "ExpressionAttributeNames": {"#a_pk": pk_name},
    }


def changed_by_put(item: Item, handle: TableHandle) -> list[str]:
    """The attributes a put writes: every one the item holds but the table's key and the
    entity-type attribute (bookkeeping, the same on every write)."""
    skipped = {*handle.definition.key_names, handle.definition.entity_type_attribute}
    return [name for name in item if name not in skipped]


def changed_by_update(changes: Update) -> list[str]:
    """The attributes an update sets, removes, adds to or deletes from, and the index keys
    it rebuilds (the version and ``auto: update`` timestamps move with every update)."""
    return [c.name for c in changes.changes] + [name for name, _ in changes.key_writes]


def history_request(
    handle: TableHandle, type_tag: str, key: Key, tenant: str | None = None
) -> dict[str, Any]:
    """A Query's parameters for an item's records, newest first (``TableHandle.query`` adds
    the table and binds the cursor to this partition, so to this item and tenant)."""
    return {
        "KeyConditionExpression": "#a_pk = :a_pk",
        "ExpressionAttributeNames": {"#a_pk": handle.definition.key_names[0]},
        "ExpressionAttributeValues": {":a_pk": {"S": partition(type_tag, key, tenant)}},
        "ScanIndexForward": False,
    }


def commit(tx: TransactWrite, entity: str) -> None:
    """Commit the two actions of an audited put_, update_ or delete_ (the write, then its
    record): a cancellation because the write's own condition failed becomes the
    ConditionFailed the method raises for an entity without audit; no record was written."""
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if [(i, code) for i, _, code in exc.reasons] != [(0, "ConditionalCheckFailed")]:
            raise
        error = ConditionFailed(
            "ConditionalCheckFailed",
            operation="TransactWriteItems",
            table=exc.table,
            entity=entity,
            code="ConditionalCheckFailed",
        )
        error.item = exc.items[0] if exc.items else None
        error.server_message = exc.server_message
        raise error from None
