"""A loopback STS for tests and benchmarks: AssumeRole answered at once, or with STS's errors.

moto's STS issues credentials for any role: it checks no trust policy and no external ID, so
it can never say AccessDenied. ``StsStub`` answers AssumeRole the way STS documents it (the
query protocol's XML, the same status and ``<Code>`` as STS for ``AccessDenied``,
``ExpiredToken``, ``RegionDisabledException``, ``Throttling``...), so that tests can script
what a partner's revoked trust, expired source credentials or a disabled region look like:

    with StsStub() as sts:
        sts.fail("AccessDenied")               # the next AssumeRole only
        ...                                    # point DYNAMORM_STS_ENDPOINT_URL at sts.url
        assert sts.calls[0]["RoleArn"] == ...

The credentials it issues are made up (``ASIA...`` keys): a DynamoDB engine does not know
them. Only 127.0.0.1; the standard library only.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from dynamorm_gen.testing.loopback import LoopbackServer

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
# STS's status for each error code it sends (AWS STS API reference, "Errors").
STATUSES = {
    "AccessDenied": 403,
    "ExpiredToken": 400,
    "RegionDisabledException": 403,
    "Throttling": 400,
    "InvalidClientTokenId": 403,
    "ValidationError": 400,
    "MalformedPolicyDocument": 400,
    "PackedPolicyTooLarge": 400,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}


class StsStub(LoopbackServer):
    """The stub (see the module docstring). ``lifetime`` (seconds) overrides the
    DurationSeconds asked for; ``clock`` (seconds since the epoch) dates the credentials'
    expiry. ``calls`` holds each AssumeRole's parameters, in arrival order."""

    name = "sts-stub"

    def __init__(
        self, *, lifetime: float | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.lifetime = lifetime
        self.clock = clock
        self.calls: list[dict[str, str]] = []
        self._failures: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: without this, Nagle's algorithm holds the body
            # back until the client's delayed ACK of the headers (~40 ms on Linux).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                status, body = stub._answer({k: v[0] for k, v in form.items()})
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-amzn-RequestId", secrets.token_hex(16))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests hold external IDs: nothing is printed

        return Handler

    # --- the script ---------------------------------------------------------------------------

    def fail(self, code: str, *, status: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` AssumeRole requests with STS's error ``code`` (its
        status from ``STATUSES`` unless ``status`` is given)."""
        with self._lock:
            self._failures += [(code, status or STATUSES.get(code, 400))] * times

    def recover(self) -> None:
        """Drop the failures still scripted: answer AssumeRole again."""
        with self._lock:
            self._failures.clear()

    def assumed(self, role_arn: str | None = None) -> int:
        """How many AssumeRole requests arrived (for ``role_arn`` only, when given)."""
        with self._lock:
            return sum(1 for c in self.calls if role_arn in (None, c.get("RoleArn")))

    def _answer(self, form: dict[str, str]) -> tuple[int, bytes]:
        with self._lock:
            self.calls.append(form)
            failure = self._failures.pop(0) if self._failures else None
        if form.get("Action") != "AssumeRole":
            return _error("InvalidAction", 400, "the stub answers AssumeRole only")
        if failure is not None:
            code, status = failure
            return _error(code, status, f"{code} (scripted by the test)")
        asked = float(form.get("DurationSeconds") or 3600)
        lifetime = self.lifetime if self.lifetime is not None else asked
        expiry = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock() + lifetime)
        )
        role_arn = form.get("RoleArn", "")
        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else "000000000000"
        account, role = escape(account), escape(role_arn.rpartition("/")[2])
        session = escape(form.get("RoleSessionName", ""))
        body = (
            f'<AssumeRoleResponse xmlns="{NAMESPACE}"><AssumeRoleResult><Credentials>'
            f"<AccessKeyId>ASIA{secrets.token_hex(8).upper()}</AccessKeyId>"
            f"<SecretAccessKey>{secrets.token_urlsafe(30)}</SecretAccessKey>"
            f"<SessionToken>{secrets.token_urlsafe(90)}</SessionToken>"
            f"<Expiration>{expiry}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROASTUB:{session}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/{role}/{session}</Arn>"
            "</AssumedRoleUser></AssumeRoleResult>"
            f"<ResponseMetadata><RequestId>{secrets.token_hex(16)}</RequestId>"
            "</ResponseMetadata></AssumeRoleResponse>"
        )
        return 200, body.encode()


def _error(code: str, status: int, message: str) -> tuple[int, bytes]:
    body = (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error>'
        f"<Type>{'Receiver' if status >= 500 else 'Sender'}</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error>"
        f"<RequestId>{secrets.token_hex(16)}</RequestId></ErrorResponse>"
    )
    return status, body.encode()
