"""Batch get and write: chunking, key order, unprocessed retries, and nothing lost silently."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from dynamorm_gen.runtime import ValidationFailed, batch
from dynamorm_gen.runtime.table import Connection, reset_clients
from generated_examples import basic


@pytest.fixture
def todos() -> Iterator[basic.TodosTable]:
    with mock_aws():
        reset_clients()
        table = basic.TodosTable(Connection(region="us-east-1"), name="todos-batch")
        table.handle.create()
        yield table
        reset_clients()


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "_pause", lambda attempt: True)


def test_batch_put_get_delete_across_chunks(todos: basic.TodosTable) -> None:
    created = [basic.Todo(user_id="u1", title=f"t{n}") for n in range(130)]
    assert todos.batch_put_todo(created) == []
    keys = [
        basic.Todo.make_key(user_id="u1", todo_id=t.todo_id) for t in reversed(created)
    ]
    missing = basic.Todo.make_key(user_id="u1", todo_id="nope")
    result = todos.batch_get_todo([*keys, missing])
    assert [t.title if t else None for t in result.items] == [
        *(t.title for t in reversed(created)),
        None,
    ]
    assert result.unprocessed == []
    assert todos.batch_delete_todo(keys[:60]) == []
    assert sum(1 for _ in todos.iter_todo_for_user(user_id="u1")) == 70


def test_duplicate_keys_are_rejected_without_quoting_them(
    todos: basic.TodosTable,
) -> None:
    key = basic.Todo.make_key(user_id="u1", todo_id="secret-id")
    with pytest.raises(ValidationFailed) as failure:
        todos.batch_get_todo([key, key])
    assert "twice" in str(failure.value) and "secret-id" not in str(failure.value)


class FlakyClient:
    """Leaves part of every batch unprocessed a few times, like a throttled table."""

    def __init__(self, give_up_after: int) -> None:
        self.calls: list[int] = []
        self.rounds_left = give_up_after

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        self.calls.append(len(requests))
        if self.rounds_left > 0 and len(requests) > 1:
            self.rounds_left -= 1
            return {"UnprocessedItems": {table: requests[1:]}}
        return {"UnprocessedItems": {}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, spec),) = RequestItems.items()
        keys = spec["Keys"]
        self.calls.append(len(keys))
        if self.rounds_left > 0:
            self.rounds_left -= 1
            return {
                "Responses": {table: []},
                "UnprocessedKeys": {table: {"Keys": keys}},
            }
        found = [{**k, "user_id": {"S": "u"}} for k in keys]
        return {"Responses": {table: found}, "UnprocessedKeys": {}}


def test_unprocessed_items_are_retried_then_returned() -> None:
    client = FlakyClient(give_up_after=3)
    table = basic.TodosTable(Connection(client=client), name="t")
    todos = [basic.Todo(user_id="u", title=str(n)) for n in range(30)]
    assert table.batch_put_todo(todos) == []
    assert client.calls == [
        25,
        24,
        23,
        22,
        5,
    ]  # chunks of 25, unprocessed parts retried
    throttled = FlakyClient(give_up_after=1000)
    throttled.batch_write_item = lambda RequestItems: (  # type: ignore[method-assign]
        throttled.calls.append(1) or {"UnprocessedItems": dict(RequestItems)}
    )
    table = basic.TodosTable(Connection(client=throttled), name="t")
    left = table.batch_put_todo(todos[:3])
    assert [t.title for t in left] == ["0", "1", "2"]  # handed back, not lost
    assert len(throttled.calls) == batch.MAX_RETRIES + 1


def test_unprocessed_keys_are_retried_then_reported() -> None:
    keys = [basic.Todo.make_key(user_id="u", todo_id=str(n)) for n in range(3)]
    table = basic.TodosTable(Connection(client=FlakyClient(give_up_after=2)), name="t")
    items, unprocessed = batch.get_many(table.handle, keys, entity="Todo")
    assert unprocessed == [] and all(i is not None for i in items)
    table = basic.TodosTable(
        Connection(client=FlakyClient(give_up_after=1000)), name="t"
    )
    result = table.batch_get_todo(keys)
    assert result.unprocessed == keys and result.items == [None, None, None]
