"""The same generated code over real HTTP: moto's server on 127.0.0.1, a free port."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from moto.server import ThreadedMotoServer

from dynamorm_gen.runtime import ConditionFailed
from dynamorm_gen.runtime.table import Connection, reset_clients
from generated_examples import basic, payment

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def connection(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    reset_clients()
    monkeypatch.setenv("DYNAMORM_ENDPOINT_URL", endpoint)
    yield Connection(region="us-east-1")
    reset_clients()


def test_crud_and_query_over_http(connection: Connection) -> None:
    todos = basic.TodosTable(connection, name="todos")
    assert connection.client.meta.endpoint_url.startswith("http://127.0.0.1:")
    todos.handle.create()
    items = [basic.Todo(user_id="u1", title=f"task {n}") for n in range(5)]
    for todo in items:
        todos.put_todo(todo, if_not_exists=True)
    with pytest.raises(ConditionFailed):
        todos.put_todo(items[0], if_not_exists=True)
    items[0].done = True
    todos.put_todo(items[0])
    assert todos.get_todo(user_id="u1", todo_id=items[0].todo_id) == items[0]
    listed = list(todos.iter_todo_for_user(user_id="u1"))
    assert [t.todo_id for t in listed] == sorted(t.todo_id for t in items)
    page = todos.query_todo_for_user(user_id="u1", limit=2)
    assert len(page) == 2 and page.cursor is not None
    still_open = todos.query_todo_open_for_user(user_id="u1", done=False)
    assert len(still_open) == 4
    todos.delete_todo(user_id="u1", todo_id=items[1].todo_id)
    assert todos.get_todo(user_id="u1", todo_id=items[1].todo_id) is None


def test_payment_locking_over_http(connection: Connection) -> None:
    payments = payment.PaymentsTable(connection, name="payments")
    payments.handle.create()
    p = payment.Payment(
        merchant_id="m1",
        customer_id="c1",
        amount=1250,
        currency="GBP",
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    payments.put_payment(p)
    copy = payments.get_payment(merchant_id="m1", payment_id=p.payment_id)
    assert copy == p
    payments.put_payment(p)
    assert copy is not None
    with pytest.raises(ConditionFailed):
        payments.put_payment(copy)
