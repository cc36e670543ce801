"""Typed updates: every action, optimistic locking, timestamps, return values, errors, and
the index keys that updates rebuild (tasks: tests/golden/cases/index_updates)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from dynamorm_gen.compiler.errors import CompileError
from dynamorm_gen.compiler.project import Project, compile_project
from dynamorm_gen.runtime import (
    ConditionFailed,
    ConstraintViolation,
    NotFound,
    ValidationFailed,
    update,
)
from dynamorm_gen.runtime.table import Connection, TableHandle, reset_clients
from dynamorm_gen.runtime.transact import TransactWrite
from dynamorm_gen.runtime.types import Item
from generated_examples import basic, payment
from tests.golden.cases.index_updates.expected import tasks
from tests.unit.payments import make_payment


def test_update_actions_and_version(payments: payment.PaymentsTable) -> None:
    p = make_payment(1, description="first")
    payments.put_payment(p)
    before = p.updated_at
    changes = (
        payment.PaymentUpdate()
        .add_amount(50)
        .remove_description()
        .add_tags({"mobile", "retry"})
        .set_fee_rate(Decimal("0.031"))
        .set_card_token("tok_new")
    )
    after = payments.update_payment(
        changes, merchant_id="m1", payment_id=p.payment_id, expected_version=1
    )
    assert after is not None
    assert after.amount == 150 and after.description is None
    assert after.tags == {"web", "mobile", "retry"} and after.fee_rate == Decimal(
        "0.031"
    )
    assert after.card_token == "tok_new" and after.version == 2
    assert after.updated_at > before
    with pytest.raises(ConditionFailed):  # stale version
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id=p.payment_id,
            expected_version=1,
        )
    old = payments.update_payment(
        payment.PaymentUpdate().delete_tags({"retry"}),
        merchant_id="m1",
        payment_id=p.payment_id,
        returning="old",
    )
    assert old is not None and "retry" in old.tags and old.version == 2
    assert (
        payments.update_payment(
            payment.PaymentUpdate().set_description_if_absent("kept"),
            merchant_id="m1",
            payment_id=p.payment_id,
            returning="none",
        )
        is None
    )
    stored = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert (
        stored is not None and stored.tags == {"web", "mobile"} and stored.version == 4
    )
    assert stored.description == "kept"


def test_update_of_a_missing_item_fails(payments: payment.PaymentsTable) -> None:
    with pytest.raises(ConditionFailed):
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1), merchant_id="m1", payment_id="none"
        )
    assert payments.query_payment_by_merchant(merchant_id="m1").items == []


def test_update_appends_to_lists(payments: payment.PaymentsTable) -> None:
    txn = payment.Transaction(
        merchant_id="m1",
        payment_id="p1",
        sequence=1,
        kind="capture",
        amount=10,
        currency="EUR",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        audit=[{"by": "api"}],
    )
    payments.put_transaction(txn)
    after = payments.update_transaction(
        payment.TransactionUpdate().append_audit([{"by": "ops", "note": "refund"}]),
        merchant_id="m1",
        payment_id="p1",
        sequence=1,
    )
    assert after is not None and after.audit == [
        {"by": "api"},
        {"by": "ops", "note": "refund"},
    ]


def test_update_checks_values_and_changes_once() -> None:
    with pytest.raises(ConstraintViolation) as failure:
        basic.TodoUpdate().set_title("")
    assert "Todo.title" in str(failure.value)
    with pytest.raises(ValidationFailed, match="changed twice"):
        basic.TodoUpdate().set_title("a").set_title_if_absent("b")
    with pytest.raises(ConstraintViolation, match="non-empty set"):
        payment.PaymentUpdate().add_tags(set())
    with pytest.raises(ConstraintViolation, match="min 0"):
        payment.PaymentUpdate().set_amount(-1)
    assert not hasattr(
        payment.PaymentUpdate, "set_merchant_id"
    )  # key attributes: use put
    assert not hasattr(payment.PaymentUpdate, "set_version")


def test_conditional_delete_and_return_old(payments: payment.PaymentsTable) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    with pytest.raises(ConditionFailed):
        payments.delete_payment(
            merchant_id="m1", payment_id=p.payment_id, expected_version=7
        )
    with pytest.raises(ConditionFailed):
        payments.delete_payment(merchant_id="m1", payment_id="absent", must_exist=True)
    assert payments.delete_payment(merchant_id="m1", payment_id="absent") is None
    old = payments.delete_payment(
        merchant_id="m1", payment_id=p.payment_id, expected_version=1, return_old=True
    )
    assert old == p
    assert payments.get_payment(merchant_id="m1", payment_id=p.payment_id) is None


def test_writes_with_conditions_from_the_schema(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    pending = payment.PaymentWhen().status("eq", "pending").amount("gte", 100)
    captured = payments.update_payment(
        payment.PaymentUpdate().set_description("captured"),
        merchant_id="m1",
        payment_id=p.payment_id,
        when=pending,
    )
    assert captured is not None and captured.description == "captured"
    with pytest.raises(ConditionFailed):
        payments.update_payment(
            payment.PaymentUpdate().set_description("again"),
            merchant_id="m1",
            payment_id=p.payment_id,
            when=payment.PaymentWhen().amount_between(0, 99),
        )
    p.version = 2
    p.description = "replaced"
    with pytest.raises(ConditionFailed):  # version matches, the condition does not
        payments.put_payment(p, when=payment.PaymentWhen().description_missing())
    payments.put_payment(
        p,
        when=payment.PaymentWhen().description_begins_with("capt").tags_contains("web"),
    )
    with pytest.raises(ConditionFailed):
        payments.delete_payment(
            merchant_id="m1",
            payment_id=p.payment_id,
            when=payment.PaymentWhen().currency("ne", "EUR"),
        )
    assert (
        payments.delete_payment(
            merchant_id="m1",
            payment_id=p.payment_id,
            return_old=True,
            when=payment.PaymentWhen().created_at(
                "lt", datetime(2030, 1, 1, tzinfo=UTC)
            ),
        )
        == p
    )
    assert not hasattr(
        payment.PaymentWhen, "card_token"
    )  # encrypted: never in conditions


def test_missing_items_raise_not_found(payments: payment.PaymentsTable) -> None:
    with pytest.raises(NotFound, match="no such item"):
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1), merchant_id="m1", payment_id="absent"
        )
    with pytest.raises(NotFound):
        payments.delete_payment(merchant_id="m1", payment_id="absent", must_exist=True)
    with pytest.raises(
        NotFound
    ):  # the old item shows the absence, whatever the condition
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id="absent",
            when=payment.PaymentWhen().amount("gt", 0),
            old_on_failure=True,
        )
    p = make_payment(1)
    payments.put_payment(p)
    with pytest.raises(ConditionFailed) as failure:  # there, but the condition fails
        payments.update_payment(
            payment.PaymentUpdate().add_amount(1),
            merchant_id="m1",
            payment_id=p.payment_id,
            when=payment.PaymentWhen().amount("gt", 10_000),
        )
    assert not isinstance(failure.value, NotFound)


# --- index keys rebuilt by updates ---------------------------------------------------------------


def _stored(handle: TableHandle, key: Item) -> Item:
    item = handle.get_item(key, entity="test", consistent=True)
    assert item is not None
    return item


def _assert_keys_fresh(stored: Item, decoded: Any, key_names: set[str]) -> None:
    """The stored key attributes are exactly those ``to_item()`` builds from the stored
    attributes: present or absent alike, with equal values."""
    rebuilt = decoded.to_item()
    assert {k: stored[k] for k in key_names if k in stored} == {
        k: rebuilt[k] for k in key_names if k in rebuilt
    }


PAYMENT_KEYS = {"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"}
TASK_KEYS = {"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "LSI1SK"}


def test_set_status_moves_the_payment_in_the_status_index(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    changes = payment.PaymentUpdate().set_status("captured", created_at=p.created_at)
    after = payments.update_payment(
        changes, merchant_id="m1", payment_id=p.payment_id, expected_version=1
    )
    assert after is not None and after.status == "captured" and after.version == 2
    captured = payments.query_payment_by_status(merchant_id="m1", status="captured")
    assert [v.amount for v in captured] == [100]
    assert payments.count_payment_by_status(merchant_id="m1", status="pending") == 0
    stored = _stored(payments.handle, p.key())
    assert stored["GSI2SK"]["S"].startswith("captured#")
    _assert_keys_fresh(stored, payment.Payment.from_item(stored), PAYMENT_KEYS)


def test_a_wrong_co_attribute_fails_instead_of_writing_a_wrong_key(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    before = _stored(payments.handle, p.key())
    wrong = p.created_at + timedelta(seconds=1)
    with pytest.raises(ConditionFailed) as failure:
        payments.update_payment(
            payment.PaymentUpdate().set_status("captured", created_at=wrong),
            merchant_id="m1",
            payment_id=p.payment_id,
        )
    assert not isinstance(
        failure.value, NotFound
    )  # the item is there; an argument is wrong
    assert _stored(payments.handle, p.key()) == before


def test_an_absent_co_attribute_is_checked_too(board: tasks.TasksTable) -> None:
    task = _task(board)  # no rank stored
    with pytest.raises(ConditionFailed):
        _change(
            board, task, tasks.TaskUpdate().set_assignee("ann", state="todo", rank=4)
        )
    assert _assigned(board, "ann", "todo") == []


def test_one_co_attribute_given_two_ways_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="state is given two different values"):
        tasks.TaskUpdate().set_lane("review", state="doing").set_rank(
            3, assignee="ann", state="todo"
        )


def test_set_customer_id_moves_the_payment_between_customers(
    payments: payment.PaymentsTable,
) -> None:
    p = make_payment(1)
    payments.put_payment(p)
    payments.update_payment(
        payment.PaymentUpdate().set_customer_id("c2"),
        merchant_id="m1",
        payment_id=p.payment_id,
    )
    assert payments.query_payment_by_customer(customer_id="c1").items == []
    moved = payments.query_payment_by_customer(customer_id="c2").items
    assert [m.payment_id for m in moved] == [p.payment_id]
    assert moved[0].customer_id == "c2"
    stored = _stored(payments.handle, p.key())
    _assert_keys_fresh(stored, payment.Payment.from_item(stored), PAYMENT_KEYS)


def test_index_attributes_get_set_and_remove_only() -> None:
    assert hasattr(payment.PaymentUpdate, "set_status")
    for name in ("set_status_if_absent", "set_customer_id_if_absent", "remove_status"):
        assert not hasattr(payment.PaymentUpdate, name), name
    # created_at (auto) is a co-attribute only; table key attributes stay unchangeable.
    for name in ("set_created_at", "set_merchant_id", "set_payment_id"):
        assert not hasattr(payment.PaymentUpdate, name), name
    assert hasattr(tasks.TaskUpdate, "remove_rank")
    assert not hasattr(tasks.TaskUpdate, "add_rank")  # the index key would not follow
    assert not hasattr(tasks.TaskUpdate, "set_updated_at")
    with pytest.raises(ConstraintViolation, match="enum"):
        payment.PaymentUpdate().set_status(
            "lost",  # type: ignore[arg-type]
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )


@pytest.fixture
def board() -> Iterator[tasks.TasksTable]:
    with mock_aws():
        reset_clients()
        table = tasks.TasksTable(Connection(region="us-east-1"), name="tasks-test")
        table.handle.create()
        yield table
        reset_clients()


def _task(board: tasks.TasksTable, **values: Any) -> tasks.Task:
    task = tasks.Task(project_id="p1", title="write tests", lane="backlog", **values)
    board.put_task(task, if_not_exists=True)
    return task


def _change(
    board: tasks.TasksTable, task: tasks.Task, changes: tasks.TaskUpdate
) -> Item:
    """Apply ``changes``, check every stored key against to_item(), return the item."""
    board.update_task(changes, project_id="p1", task_id=task.task_id)
    stored = _stored(board.handle, task.key())
    _assert_keys_fresh(stored, tasks.Task.from_item(stored), TASK_KEYS)
    return stored


def _assigned(board: tasks.TasksTable, assignee: str, state: str) -> list[str]:
    found = board.query_task_for_assignee(assignee=assignee, state=state)  # type: ignore[arg-type]
    return [t.task_id for t in found]


def test_sparse_index_entered_and_left_by_set_and_remove(
    board: tasks.TasksTable,
) -> None:
    task = _task(board)
    # Co-attributes are the stored values: no rank yet, so the item stays out of GSI1.
    stored = _change(
        board, task, tasks.TaskUpdate().set_assignee("ann", state="todo", rank=None)
    )
    assert "GSI1PK" not in stored and _assigned(board, "ann", "todo") == []
    stored = _change(
        board, task, tasks.TaskUpdate().set_rank(5, assignee="ann", state="todo")
    )
    assert _assigned(board, "ann", "todo") == [task.task_id]
    assert stored["GSI1SK"] == {"S": "todo#005"}
    _change(board, task, tasks.TaskUpdate().remove_assignee())
    assert _assigned(board, "ann", "todo") == []
    stored = _change(
        board, task, tasks.TaskUpdate().set_assignee("bob", state="todo", rank=5)
    )
    assert _assigned(board, "bob", "todo") == [task.task_id]
    stored = _change(
        board,
        task,
        tasks.TaskUpdate().set_state("doing", assignee="bob", rank=5, lane="backlog"),
    )
    assert _assigned(board, "bob", "todo") == []
    assert _assigned(board, "bob", "doing") == [task.task_id]
    assert [
        t.task_id for t in board.query_task_in_lane(project_id="p1", lane="backlog")
    ] == [task.task_id]
    stored = _change(board, task, tasks.TaskUpdate().remove_rank())
    assert "GSI1PK" not in stored and "GSI1SK" not in stored
    assert stored["assignee"] == {"S": "bob"}
    assert _assigned(board, "bob", "doing") == []


def test_sparse_index_left_through_a_none_co_attribute(board: tasks.TasksTable) -> None:
    task = _task(board, assignee="ann", rank=1)
    assert _assigned(board, "ann", "todo") == [task.task_id]
    # The item has no rank: set_assignee must not write the GSI1 keys to_item() would not.
    _change(board, task, tasks.TaskUpdate().remove_rank())
    stored = _change(
        board, task, tasks.TaskUpdate().set_assignee("cy", state="todo", rank=None)
    )
    assert "GSI1PK" not in stored and stored["assignee"] == {"S": "cy"}
    assert _assigned(board, "cy", "todo") == []
    # A state change passes the stored (absent) rank: the item stays out of the index.
    stored = _change(
        board,
        task,
        tasks.TaskUpdate().set_state("done", assignee="cy", rank=None, lane="backlog"),
    )
    assert "GSI1PK" not in stored and stored["LSI1SK"] == {"S": "backlog#done"}
    _change(board, task, tasks.TaskUpdate().set_rank(2, assignee="cy", state="done"))
    assert _assigned(board, "cy", "done") == [task.task_id]


def test_widths_are_checked_on_values_and_co_attributes() -> None:
    with pytest.raises(ConstraintViolation, match="key width 3"):
        tasks.TaskUpdate().set_rank(1000, assignee="ann", state="todo")
    with pytest.raises(ConstraintViolation, match="key width 3"):
        tasks.TaskUpdate().set_assignee("ann", state="todo", rank=1000)
    with pytest.raises(ConstraintViolation, match="min 0"):
        tasks.TaskUpdate().set_rank(-1, assignee=None, state="todo")
    tasks.TaskUpdate().set_assignee(
        "ann", state="todo", rank=None
    )  # None: no width to check


def test_two_methods_may_rebuild_one_key_only_alike(board: tasks.TasksTable) -> None:
    task = _task(board)
    # LSI1SK is "{lane}#{state}": both methods rebuild it, to the same value here.
    agreeing = (
        tasks.TaskUpdate()
        .set_lane("review", state="doing")
        .set_state("doing", assignee=None, rank=None, lane="review")
    )
    stored = _change(board, task, agreeing)
    assert stored["LSI1SK"] == {"S": "review#doing"}
    with pytest.raises(ValidationFailed) as failure:
        tasks.TaskUpdate().set_lane("review", state="doing").set_state(
            "done", assignee=None, rank=None, lane="review"
        )
    message = str(failure.value)
    assert "LSI1SK" in message and "Task" in message
    assert "review" not in message and "done" not in message  # never values
    with pytest.raises(
        ValidationFailed, match="GSI1PK"
    ):  # written by one, removed by other
        tasks.TaskUpdate().set_rank(3, assignee="ann", state="todo").set_assignee(
            "ann", state="todo", rank=None
        )


def test_key_placeholders_are_positional_and_independent_of_call_order(
    board: tasks.TasksTable,
) -> None:
    def built(changes: tasks.TaskUpdate) -> dict[str, Any]:
        key = tasks.Task.make_key(project_id="p1", task_id="t1")
        return update.request(board.handle, key, changes, entity="Task", touched={})

    first = built(
        tasks.TaskUpdate()
        .set_rank(4, assignee="ann", state="todo")
        .set_lane("review", state="todo")
    )
    second = built(
        tasks.TaskUpdate()
        .set_lane("review", state="todo")
        .set_rank(4, assignee="ann", state="todo")
    )
    names = first["ExpressionAttributeNames"]
    assert {names["#i_0"], names["#i_1"], names["#i_2"]} == {
        "GSI1PK",
        "GSI1SK",
        "LSI1SK",
    }
    assert first["ExpressionAttributeValues"] == second["ExpressionAttributeValues"]
    assert first["ExpressionAttributeNames"] == second["ExpressionAttributeNames"]

    def clauses(built: dict[str, Any]) -> list[str]:
        text: str = built["UpdateExpression"]
        return sorted(text.removeprefix("SET ").split(", "))

    assert clauses(first) == clauses(second)
    assert "#i_0 = :i_0" in clauses(first)
    assert first["UpdateExpression"] == second["UpdateExpression"]
    assert {names["#u0"], names["#u1"]} == {"lane", "rank"}
    removing = built(tasks.TaskUpdate().remove_assignee())
    assert removing["UpdateExpression"] == "REMOVE #u0, #i_0, #i_1"
    assert removing["ExpressionAttributeNames"]["#u0"] == "assignee"


def test_updates_move_index_keys_built_from_auto_update_times(
    board: tasks.TasksTable,
) -> None:
    first, second = _task(board), _task(board)
    recent = [t.task_id for t in board.iter_task_recently_updated(project_id="p1")]
    assert recent == [second.task_id, first.task_id]
    board.update_task(
        tasks.TaskUpdate().set_title("first, again"),
        project_id="p1",
        task_id=first.task_id,
    )
    recent = [t.task_id for t in board.iter_task_recently_updated(project_id="p1")]
    assert recent == [first.task_id, second.task_id]
    stored = _stored(board.handle, first.key())
    _assert_keys_fresh(stored, tasks.Task.from_item(stored), TASK_KEYS)
    # The transactional update rebuilds the same key.
    tx = TransactWrite()
    board.tx_update_task(
        tx,
        tasks.TaskUpdate().set_title("second, again"),
        project_id="p1",
        task_id=second.task_id,
    )
    tx.commit()
    recent = [t.task_id for t in board.iter_task_recently_updated(project_id="p1")]
    assert recent == [second.task_id, first.task_id]
    stored = _stored(board.handle, second.key())
    _assert_keys_fresh(stored, tasks.Task.from_item(stored), TASK_KEYS)
    later = tasks.Task.from_item(stored).updated_at
    assert later > first.updated_at and stored["GSI2SK"]["S"].endswith(second.task_id)


_TOUCHED_SCHEMA = """\
version: 1
tables:
  shop: {{keys: {{pk: PK, sk: SK}}, indexes: {{GSI1: {{keys: {{pk: GSI1PK, sk: GSI1SK}}}}}}}}
entities:
  Order:
    table: shop
    key: {{pk: "SHOP#{{shop_id}}", sk: "ORDER#{{order_id}}"}}
    indexes:
      GSI1: {{pk: "SHOP#{{shop_id}}#ORDERS", sk: "{sk}"}}
    attributes:
      shop_id: {{type: string}}
      order_id: {{type: string}}
      status: {{type: enum, values: [open, shipped]}}
      updated_at: {{type: datetime, auto: update}}
"""


def _compile(tmp_path: Path, sk: str) -> None:
    schema = tmp_path / "shop.yaml"
    schema.write_text(_TOUCHED_SCHEMA.format(sk=sk))
    compile_project(Project(root=tmp_path, schemas=(schema,), output=tmp_path / "out"))


def test_auto_update_times_in_index_keys_need_only_table_key_attributes(
    tmp_path: Path,
) -> None:
    _compile(tmp_path, "{updated_at}#{order_id}")  # rebuilt from the update's key
    with pytest.raises(CompileError) as failure:
        _compile(tmp_path, "{status}#{updated_at}")
    (diagnostic,) = failure.value.diagnostics
    assert diagnostic.code == "DG218"
    assert "'status', which is not in the table key" in diagnostic.format()


def test_entity_with_only_index_attributes_gets_a_builder(tmp_path: Path) -> None:
    schema = tmp_path / "tags.yaml"
    schema.write_text(
        """\
version: 1
tables:
  tags: {keys: {pk: PK}, indexes: {GSI1: {keys: {pk: GSI1PK}}}}
entities:
  Tag:
    table: tags
    key: {pk: "TAG#{tag_id}"}
    indexes:
      GSI1: {pk: "LABEL#{label}"}
    attributes:
      tag_id: {type: string}
      label: {type: string}
"""
    )
    project = Project(root=tmp_path, schemas=(schema,), output=tmp_path / "out")
    _, outputs = compile_project(project)
    source = next(o.content for o in outputs if o.path == "tags.py")
    assert "class TagUpdate(update.Update):" in source
    assert "def set_label(self, value: str) -> TagUpdate:" in source
    assert "def update_tag(" in source and "def tx_update_tag(" in source


# --- structured changes ------------------------------------------------------------------------


def test_builders_record_structured_changes_in_order() -> None:
    changes = (
        payment.PaymentUpdate()
        .set_description("d")
        .remove_card_token()
        .add_tags({"web"})
        .set_fee_rate_if_absent(Decimal("0.1"))
    )
    assert [(c.name, c.action) for c in changes.changes] == [
        ("description", update.SET),
        ("card_token", update.REMOVE),
        ("tags", update.ADD),
        ("fee_rate", update.SET_IF_ABSENT),
    ]
    assert changes.changes[0].value == {"S": "d"} and changes.changes[1].value is None
    assert changes.key_writes == ()
    assert repr(changes) == "PaymentUpdate(card_token, description, fee_rate, tags)"
    assert "0.1" not in repr(changes)


def test_accumulates_only_for_number_adds_and_appends() -> None:
    repeatable = (
        payment.PaymentUpdate()
        .set_amount(1)
        .add_tags({"a"})
        .remove_description()
        .set_fee_rate_if_absent(Decimal(1))
    )
    assert not repeatable.accumulates
    assert not payment.PaymentUpdate().delete_tags({"a"}).accumulates
    assert payment.PaymentUpdate().add_amount(1).accumulates
    assert payment.PaymentUpdate().add_fee_rate(Decimal("0.5")).accumulates
    assert payment.TransactionUpdate().append_audit([{"by": "ops"}]).accumulates
    assert not tasks.TaskUpdate().set_rank(3, assignee="ann", state="todo").accumulates


def test_index_key_writes_are_exposed() -> None:
    changes = tasks.TaskUpdate().set_rank(3, assignee="ann", state="todo")
    assert changes.key_writes == (
        ("GSI1PK", {"S": "ASSIGNEE#ann"}),
        ("GSI1SK", {"S": "todo#003"}),
    )
    assert tasks.TaskUpdate().remove_rank().key_writes == (
        ("GSI1PK", None),
        ("GSI1SK", None),
    )
    assert bool(changes) and not tasks.TaskUpdate()


def test_requests_number_placeholders_and_append_to_lists(
    payments: payment.PaymentsTable,
) -> None:
    key = payment.Transaction.make_key(merchant_id="m1", payment_id="p1", sequence=1)
    changes = payment.TransactionUpdate().append_audit([{"by": "ops"}]).add_amount(5)
    built = update.request(
        payments.handle, key, changes, entity="Transaction", touched={}
    )
    assert built["UpdateExpression"] == (
        "SET #u1 = list_append(if_not_exists(#u1, :u1e), :u1) ADD #u0 :u0"
    )
    assert built["ExpressionAttributeNames"] == {
        "#k_pk": "PK",
        "#u0": "amount",
        "#u1": "audit",
    }
    assert built["ExpressionAttributeValues"][":u1e"] == {"L": []}
    assert built["ExpressionAttributeValues"][":u0"] == {"N": "5"}
    # The same changes, whatever the call order, give the same request, every time.
    again = payment.TransactionUpdate().add_amount(5).append_audit([{"by": "ops"}])
    assert (
        update.request(payments.handle, key, again, entity="Transaction", touched={})
        == built
        == update.request(
            payments.handle, key, changes, entity="Transaction", touched={}
        )
    )
    with pytest.raises(ValidationFailed, match="at least one change"):
        update.request(
            payments.handle,
            key,
            payment.TransactionUpdate(),
            entity="Transaction",
            touched={},
        )
