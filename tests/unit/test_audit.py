"""The audit runtime (runtime/audit.py) without a server: the records it builds, how it
decodes them, the actor binding, and how a cancelled two-action write is reported.

The writes themselves, on moto's server over both transports, are in
tests/integration/test_audit.py."""

from __future__ import annotations

import re
import time

import pytest

from dynamorm_gen.runtime import (
    AuditRecord,
    ConditionFailed,
    InvalidActor,
    TransactionCancelled,
    TransactWrite,
    actor,
    audit,
    context,
)
from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
from dynamorm_gen.runtime.context import bind_partner
from dynamorm_gen.runtime.table import TableDefinition, TableHandle

KEY = {"PK": {"S": "ACCOUNT#a-1"}, "SK": {"S": "ACCOUNT"}}


def _handle(ttl: str | None = None) -> TableHandle:
    definition = TableDefinition(
        logical_name="bank",
        name_env="BANK_TABLE",
        key_names=("PK", "SK"),
        entity_type_attribute="_et",
        create_table={},
        ttl_attribute=ttl,
    )
    return TableHandle(definition, name="bank")


def test_the_partition_names_the_item_canonically() -> None:
    reordered = {"SK": {"S": "ACCOUNT"}, "PK": {"S": "ACCOUNT#a-1"}}
    assert audit.partition("Account", KEY) == audit.partition("Account", reordered)
    assert audit.partition("Account", KEY) == (
        'AUDIT#Account#{"PK":{"S":"ACCOUNT#a-1"},"SK":{"S":"ACCOUNT"}}'
    )
    assert audit.partition("Account", KEY, "m-1").startswith(
        "TENANT_AUDIT#m-1#Account#"
    )
    # A key text holding the separator cannot make two items share a partition: the
    # JSON quotes it.
    tricky = {"PK": {"S": 'A","SK":{"S":"B'}}
    assert audit.partition("T", tricky) != audit.partition(
        "T", {"PK": {"S": "A"}, "SK": {"S": "B"}}
    )
    binary = audit.partition("File", {"PK": {"B": b"\x00\xff"}})
    assert binary == 'AUDIT#File#{"PK":{"B":"AP8="}}'


def test_a_record_holds_who_when_what_and_versions() -> None:
    handle = _handle(ttl="expires_at")
    before = time.time_ns() // 1_000_000
    with bind_partner("acme"), actor("user-1"):
        request = audit.record_request(
            handle,
            type_tag="Account",
            key=KEY,
            operation=audit.UPDATE,
            changed=["owner", "balance", "owner"],
            old_version=41,
            new_version=42,
            retention_days=7,
        )
    item = request["Item"]
    assert request["TableName"] == "bank"
    assert request["ConditionExpression"] == "attribute_not_exists(#a_pk)"
    assert re.fullmatch(r"\d{15}#0{18}42", item["SK"]["S"])
    assert item["_et"] == {"S": "dynamorm.audit"}
    assert item["expires_at"] == item["audit_expires_at"]
    record = AuditRecord.from_item(item)
    assert record.entity == "Account" and record.key == KEY
    assert record.operation == "update"
    assert record.changed == ("balance", "owner")
    assert (record.old_version, record.new_version) == (41, 42)
    assert (record.partner, record.actor) == ("acme", "user-1")
    assert before <= record.at_ms <= time.time_ns() // 1_000_000
    assert record.expires_at is not None
    assert abs(record.expires_at - (record.at_ms // 1000 + 7 * 86_400)) <= 1
    assert record == AuditRecord.from_item(item)
    assert record != "a record"
    # Its repr names no key, partner or actor.
    shown = repr(record)
    assert "a-1" not in shown and "acme" not in shown and "user-1" not in shown
    assert shown == (
        "AuditRecord(Account update, old_version=41, new_version=42, 2 attributes)"
    )


def test_a_record_of_a_create_or_a_delete_without_context() -> None:
    created = audit.record_request(
        _handle(),
        type_tag="Account",
        key=KEY,
        operation=audit.PUT,
        changed=(),
        old_version=None,
        new_version=1,
    )["Item"]
    assert created["SK"]["S"].endswith("#" + "0" * 19 + "1")
    deleted = AuditRecord.from_item(
        audit.record_request(
            _handle(),
            type_tag="Account",
            key=KEY,
            operation=audit.DELETE,
            changed=(),
            old_version=3,
            new_version=None,
            retention_days=1,  # no ttl attribute on this table: only the record's own
        )["Item"]
    )
    assert AuditRecord.from_item(created).old_version is None
    assert (deleted.old_version, deleted.new_version) == (3, None)
    assert deleted.partner is None and deleted.actor is None
    assert deleted.expires_at is not None


def test_changed_names() -> None:
    item = {**KEY, "_et": {"S": "Account"}, "owner": {"S": "x"}, "version": {"N": "1"}}
    assert audit.changed_by_put(item, _handle()) == ["owner", "version"]


def test_the_history_query_reads_one_item_newest_first() -> None:
    request = audit.history_request(_handle(), "Account", KEY, "m-1")
    assert request["ScanIndexForward"] is False
    assert request["ExpressionAttributeNames"] == {"#a_pk": "PK"}
    assert request["ExpressionAttributeValues"][":a_pk"]["S"].startswith(
        "TENANT_AUDIT#m-1#"
    )


def test_the_actor_is_bound_like_the_tenant() -> None:
    assert context.current().actor is None
    with actor("user-1"):
        assert context.current().actor == "user-1"
        db = LambdaDatabase(region="us-east-1", xray=False)
        try:
            with db.actor("user-2"):
                assert context.current().actor == "user-2"
        finally:
            db.close()
        with bind_partner("acme"):
            assert context.current().actor == "user-1"
        assert "user-1" not in repr(context.current())
    assert context.current().actor is None
    for bad in ("", "x" * 257, 7):
        with pytest.raises(InvalidActor) as caught, actor(bad):  # type: ignore[arg-type]
            pass
        assert "xxxx" not in str(caught.value)


class _Refused(TransactWrite):
    """A transaction whose commit is cancelled for the given reasons."""

    def __init__(self, reasons: list[tuple[int, str, str]]) -> None:
        super().__init__()
        self.reasons = reasons

    def commit(self) -> None:
        error = TransactionCancelled(
            "transaction cancelled", operation="TransactWriteItems", table="bank"
        )
        error.reasons = self.reasons
        error.items = [None, None]
        error.server_message = ""
        raise error


def test_the_writes_own_condition_failing_is_a_condition_failure() -> None:
    with pytest.raises(ConditionFailed) as caught:
        audit.commit(_Refused([(0, "Account", "ConditionalCheckFailed")]), "Account")
    assert caught.value.entity == "Account" and caught.value.item is None
    # Anything else (the record's own condition, a conflict) stays a cancellation.
    for reasons in (
        [(1, "Account", "ConditionalCheckFailed")],
        [(0, "Account", "TransactionConflict")],
    ):
        with pytest.raises(TransactionCancelled):
            audit.commit(_Refused(reasons), "Account")
