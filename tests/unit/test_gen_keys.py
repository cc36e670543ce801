"""Keys cannot be forged: a value that holds a separator of the key template it is written
into is refused (KeyViolation) wherever generated code interpolates it, before any request.

The Loan schema below is the forgery the check closes: without it, a loan put for member
``m1#978`` and ISBN ``0`` has the key ``LOAN#m1#978#0``, which ``get_loan(member_id="m1",
isbn="978#0")`` builds too, and a ``begins_with`` query for member ``m1#`` reads other
members' loans.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

from dynamorm_gen.compiler.model import parse_template
from dynamorm_gen.compiler.project import Project, compile_project
from dynamorm_gen.runtime import ConstraintViolation, KeyViolation, TransactWrite
from dynamorm_gen.runtime.table import Connection, reset_clients
from generated_examples import payment
from tests.golden.cases.index_updates.expected import tasks

SENTINEL = "Zq\u2603LEAK"

LIBRARY = """\
version: 1
tables:
  library: {keys: {pk: PK, sk: SK}}
entities:
  Loan:
    table: library
    key: {pk: "BRANCH#{branch}", sk: "LOAN#{member_id}#{isbn}"}
    attributes:
      branch: {type: string}
      member_id: {type: string}
      isbn: {type: string}
      due: {type: date}
    access_patterns:
      for_member:
        sk: {begins_with: "LOAN#{member_id}#"}
  Shelf:
    table: library
    key: {pk: "BRANCH#{branch}", sk: "SHELF|{aisle}#{slot}"}
    attributes:
      branch: {type: string}
      aisle: {type: string}
      slot: {type: integer}
"""


def compile_module(directory: Path, name: str, schema: str) -> ModuleType:
    """``schema`` compiled by the current compiler and imported under a unique name."""
    source_file = directory / f"{name}.yaml"
    source_file.write_text(schema, encoding="utf-8")
    project = Project(root=directory, schemas=(source_file,), output=directory / "out")
    _, outputs = compile_project(project)
    source = next(o.content for o in outputs if o.path == f"{name}.py")
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    module_name = f"_gen_{name}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    module = compile_module(tmp_path_factory.mktemp("library"), "library", LIBRARY)
    yield module
    sys.modules.pop(module.__name__, None)


@pytest.fixture
def branch(library: ModuleType) -> Iterator[Any]:
    with mock_aws():
        reset_clients()
        table = library.LibraryTable(Connection(region="us-east-1"), name="library")
        table.handle.create()
        yield table
        reset_clients()


class NoRequests:
    """A transport that fails the test on any request: checks must come first."""

    endpoint_url = "http://no-requests.invalid"
    region = "us-east-1"

    def exchange(self, operation: str, *args: Any) -> dict[str, Any]:
        raise AssertionError(f"a request was sent: {operation}")

    def prewarm(self) -> None:
        pass

    def close(self) -> None:
        pass


def _offline(library: ModuleType) -> Any:
    return library.LibraryTable(Connection(client=NoRequests()), name="library")


def _loan(library: ModuleType, member_id: str, isbn: str) -> Any:
    return library.Loan(
        branch="b1", member_id=member_id, isbn=isbn, due=date(2026, 1, 1)
    )


def test_a_forged_loan_key_is_refused_both_ways(
    library: ModuleType, branch: Any
) -> None:
    # Both would build the key LOAN#m1#978#0.
    with pytest.raises(KeyViolation) as put:
        branch.put_loan(_loan(library, "m1#978", "0"))
    with pytest.raises(KeyViolation) as get:
        branch.get_loan(branch="b1", member_id="m1", isbn="978#0")
    assert str(put.value) == (
        "Loan.member_id may not contain '#': it separates the parts of key template"
        " 'LOAN#{member_id}#{isbn}'"
    )
    assert "Loan.isbn may not contain '#'" in str(get.value)
    assert "978" not in str(put.value) + str(get.value)
    # Nothing was written, and honest loans are unaffected.
    assert branch.scan_loan().items == []
    branch.put_loan(_loan(library, "m1", "978"))
    assert branch.get_loan(branch="b1", member_id="m1", isbn="978") is not None


def test_a_widened_begins_with_query_is_refused_before_any_request(
    library: ModuleType,
) -> None:
    offline = _offline(library)
    for method in (offline.query_loan_for_member, offline.count_loan_for_member):
        with pytest.raises(KeyViolation, match=r"Loan\.member_id may not contain '#'"):
            method(branch="b1", member_id="m1#")
    with pytest.raises(KeyViolation, match=r"Loan\.branch"):
        list(offline.iter_loan_for_member(branch="b1#x", member_id="m1"))


def test_the_message_never_quotes_the_value(library: ModuleType) -> None:
    with pytest.raises(KeyViolation) as failure:
        library.Loan.make_key(branch="b1", member_id=SENTINEL + "#", isbn="1")
    assert SENTINEL not in str(failure.value)
    assert isinstance(failure.value, ConstraintViolation)


def test_every_separator_of_a_template_is_checked(library: ModuleType) -> None:
    assert parse_template("SHELF|{aisle}#{slot}").separators == "|#"
    assert parse_template("A|{x}#B").separators == "|#"
    assert parse_template("{x}").separators == ""
    assert parse_template("PROFILE").separators == ""
    assert parse_template("{{{x}}}").separators == "{}"
    for aisle in ("a|b", "a#b"):
        with pytest.raises(KeyViolation) as failure:
            library.Shelf(branch="b1", aisle=aisle, slot=1).to_item()
        assert str(failure.value) == (
            "Shelf.aisle may not contain '|' or '#': they separate the parts of key"
            " template 'SHELF|{aisle}#{slot}'"
        )
    library.Shelf(branch="b1", aisle="a-b c", slot=-1).to_item()  # others are fine


def test_non_strings_and_other_types_in_keys_are_typed_errors(
    library: ModuleType,
) -> None:
    with pytest.raises(ConstraintViolation, match=r"Loan\.member_id must be a string"):
        library.Loan.make_key(branch="b1", member_id=None, isbn="1")
    with pytest.raises(ConstraintViolation, match=r"Shelf\.slot must be an integer"):
        library.Shelf.make_key(branch="b1", aisle="a", slot="3")
    with pytest.raises(ConstraintViolation, match=r"Shelf\.slot must be an integer"):
        library.Shelf(branch="b1", aisle="a", slot=True).key()

    class Sub(str):
        pass

    assert library.Loan.make_key(branch=Sub("b1"), member_id="m", isbn="i") == {
        "PK": {"S": "BRANCH#b1"},
        "SK": {"S": "LOAN#m#i"},
    }


def test_each_attribute_is_checked_against_every_template_it_is_in() -> None:
    # merchant_id is in PK and GSI2PK: one check, naming both templates.
    p = payment.Payment(merchant_id="m#1", customer_id="c1", amount=1, currency="EUR")
    with pytest.raises(KeyViolation) as failure:
        p.to_item()
    assert "'MERCHANT#{merchant_id}' and 'MERCHANT#{merchant_id}#STATUS'" in str(
        failure.value
    )
    with pytest.raises(KeyViolation):
        p.key()
    p.merchant_id, p.customer_id = "m1", "c#1"
    p.key()  # the table key does not hold customer_id
    with pytest.raises(KeyViolation, match=r"Payment\.customer_id"):
        p.to_item()


def test_keys_of_every_method_kind_are_checked() -> None:
    offline = payment.PaymentsTable(Connection(client=NoRequests()), name="p")
    bad = "m#1"
    calls = [
        lambda: offline.get_payment(merchant_id=bad, payment_id="p"),
        lambda: offline.delete_payment(merchant_id=bad, payment_id="p"),
        lambda: offline.update_payment(
            payment.PaymentUpdate().set_description("x"),
            merchant_id=bad,
            payment_id="p",
        ),
        lambda: offline.query_payment_by_customer(customer_id="c#"),
        lambda: offline.count_payment_by_status(merchant_id=bad, status="pending"),
        lambda: offline.query_customer_activity(customer_id="c#1"),
        lambda: offline.query_transaction_for_payment(
            merchant_id="m1", payment_id="p#"
        ),
        lambda: offline.query_transaction_between_sequences(
            merchant_id="m1", payment_id="p#", sequence_from=1, sequence_to=2
        ),
        lambda: offline.tx_check_payment(
            TransactWrite(), merchant_id=bad, payment_id="p"
        ),
        lambda: payment.PaymentUpdate().set_customer_id("c#2"),
    ]
    for call in calls:
        with pytest.raises(KeyViolation):
            call()
    # Enum key parts must be one of their values; integer ones ints.
    with pytest.raises(
        ConstraintViolation, match=r"Payment\.status breaks constraint: enum"
    ):
        offline.query_payment_by_status(merchant_id="m1", status="pending#x")  # type: ignore[arg-type]
    with pytest.raises(
        ConstraintViolation, match=r"Transaction\.sequence must be an integer"
    ):
        payment.Transaction.make_key(merchant_id="m1", payment_id="p", sequence=1.5)  # type: ignore[arg-type]
    with pytest.raises(
        ConstraintViolation, match=r"Payment\.created_at must be a datetime"
    ):
        offline.query_payment_by_customer_since(
            customer_id="c1", created_at="2026-01-01"
        )  # type: ignore[arg-type]


def test_a_refused_transaction_action_is_not_added() -> None:
    offline = payment.PaymentsTable(Connection(client=NoRequests()), name="p")
    tx = TransactWrite()
    with pytest.raises(KeyViolation):
        offline.tx_put_payment(
            tx,
            payment.Payment(
                merchant_id="m#", customer_id="c", amount=1, currency="EUR"
            ),
        )
    assert len(tx) == 0


def test_index_keys_rebuilt_by_updates_check_values_and_co_attributes() -> None:
    with pytest.raises(KeyViolation, match=r"Task\.assignee"):
        tasks.TaskUpdate().set_rank(3, assignee="ann#1", state="todo")
    with pytest.raises(KeyViolation, match=r"Task\.lane"):
        tasks.TaskUpdate().set_lane("to#do", state="todo")
    with pytest.raises(
        ConstraintViolation, match=r"Task\.state breaks constraint: enum"
    ):
        tasks.TaskUpdate().set_lane("todo", state="todo#x")  # type: ignore[arg-type]
    tasks.TaskUpdate().set_rank(3, assignee=None, state="todo")  # None: no key to check
    with pytest.raises(KeyViolation, match=r"Task\.assignee"):
        tasks.Task(project_id="p1", title="t", lane="l", assignee="a#").to_item()


def test_honest_values_still_round_trip_on_moto(
    library: ModuleType, branch: Any
) -> None:
    loans = [
        _loan(library, "m1", "978-3"),
        _loan(library, "m1", "0-7"),
        _loan(library, "m2", "1"),
    ]
    for loan in loans:
        branch.put_loan(loan)
    found = branch.query_loan_for_member(branch="b1", member_id="m1").items
    assert sorted(loan.isbn for loan in found) == ["0-7", "978-3"]
    assert branch.count_loan_for_member(branch="b1", member_id="m1") == 2


SHOP = """\
version: 1
tables:
  shop: {keys: {pk: PK, sk: SK}, indexes: {GSI1: {keys: {pk: GSI1PK, sk: GSI1SK}}}}
entities:
  Order:
    table: shop
    key: {pk: "SHOP#{shop_id}", sk: "ORDER#{order_id}"}
    indexes:
      GSI1: {pk: "SHOP#{shop_id}#RECENT", sk: "{updated_at}|{order_id}"}
    attributes:
      shop_id: {type: string}
      order_id: {type: string}
      note: {type: string, optional: true}
      updated_at: {type: datetime, auto: update}
"""


def test_updates_check_what_only_their_rebuilt_timestamp_keys_separate(
    tmp_path: Path,
) -> None:
    shop = compile_module(tmp_path, "shop", SHOP)
    try:
        offline = shop.ShopTable(Connection(client=NoRequests()), name="shop")
        for call in (
            offline.update_order,
            lambda c, **k: offline.tx_update_order(TransactWrite(), c, **k),
        ):
            with pytest.raises(KeyViolation) as failure:
                call(shop.OrderUpdate().set_note("n"), shop_id="s1", order_id="o|1")
            assert "'ORDER#{order_id}' and '{updated_at}|{order_id}'" in str(
                failure.value
            )
        with pytest.raises(
            KeyViolation, match=r"Order\.order_id may not contain '#' or '\|'"
        ):
            shop.Order(shop_id="s1", order_id="o|1").to_item()
    finally:
        sys.modules.pop(shop.__name__, None)
