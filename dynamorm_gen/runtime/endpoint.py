"""One AWS service endpoint over kept-alive standard-library connections.

What the fast transport (DynamoDB's JSON protocol, ``fast.py``) and the STS transport (the
query protocol, ``sts.py``) share, so that both go through the same connections code, signer
credentials and failure translation: where the endpoint is (region, URL, Host header), the
credentials that sign for it, a pool of idle connections, and ``_roundtrip``, one HTTP
exchange of prebuilt request bytes whose failures become an ``ExchangeError`` saying whether
the request may have reached the server:

- an idle kept-alive connection that the server closed (or that holds stray bytes) is found
  before anything is written to it, and replaced; the request is then sent on a new one;
- a failure while connecting means the request was not sent;
- from the first byte written on, a failure means it may have been received.

botocore is imported only when the environment holds no credentials and its credential
chain must be asked.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Mapping

from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.http import (
    BrokenBody,
    HTTPConnection,
    ProtocolError,
    RemoteDisconnected,
    build_request,
)
from dynamorm_gen.runtime.sigv4 import Credentials, sign
from dynamorm_gen.runtime.transport import (
    CONNECT_TIMEOUT,
    CONNECTION_CLOSED,
    ENDPOINT_CONNECTION_ERROR,
    READ_TIMEOUT,
    RESPONSE_INCOMPLETE,
    RESPONSE_MALFORMED,
    ExchangeError,
)

CredentialsSource = Credentials | Callable[[], Credentials]
MAX_IDLE_CONNECTIONS = 16
# What error messages call each service.
_LABELS = {"dynamodb": "DynamoDB", "sts": "STS", "kms": "KMS"}


def env_credentials() -> Credentials | None:
    """The credentials in ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (and
    ``AWS_SESSION_TOKEN``), as Lambda provides them; None when they are not set."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access_key and secret_key:
        return Credentials(
            access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN") or None
        )
    return None


def botocore_credentials(profile: str | None) -> Callable[[], Credentials]:
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


def host_header(hostname: str, port: int | None, scheme: str) -> str:
    """The Host header's value: IPv6 addresses bracketed, the default port left out."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return host


def _is_dropped(conn: HTTPConnection) -> bool:
    """An idle connection with something to read was closed (or broken) by the server."""
    return conn.is_dropped()


class Endpoint:
    """The endpoint of ``service`` (``"dynamodb"``, ``"sts"``) in ``region``, or at
    ``endpoint_url``, with the credentials that sign for it and its idle connections.

    Subclasses speak a protocol: they build and sign the request's bytes, hand them to
    ``_roundtrip`` and parse what comes back. Connections are opened on first use and kept
    alive; idle ones are kept for the next call (one in a single-threaded Lambda, more only if
    threads overlap). Safe to share between threads: each exchange holds a connection of its
    own while it runs.
    """

    service = "dynamodb"
    # Idle connections kept when ``max_idle_connections`` is not given: services called a
    # few times an hour (STS, KMS) keep fewer.
    idle_connections = MAX_IDLE_CONNECTIONS

    def __init__(
        self,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: CredentialsSource | None = None,
        *,
        profile: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        max_idle_connections: int | None = None,
    ) -> None:
        label = _LABELS.get(self.service, self.service)
        region = (
            region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
        )
        if not region:
            raise ConfigurationError(
                f"cannot create a {label} client: NoRegionError"
                " (set AWS_REGION or AWS_DEFAULT_REGION, or pass Connection(region=...))"
            )
        if endpoint_url is None:
            # AWS's own endpoint is known without parsing a URL (urllib.parse costs a Lambda
            # ~3 ms to import); the region goes into the host name, so it must be one.
            if not region.replace("-", "").isalnum() or not region.isascii():
                raise ConfigurationError(f"invalid AWS region {region!r}")
            suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
            hostname = f"{self.service}.{region}.{suffix}"
            endpoint = f"https://{hostname}"
            self._https, self._address = True, (hostname, 443)
            self._host, self._path = hostname, "/"
        else:
            from urllib.parse import quote, urlsplit

            endpoint = endpoint_url
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(f"invalid {label} endpoint URL {endpoint!r}")
            self._https = parts.scheme == "https"
            self._address = (parts.hostname, parts.port or (443 if self._https else 80))
            self._host = host_header(parts.hostname, parts.port, parts.scheme)
            self._path = quote(parts.path or "/", safe="/~")
        self.endpoint_url = endpoint
        self.region = region
        self._profile = profile
        self._credentials_source = credentials
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle_connections = (
            self.idle_connections
            if max_idle_connections is None
            else max_idle_connections
        )
        self._idle: list[HTTPConnection] = []
        self._ssl_context: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_url}, {self.region})"

    # --- credentials --------------------------------------------------------------------------

    def _credentials(self) -> Credentials:
        source = self._credentials_source
        if source is None:
            # Resolved on the first request, so that creating a client never fails or
            # imports botocore; an explicit profile wins over the environment, as in botocore.
            env = None if self._profile else env_credentials()
            source = env or botocore_credentials(self._profile)
            self._credentials_source = source
        return source if isinstance(source, Credentials) else source()

    def beside(self, service: str, endpoint_url: str | None) -> Endpoint:
        """The endpoint of another service (``"kms"``, for encrypted attributes) in this
        region, signing with these credentials, on these timeouts; at ``endpoint_url``
        (None: AWS's)."""
        if service != "kms":
            raise ConfigurationError(f"the fast transport does not speak {service}")
        from dynamorm_gen.runtime.kms import KmsTransport

        return KmsTransport(
            self.region,
            endpoint_url,
            self._credentials_source,
            profile=self._profile,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def _signed_post(self, headers: Mapping[str, str], body: bytes) -> bytes:
        """A POST of ``body`` with ``headers`` to this endpoint, signed for this service
        (SigV4, ``sigv4.sign``) with the current credentials and time, as bytes. The fast
        DynamoDB transport signs its few headers itself (``sigv4.dynamodb_headers``)."""
        signed = sign(
            method="POST",
            host=self._host,
            path=self._path,
            headers=headers,
            body=body,
            credentials=self._credentials(),
            region=self.region,
            service=self.service,
            amz_date=amz_date(),
        )
        lines = [
            ("Host", self._host),
            *headers.items(),
            ("Content-Length", str(len(body))),
            *signed.items(),
            ("Connection", "keep-alive"),
            ("Accept-Encoding", "identity"),
        ]
        return build_request("POST", self._path, lines, body)

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
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def _take_connection(self) -> HTTPConnection:
        """An idle connection that still looks open, else a new (unconnected) one.

        An idle connection the server has closed has its end-of-file waiting: it is found
        here, before any byte of the request is written, so the request is certainly not
        lost on it.
        """
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if conn.sock is not None and not _is_dropped(conn):
                return conn
            conn.close()
        return self._new_connection()

    def _release(self, conn: HTTPConnection) -> None:
        if conn.sock is not None and len(self._idle) < self.max_idle_connections:
            self._idle.append(conn)
        else:
            conn.close()

    def prewarm(self) -> None:
        """Open a connection now (TCP and TLS handshakes) and keep it for the first request,
        so that a Lambda pays for the handshakes in its init phase, not in an invocation."""
        conn = self._take_connection()
        if conn.sock is None:
            try:
                conn.connect()
            except OSError:
                conn.close()
                return  # the first request connects (and reports) as usual
        self._release(conn)

    def close(self) -> None:
        """Close idle connections (the endpoint stays usable and reconnects when needed)."""
        while self._idle:
            try:
                self._idle.pop().close()
            except IndexError:
                break

    # --- one exchange -------------------------------------------------------------------------

    def _roundtrip(
        self, request: bytes, timeout: float | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """Send ``request`` (signed bytes) once; the status, headers (lower-case names) and
        body of the response, or ExchangeError. ``timeout`` (seconds, from a deadline) bounds
        connecting, sending and reading the whole response, each also bounded by the
        connect and read timeouts."""
        conn = self._take_connection()
        if conn.sock is None:
            try:
                conn.connect(timeout)
            except TimeoutError:
                conn.close()
                raise ExchangeError(CONNECT_TIMEOUT, sent=False) from None
            except OSError:
                conn.close()
                raise ExchangeError(ENDPOINT_CONNECTION_ERROR, sent=False) from None
        try:
            conn.send(request, timeout)
            status, headers, data, will_close = conn.read_response()
        except BrokenBody as exc:
            conn.close()
            code = READ_TIMEOUT if exc.timed_out else RESPONSE_INCOMPLETE
            raise ExchangeError(code, sent=True, status=exc.status) from None
        except TimeoutError:
            conn.close()
            raise ExchangeError(READ_TIMEOUT, sent=True) from None
        except (OSError, RemoteDisconnected):
            conn.close()
            raise ExchangeError(CONNECTION_CLOSED, sent=True) from None
        except ProtocolError:
            conn.close()
            raise ExchangeError(RESPONSE_MALFORMED, sent=True) from None
        except BaseException:
            conn.close()
            raise
        if will_close:
            conn.close()
        else:
            self._release(conn)
        return status, headers, data


_last_second = -1
_last_amz_date = ""


def amz_date() -> str:
    """X-Amz-Date for now, formatted at most once per second (requests come far faster)."""
    global _last_second, _last_amz_date
    now = int(time.time())
    if now != _last_second:
        _last_amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        _last_second = now
    return _last_amz_date
