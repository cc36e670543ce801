"""Table handles over a reused botocore client: put, get, delete and paginated query.

One client per (region, endpoint, profile) is created on first use and kept for the life of the
process (a Lambda container), so every invocation after the first reuses its connections.
botocore is imported then, not when this module is imported.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dynamorm_gen.runtime import hooks
from dynamorm_gen.runtime.condition import Condition, merge
from dynamorm_gen.runtime.cursor import decode_cursor, encode_cursor, query_context
from dynamorm_gen.runtime.deadline import Deadline
from dynamorm_gen.runtime.deadline import current as current_deadline
from dynamorm_gen.runtime.errors import (
    AccessDenied,
    ConditionFailed,
    ConfigurationError,
    DeadlineExceeded,
    DynamormError,
    NotFound,
    TableNotFound,
    Throttled,
    TransactionCancelled,
    ValidationFailed,
)
from dynamorm_gen.runtime.types import Item, Key

if TYPE_CHECKING:
    from dynamorm_gen.runtime.sigv4 import Credentials

T = TypeVar("T")

ENDPOINT_ENV = "DYNAMORM_ENDPOINT_URL"
PREFIX_ENV = "DYNAMORM_TABLE_PREFIX"
TRANSPORT_ENV = "DYNAMORM_TRANSPORT"
TRANSPORTS = ("botocore", "fast")

_clients: dict[tuple[str | None, str | None, str | None, str], Any] = {}
_clients_lock = threading.Lock()


def shared_client(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    transport: str = "botocore",
) -> Any:
    """The process-wide DynamoDB client for this (region, endpoint, profile, transport)."""
    key = (region, endpoint_url, profile, transport)
    client = _clients.get(key)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _create_client(region, endpoint_url, profile, transport)
            _clients[key] = client
    return client


def reset_clients() -> None:
    """Forget cached clients (tests, or after changing credentials in-process)."""
    with _clients_lock:
        _clients.clear()
        _default_connection._client = None


def _create_client(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    transport: str = "botocore",
    *,
    credentials: Credentials | Callable[[], Credentials] | None = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 10.0,
    max_attempts: int = 4,
    max_pool_connections: int = 16,
) -> Any:
    if transport == "fast":
        # The standard-library client (fast.py): no botocore import on the Lambda path.
        from dynamorm_gen.runtime.fast import FastClient

        return FastClient(
            region,
            endpoint_url,
            credentials,
            profile=profile,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_attempts - 1,
            max_idle_connections=max_pool_connections,
        )
    if transport != "botocore":
        raise ConfigurationError(
            f"unknown transport {transport!r} (expected one of {', '.join(TRANSPORTS)};"
            f" see Connection(transport=...) and {TRANSPORT_ENV})"
        )
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        # Generated code builds well-formed requests; validating them again costs ~10-20% CPU.
        parameter_validation=False,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # Attempts in all, first included: the fast transport's 1 + max_retries.
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    try:
        session = botocore.session.Session(profile=profile)
        if credentials is not None:
            if callable(credentials):
                raise ConfigurationError(
                    "refreshing credentials need the fast transport; give the botocore"
                    " transport a Credentials value, or a profile"
                )
            session.set_credentials(
                credentials.access_key, credentials.secret_key, credentials.token
            )
        return session.create_client(
            "dynamodb", region_name=region, endpoint_url=endpoint_url, config=config
        )
    except BotoCoreError as exc:
        raise ConfigurationError(
            f"cannot create a DynamoDB client: {type(exc).__name__}"
            " (set AWS_DEFAULT_REGION, or pass Connection(region=...))"
        ) from None


class Connection:
    """Where requests go: region, endpoint and profile, or an injected client.

    ``DYNAMORM_ENDPOINT_URL`` points every connection without an explicit endpoint at a local
    engine (moto server, dynalite) for development and tests. ``transport`` (else
    ``DYNAMORM_TRANSPORT``, else ``"botocore"``) picks the client: ``"botocore"`` or ``"fast"``.
    """

    __slots__ = ("_client", "endpoint_url", "profile", "region", "transport")

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        client: Any = None,
        transport: str | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.transport = transport
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            endpoint = self.endpoint_url or os.environ.get(ENDPOINT_ENV) or None
            transport = self.transport or os.environ.get(TRANSPORT_ENV) or "botocore"
            self._client = shared_client(self.region, endpoint, self.profile, transport)
        return self._client


_default_connection = Connection()


class TableDefinition:
    """A table as data: what generated modules declare and CreateTable takes."""

    __slots__ = (
        "create_table",
        "entity_type_attribute",
        "key_names",
        "logical_name",
        "name_env",
        "ttl_attribute",
    )

    def __init__(
        self,
        *,
        logical_name: str,
        name_env: str,
        key_names: tuple[str, ...],
        entity_type_attribute: str,
        create_table: dict[str, Any],
        ttl_attribute: str | None = None,
    ) -> None:
        self.logical_name = logical_name
        self.name_env = name_env
        self.key_names = key_names
        self.entity_type_attribute = entity_type_attribute
        self.create_table = create_table
        self.ttl_attribute = ttl_attribute

    def physical_name(self) -> str:
        """The table's name: ``$<name_env>``, else ``$DYNAMORM_TABLE_PREFIX`` + logical name."""
        return (
            os.environ.get(self.name_env)
            or os.environ.get(PREFIX_ENV, "") + self.logical_name
        )


class Page(Generic[T]):
    """One page of results and the cursor for the next page (None when there is none)."""

    __slots__ = ("cursor", "items")

    def __init__(self, items: list[T], cursor: str | None) -> None:
        self.items = items
        self.cursor = cursor

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Page({len(self.items)} items, more={self.cursor is not None})"


class TableHandle:
    """The operations generated table classes call; requests arrive fully built."""

    __slots__ = ("_name", "connection", "definition")

    def __init__(
        self,
        definition: TableDefinition,
        connection: Connection | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self.definition = definition
        self.connection = connection or _default_connection
        self._name = name

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self.definition.physical_name()
        return self._name

    def _call(self, operation: str, request: dict[str, Any], entity: str) -> Any:
        """Send one request: within the bound deadline, seen by the registered hooks, with
        the client's exceptions mapped to typed errors."""
        deadline = current_deadline()
        if deadline is not None:
            deadline.require(operation, table=self.name, entity=entity)
        observers = hooks.active()
        if observers:
            return self._observed_call(observers, operation, request, entity, deadline)
        try:
            return getattr(self.connection.client, _METHODS[operation])(**request)
        except DynamormError:
            raise
        except Exception as exc:
            raise self._error(exc, operation, entity, deadline) from None

    def _observed_call(
        self,
        observers: tuple[hooks.Hook, ...],
        operation: str,
        request: dict[str, Any],
        entity: str,
        deadline: Deadline | None,
    ) -> Any:
        call = hooks.CallInfo(operation, self.name, entity)
        if (
            hooks.wants_capacity()
            and operation in hooks.CAPACITY_OPERATIONS
            and "ReturnConsumedCapacity" not in request
        ):
            request = {**request, "ReturnConsumedCapacity": "TOTAL"}
        hooks.notify(observers, "before_call", call)
        started = time.perf_counter()
        try:
            response = getattr(self.connection.client, _METHODS[operation])(**request)
        except Exception as exc:
            call.latency_ms = (time.perf_counter() - started) * 1000
            details = getattr(exc, "response", None)
            if isinstance(details, dict):
                call.retries = int(
                    details.get("ResponseMetadata", {}).get("RetryAttempts", 0)
                )
            error = (
                exc
                if isinstance(exc, DynamormError)
                else self._error(exc, operation, entity, deadline)
            )
            call.error = error.code or type(error).__name__
            hooks.notify(observers, "after_call", call)
            raise error from None
        call.latency_ms = (time.perf_counter() - started) * 1000
        call.retries = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        consumed = response.get("ConsumedCapacity")
        if consumed:
            call.consumed = consumed if isinstance(consumed, list) else [consumed]
        hooks.notify(observers, "after_call", call)
        return response

    def _error(
        self, exc: Exception, operation: str, entity: str, deadline: Deadline | None
    ) -> DynamormError:
        error = map_error(exc, operation, self.name, entity)
        if (
            deadline is not None
            and error.code in _NETWORK_ERRORS
            and deadline.remaining() <= 0
        ):
            # The deadline capped the socket waits: say so, and whether the request left.
            late = DeadlineExceeded(
                "the request ran out of time before the deadline",
                operation=operation,
                table=self.name,
                entity=entity,
                code=error.code,
                sent=error.code not in _UNSENT_ERRORS,
            )
            late.server_message = error.server_message
            return late
        return error

    def put_request(
        self,
        item: Item,
        *,
        if_not_exists: bool = False,
        version: str | None = None,
        expected_version: int | None = None,
        when: Condition | None = None,
    ) -> dict[str, Any]:
        """PutItem's parameters. With a version attribute, ``expected_version`` 0 means the
        item must not exist yet, any other value that the stored version must equal it."""
        request: dict[str, Any] = {"TableName": self.name, "Item": item}
        names = {"#k_pk": self.definition.key_names[0]}
        if if_not_exists or (version is not None and expected_version == 0):
            request["ConditionExpression"] = "attribute_not_exists(#k_pk)"
            request["ExpressionAttributeNames"] = names
        elif version is not None and expected_version is not None:
            request["ConditionExpression"] = "#k_version = :k_expected"
            request["ExpressionAttributeNames"] = {"#k_version": version}
            request["ExpressionAttributeValues"] = {
                ":k_expected": {"N": str(expected_version)}
            }
        return merge(request, when)

    def put_item(
        self,
        item: Item,
        *,
        entity: str,
        if_not_exists: bool = False,
        version: str | None = None,
        expected_version: int | None = None,
        when: Condition | None = None,
        old_on_failure: bool = False,
    ) -> None:
        request = self.put_request(
            item,
            if_not_exists=if_not_exists,
            version=version,
            expected_version=expected_version,
            when=when,
        )
        if old_on_failure:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        self._call("PutItem", request, entity)

    def get_item(
        self, key: Key, *, entity: str, consistent: bool = False
    ) -> Item | None:
        request: dict[str, Any] = {"TableName": self.name, "Key": key}
        if consistent:
            request["ConsistentRead"] = True
        response = self._call("GetItem", request, entity)
        item: Item | None = response.get("Item")
        return item

    def key_request(
        self,
        key: Key,
        *,
        must_exist: bool = False,
        version: str | None = None,
        expected_version: int | None = None,
        when: Condition | None = None,
    ) -> dict[str, Any]:
        """A key with its conditions: DeleteItem's parameters, and a ConditionCheck's."""
        request: dict[str, Any] = {"TableName": self.name, "Key": key}
        conditions = []
        names: dict[str, str] = {}
        if must_exist or expected_version is not None:
            names["#k_pk"] = self.definition.key_names[0]
            conditions.append("attribute_exists(#k_pk)")
        if expected_version is not None:
            if version is None:
                raise ValueError("this entity has no version attribute to expect")
            names["#k_version"] = version
            conditions.append("#k_version = :k_expected")
            request["ExpressionAttributeValues"] = {
                ":k_expected": {"N": str(expected_version)}
            }
        if conditions:
            request["ConditionExpression"] = " AND ".join(conditions)
            request["ExpressionAttributeNames"] = names
        return merge(request, when)

    def delete_item(
        self,
        key: Key,
        *,
        entity: str,
        must_exist: bool = False,
        version: str | None = None,
        expected_version: int | None = None,
        return_old: bool = False,
        when: Condition | None = None,
        old_on_failure: bool = False,
    ) -> Item | None:
        """Delete by key; ConditionFailed if ``must_exist`` and there is no item, or if
        ``expected_version`` is given and the stored ``version`` attribute differs."""
        request = self.key_request(
            key,
            must_exist=must_exist,
            version=version,
            expected_version=expected_version,
            when=when,
        )
        if return_old:
            request["ReturnValues"] = "ALL_OLD"
        if old_on_failure:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        only_existence = must_exist and expected_version is None and not when
        response = call_expecting_item(
            self, "DeleteItem", request, entity, only_existence=only_existence
        )
        old: Item | None = response.get("Attributes") if return_old else None
        return old

    def query(
        self,
        request: dict[str, Any],
        *,
        entity: str,
        pattern: str,
        limit: int | None = None,
        cursor: str | None = None,
        operation: str = "Query",
    ) -> tuple[list[Item], str | None]:
        """One page of a query (or scan); ``pattern`` binds cursors to what made them."""
        request["TableName"] = self.name
        if limit is not None:
            if limit < 1:
                raise ValidationFailed(
                    "limit must be at least 1", operation=operation, entity=entity
                )
            request["Limit"] = limit
        context = ""
        if cursor is not None:
            context = query_context(request.get("ExpressionAttributeValues", {}))
            request["ExclusiveStartKey"] = decode_cursor(cursor, pattern, context)
        try:
            response = self._call(operation, request, entity)
        except DeadlineExceeded as exc:
            exc.cursor = cursor  # a read has no effect: this page again, next time
            raise
        last = response.get("LastEvaluatedKey")
        items: list[Item] = response.get("Items", [])
        if not last:
            return items, None
        if cursor is None:
            context = query_context(request.get("ExpressionAttributeValues", {}))
        return items, encode_cursor(last, pattern, context)

    def count(
        self, request: dict[str, Any], *, entity: str, operation: str = "Query"
    ) -> int:
        """How many items match (after filters), over every page; reads like the query would."""
        request = {**request, "TableName": self.name, "Select": "COUNT"}
        if request.pop("ProjectionExpression", None) is not None:
            # DynamoDB rejects names no expression uses: drop the projection's.
            import re

            used = " ".join(
                request.get(k, "")
                for k in ("KeyConditionExpression", "FilterExpression")
            )
            referenced = set(re.findall(r"#\w+", used))
            names = request.get("ExpressionAttributeNames", {})
            request["ExpressionAttributeNames"] = {
                k: v for k, v in names.items() if k in referenced
            }
        total = 0
        while True:
            response = self._call(operation, request, entity)
            total += int(response.get("Count", 0))
            last = response.get("LastEvaluatedKey")
            if not last:
                return total
            request["ExclusiveStartKey"] = last

    def scan(
        self,
        request: dict[str, Any],
        *,
        entity: str,
        limit: int | None = None,
        cursor: str | None = None,
        segment: int | None = None,
        total_segments: int | None = None,
    ) -> tuple[list[Item], str | None]:
        """One page of a scan, or of one segment of a parallel scan."""
        if (segment is None) != (total_segments is None):
            raise ValueError("give both segment and total_segments, or neither")
        pattern = f"{entity}.scan"
        if segment is not None and total_segments is not None:
            if not 0 <= segment < total_segments <= MAX_SEGMENTS:
                raise ValidationFailed(
                    f"segment must be in 0..total_segments-1, total_segments 1..{MAX_SEGMENTS}",
                    operation="Scan",
                    entity=entity,
                )
            request["Segment"] = segment
            request["TotalSegments"] = total_segments
            pattern += f".{segment}/{total_segments}"
        return self.query(
            request,
            entity=entity,
            pattern=pattern,
            limit=limit,
            cursor=cursor,
            operation="Scan",
        )

    def create(self, *, ttl: bool = True) -> None:
        """Create the table as declared (and its TTL); for development, tests and examples.

        ``ttl=False`` skips UpdateTimeToLive, for engines without it (dynalite).
        """
        request = {"TableName": self.name, **self.definition.create_table}
        self._call("CreateTable", request, "")
        client = self.connection.client
        client.get_waiter("table_exists").wait(
            TableName=self.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )
        if ttl and self.definition.ttl_attribute:
            self._call(
                "UpdateTimeToLive",
                {
                    "TableName": self.name,
                    "TimeToLiveSpecification": {
                        "Enabled": True,
                        "AttributeName": self.definition.ttl_attribute,
                    },
                },
                "",
            )

    def drop(self) -> None:
        """Delete the table; for development and tests."""
        self._call("DeleteTable", {"TableName": self.name}, "")


MAX_SEGMENTS = 1_000_000  # DynamoDB's limit on TotalSegments

_METHODS = {
    "PutItem": "put_item",
    "GetItem": "get_item",
    "DeleteItem": "delete_item",
    "Query": "query",
    "Scan": "scan",
    "CreateTable": "create_table",
    "DeleteTable": "delete_table",
    "UpdateTimeToLive": "update_time_to_live",
    "UpdateItem": "update_item",
    "TransactWriteItems": "transact_write_items",
    "TransactGetItems": "transact_get_items",
    "BatchGetItem": "batch_get_item",
    "BatchWriteItem": "batch_write_item",
}

# Client errors of the exchange itself; the first two mean the request never left.
_UNSENT_ERRORS = frozenset(("ConnectTimeoutError", "EndpointConnectionError"))
_NETWORK_ERRORS = _UNSENT_ERRORS | {
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ProtocolError",
}

_ERRORS: dict[str, type[DynamormError]] = {
    "DeadlineExceeded": DeadlineExceeded,
    "ConditionalCheckFailedException": ConditionFailed,
    "TransactionCanceledException": TransactionCancelled,
    "ProvisionedThroughputExceededException": Throttled,
    "ThrottlingException": Throttled,
    "RequestLimitExceeded": Throttled,
    "ValidationException": ValidationFailed,
    "SerializationException": ValidationFailed,
    "ResourceNotFoundException": TableNotFound,
    "AccessDeniedException": AccessDenied,
    "UnrecognizedClientException": AccessDenied,
    "InvalidSignatureException": AccessDenied,
    "MissingAuthenticationTokenException": AccessDenied,
    "ExpiredTokenException": AccessDenied,
    "NoCredentialsError": ConfigurationError,
    "NoRegionError": ConfigurationError,
    "PartialCredentialsError": ConfigurationError,
}


def call_expecting_item(
    handle: TableHandle,
    operation: str,
    request: dict[str, Any],
    entity: str,
    *,
    only_existence: bool,
) -> Any:
    """Send a write that requires the item to exist; a failed condition becomes NotFound when
    the item's absence is certain: it was the only condition, or the old item came back empty."""
    try:
        return handle._call(operation, request, entity)
    except ConditionFailed as exc:
        asked_for_old = request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
        if only_existence or (asked_for_old and exc.item is None):
            missing = NotFound(
                "no such item",
                operation=operation,
                table=handle.name,
                entity=entity,
                code=exc.code,
            )
            missing.server_message = exc.server_message
            raise missing from None
        raise


def map_error(exc: Exception, operation: str, table: str, entity: str) -> DynamormError:
    """A typed error for a client exception, without the server's message (it may hold values)."""
    response = getattr(exc, "response", None)
    code = type(exc).__name__
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", code)
    cls = _ERRORS.get(code, DynamormError)
    error = cls(code, operation=operation, table=table, entity=entity, code=code)
    if isinstance(response, dict):
        error.server_message = str(response.get("Error", {}).get("Message", ""))
        # Transactions: one reason per action, "None" for the actions that were fine.
        reasons = response.get("CancellationReasons")
        if isinstance(error, ConditionFailed):
            error.item = response.get("Item")
        if isinstance(error, TransactionCancelled):
            error.reasons = [
                (i, "", str(r.get("Code", "Unknown")))
                for i, r in enumerate(reasons or [])
                if r.get("Code") not in (None, "None")
            ]
    return error
