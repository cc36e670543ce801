"""Shared test configuration.

Golden files (expected generated code, expected error reports) are refreshed with
``python -m pytest --update-golden``; every golden mismatch names that command.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dynamorm_gen.testing.engines import LocalEngine

# The fixtures users get (dynamorm_engine, dynamorm_moto, ...); with dynamorm-gen installed
# the pytest11 entry point of the same name registers it first, and this is a no-op.
pytest_plugins = ["dynamorm_gen.testing"]

ROOT = Path(__file__).resolve().parent.parent
ENGINES_DIR = ROOT / "tests" / "engines"
DYNALITE_CLI = ENGINES_DIR / "node_modules" / "dynalite" / "cli.js"
INSTALL_HINT = "install the test engines with: npm ci --prefix tests/engines"
UPDATE_HINT = (
    "if the change is intended, refresh with: python -m pytest --update-golden"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files (expected output and error reports) from the current build",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(autouse=True)
def _aws_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach AWS: fake credentials, a fixed region, no profile or endpoint leaks."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


# --- the engines, shared by tests/integration/, tests/examples/ and tests/faults/ ----------------
# Started by the plugin this package ships (dynamorm_gen.testing), as users' tests start them.


@pytest.fixture(scope="session")
def moto_endpoint(dynamorm_moto: LocalEngine) -> str:
    """The endpoint URL of moto's server (the plugin's ``dynamorm_moto``), not reset."""
    return dynamorm_moto.url


@pytest.fixture
def moto_server(dynamorm_moto: LocalEngine) -> str:
    """The endpoint URL of moto's server (the plugin's ``dynamorm_moto``, one per session),
    emptied for this test (``POST /moto-api/reset``)."""
    dynamorm_moto.reset()
    return dynamorm_moto.url


@pytest.fixture(scope="session")
def dynalite_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """dynalite on a free 127.0.0.1 port, from the pinned package in tests/engines."""
    # Imported here: a module imported before pytest registers the plugin is not rewritten.
    from dynamorm_gen.testing.engines import EngineError, start_dynalite

    log = tmp_path_factory.mktemp("dynalite") / "dynalite.log"
    try:
        engine = start_dynalite(DYNALITE_CLI, log)
    except EngineError as exc:
        pytest.fail(f"{exc}; {INSTALL_HINT}", pytrace=False)
    try:
        yield engine.url
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def dynalite_admin(dynalite_endpoint: str) -> Iterator[Any]:
    """A botocore client for resetting dynalite, created once (creating one takes ~0.1s)."""
    client = _admin_client(dynalite_endpoint)
    yield client
    client.close()


def _admin_client(endpoint: str) -> Any:
    import botocore.session

    return botocore.session.Session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def reset_dynalite(client: Any) -> None:
    """Delete every table and wait until they are gone (deleteTableMs is 0, so it is quick)."""
    names = client.list_tables()["TableNames"]
    for name in names:
        client.delete_table(TableName=name)
    deadline = time.monotonic() + 10
    while names:
        if time.monotonic() > deadline:
            pytest.fail(f"dynalite still lists tables {names} after deleting them")
        time.sleep(0.005)
        names = client.list_tables()["TableNames"]
