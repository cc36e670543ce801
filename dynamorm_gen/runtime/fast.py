"""The fast transport: DynamoDB's JSON protocol over a kept-alive standard-library connection.

A drop-in for the botocore client that ``TableHandle`` calls: same method names, same keyword
arguments, same response dictionaries (items in the low-level format, binary values as
``bytes``). It exists because importing botocore and building a client costs ~250 ms of a
Lambda cold start, while this module needs only the standard library. botocore is imported
only when the environment holds no credentials and its credential chain must be asked.

Requests are signed with SigV4 (``sigv4.py``) and retried like botocore's "standard" mode:
throttling, transient codes, 5xx, CRC32 mismatches and connection errors that happened before
the request could reach the server, at most ``max_retries`` times with full-jitter
exponential backoff. A request that may have been processed (timeout or reset after it was
sent) is not retried, because DynamoDB writes are not all idempotent.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from dynamorm_gen.runtime.deadline import current as current_deadline
from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.http import (
    HTTPConnection,
    ProtocolError,
    RemoteDisconnected,
    build_request,
)
from dynamorm_gen.runtime.sigv4 import CONTENT_TYPE, Credentials, dynamodb_headers

__all__ = ["Credentials", "FastClient", "FastClientError"]

CredentialsSource = Credentials | Callable[[], Credentials]

# Codes botocore's standard retry mode treats as throttling or transient.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
        "CRC32CheckFailed",
        "EndpointConnectionError",
        "ConnectTimeoutError",
    }
)
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
# What _NotSent reports: the request never left, so it cannot have been applied.
_UNSENT_CODES = frozenset({"ConnectTimeoutError", "EndpointConnectionError"})
MAX_IDLE_CONNECTIONS = 16

# Module-level so that tests can observe backoff without sleeping.
_sleep = time.sleep
_jitter = random.random
# base64.b64decode without its Python wrapper: the same non-strict decoding of ASCII text.
_b64decode = binascii.a2b_base64


class FastClientError(Exception):
    """An error response, or a failed exchange, in botocore's ``ClientError`` shape.

    ``response`` is what ``table.map_error`` reads: ``{"Error": {"Code", "Message"},
    "ResponseMetadata": {...}}`` plus ``CancellationReasons`` or ``Item`` when the service sent
    them. ``str()`` holds the code and operation only: the service's message may quote values.
    """

    def __init__(self, operation: str, response: dict[str, Any]) -> None:
        super().__init__(f"{response['Error']['Code']} (operation {operation})")
        self.operation_name = operation
        self.response = response


class _NotSent(Exception):
    """The request cannot have been processed: it failed while connecting or sending."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Meta:
    """What tests and callers read from ``botocore_client.meta``."""

    __slots__ = ("endpoint_url", "region_name")

    def __init__(self, endpoint_url: str, region_name: str) -> None:
        self.endpoint_url = endpoint_url
        self.region_name = region_name


def _encode_binary(value: object) -> object:
    # json calls this only for types it cannot serialise; in a well-formed request those are
    # the bytes of B and BS values (sent as base64), and sets, which botocore also accepts.
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to DynamoDB")


def _decode_binary(obj: dict[str, Any]) -> dict[str, Any]:
    # An attribute value is a one-key object; B and BS arrive as base64 text. A one-key
    # object named "B" holding a string occurs nowhere else in DynamoDB's responses.
    # Called for every object of the response: the common case is one failed lookup.
    if "B" in obj:
        value = obj["B"]
        if type(value) is str and len(obj) == 1:
            return {"B": _b64decode(value)}
    elif "BS" in obj:
        values = obj["BS"]
        if (
            type(values) is list
            and len(obj) == 1
            and all(type(v) is str for v in values)
        ):
            return {"BS": [_b64decode(v) for v in values]}
    return obj


# Built once: json.loads() with keyword arguments builds a new decoder on every call.
_DECODER = json.JSONDecoder()
_BINARY_DECODER = json.JSONDecoder(object_hook=_decode_binary)
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_encode_binary)
# Where binary values can be in these responses: item attributes only. Walking just those
# costs a fraction of the object hook, which Python calls for every object of the response.
_ITEM_RESPONSES = frozenset(("GetItem", "Query", "Scan"))


def _loads(data: bytes, operation: str = "") -> Any:
    text = data.decode("utf-8")
    if '"B"' not in text and '"BS"' not in text:
        return _DECODER.decode(text)
    if operation in _ITEM_RESPONSES:
        result = _DECODER.decode(text)
        try:
            for item in result.get("Items", ()):
                _decode_attributes(item.values())
            for name in ("Item", "LastEvaluatedKey"):
                if name in result:
                    _decode_attributes(result[name].values())
        except (AttributeError, TypeError):
            pass  # not DynamoDB's shape: decoded the long way below
        else:
            return result
    return _BINARY_DECODER.decode(text)


def _decode_attributes(values: Iterable[dict[str, Any]]) -> None:
    """Base64 B and BS values (at any depth) among attribute ``values`` to bytes, in place."""
    for value in values:
        if "S" in value or "N" in value:
            continue
        if "B" in value:
            if type(value["B"]) is str:
                value["B"] = _b64decode(value["B"])
        elif "M" in value:
            _decode_attributes(value["M"].values())
        elif "L" in value:
            _decode_attributes(value["L"])
        elif "BS" in value:
            value["BS"] = [_b64decode(v) if type(v) is str else v for v in value["BS"]]


def _env_credentials() -> Credentials | None:
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access_key and secret_key:
        return Credentials(
            access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN") or None
        )
    return None


def _botocore_credentials(profile: str | None) -> Callable[[], Credentials]:
    """botocore's credential chain (profiles, SSO, container and instance metadata).

    Imported here, never at module import: on Lambda the environment has the credentials.
    """
    try:
        import botocore.session
    except ImportError:
        raise ConfigurationError(
            "no credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and botocore is not"
            " installed to look further"
        ) from None
    try:
        found = botocore.session.Session(profile=profile).get_credentials()
    except (
        Exception
    ) as exc:  # botocore's own errors (ProfileNotFound, ...) carry no secrets
        raise ConfigurationError(
            f"cannot load AWS credentials: {type(exc).__name__}"
        ) from None
    if found is None:
        raise ConfigurationError("cannot load AWS credentials: NoCredentialsError")

    def current() -> Credentials:
        # Refreshable credentials renew themselves here shortly before they expire.
        frozen = found.get_frozen_credentials()
        return Credentials(
            frozen.access_key or "", frozen.secret_key or "", frozen.token or None
        )

    return current


def _host_header(hostname: str, port: int | None, scheme: str) -> str:
    host = f"[{hostname}]" if ":" in hostname else hostname
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return host


def _is_dropped(conn: HTTPConnection) -> bool:
    """An idle connection with something to read was closed (or broken) by the server."""
    return conn.is_dropped()


class _TableWaiter:
    """botocore's ``table_exists``/``table_not_exists`` waiters, over DescribeTable."""

    def __init__(self, client: FastClient, exists: bool) -> None:
        self._client = client
        self._exists = exists

    def wait(
        self, *, TableName: str, WaiterConfig: Mapping[str, float] | None = None
    ) -> None:
        config = WaiterConfig or {}
        delay = float(config.get("Delay", 20))
        attempts = int(config.get("MaxAttempts", 25))
        for attempt in range(attempts):
            try:
                table = self._client.describe_table(TableName=TableName)["Table"]
                if self._exists and table.get("TableStatus") == "ACTIVE":
                    return
            except FastClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                if not self._exists:
                    return
            if attempt + 1 < attempts:
                time.sleep(delay)
        state = "exists" if self._exists else "not_exists"
        raise FastClientError(
            "DescribeTable",
            {
                "Error": {
                    "Code": "WaiterError",
                    "Message": f"table_{state} gave up after {attempts} attempts",
                },
                "ResponseMetadata": {},
            },
        )


class FastClient:
    """A DynamoDB client over a lean HTTP/1.1 exchange (``http.py``) with botocore's interface.

    Connections are opened on first use and kept alive; idle ones are kept for the next call
    (one in a single-threaded Lambda, more only if threads overlap). Safe to share between
    threads: each request holds a connection of its own while it runs.
    """

    def __init__(
        self,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: CredentialsSource | None = None,
        *,
        profile: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        max_retries: int = 3,
        backoff_base: float = 0.05,
        backoff_cap: float = 20.0,
        max_idle_connections: int = MAX_IDLE_CONNECTIONS,
    ) -> None:
        region = (
            region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
        )
        if not region:
            raise ConfigurationError(
                "cannot create a DynamoDB client: NoRegionError"
                " (set AWS_REGION or AWS_DEFAULT_REGION, or pass Connection(region=...))"
            )
        if endpoint_url is None:
            # AWS's own endpoint is known without parsing a URL (urllib.parse costs a Lambda
            # ~3 ms to import); the region goes into the host name, so it must be one.
            if not region.replace("-", "").isalnum() or not region.isascii():
                raise ConfigurationError(f"invalid AWS region {region!r}")
            suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
            hostname = f"dynamodb.{region}.{suffix}"
            endpoint = f"https://{hostname}"
            self._https, self._address = True, (hostname, 443)
            self._host, self._path = hostname, "/"
        else:
            from urllib.parse import quote, urlsplit

            endpoint = endpoint_url
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(f"invalid DynamoDB endpoint URL {endpoint!r}")
            self._https = parts.scheme == "https"
            self._address = (parts.hostname, parts.port or (443 if self._https else 80))
            self._host = _host_header(parts.hostname, parts.port, parts.scheme)
            self._path = quote(parts.path or "/", safe="/~")
        self.meta = _Meta(endpoint, region)
        self._region = region
        self._profile = profile
        self._credentials_source = credentials
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_idle = max_idle_connections
        self._idle: list[HTTPConnection] = []
        self._ssl_context: ssl.SSLContext | None = None

    # --- credentials --------------------------------------------------------------------------

    def _credentials(self) -> Credentials:
        source = self._credentials_source
        if source is None:
            # Resolved on the first request, so that creating a client never fails or
            # imports botocore; an explicit profile wins over the environment, as in botocore.
            env = None if self._profile else _env_credentials()
            source = env or _botocore_credentials(self._profile)
            self._credentials_source = source
        return source if isinstance(source, Credentials) else source()

    # --- connections --------------------------------------------------------------------------

    def _new_connection(self) -> HTTPConnection:
        host, port = self._address
        context = None
        if self._https:
            context = self._ssl_context
            if context is None:
                context = self._ssl_context = ssl.create_default_context()
        return HTTPConnection(
            host,
            port,
            context=context,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
        )

    def _take_connection(self) -> tuple[HTTPConnection, bool]:
        """An idle connection that still looks open (and True), else a new one (and False)."""
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if conn.sock is not None and not _is_dropped(conn):
                return conn, True
            conn.close()
        return self._new_connection(), False

    def _release(self, conn: HTTPConnection) -> None:
        if conn.sock is not None and len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()

    def prewarm(self) -> None:
        """Open a connection now (TCP and TLS handshakes) and keep it for the first request,
        so that a Lambda pays for the handshakes in its init phase, not in an invocation."""
        conn, _ = self._take_connection()
        if conn.sock is None:
            try:
                conn.connect()
            except OSError:
                conn.close()
                return  # the first request connects (and reports) as usual
        self._release(conn)

    def close(self) -> None:
        """Close idle connections (the client stays usable and reconnects when needed)."""
        while self._idle:
            try:
                self._idle.pop().close()
            except IndexError:
                break

    def prepare(self, operation: str, request: Mapping[str, Any]) -> bytes:
        """The HTTP request ``call`` would send first for ``operation``: the JSON body of
        ``request`` (botocore's parameters), signed now, as bytes. Nothing is sent; for
        benchmarks and debugging (the bytes hold the request's values and a signature)."""
        return self._signed_request(operation, _ENCODER.encode(request).encode())

    def _signed_request(self, operation: str, body: bytes) -> bytes:
        """The request's bytes, ``body`` signed with the current credentials and time."""
        signed = dynamodb_headers(
            operation=operation,
            host=self._host,
            body=body,
            credentials=self._credentials(),
            region=self._region,
            amz_date=_amz_date(),
            path=self._path,
        )
        headers = [
            ("Host", self._host),
            ("Content-Type", CONTENT_TYPE),
            ("Content-Length", str(len(body))),
            ("X-Amz-Target", signed["X-Amz-Target"]),
            ("X-Amz-Date", signed["X-Amz-Date"]),
        ]
        token = signed.get("X-Amz-Security-Token")
        if token is not None:
            headers.append(("X-Amz-Security-Token", token))
        headers += (
            ("Authorization", signed["Authorization"]),
            ("Connection", "keep-alive"),
            ("Accept-Encoding", "identity"),
        )
        return build_request("POST", self._path, headers, body)

    def _send(
        self, conn: HTTPConnection, operation: str, body: bytes, cap: float | None
    ) -> tuple[int, dict[str, str], bytes]:
        """One exchange on ``conn``; raises ``_NotSent`` or ``RemoteDisconnected`` if unsent."""
        # Signed per attempt (the date is part of the signature), before connecting, so that
        # a credentials error leaves no connection behind.
        request = self._signed_request(operation, body)
        try:
            # Connects first if needed: the TCP and TLS handshakes under the connect timeout.
            conn.send(request, cap)
        except TimeoutError:
            conn.close()
            raise _NotSent("ConnectTimeoutError") from None
        except OSError:
            conn.close()
            raise _NotSent("EndpointConnectionError") from None
        try:
            status, headers_in, data, will_close = conn.read_response()
        except BaseException:
            conn.close()
            raise
        if will_close:
            conn.close()
        else:
            self._release(conn)
        return status, headers_in, data

    def _exchange(
        self, operation: str, body: bytes, cap: float | None
    ) -> tuple[int, dict[str, str], bytes]:
        conn, reused = self._take_connection()
        try:
            return self._send(conn, operation, body, cap)
        except (_NotSent, RemoteDisconnected):
            if not reused:
                raise
        # A kept-alive connection the server had closed: the request never reached it, so
        # send it again at once on a new connection, without using up a retry.
        return self._send(self._new_connection(), operation, body, cap)

    # --- calls --------------------------------------------------------------------------------

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``request`` (botocore's parameters for ``operation``); return the response."""
        body = _ENCODER.encode(request).encode()
        attempt = 0
        deadline = current_deadline()
        error: dict[str, Any] = {}  # the last attempt's
        # The last error of an attempt that reached the server: when time runs out, this
        # one is reported, so that a write that may have applied never looks unsent.
        reached: dict[str, Any] | None = None
        while True:
            cap = None
            if deadline is not None:
                # Every wait of the exchange ends by the deadline (see deadline.py).
                cap = deadline.remaining()
                if cap <= 0 and attempt:
                    # A pause ran late: report what the attempts got, not a deadline that
                    # would say nothing was sent.
                    raise FastClientError(operation, reached or error)
                if cap <= 0:
                    raise FastClientError(
                        operation,
                        _error("DeadlineExceeded", "no time left", None, {}, attempt),
                    )
            try:
                status, headers, data = self._exchange(operation, body, cap)
            except _NotSent as exc:
                error = _error(
                    exc.code, "could not send the request", None, {}, attempt
                )
            except TimeoutError:
                error = _error(
                    "ReadTimeoutError", "no response in time", None, {}, attempt
                )
            except ProtocolError as exc:
                # A malformed response: the request may have been processed, so no retry.
                error = _error("ProtocolError", str(exc), None, {}, attempt)
                raise FastClientError(operation, error) from None
            except OSError as exc:
                # The request may have been processed; repeating a write is not safe.
                error = _error(
                    "ConnectionClosedError", type(exc).__name__, None, {}, attempt
                )
                raise FastClientError(operation, error) from None
            else:
                crc = headers.get("x-amz-crc32")
                if crc is not None and not _crc_matches(crc, data):
                    error = _error(
                        "CRC32CheckFailed",
                        "response checksum mismatch",
                        status,
                        headers,
                        attempt,
                    )
                elif status < 300:
                    return _success(operation, status, headers, data, attempt)
                else:
                    error = _error_from_body(status, headers, data, attempt)
            if error["Error"]["Code"] not in _UNSENT_CODES:
                reached = error
            code = error["Error"]["Code"]
            status_code = error["ResponseMetadata"].get("HTTPStatusCode")
            retryable = code in RETRYABLE_CODES or status_code in RETRYABLE_STATUS
            if not retryable or attempt >= self._max_retries:
                raise FastClientError(operation, error)
            # Full jitter: spreads the retries of many clients throttled at the same moment.
            pause = _jitter() * min(self._backoff_cap, self._backoff_base * 2**attempt)
            if deadline is not None and deadline.remaining() <= pause:
                # No time to wait and try again.
                raise FastClientError(operation, reached or error)
            _sleep(pause)
            attempt += 1

    def get_waiter(self, name: str) -> _TableWaiter:
        if name not in ("table_exists", "table_not_exists"):
            raise ValueError(f"the fast transport has no waiter {name!r}")
        return _TableWaiter(self, name == "table_exists")

    def put_item(self, **request: Any) -> dict[str, Any]:
        return self.call("PutItem", request)

    def get_item(self, **request: Any) -> dict[str, Any]:
        return self.call("GetItem", request)

    def delete_item(self, **request: Any) -> dict[str, Any]:
        return self.call("DeleteItem", request)

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self.call("UpdateItem", request)

    def query(self, **request: Any) -> dict[str, Any]:
        return self.call("Query", request)

    def scan(self, **request: Any) -> dict[str, Any]:
        return self.call("Scan", request)

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        return self.call("BatchGetItem", request)

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        return self.call("BatchWriteItem", request)

    def transact_get_items(self, **request: Any) -> dict[str, Any]:
        return self.call("TransactGetItems", request)

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        return self.call("TransactWriteItems", request)

    def create_table(self, **request: Any) -> dict[str, Any]:
        return self.call("CreateTable", request)

    def delete_table(self, **request: Any) -> dict[str, Any]:
        return self.call("DeleteTable", request)

    def describe_table(self, **request: Any) -> dict[str, Any]:
        return self.call("DescribeTable", request)

    def list_tables(self, **request: Any) -> dict[str, Any]:
        return self.call("ListTables", request)

    def update_time_to_live(self, **request: Any) -> dict[str, Any]:
        return self.call("UpdateTimeToLive", request)

    def describe_time_to_live(self, **request: Any) -> dict[str, Any]:
        return self.call("DescribeTimeToLive", request)


def _crc_matches(header: str, data: bytes) -> bool:
    try:
        return int(header) == zlib.crc32(data)
    except ValueError:
        return False


def _metadata(
    status: int | None, headers: dict[str, str], attempt: int
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"RetryAttempts": attempt}
    if status is not None:
        metadata["HTTPStatusCode"] = status
        metadata["HTTPHeaders"] = headers
        metadata["RequestId"] = headers.get("x-amzn-requestid", "")
    return metadata


def _success(
    operation: str, status: int, headers: dict[str, str], data: bytes, attempt: int
) -> dict[str, Any]:
    try:
        result = _loads(data, operation) if data else {}
    except ValueError:
        result = None
    if not isinstance(result, dict):
        error = _error(
            "ResponseParserError",
            "response is not a JSON object",
            status,
            headers,
            attempt,
        )
        raise FastClientError(operation, error)
    result["ResponseMetadata"] = _metadata(status, headers, attempt)
    return result


def _error(
    code: str, message: str, status: int | None, headers: dict[str, str], attempt: int
) -> dict[str, Any]:
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": _metadata(status, headers, attempt),
    }


def _error_from_body(
    status: int, headers: dict[str, str], data: bytes, attempt: int
) -> dict[str, Any]:
    """The error of a 4xx/5xx response; the code is the part of ``__type`` after ``#``."""
    try:
        body = _loads(data) if data else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("__type") or body.get("code") or "").rpartition("#")[2]
    message = body.get("message") or body.get("Message") or ""
    if not code:
        # Not DynamoDB's JSON (a proxy or load balancer answered): botocore uses the status.
        code = str(status)
        message = message or _reason(status)
    error = _error(code, str(message), status, headers, attempt)
    for extra in ("CancellationReasons", "Item"):
        if extra in body:
            error[extra] = body[extra]
    return error


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


_last_second = -1
_last_amz_date = ""


def _amz_date() -> str:
    """X-Amz-Date for now, formatted at most once per second (requests come far faster)."""
    global _last_second, _last_amz_date
    now = int(time.time())
    if now != _last_second:
        _last_amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        _last_second = now
    return _last_amz_date
