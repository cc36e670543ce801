"""DynamoDB-compatible engines over real HTTP on 127.0.0.1, each started once per session.

* moto: ``moto.server.ThreadedMotoServer`` in a thread of the test process; reset between
  tests with ``POST /moto-api/reset``. Its fixtures (``moto_endpoint``, ``moto_server``) are
  in tests/conftest.py, shared with tests/examples/.
* dynalite: the npm package pinned in ``tests/engines/package.json``, installed with
  ``npm ci --prefix tests/engines`` and run with node as a subprocess; reset between tests by
  deleting every table.

The ``engine`` fixture is parametrized over both and yields the endpoint URL; ``engine_name``
says which one a test runs on. An engine is started only when a test first needs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamorm_gen.runtime.table import reset_clients

ENGINES = ("moto", "dynalite")
TRANSPORTS = ("botocore", "fast")
ROOT = Path(__file__).resolve().parents[2]
ENGINES_DIR = ROOT / "tests" / "engines"
DYNALITE_CLI = ENGINES_DIR / "node_modules" / "dynalite" / "cli.js"
INSTALL_HINT = "install the test engines with: npm ci --prefix tests/engines"
START_TIMEOUT = 15.0  # seconds for dynalite to accept connections
STOP_TIMEOUT = 5.0  # seconds between terminate and kill


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(*features): skip on the engines that lack a feature "
        "(UNSUPPORTED in tests/integration/test_engines.py)",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _start_dynalite(node: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start dynalite on a free loopback port; a few attempts in case the port was taken."""
    failures = []
    for _attempt in range(3):
        # dynalite treats --port 0 as "unset" (4567), so pick a free port here.
        port = _free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    node,
                    str(DYNALITE_CLI),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--createTableMs",
                    "0",
                    "--deleteTableMs",
                    "0",
                    "--updateTableMs",
                    "0",
                ],
                cwd=ENGINES_DIR,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _accepts_connections(port):
                return process, port
            time.sleep(0.02)
        exited = process.poll()
        _stop(process)
        output_text = log.read_text(errors="replace").strip() or "(no output)"
        if exited is not None and "EADDRINUSE" in output_text:
            failures.append(f"port {port} taken")
            continue
        if exited is None:
            what = f"did not accept connections within {START_TIMEOUT:.0f}s (stopped)"
        else:
            what = f"exited with status {exited} before accepting connections"
        pytest.fail(
            f"dynalite on 127.0.0.1:{port} {what}; its output:\n{output_text}\n"
            "If the package is broken, reinstall it: npm ci --prefix tests/engines",
            pytrace=False,
        )
    pytest.fail(f"dynalite could not get a free port: {failures}", pytrace=False)


@pytest.fixture(scope="session")
def dynalite_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"dynalite tests need Node.js 20+ ('node' is not on PATH); then {INSTALL_HINT}",
            pytrace=False,
        )
    if not DYNALITE_CLI.is_file():
        pytest.fail(
            f"dynalite is not installed ({DYNALITE_CLI} is missing); {INSTALL_HINT}",
            pytrace=False,
        )
    log = tmp_path_factory.mktemp("dynalite") / "dynalite.log"
    process, port = _start_dynalite(node, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


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


def _reset_dynalite(client: Any) -> None:
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
        _reset_dynalite(request.getfixturevalue("dynalite_admin"))
    reset_clients()
    monkeypatch.setenv("DYNAMORM_ENDPOINT_URL", endpoint)
    yield endpoint
    reset_clients()
