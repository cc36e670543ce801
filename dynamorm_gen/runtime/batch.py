"""Batch reads and writes: chunked to DynamoDB's limits, unprocessed parts retried, and what
still could not be done handed back to the caller instead of being silently lost.

Each request goes through the client's retry loop like any other (a batch write holds only
unconditional puts and deletes, so resending it is safe). What DynamoDB leaves unprocessed
is sent again after a pause of the client's retry policy, with throttling's longer base,
while the bound deadline leaves time for it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from dynamorm_gen.runtime.deadline import current as current_deadline
from dynamorm_gen.runtime.errors import DeadlineExceeded, ValidationFailed
from dynamorm_gen.runtime.retry import IDEMPOTENT, READ, RetryPolicy
from dynamorm_gen.runtime.table import TableHandle
from dynamorm_gen.runtime.types import Item, Key

T = TypeVar("T")

GET_CHUNK = 100  # BatchGetItem's limit
WRITE_CHUNK = 25  # BatchWriteItem's limit
MAX_RETRIES = 8  # rounds of unprocessed items sent again, per chunk


class BatchGet(Generic[T]):
    """Results in the order of the keys asked for (None: no such item, or unprocessed), and
    the keys DynamoDB left unprocessed after every retry."""

    __slots__ = ("items", "unprocessed")

    def __init__(self, items: list[T | None], unprocessed: list[Key]) -> None:
        self.items = items
        self.unprocessed = unprocessed

    def __repr__(self) -> str:
        found = sum(i is not None for i in self.items)
        return f"BatchGet({found} of {len(self.items)} found, {len(self.unprocessed)} unprocessed)"


def identity(handle: TableHandle, item: Item) -> tuple[Hashable, ...]:
    """The primary key values of an item or key, hashable, to match responses to requests."""
    return tuple(
        next(iter(item[name].values())) for name in handle.definition.key_names
    )


def _unique(handle: TableHandle, keys: list[Key], operation: str, entity: str) -> None:
    seen: set[tuple[Hashable, ...]] = set()
    for key in keys:
        ident = identity(handle, key)
        if ident in seen:
            # DynamoDB would reject the whole batch; say why without quoting the key.
            raise ValidationFailed(
                "a batch names the same key twice",
                operation=operation,
                table=handle.name,
                entity=entity,
            )
        seen.add(ident)


def _pause(policy: RetryPolicy, attempt: int) -> bool:
    """The policy's backoff before sending unprocessed items again (DynamoDB leaves them
    when the table is short of capacity, so throttling's base applies); False, without
    waiting, when the bound deadline leaves no time to wait and send again."""
    pause = policy.delay(attempt, throttled=True)
    deadline = current_deadline()
    if deadline is not None and deadline.remaining() <= pause:
        return False
    policy.sleep(pause)
    return True


def get_many(
    handle: TableHandle, keys: list[Key], *, entity: str, consistent: bool = False
) -> tuple[list[Item | None], list[Key]]:
    """Items for ``keys`` in key order (None where absent) and the keys left unprocessed:
    after the retries, or, under a deadline, every key not read when time ran out."""
    _unique(handle, keys, "BatchGetItem", entity)
    policy = handle.connection.client.policy
    found: dict[tuple[Hashable, ...], Item] = {}
    unprocessed: list[Key] = []
    for start in range(0, len(keys), GET_CHUNK):
        pending = keys[start : start + GET_CHUNK]
        attempt = 0
        while pending:
            spec: dict[str, Any] = {"Keys": pending}
            if consistent:
                spec["ConsistentRead"] = True
            request = {"RequestItems": {handle.name: spec}}
            try:
                response = handle._call("BatchGetItem", request, entity, READ)
            except DeadlineExceeded:
                unprocessed += [*pending, *keys[start + GET_CHUNK :]]
                return [found.get(identity(handle, k)) for k in keys], unprocessed
            for item in response.get("Responses", {}).get(handle.name, []):
                found[identity(handle, item)] = item
            pending = (
                response.get("UnprocessedKeys", {}).get(handle.name, {}).get("Keys", [])
            )
            if pending:
                attempt += 1
                if attempt > MAX_RETRIES or not _pause(policy, attempt - 1):
                    unprocessed.extend(pending)
                    break
    return [found.get(identity(handle, k)) for k in keys], unprocessed


def write_many(
    handle: TableHandle, puts: list[Item], deletes: list[Key], *, entity: str
) -> tuple[list[Item], list[Key]]:
    """Put ``puts`` and delete ``deletes``; returns the items and keys left unprocessed:
    after the retries, or, under a deadline, every write not confirmed when time ran out
    (puts and deletes are idempotent, so sending one of them again is safe)."""
    _unique(handle, [*puts, *deletes], "BatchWriteItem", entity)
    policy = handle.connection.client.policy
    requests: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in puts]
    requests += [{"DeleteRequest": {"Key": key}} for key in deletes]
    left: list[dict[str, Any]] = []
    for start in range(0, len(requests), WRITE_CHUNK):
        pending = requests[start : start + WRITE_CHUNK]
        attempt = 0
        while pending:
            try:
                response = handle._call(
                    "BatchWriteItem",
                    {"RequestItems": {handle.name: pending}},
                    entity,
                    IDEMPOTENT,
                )
            except DeadlineExceeded:
                left += [*pending, *requests[start + WRITE_CHUNK :]]
                return _split(left)
            pending = response.get("UnprocessedItems", {}).get(handle.name, [])
            if pending:
                attempt += 1
                if attempt > MAX_RETRIES or not _pause(policy, attempt - 1):
                    left.extend(pending)
                    break
    return _split(left)


def _split(left: list[dict[str, Any]]) -> tuple[list[Item], list[Key]]:
    return (
        [r["PutRequest"]["Item"] for r in left if "PutRequest" in r],
        [r["DeleteRequest"]["Key"] for r in left if "DeleteRequest" in r],
    )
