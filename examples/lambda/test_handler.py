"""Tests of handler.py as you would write them for your own function, with the fixtures that
installing dynamorm-gen gives pytest (``dynamorm_gen.testing``):

- ``dynamorm_engine`` starts moto's server on 127.0.0.1 (once per session), empties it before
  each test and points both transports at it; ``create`` makes a generated table there;
- ``dynamorm_transport`` runs each test twice: on the fast transport (a deployed function's
  default, which moto's in-process ``mock_aws`` cannot see) and on botocore.

Run them with ``python -m pytest examples/lambda`` (the project's test command runs them too).
"""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dynamorm_gen.testing import LocalEngine

HERE = Path(__file__).resolve().parent


class Context:
    """The parts of Lambda's context object the handler uses, with a minute to run."""

    function_name = "payments-test"
    memory_limit_in_mb = 512

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def function(
    dynamorm_engine: LocalEngine,
    dynamorm_transport: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ModuleType]:
    """handler.py freshly imported (its init phase runs, as in a cold start), with its table
    created on the local engine."""
    monkeypatch.setenv("PAYMENTS_TABLE", "payments")
    monkeypatch.setenv("DYNAMORM_CURSOR_KEY", "test-cursor-key")
    monkeypatch.syspath_prepend(str(HERE))
    sys.modules.pop("handler", None)
    module = importlib.import_module("handler")
    try:
        assert module.db.transport == dynamorm_transport
        dynamorm_engine.create(module.payments)
        yield module
    finally:
        module.db.close()
        sys.modules.pop("handler", None)


def invoke(function: ModuleType, **event: Any) -> dict[str, Any]:
    response: dict[str, Any] = function.handler(event, Context())
    return response


def test_a_payment_is_authorized_once_and_captured_once(function: ModuleType) -> None:
    payment = {"merchant_id": "m-1", "payment_id": "p-1"}
    authorized = invoke(
        function,
        action="authorize",
        customer_id="c-1",
        amount=1250,
        currency="EUR",
        **payment,
    )
    assert authorized["status"] == "pending"
    again = invoke(
        function,
        action="authorize",
        customer_id="c-1",
        amount=9999,
        currency="EUR",
        **payment,
    )
    assert again["status"] == "duplicate"  # the repeated request wrote nothing

    captured = invoke(function, action="capture", **payment)
    assert (captured["status"], captured["version"]) == ("captured", 2)
    repeated = invoke(function, action="capture", **payment)
    assert (repeated["status"], repeated["version"]) == ("captured", 2)

    found = invoke(function, action="get", **payment)["payment"]
    assert (found["amount"], found["status"]) == (1250, "captured")
    missing = invoke(function, action="capture", merchant_id="m-1", payment_id="p-2")
    assert missing["status"] == "not_found"


def test_an_export_reads_every_page(function: ModuleType) -> None:
    for n in range(7):
        invoke(
            function,
            action="authorize",
            merchant_id="m-1",
            payment_id=f"p-{n}",
            customer_id="c-1",
            amount=100 + n,
            currency="EUR",
        )
    exported = invoke(function, action="export", merchant_id="m-1", page_size=3)
    assert exported["status"] == "done"
    assert sorted(exported["payment_ids"]) == [f"p-{n}" for n in range(7)]
    assert invoke(function, action="export", merchant_id="m-2")["payment_ids"] == []
