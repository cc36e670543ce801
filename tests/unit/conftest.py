"""Fixtures for unit tests: the payments table and the library table (the library_loans
golden case) on moto's in-process DynamoDB and KMS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from dynamorm_gen.runtime.table import Connection, reset_clients
from generated_examples import payment
from tests.golden.cases.library_loans.expected.library import LibraryTable
from tests.unit.payments import create_moto_key


@pytest.fixture
def payments(monkeypatch: pytest.MonkeyPatch) -> Iterator[payment.PaymentsTable]:
    """The payments table on moto's in-process mock (botocore transport); its encrypted
    attributes are sealed with a key of moto's KMS, in ``DYNAMORM_KMS_KEY``."""
    with mock_aws():
        reset_clients()
        table = payment.PaymentsTable(
            Connection(region="us-east-1"), name="payments-test"
        )
        table.handle.create()
        monkeypatch.setenv("DYNAMORM_KMS_KEY", create_moto_key())
        yield table
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
