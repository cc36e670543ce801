"""Fixtures for unit tests: the payments table and the library table (the library_loans
golden case) on moto's in-process DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from dynamorm_gen.runtime import set_field_encryptor
from dynamorm_gen.runtime.table import Connection, reset_clients
from generated_examples import payment
from tests.golden.cases.library_loans.expected.library import LibraryTable
from tests.unit.payments import ReversingEncryptor


@pytest.fixture
def payments() -> Iterator[payment.PaymentsTable]:
    with mock_aws():
        reset_clients()
        table = payment.PaymentsTable(
            Connection(region="us-east-1"), name="payments-test"
        )
        table.handle.create()
        set_field_encryptor(ReversingEncryptor())
        yield table
        set_field_encryptor(None)
        reset_clients()


@pytest.fixture
def library() -> Iterator[LibraryTable]:
    """The library_loans golden case's table, empty."""
    with mock_aws():
        reset_clients()
        table = LibraryTable(Connection(region="us-east-1"), name="library")
        table.handle.create()
        yield table
        reset_clients()
