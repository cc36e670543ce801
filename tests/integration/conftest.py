"""DynamoDB-compatible engines over real HTTP on 127.0.0.1, each started once per session.

* moto: ``moto.server.ThreadedMotoServer`` in a thread of the test process; reset between
  tests with ``POST /moto-api/reset``.
* dynalite: the npm package pinned in ``tests/engines/package.json``, installed with
  ``npm ci --prefix tests/engines`` and run with node as a subprocess; reset between tests by
  deleting every table.

Both engines' fixtures (``moto_endpoint``, ``moto_server``, ``dynalite_endpoint``,
``dynalite_admin``) are in tests/conftest.py, shared with tests/examples/ and tests/faults/.

The ``engine`` fixture is parametrized over both and yields the endpoint URL; ``engine_name``
says which one a test runs on. An engine is started only when a test first needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from dynamorm_gen.runtime import hooks
from dynamorm_gen.runtime.hooks import CallInfo
from dynamorm_gen.runtime.table import reset_clients
from tests.conftest import reset_dynalite

ENGINES = ("moto", "dynalite")
TRANSPORTS = ("botocore", "fast")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(*features): skip on the engines that lack a feature "
        "(UNSUPPORTED in tests/integration/test_engines.py)",
    )


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Every engine test runs on the botocore client and on the fast transport (fast.py)."""
    name: str = request.param
    return name


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def engine(
    engine_name: str,
    transport: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The endpoint URL of a clean engine; ``DYNAMORM_ENDPOINT_URL`` points at it."""
    # Connections made without an explicit transport follow DYNAMORM_TRANSPORT.
    monkeypatch.setenv("DYNAMORM_TRANSPORT", transport)
    endpoint: str
    if engine_name == "moto":
        endpoint = request.getfixturevalue("moto_server")  # reset for this test
    else:
        endpoint = request.getfixturevalue("dynalite_endpoint")
        reset_dynalite(request.getfixturevalue("dynalite_admin"))
    reset_clients()
    monkeypatch.setenv("DYNAMORM_ENDPOINT_URL", endpoint)
    yield endpoint
    reset_clients()


# --- what hooks see ---------------------------------------------------------------------------


class Recorder:
    """A hook that keeps every call it sees (``recorder``: registered for one test)."""

    wants_capacity = True

    def __init__(self) -> None:
        self.calls: list[CallInfo] = []
        self.lock = threading.Lock()

    def before_call(self, call: CallInfo) -> None:
        pass

    def after_call(self, call: CallInfo) -> None:
        with self.lock:
            self.calls.append(call)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    hooks.add_hook(found)
    yield found
    hooks.remove_hook(found)
