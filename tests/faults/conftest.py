"""Fixtures for fault-injection tests: a FaultProxy (tests/faults/proxy.py) in front of a
freshly reset engine.

* ``fault_proxy``: a started proxy in front of moto's server (``moto_server``, reset per test).
* ``dynalite_fault_proxy``: a started proxy in front of dynalite, emptied for this test.

Each test gets its own proxy (starting one costs a socket and a thread), so its script,
records and token memory start empty; the proxy is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import reset_dynalite

from .proxy import FaultProxy


@pytest.fixture
def fault_proxy(moto_server: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server) as proxy:
        yield proxy


@pytest.fixture
def dynalite_fault_proxy(
    dynalite_endpoint: str, dynalite_admin: Any
) -> Iterator[FaultProxy]:
    reset_dynalite(dynalite_admin)
    with FaultProxy(dynalite_endpoint) as proxy:
        yield proxy
