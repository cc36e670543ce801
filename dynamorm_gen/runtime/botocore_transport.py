"""The botocore transport: one exchange per call through a botocore DynamoDB (or KMS) client.

botocore is imported only here, and this module only when the first botocore client is made.
The client's own retries are off (one attempt in all), so that ``retry.py`` decides about
resending for both transports alike. Each exception botocore raises is translated once into
an ``ExchangeError`` that says whether the request may have reached the server.

botocore does not check a response's integrity once its own retries are off (the CRC32
check lives in its retry handler), and it reads bodies without enforcing Content-Length and
parses a body that is not JSON as an error message: a cut-short 2xx body would read as an
empty GetItem or Query. A ``before-parse`` handler checks every response first: the length
against Content-Length, the CRC32, and that a 2xx body is a JSON object.

Partners' credentials on this transport are botocore's own refreshable credentials
(``assume_role_credentials``: ``AssumeRoleCredentialFetcher`` inside
``DeferredRefreshableCredentials``), so botocore assumes the role, refreshes it ahead of expiry
and keeps one refresh at a time; only its failures are translated, into the same typed errors
as the fast transport's (``sts.error_for_code``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.transport import (
    CHECKSUM_MISMATCH,
    CONNECT_TIMEOUT,
    CONNECTION_CLOSED,
    ENDPOINT_CONNECTION_ERROR,
    READ_TIMEOUT,
    RESPONSE_INCOMPLETE,
    RESPONSE_MALFORMED,
    ExchangeError,
)

if TYPE_CHECKING:
    from dynamorm_gen.runtime.partners import Partner

# botocore's method for each operation the runtime sends.
_METHODS = {
    "PutItem": "put_item",
    "GetItem": "get_item",
    "DeleteItem": "delete_item",
    "UpdateItem": "update_item",
    "Query": "query",
    "Scan": "scan",
    "BatchGetItem": "batch_get_item",
    "BatchWriteItem": "batch_write_item",
    "TransactGetItems": "transact_get_items",
    "TransactWriteItems": "transact_write_items",
    "CreateTable": "create_table",
    "DeleteTable": "delete_table",
    "DescribeTable": "describe_table",
    "ListTables": "list_tables",
    "UpdateTimeToLive": "update_time_to_live",
    "DescribeTimeToLive": "describe_time_to_live",
    # KMS, for encrypted attributes (kms.py)
    "GenerateDataKey": "generate_data_key",
    "Decrypt": "decrypt",
}

# Raised before anything was sent: the endpoint could not be reached.
_UNSENT = {
    "EndpointConnectionError": ENDPOINT_CONNECTION_ERROR,
    "ConnectTimeoutError": CONNECT_TIMEOUT,
    "ProxyConnectionError": ENDPOINT_CONNECTION_ERROR,
}
# Raised once the request may have been written.
_SENT = {
    "ReadTimeoutError": READ_TIMEOUT,
    "ConnectionClosedError": CONNECTION_CLOSED,
}
# The request could not be made at all: configuration, not the network.
_CONFIGURATION = frozenset(
    (
        "NoCredentialsError",
        "PartialCredentialsError",
        "NoRegionError",
        "UnknownServiceError",
        "ProfileNotFound",
        "InvalidRegionError",
    )
)


class _BrokenResponse(Exception):
    """Raised by the before-parse check; translated into an ExchangeError below."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


def check_response(response_dict: Mapping[str, Any], **_: Any) -> None:
    """botocore's ``before-parse`` event: refuse a response that did not arrive whole."""
    status = int(response_dict.get("status_code") or 0)
    body = response_dict.get("body") or b""
    headers = response_dict.get("headers") or {}
    if not isinstance(body, bytes | bytearray):
        return  # a streaming body: DynamoDB has none
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) != len(body):
        raise _BrokenResponse(RESPONSE_INCOMPLETE, status)
    crc = headers.get("x-amz-crc32")
    if crc is not None and (not crc.isdigit() or int(crc) != zlib.crc32(body)):
        raise _BrokenResponse(CHECKSUM_MISMATCH, status)
    if 200 <= status < 300 and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            raise _BrokenResponse(RESPONSE_MALFORMED, status) from None
        if not isinstance(parsed, dict):
            raise _BrokenResponse(RESPONSE_MALFORMED, status)


def make_client(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    *,
    credentials: Any = None,
    connect_timeout: float,
    read_timeout: float,
    max_pool_connections: int,
    service: str = "dynamodb",
) -> Any:
    """A botocore client of ``service`` (DynamoDB, or KMS for encrypted attributes) with one
    attempt per call and the response check on. ``credentials``: a ``Credentials`` value,
    or botocore credentials (refreshable ones, from ``assume_role_credentials``, refresh
    themselves)."""
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        # Generated code builds well-formed requests; validating them again costs ~10-20% CPU.
        parameter_validation=False,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # One attempt in all: resending is retry.py's decision, the same for both transports.
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    try:
        session = botocore.session.Session(profile=profile)
        if hasattr(credentials, "get_frozen_credentials"):
            _use_credentials(session, credentials)
        elif credentials is not None:
            session.set_credentials(
                credentials.access_key, credentials.secret_key, credentials.token
            )
        return session.create_client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        )
    except BotoCoreError as exc:
        label = "KMS" if service == "kms" else "DynamoDB"
        raise ConfigurationError(
            f"cannot create a {label} client: {type(exc).__name__}"
            " (set AWS_DEFAULT_REGION, or pass Connection(region=...))"
        ) from None


def _use_credentials(session: Any, credentials: Any) -> None:
    """Make ``session`` sign with ``credentials``, a botocore credentials object: through
    the session's public credential-provider component, as boto3's own providers do."""
    from botocore.credentials import CredentialProvider, CredentialResolver

    class Given(CredentialProvider):  # type: ignore[misc]
        METHOD = "assume-role"

        def load(self) -> Any:
            return credentials

    session.register_component("credential_provider", CredentialResolver([Given()]))


class _NoCache(dict[str, Any]):
    """The fetcher's cache, kept empty: ``DeferredRefreshableCredentials`` alone decides
    when to refresh (the fetcher's own cache would judge expiry by the real clock, with its
    own window)."""

    def __setitem__(self, key: str, value: Any) -> None:
        pass


def assume_role_credentials(
    partner: Partner,
    *,
    region: str | None,
    sts_endpoint_url: str | None,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    clock: Callable[[], float] | None = None,
) -> Any:
    """botocore's refreshable credentials for ``partner``'s role: assumed at the first
    request that needs them, refreshed in botocore's advisory and mandatory windows
    (``role_credentials.refresh_windows``), one refresh at a time. The STS client calls from
    ``region`` (or ``sts_endpoint_url``) with the partner's source credentials (a
    ``Credentials`` value), else the environment's, else botocore's chain. ``clock``
    (seconds since the epoch) replaces botocore's clock, for tests."""
    import functools
    from datetime import UTC, datetime

    import botocore.session
    from botocore.config import Config
    from botocore.credentials import (
        AssumeRoleCredentialFetcher,
        DeferredRefreshableCredentials,
    )
    from botocore.exceptions import BotoCoreError, ClientError

    from dynamorm_gen.runtime.role_credentials import refresh_windows
    from dynamorm_gen.runtime.sts import error_for_code

    source = partner.source_credentials
    if source is not None and callable(source):
        raise ConfigurationError(
            f"partner {partner.id!r}: refreshing source credentials need the fast"
            " transport; give the botocore transport a Credentials value"
        )
    session = botocore.session.Session()
    if source is not None:
        session.set_credentials(source.access_key, source.secret_key, source.token)
    try:
        found = session.get_credentials()
    except Exception as exc:  # botocore's own errors carry no secrets
        raise ConfigurationError(
            f"cannot load AWS credentials to assume partner {partner.id!r}'s role:"
            f" {type(exc).__name__}"
        ) from None
    if found is None:
        raise ConfigurationError(
            f"cannot load AWS credentials to assume partner {partner.id!r}'s role:"
            " NoCredentialsError"
        )
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # AssumeRole only issues credentials: botocore may resend it as it likes.
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    create_sts = functools.partial(
        session.create_client,
        region_name=partner.region or region,
        endpoint_url=sts_endpoint_url,
        config=config,
    )
    extra: dict[str, Any] = {
        "RoleSessionName": partner.session_name,
        "DurationSeconds": partner.duration_seconds,
    }
    if partner.external_id is not None:
        extra["ExternalId"] = partner.external_id
    fetcher = AssumeRoleCredentialFetcher(
        create_sts, found, partner.role_arn, extra_args=extra, cache=_NoCache()
    )

    def refresh() -> Any:
        failure: Exception
        try:
            return fetcher.fetch_credentials()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            failure = error_for_code(
                partner.id,
                str(error.get("Code") or "Unknown"),
                str(error.get("Message", "")),
            )
        except BotoCoreError as exc:
            failure = error_for_code(partner.id, type(exc).__name__)
        raise failure

    options: dict[str, Any] = {}
    if clock is not None:
        options["time_fetcher"] = lambda: datetime.fromtimestamp(clock(), UTC)
    credentials = DeferredRefreshableCredentials(refresh, "assume-role", **options)
    # botocore's windows are class attributes (15 and 10 minutes): shortened for this
    # partner's sessions when they are under 30 minutes, as on the fast transport.
    advisory, mandatory = refresh_windows(partner.duration_seconds)
    credentials._advisory_refresh_timeout = advisory
    credentials._mandatory_refresh_timeout = mandatory
    return credentials


def _single_attempt(client: Any) -> bool:
    retries = getattr(client.meta.config, "retries", None) or {}
    if "total_max_attempts" in retries:
        return bool(retries["total_max_attempts"] == 1)
    return retries.get("max_attempts") == 0  # legacy form: retries after the first


class BotocoreTransport:
    """A botocore client as a transport: one exchange per call. ``settings`` are the
    arguments of ``make_client`` that made it (None for a client made elsewhere): with them
    ``beside`` makes another service's client signing with the same credentials."""

    def __init__(self, client: Any, settings: dict[str, Any] | None = None) -> None:
        if not _single_attempt(client):
            raise ConfigurationError(
                "a botocore client given to dynamorm-gen must make one attempt per call, so"
                " that only the runtime resends (it knows which writes are safe to resend):"
                " create it with Config(retries={'total_max_attempts': 1}), or let"
                " Connection(...) create it"
            )
        self.client = client
        self.settings = settings
        self.endpoint_url: str = client.meta.endpoint_url
        self.region: str = client.meta.region_name
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-parse.{service}", check_response)

    def __repr__(self) -> str:
        return f"BotocoreTransport({self.endpoint_url}, {self.region})"

    def exchange(
        self,
        operation: str,
        params: Mapping[str, Any],
        body: bytes,
        timeout: float | None,
    ) -> dict[str, Any]:
        """Call botocore once. ``body`` is not used (botocore serialises ``params``) and
        ``timeout`` cannot bound its socket waits: its connect and read timeouts do."""
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self.client, _METHODS[operation])
        # Errors are made outside the except blocks: an error raised inside one keeps the
        # botocore exception as its context, and with it the response and its socket.
        failure: ExchangeError | ConfigurationError
        try:
            response: dict[str, Any] = method(**params)
        except ClientError as exc:
            failure = _service_error(exc.response)
        except _BrokenResponse as exc:
            failure = ExchangeError(exc.code, sent=True, status=exc.status)
        except BotoCoreError as exc:
            failure = _translated(type(exc).__name__)
        else:
            return response
        raise failure

    def beside(self, service: str, endpoint_url: str | None) -> BotocoreTransport:
        """A botocore client of ``service`` (``"kms"``) in this client's region, with its
        credentials and timeouts, at ``endpoint_url`` (None: AWS's)."""
        if self.settings is None:
            raise ConfigurationError(
                f"cannot make a {service} client beside a botocore client made elsewhere:"
                " pass Connection(kms=...) a KMS client or a key service"
            )
        settings = {**self.settings, "endpoint_url": endpoint_url}
        return BotocoreTransport(make_client(service=service, **settings), settings)

    def prewarm(self) -> None:
        """Nothing to open ahead: botocore connects on the first request."""

    def close(self) -> None:
        self.client.close()


def _translated(name: str) -> ExchangeError | ConfigurationError:
    """The failure for a botocore exception other than a service error, by class name."""
    if name in _CONFIGURATION:
        return ConfigurationError(
            f"cannot send the request: {name} (set AWS credentials and AWS_DEFAULT_REGION,"
            " or pass them to Connection)"
        )
    if name in _UNSENT:
        return ExchangeError(_UNSENT[name], sent=False)
    # Anything else happened on the way out or back: it may have been received.
    return ExchangeError(_SENT.get(name, CONNECTION_CLOSED), sent=True)


def _service_error(response: Mapping[str, Any]) -> ExchangeError:
    error = response.get("Error", {})
    metadata = response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode")
    reasons = response.get("CancellationReasons")
    item = response.get("Item")
    return ExchangeError(
        str(error.get("Code") or status or "Unknown"),
        sent=True,
        status=int(status) if status else None,
        server_message=str(error.get("Message", "")),
        item=item if isinstance(item, dict) else None,
        reasons=reasons if isinstance(reasons, list) else None,
    )
