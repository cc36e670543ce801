"""Shared test configuration.

Golden files (expected generated code, expected error reports) are refreshed with
``python -m pytest --update-golden``; every golden mismatch names that command.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINES_DIR = ROOT / "tests" / "engines"
DYNALITE_CLI = ENGINES_DIR / "node_modules" / "dynalite" / "cli.js"
INSTALL_HINT = "install the test engines with: npm ci --prefix tests/engines"
START_TIMEOUT = 15.0  # seconds for dynalite to accept connections
STOP_TIMEOUT = 5.0  # seconds between terminate and kill
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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server in a thread of the test process, on a free 127.0.0.1 port: started once
    per session, the first time a test needs it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_server(moto_endpoint: str) -> str:
    """The endpoint URL of moto's server, emptied for this test (``POST /moto-api/reset``)."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return moto_endpoint


# --- dynalite: a node subprocess on a free loopback port -------------------------------------


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
