"""Batch get and write: chunking, key order, unprocessed retries, and nothing lost silently."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from dynamorm_gen.runtime import ValidationFailed, batch
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.retry import RetryPolicy
from dynamorm_gen.runtime.table import Connection, reset_clients
from generated_examples import basic
from tests.clock import StepClock


@pytest.fixture
def todos() -> Iterator[basic.TodosTable]:
    with mock_aws():
        reset_clients()
        table = basic.TodosTable(Connection(region="us-east-1"), name="todos-batch")
        table.handle.create()
        yield table
        reset_clients()


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


class FlakyTransport:
    """Leaves part of every batch unprocessed a few times, like a throttled table."""

    endpoint_url = "http://flaky.invalid"
    region = "us-east-1"

    def __init__(self, give_up_after: int) -> None:
        self.calls: list[int] = []
        self.rounds_left = give_up_after

    def exchange(
        self, operation: str, params: Any, body: bytes, timeout: float | None
    ) -> dict[str, Any]:
        if operation == "BatchWriteItem":
            return self.batch_write_item(params["RequestItems"])
        return self.batch_get_item(params["RequestItems"])

    def prewarm(self) -> None:
        pass

    def close(self) -> None:
        pass

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


class Pauses:
    """The policy's sleep, recorded instead of slept; jitter fixed at its maximum."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def policy(self) -> RetryPolicy:
        return RetryPolicy(sleep=self.taken.append, random=lambda: 1.0)


def _table(transport: FlakyTransport, pauses: Pauses) -> basic.TodosTable:
    return basic.TodosTable(
        Connection(client=Client(transport, pauses.policy())), name="flaky"
    )


def test_unprocessed_items_are_retried_with_backoff_then_returned() -> None:
    transport, pauses = FlakyTransport(give_up_after=3), Pauses()
    table = _table(transport, pauses)
    todos = [basic.Todo(user_id="u", title=str(n)) for n in range(30)]
    assert table.batch_put_todo(todos) == []
    # Chunks of 25; the unprocessed part of each round sent again.
    assert transport.calls == [25, 24, 23, 22, 5]
    # Throttling's base (0.1 s), doubling, full jitter at its maximum here.
    assert pauses.taken == pytest.approx([0.1, 0.2, 0.4])
    throttled = FlakyTransport(give_up_after=1000)
    throttled.batch_write_item = lambda RequestItems: (  # type: ignore[method-assign]
        throttled.calls.append(1) or {"UnprocessedItems": dict(RequestItems)}
    )
    pauses = Pauses()
    left = _table(throttled, pauses).batch_put_todo(todos[:3])
    assert [t.title for t in left] == ["0", "1", "2"]  # handed back, not lost
    assert len(throttled.calls) == batch.MAX_RETRIES + 1
    assert pauses.taken[-1] == pytest.approx(min(20.0, 0.1 * 2**7))


def test_unprocessed_keys_are_retried_then_reported() -> None:
    keys = [basic.Todo.make_key(user_id="u", todo_id=str(n)) for n in range(3)]
    table = _table(FlakyTransport(give_up_after=2), Pauses())
    items, unprocessed = batch.get_many(table.handle, keys, entity="Todo")
    assert unprocessed == [] and all(i is not None for i in items)
    table = _table(FlakyTransport(give_up_after=1000), Pauses())
    result = table.batch_get_todo(keys)
    assert result.unprocessed == keys and result.items == [None, None, None]


def test_unprocessed_items_are_handed_back_when_the_pause_would_pass_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No pause is taken that would end past the deadline: what is left comes back."""
    clock = StepClock()
    monkeypatch.setattr("dynamorm_gen.runtime.deadline.time", clock)
    transport, pauses = FlakyTransport(give_up_after=1000), Pauses()
    table = _table(transport, pauses)
    todos = [basic.Todo(user_id="u", title=str(n)) for n in range(4)]
    # 0.15 s left: the first pause (0.1 s) fits, the second (0.2 s) does not.
    with bind(Deadline(clock.now + 0.15)):
        pauses.taken.clear()
        transport.calls.clear()
        left = table.batch_put_todo(todos)
    assert pauses.taken == pytest.approx([0.1])
    assert transport.calls == [4, 3]
    assert [t.title for t in left] == ["2", "3"]
