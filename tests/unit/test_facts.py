"""What dynamorm_gen/compiler/facts.py tells the templates about a model."""

from __future__ import annotations

from pathlib import Path

import yaml

from dynamorm_gen.compiler import facts, model

ROOT = Path(__file__).resolve().parents[2]


def _module(path: Path) -> model.Module:
    data = yaml.safe_load(path.read_text())
    return model.build_module(path.name, "0" * 64, path.stem, data)


TASKS = _module(ROOT / "tests/golden/cases/index_updates/schemas/tasks.yaml")
PAYMENTS = _module(ROOT / "schemas/payment.yaml")


def _entity(module: model.Module, name: str) -> model.Entity:
    return next(e for e in module.entities if e.name == name)


def test_constraint_checks_in_order_cheapest_type_test_first() -> None:
    merchant = _entity(PAYMENTS, "Merchant")
    fee_bps = merchant.attribute("fee_bps")  # integer, min 0, max 10000
    checks = facts.constraint_checks(
        "Merchant", fee_bps, "self.fee_bps", optional=False
    )
    assert [c.kind for c in checks] == ["int", "between"]
    assert (checks[1].low, checks[1].high, checks[1].rule) == (
        0,
        10000,
        "min 0, max 10000",
    )
    amount = _entity(PAYMENTS, "Payment").attribute("amount")  # integer, min 0 only
    kinds = [
        c.kind for c in facts.constraint_checks("Payment", amount, "v", optional=False)
    ]
    assert kinds == ["int", "min", "int_range"]


def test_key_text_checks_name_every_separator_and_template() -> None:
    payment = _entity(PAYMENTS, "Payment")
    keys = facts.record_keys(payment)
    (check,) = facts.key_text_check(
        "Payment.merchant_id", "self.merchant_id", keys.templates["merchant_id"]
    )
    assert check.separators == "#"
    assert check.templates == (
        "MERCHANT#{merchant_id}",
        "MERCHANT#{merchant_id}#STATUS",
    )


def test_index_update_names_the_keys_it_rebuilds_and_what_they_also_need() -> None:
    task = _entity(TASKS, "Task")
    change = facts.index_update(task, task.attribute("state"))
    assert [c.name for c in change.co_attributes] == ["assignee", "rank", "lane"]
    assert change.indexes == "GSI1 and LSI1"
    assert change.key_count == 3
    assert change.sparse  # GSI1 holds the item only while assignee and rank are set
    assert [r.optional for r in change.rebuilds] == [("assignee", "rank"), ()]


def test_update_verbs_rebuild_index_keys_with_set_and_remove_only() -> None:
    task = _entity(TASKS, "Task")
    verbs = [(a.name, v) for a, v in facts.update_verbs(task)]
    assert ("rank", "set") in verbs and ("rank", "remove") in verbs
    assert ("rank", "set_if_absent") not in verbs and ("rank", "add") not in verbs


def test_a_between_query_takes_both_ends_of_its_last_placeholder() -> None:
    txn = _entity(PAYMENTS, "Transaction")
    pattern = next(p for p in txn.access_patterns if p.name == "between_sequences")
    table = PAYMENTS.tables[0]
    query = facts.entity_query(table, txn, pattern)
    assert query.key_condition() == "#pk = :pk AND #sk BETWEEN :sk0 AND :sk1"
    # The template is the whole stored sort key template: both ends are whole keys.
    assert query.at_bound is None
    assert [(p, t.text, e) for p, t, e in query.sort_values()] == [
        (":sk0", "TXN#{payment_id}#{sequence:6}", {"sequence": "sequence_from"}),
        (":sk1", "TXN#{payment_id}#{sequence:6}", {"sequence": "sequence_to"}),
    ]
    assert [name for name, _ in query.params()] == [
        "merchant_id",
        "payment_id",
        "sequence_from",
        "sequence_to",
    ]


def test_slots_sort_digits_as_numbers() -> None:
    def attribute(name: str) -> model.Attribute:
        return model.build_attribute(name, {"type": "string"}, set())

    names = ["a10", "a2", "b", "a1"]
    assert facts.slot_names([attribute(n) for n in names]) == ["a1", "a2", "a10", "b"]


def _idempotency(text: str) -> model.Idempotency:
    module = model.build_module("x.yaml", "0" * 64, "x", yaml.safe_load(text))
    assert module.idempotency is not None
    return module.idempotency


def test_idempotency_records_are_an_entity_of_their_table() -> None:
    """The record is built like any entity: its key from the default templates, its expiry
    stored under the table's TTL attribute."""
    idempotency = PAYMENTS.idempotency
    assert idempotency is not None
    record = idempotency.record
    assert (record.name, record.table, record.type_tag) == (
        "IdempotencyRecord",
        "payments",
        "IdempotencyRecord",
    )
    assert record.key.pk.text == model.RECORD_KEY_PK
    assert record.key.sk is not None and record.key.sk.text == model.RECORD_KEY_SK
    assert record.attribute("expires_at").stored_as == "expires_at"
    assert record.attribute("expires_at").type.kind == "ttl"
    assert record.attribute("status").type.values == model.RECORD_STATUSES
    assert facts.repr_names(record) == ["operation", "key_hash"]
    assert idempotency.expires_after == 86400
    capture, refund = idempotency.operations
    assert capture.key == ("pathParameters.merchant_id", "json(body).payment_id")
    assert (capture.payload, capture.expires_after) == (("json(body)",), 86400)
    assert (refund.key, refund.payload, refund.expires_after) == (
        ("merchant_id", "refund_id"),
        (),
        3600,
    )


def test_idempotency_records_in_a_table_of_their_own() -> None:
    """A table without a sort key gets the default partition key template only; the
    expiry goes to that table's TTL attribute; a single path is a tuple of one."""
    idempotency = _idempotency(
        """
version: 1
tables:
  requests: {keys: {pk: id}, ttl: expiration}
idempotency:
  table: requests
  operations:
    place_order: {key: body.order_id}
"""
    )
    record = idempotency.record
    assert record.key.pk.text == model.RECORD_KEY_PK
    assert record.key.sk is None
    assert record.attribute("expires_at").stored_as == "expiration"
    assert idempotency.expires_after == model.DEFAULT_EXPIRES_AFTER
    (op,) = idempotency.operations
    assert (op.key, op.payload, op.expires_after) == (("body.order_id",), (), 3600)
