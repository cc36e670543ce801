"""Local DynamoDB-compatible engines for tests, on 127.0.0.1 only.

- moto's server (``start_moto``): a thread of the test process; DynamoDB and STS on one port,
  each AWS account's data apart (moto keeps one backend per account id, and credentials from
  its AssumeRole belong to the role's account). Reset with ``POST /moto-api/reset``.
- dynalite (``start_dynalite``): the npm package, run by node as a subprocess on a free port;
  stricter than moto on numbers and sizes, closer to DynamoDB; no STS, transactions or TTL.
  Reset by deleting every table.

Nothing here imports moto before ``start_moto`` runs, nor pytest: the plugin
(``dynamorm_gen.testing``) turns failures into test failures. Never point these at AWS: the
addresses are fixed to loopback.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dynamorm_gen.runtime.accounts import PartnerConnection, forget_all
from dynamorm_gen.runtime.client import create
from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.retry import READ, UNSAFE
from dynamorm_gen.runtime.sigv4 import Credentials

HOST = "127.0.0.1"
START_TIMEOUT = 15.0  # seconds for dynalite to accept connections
STOP_TIMEOUT = 5.0  # seconds between terminate and kill
# What tests sign with: never valid anywhere, so nothing could reach a real account.
FAKE_CREDENTIALS = Credentials("testing", "testing", "testing")
# moto answers requests whose credentials it did not issue in this account.
MOTO_DEFAULT_ACCOUNT = "123456789012"


class EngineError(Exception):
    """An engine could not be started or reset; the message says what to do."""


class LocalEngine:
    """A started engine: ``name`` (``"moto"``, ``"dynalite"``), ``url`` (its endpoint,
    ``http://127.0.0.1:PORT``) and what it offers (``has_sts``: AssumeRole, each account's
    data apart; ``has_ttl``, ``has_transactions``). ``reset()`` empties it; ``stop()``."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        reset: Callable[[], None],
        stop: Callable[[], None],
        has_sts: bool,
        has_ttl: bool,
        has_transactions: bool,
    ) -> None:
        self.name = name
        self.url = url
        self.has_sts = has_sts
        self.has_ttl = has_ttl
        self.has_transactions = has_transactions
        self._reset = reset
        self._stop = stop

    def __repr__(self) -> str:
        return f"LocalEngine({self.name}, {self.url})"

    def reset(self) -> None:
        """Empty the engine, and make the process's partner connections assume their roles
        again (a reset moto no longer knows the credentials it issued, and would answer
        their requests in its default account)."""
        self._reset()
        forget_all()

    def stop(self) -> None:
        self._stop()

    def create(self, table: Any) -> None:
        """Create a generated table (an instance of a generated table class) as its schema
        declares, with TTL where the engine has it. For a partner table on an engine with
        accounts, check that the table is in the partner's account: moto answers requests
        signed with credentials it does not know (issued before a reset) in its default
        account, silently; this turns that into an error."""
        handle = table.handle
        handle.create(ttl=self.has_ttl)
        if self.has_sts and isinstance(handle.connection, PartnerConnection):
            partner = handle.connection.current()
            account = self.account_of(table)
            if account != partner.account_id:
                raise EngineError(
                    f"table {handle.name} of partner {partner.id!r} was created in account"
                    f" {account}, not the partner's {partner.account_id}: the engine did"
                    " not recognise the partner's credentials (assumed before a reset?)"
                )

    def account_of(self, table: Any) -> str:
        """The account id in the table's ARN, as the engine describes it (for a partner
        table, through the partner's credentials)."""
        handle = table.handle
        described = handle._call("DescribeTable", {"TableName": handle.name}, "", READ)
        arn: str = described["Table"]["TableArn"]
        return arn.split(":")[4]


def start_moto() -> LocalEngine:
    """moto's server on a free 127.0.0.1 port, in a thread of this process."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    if host != HOST:
        server.stop()
        raise EngineError(f"moto's server listens on {host}, not {HOST}")
    url = f"http://{host}:{port}"

    def reset() -> None:
        request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    return LocalEngine(
        "moto",
        url,
        reset=reset,
        stop=server.stop,
        has_sts=True,
        has_ttl=True,
        has_transactions=True,
    )


# --- dynalite: a node subprocess on a free loopback port -------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, and kill it if it has not ended after ``STOP_TIMEOUT``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def launch_dynalite(
    cli: Path, log: Path, *, node: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Run dynalite's ``cli.js`` on a free loopback port (a few attempts in case the port
    was taken meanwhile); the process and its port, once it accepts connections."""
    node = node or shutil.which("node")
    if node is None:
        raise EngineError("dynalite needs Node.js 20+ ('node' is not on PATH)")
    if not cli.is_file():
        raise EngineError(f"dynalite is not installed ({cli} is missing)")
    failures = []
    for _attempt in range(3):
        # dynalite treats --port 0 as "unset" (4567), so pick a free port here.
        port = free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    node,
                    str(cli),
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                    "--createTableMs",
                    "0",
                    "--deleteTableMs",
                    "0",
                    "--updateTableMs",
                    "0",
                ],
                cwd=cli.parent,
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
        stop_process(process)
        output_text = log.read_text(errors="replace").strip() or "(no output)"
        if exited is not None and "EADDRINUSE" in output_text:
            failures.append(f"port {port} taken")
            continue
        if exited is None:
            what = f"did not accept connections within {START_TIMEOUT:.0f}s (stopped)"
        else:
            what = f"exited with status {exited} before accepting connections"
        raise EngineError(
            f"dynalite on {HOST}:{port} {what}; its output:\n{output_text}\n"
            "If the package is broken, reinstall it"
        )
    raise EngineError(f"dynalite could not get a free port: {failures}")


def start_dynalite(cli: Path, log: Path) -> LocalEngine:
    """dynalite (its ``cli.js``) on a free 127.0.0.1 port, output to ``log``."""
    process, port = launch_dynalite(cli, log)
    url = f"http://{HOST}:{port}"
    return LocalEngine(
        "dynalite",
        url,
        reset=lambda: delete_tables(url),
        stop=lambda: stop_process(process),
        has_sts=False,
        has_ttl=False,
        has_transactions=False,
    )


def delete_tables(url: str, *, region: str = "us-east-1") -> None:
    """Delete every table of the engine at ``url`` and wait until they are gone (through
    the runtime's fast transport: no botocore needed)."""
    client = create(region, url, None, "fast", credentials=FAKE_CREDENTIALS)
    try:
        names = _table_names(client.call)
        for name in names:
            client.call("DeleteTable", {"TableName": name}, UNSAFE)
        deadline = time.monotonic() + 10
        while names:
            if time.monotonic() > deadline:
                raise EngineError(
                    f"the engine still lists tables {names} after deleting"
                )
            time.sleep(0.005)
            names = _table_names(client.call)
    finally:
        client.close()


def _table_names(call: Callable[..., dict[str, Any]]) -> list[str]:
    names: list[str] = []
    params: dict[str, Any] = {}
    while True:
        page = call("ListTables", params, READ)
        names += page.get("TableNames", [])
        last = page.get("LastEvaluatedTableName")
        if not last:
            return names
        params = {"ExclusiveStartTableName": last}


def sandbox_environment(url: str, *, sts: bool) -> dict[str, str]:
    """The environment that points both transports at the engine at ``url`` (and STS and
    KMS too, when it has them), with fake credentials and no profile or config file that
    could name a real account."""
    if not url.startswith(f"http://{HOST}:"):
        raise ConfigurationError(f"a test engine must listen on {HOST}")
    env = {
        "DYNAMORM_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS.access_key,
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS.secret_key,
        "AWS_SESSION_TOKEN": FAKE_CREDENTIALS.token or "",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if sts:
        # moto's server: STS and KMS beside DynamoDB.
        env["DYNAMORM_STS_ENDPOINT_URL"] = url
        env["DYNAMORM_KMS_ENDPOINT_URL"] = url
    return env
