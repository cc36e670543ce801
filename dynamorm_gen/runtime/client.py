"""Clients: a transport and the retry policy around it, as tables and transactions use them.

``Client.call(operation, params, kind)`` is the one way a request reaches AWS: the request is
encoded once (text that is not Unicode and items over DynamoDB's 400 KB are refused here,
before anything is sent), registered hooks see it, and ``retry.run`` sends it.

One client per (region, endpoint, profile, transport) is created on first use and kept for the
life of the process (a Lambda container), so every invocation after the first reuses its
connections. botocore is imported then, and only for the botocore transport. Partners' clients
(one per partner and region, with the partner's assumed-role credentials) are made and kept by
``accounts.py``; the STS clients that assume the roles are clients too (``sts.py``), so STS
calls get the same retry loop, deadline and hooks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dynamorm_gen.runtime import codec, context, hooks, retry
from dynamorm_gen.runtime.errors import (
    ConfigurationError,
    ConstraintViolation,
    CredentialsExpired,
    DynamormError,
)
from dynamorm_gen.runtime.retry import Kind, RetryPolicy, RetryQuota
from dynamorm_gen.runtime.transport import Transport

if TYPE_CHECKING:
    from dynamorm_gen.runtime.data_keys import DataKeys
    from dynamorm_gen.runtime.sigv4 import Credentials

    CredentialsSource = Credentials | Callable[[], Credentials]
TRANSPORTS = ("botocore", "fast")
TRANSPORT_ENV = "DYNAMORM_TRANSPORT"
# What DynamoDB accepts in one item; a request body (JSON, base64 binaries) is never smaller
# than the items it holds, so only bodies longer than this need the items measured.
MAX_ITEM_BYTES = 400 * 1024


class Client:
    """One AWS endpoint: a transport that does one exchange per call, the retry policy
    around it, and the retry quota that this client's calls share. Thread-safe.

    ``service`` (``"dynamodb"``, ``"sts"``) and ``partner`` (the partner whose account the
    client sends to; None for the function's own) are what hooks see of it.
    ``on_credentials_expired``, when set, is told (with this client) that the service
    answered that the credentials had expired, before the error is raised.
    """

    __slots__ = (
        "_data_keys",
        "on_credentials_expired",
        "partner",
        "policy",
        "quota",
        "service",
        "transport",
    )

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy | None = None,
        *,
        service: str = "dynamodb",
        partner: str | None = None,
    ) -> None:
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self.quota = RetryQuota()
        self.service = service
        self.partner = partner
        self.on_credentials_expired: Callable[[Client], None] | None = None
        self._data_keys: DataKeys | None = None

    @property
    def endpoint_url(self) -> str:
        return self.transport.endpoint_url

    @property
    def region(self) -> str:
        return self.transport.region

    def __repr__(self) -> str:
        return f"Client({self.transport!r}, {self.policy!r})"

    def call(
        self,
        operation: str,
        params: Mapping[str, Any],
        kind: Kind,
        *,
        table: str = "",
        entity: str = "",
    ) -> dict[str, Any]:
        """Send ``operation`` with ``params`` (the service's request parameters); the
        response, or a typed error. ``kind`` says what sending it twice would do (see
        ``retry.py``)."""
        deadline = context.current().deadline
        if deadline is not None:
            deadline.require(operation, table=table, entity=entity)
        body = _encoded(operation, params, entity)
        observers = hooks.active()
        if not observers:
            return self._run(operation, params, body, kind, table, entity, None)
        call = hooks.CallInfo(
            operation, table, entity, partner=self.partner, service=self.service
        )
        if (
            hooks.wants_capacity()
            and operation in hooks.CAPACITY_OPERATIONS
            and "ReturnConsumedCapacity" not in params
        ):
            params = {**params, "ReturnConsumedCapacity": "TOTAL"}
            body = codec.encode(params)

        def resent(reason: str) -> None:
            call.resends.append(reason)
            call.retries = len(call.resends)
            hooks.notify(observers, "on_resend", call)

        hooks.notify(observers, "before_call", call)
        started = time.perf_counter()
        try:
            response = self._run(operation, params, body, kind, table, entity, resent)
        except DynamormError as error:
            call.latency_ms = (time.perf_counter() - started) * 1000
            call.error = error.code or type(error).__name__
            hooks.notify(observers, "after_call", call)
            raise
        call.latency_ms = (time.perf_counter() - started) * 1000
        consumed = response.get("ConsumedCapacity")
        if consumed:
            call.consumed = consumed if isinstance(consumed, list) else [consumed]
        hooks.notify(observers, "after_call", call)
        return response

    def _run(
        self,
        operation: str,
        params: Mapping[str, Any],
        body: bytes,
        kind: Kind,
        table: str,
        entity: str,
        on_resend: Callable[[str], None] | None,
    ) -> dict[str, Any]:
        try:
            return retry.run(
                self.transport,
                operation,
                params,
                body,
                kind,
                policy=self.policy,
                quota=self.quota,
                table=table,
                entity=entity,
                on_resend=on_resend,
            )
        except CredentialsExpired:
            if self.on_credentials_expired is not None:
                self.on_credentials_expired(self)
            raise

    def data_keys(self) -> DataKeys:
        """The data keys of encrypted attributes in this client's account and region: from
        KMS through a client beside this one (``kms.client_beside``), made on first use and
        cached (``data_keys.py``) for as long as this client lives."""
        found = self._data_keys
        if found is None:
            with _shared_lock:
                found = self._data_keys
                if found is None:
                    from dynamorm_gen.runtime.data_keys import DataKeys
                    from dynamorm_gen.runtime.kms import KmsKeys, client_beside

                    found = DataKeys(KmsKeys(client_beside(self)))
                    self._data_keys = found
        return found

    def prewarm(self) -> None:
        self.transport.prewarm()

    def close(self) -> None:
        """Close idle connections, and wipe the cached data keys (and close KMS's)."""
        self.transport.close()
        data_keys, self._data_keys = self._data_keys, None
        if data_keys is not None:
            data_keys.close()


def _encoded(operation: str, params: Mapping[str, Any], entity: str) -> bytes:
    """The request body; refused, naming the attribute, when it holds text that is not
    Unicode or an item DynamoDB would refuse for its size."""
    try:
        body = codec.encode(params)
    except UnicodeEncodeError:
        raise ConstraintViolation(
            f"{_bad_text_place(params, entity)} holds text that is not valid Unicode"
            " (an unpaired surrogate)",
            operation=operation,
            entity=entity,
        ) from None
    if len(body) > MAX_ITEM_BYTES:
        _check_item_sizes(operation, params, entity)
    return body


def _items(operation: str, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The whole items a write request stores."""
    if operation == "PutItem":
        return [params["Item"]]
    if operation == "BatchWriteItem":
        return [
            request["PutRequest"]["Item"]
            for requests in params.get("RequestItems", {}).values()
            for request in requests
            if "PutRequest" in request
        ]
    if operation == "TransactWriteItems":
        return [
            action["Put"]["Item"]
            for action in params.get("TransactItems", [])
            if "Put" in action
        ]
    return []


def _check_item_sizes(operation: str, params: Mapping[str, Any], entity: str) -> None:
    from dynamorm_gen.runtime.errors import ItemTooLarge
    from dynamorm_gen.runtime.limits import item_size

    for item in _items(operation, params):
        size = item_size(dict(item))
        if size > MAX_ITEM_BYTES:
            raise ItemTooLarge(
                f"an item of {size} bytes is over DynamoDB's limit of 400 KB"
                f" ({MAX_ITEM_BYTES} bytes, attribute names included)",
                operation=operation,
                entity=entity,
                code="ItemTooLarge",
            )


def _bad_text_place(params: Mapping[str, Any], entity: str) -> str:
    """Where in a request the text that is not Unicode is: ``Entity.attribute`` when it is
    an attribute (or an update's value for one), else a description of the part."""
    from dynamorm_gen.runtime.limits import text_problem

    prefix = f"{entity}." if entity else ""
    names = params.get("ExpressionAttributeNames") or {}
    for part in ("Item", "Key", "ExclusiveStartKey"):
        found = text_problem(params[part]) if part in params else None
        if found is not None:
            return prefix + found
    values = params.get("ExpressionAttributeValues")
    found = text_problem(values) if values else None
    if found is not None:
        # The runtime's placeholders come in pairs: value ":u0" belongs to name "#u0".
        return prefix + str(names.get("#" + found[1:], found))
    for action in params.get("TransactItems", []):
        for request in action.values():
            if isinstance(request, Mapping):
                place = _bad_text_place(request, entity)
                if place != "the request":
                    return place
    for requests in (params.get("RequestItems") or {}).values():
        for request in requests if isinstance(requests, list) else [requests]:
            for inner in request.values() if isinstance(request, Mapping) else []:
                if isinstance(inner, Mapping):
                    place = _bad_text_place(inner, entity)
                    if place != "the request":
                        return place
    return "the request"


# --- making clients ----------------------------------------------------------------------------


def create(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None = None,
    transport: str = "botocore",
    *,
    credentials: CredentialsSource | Any = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 10.0,
    max_attempts: int = 4,
    max_pool_connections: int = 16,
    partner: str | None = None,
) -> Client:
    """A new client on ``transport`` ("fast" or "botocore"). ``credentials``: a
    ``Credentials`` value, a function returning fresh ones (fast transport), or botocore
    credentials (botocore transport: refreshable ones refresh themselves); None for the
    environment's, else botocore's chain."""
    if transport == "fast":
        # The standard-library transport: no botocore import on the Lambda path.
        from dynamorm_gen.runtime.fast import FastTransport

        exchange: Transport = FastTransport(
            region,
            endpoint_url,
            credentials,
            profile=profile,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_idle_connections=max_pool_connections,
        )
    elif transport == "botocore":
        if callable(credentials):
            raise ConfigurationError(
                "refreshing credentials need the fast transport; give the botocore"
                " transport a Credentials value, or a profile"
            )
        from dynamorm_gen.runtime.botocore_transport import (
            BotocoreTransport,
            make_client,
        )

        settings: dict[str, Any] = {
            "region": region,
            "endpoint_url": endpoint_url,
            "profile": profile,
            "credentials": credentials,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "max_pool_connections": max_pool_connections,
        }
        exchange = BotocoreTransport(make_client(**settings), settings)
    else:
        raise ConfigurationError(
            f"unknown transport {transport!r} (expected one of {', '.join(TRANSPORTS)};"
            f" see Connection(transport=...) and {TRANSPORT_ENV})"
        )
    return Client(exchange, RetryPolicy(max_attempts=max_attempts), partner=partner)


def adopt(client: object) -> Client:
    """``client`` as a Client: a Client as it is, a transport wrapped, and a botocore
    client (one attempt per call, see BotocoreTransport) wrapped in the botocore transport."""
    if isinstance(client, Client):
        return client
    if hasattr(client, "exchange"):
        return Client(client)  # type: ignore[arg-type]
    meta = getattr(client, "meta", None)
    if meta is not None and hasattr(meta, "events"):
        from dynamorm_gen.runtime.botocore_transport import BotocoreTransport

        return Client(BotocoreTransport(client))
    raise ConfigurationError(
        f"cannot use a {type(client).__name__} as a client: pass a Client, a transport"
        " or a botocore DynamoDB client"
    )


_shared: dict[tuple[str | None, str | None, str | None, str], Client] = {}
_shared_lock = threading.Lock()


def shared(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    transport: str = "botocore",
) -> Client:
    """The process-wide client for this (region, endpoint, profile, transport)."""
    key = (region, endpoint_url, profile, transport)
    found = _shared.get(key)
    if found is not None:
        return found
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = create(region, endpoint_url, profile, transport)
            _shared[key] = found
    return found


def forget_shared() -> None:
    """Drop the process-wide clients (tests, or after changing credentials in-process)."""
    with _shared_lock:
        for found in _shared.values():
            found.close()
        _shared.clear()
