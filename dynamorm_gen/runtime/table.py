"""Table handles: put, get, delete, update, query and scan on one table, through a client.

Each request is sent through ``Connection.client`` (``client.py``) with its kind (see
``retry.py``): what sending it twice would do. Writes that may be resent and whose condition
could then fail because of their own earlier attempt are settled here, where the item is
known: after a resend, a conditional put that finds its own item stored, or a conditional
delete that finds the item gone, has succeeded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dynamorm_gen.runtime import client as clients
from dynamorm_gen.runtime.client import TRANSPORT_ENV, TRANSPORTS, Client
from dynamorm_gen.runtime.condition import Condition, merge
from dynamorm_gen.runtime.cursor import decode_cursor, encode_cursor, query_context
from dynamorm_gen.runtime.errors import (
    ConditionFailed,
    DeadlineExceeded,
    DynamormError,
    NotFound,
    ResponseLost,
    ValidationFailed,
)
from dynamorm_gen.runtime.retry import (
    CONDITIONAL,
    IDEMPOTENT,
    READ,
    UNCERTAIN,
    UNSAFE,
    Kind,
)
from dynamorm_gen.runtime.types import Item, Key

if TYPE_CHECKING:
    from dynamorm_gen.runtime.data_keys import DataKeys, KeyService
    from dynamorm_gen.runtime.partners import Partner

__all__ = [
    "TRANSPORTS",
    "TRANSPORT_ENV",
    "Connection",
    "Page",
    "TableDefinition",
    "TableHandle",
    "reset_clients",
]

T = TypeVar("T")

ENDPOINT_ENV = "DYNAMORM_ENDPOINT_URL"
PREFIX_ENV = "DYNAMORM_TABLE_PREFIX"


def reset_clients() -> None:
    """Forget the process-wide clients (tests, or after changing credentials in-process)."""
    clients.forget_shared()
    _default_connection._client = None


class Connection:
    """Where requests go: region, endpoint and profile, or an injected client.

    ``DYNAMORM_ENDPOINT_URL`` points every connection without an explicit endpoint at a local
    engine (moto server, dynalite) for development and tests. ``transport`` (else
    ``DYNAMORM_TRANSPORT``, else ``"botocore"``) picks the transport: ``"botocore"`` or
    ``"fast"``. ``client`` may be a ``Client``, a transport, or a botocore DynamoDB client made
    with one attempt per call (``Config(retries={"total_max_attempts": 1})``).

    ``kms`` is where encrypted attributes get their data keys (``data_keys``): by default KMS
    in the account and region of ``client``, on its transport. Given, it is a key service
    (the one way to plug a test double, such as ``dynamorm_gen.testing.LocalKms``), a
    ``Client`` of KMS, or a ``DataKeys`` cache with bounds of your choosing.
    """

    __slots__ = (
        "_client",
        "_data_keys",
        "endpoint_url",
        "profile",
        "region",
        "transport",
    )

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        client: Any = None,
        transport: str | None = None,
        kms: KeyService | Client | DataKeys | None = None,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.profile = profile
        self.transport = transport
        self._client: Client | None = None if client is None else clients.adopt(client)
        self._data_keys: DataKeys | None = None
        if kms is not None:
            from dynamorm_gen.runtime.data_keys import as_data_keys

            self._data_keys = as_data_keys(kms)

    def partner_id(self) -> str | None:
        """The partner whose account requests go to: None, the function's own (a partner
        connection names its partner). Cursors are signed with it."""
        return None

    def current_partner(self) -> Partner | None:
        """The partner whose account requests go to now (its ``kms_key`` seals encrypted
        attributes there); None for the function's own account."""
        return None

    def data_keys(self) -> DataKeys:
        """Where encrypted attributes written and read through this connection get their
        data keys: the ``kms`` given, else KMS beside ``client`` (same account, region,
        credentials and transport), cached per client."""
        if self._data_keys is not None:
            return self._data_keys
        return self.client.data_keys()

    @property
    def client(self) -> Client:
        if self._client is None:
            endpoint = self.endpoint_url or os.environ.get(ENDPOINT_ENV) or None
            transport = self.transport or os.environ.get(TRANSPORT_ENV) or "botocore"
            self._client = clients.shared(
                self.region, endpoint, self.profile, transport
            )
        return self._client


_default_connection = Connection()


def default_connection() -> Connection:
    """The connection of tables made without one (and of ``to_item``/``from_item`` called
    without one): the environment's region, endpoint and transport."""
    return _default_connection


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
        return self.physical_name_and_source()[0]

    def physical_name_and_source(self) -> tuple[str, str]:
        """The table's name and where it came from, for error messages."""
        name = os.environ.get(self.name_env)
        if name:
            return name, f"${self.name_env}"
        prefix = os.environ.get(PREFIX_ENV, "")
        if prefix:
            return prefix + self.logical_name, f"${PREFIX_ENV} + {self.logical_name!r}"
        return self.logical_name, f"table {self.logical_name!r} of the schema"


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

    __slots__ = ("_name", "_name_checked", "connection", "definition")

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
        self._name_checked = False

    @property
    def name(self) -> str:
        """The physical table name, checked against DynamoDB's naming rules once."""
        if not self._name_checked:
            from dynamorm_gen.runtime.limits import check_table_name

            if self._name is None:
                self._name, source = self.definition.physical_name_and_source()
            else:
                source = "the table name given to the table class"
            check_table_name(self._name, source)
            self._name_checked = True
        assert self._name is not None
        return self._name

    def _call(
        self, operation: str, request: dict[str, Any], entity: str, kind: Kind
    ) -> dict[str, Any]:
        """Send one request of ``kind`` (see retry.py) through the connection's client."""
        return self.connection.client.call(
            operation, request, kind, table=self.name, entity=entity
        )

    def _stored(self, failure: ConditionFailed, key: Key, entity: str) -> Item | None:
        """The stored item a condition failed on: the one it returned, else read now."""
        if failure.item is not None:
            return failure.item
        return self.get_item(key, entity=entity, consistent=True)

    def key_of(self, item: Item) -> Key:
        """The primary key of ``item`` (or of a key)."""
        return {name: item[name] for name in self.definition.key_names}

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
        """Write ``item``. Unconditional puts are resent freely; a conditional put that fails
        its condition after a resend, while the stored item is exactly ``item``, has
        succeeded: its earlier attempt was applied."""
        request = self.put_request(
            item,
            if_not_exists=if_not_exists,
            version=version,
            expected_version=expected_version,
            when=when,
        )
        if "ConditionExpression" not in request:
            self._call("PutItem", request, entity, IDEMPOTENT)
            return
        if old_on_failure:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            self._call("PutItem", request, entity, CONDITIONAL)
        except ConditionFailed as failure:
            if failure.after_uncertain:
                from dynamorm_gen.runtime.compare import same_item

                if same_item(self._stored(failure, self.key_of(item), entity), item):
                    return
            raise

    def get_item(
        self, key: Key, *, entity: str, consistent: bool = False
    ) -> Item | None:
        request: dict[str, Any] = {"TableName": self.name, "Key": key}
        if consistent:
            request["ConsistentRead"] = True
        response = self._call("GetItem", request, entity, READ)
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
        """Delete by key; NotFound if ``must_exist`` and there is no item, ConditionFailed if
        ``expected_version`` is given and the stored ``version`` attribute differs.

        Resent after an attempt whose outcome is unknown: a conditional delete that then
        finds the item gone has succeeded (the item is gone, whichever attempt removed it).
        The old item of a resent delete is trusted only from the attempt that removed it;
        when that cannot be known, ResponseLost.
        """
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
        conditional = "ConditionExpression" in request
        only_existence = must_exist and expected_version is None and not when
        try:
            response = call_expecting_item(
                self,
                "DeleteItem",
                request,
                entity,
                only_existence=only_existence,
                kind=CONDITIONAL if conditional else IDEMPOTENT,
            )
        except ConditionFailed as failure:
            if failure.after_uncertain and self._stored(failure, key, entity) is None:
                if return_old:
                    raise ResponseLost(
                        "the item was deleted, but the old item was lost with the"
                        " attempt that deleted it",
                        operation="DeleteItem",
                        table=self.name,
                        entity=entity,
                    ) from None
                return None
            raise
        if not return_old:
            return None
        old: Item | None = response.get("Attributes")
        if old is None and response["ResponseMetadata"].get(UNCERTAIN):
            # The resend found nothing to delete: an earlier attempt may have deleted it.
            raise ResponseLost(
                "the item is deleted, but an earlier attempt may have deleted it and"
                " its old values were lost with that attempt",
                operation="DeleteItem",
                table=self.name,
                entity=entity,
            )
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
        # The cursor continues only this query: the same parameter values, in the same
        # partner's account.
        partner = self.connection.partner_id()
        context = ""
        if cursor is not None:
            values = request.get("ExpressionAttributeValues", {})
            context = query_context(values, partner)
            request["ExclusiveStartKey"] = decode_cursor(cursor, pattern, context)
        try:
            response = self._call(operation, request, entity, READ)
        except DeadlineExceeded as exc:
            exc.cursor = cursor  # a read has no effect: this page again, next time
            raise
        last = response.get("LastEvaluatedKey")
        items: list[Item] = response.get("Items", [])
        if not last:
            return items, None
        if cursor is None:
            values = request.get("ExpressionAttributeValues", {})
            context = query_context(values, partner)
        return items, encode_cursor(last, pattern, context)

    def cursor_after(
        self,
        request: dict[str, Any],
        item: Item,
        key_names: tuple[str, ...],
        pattern: str,
    ) -> str:
        """The cursor that continues ``request`` (a query by ``pattern``) right after
        ``item``, one of its results: its key attributes ``key_names`` (the table's, and
        the index's for a query of an index) are the ``ExclusiveStartKey`` DynamoDB takes,
        bound to the query's values and account as ``query``'s own cursors are."""
        values = request.get("ExpressionAttributeValues", {})
        context = query_context(values, self.connection.partner_id())
        return encode_cursor({name: item[name] for name in key_names}, pattern, context)

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
            response = self._call(operation, request, entity, READ)
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

        ``ttl=False`` skips UpdateTimeToLive, for engines without it (dynalite). Neither
        request is resent once sent: repeating it would fail on its own earlier success.
        """
        request = {"TableName": self.name, **self.definition.create_table}
        self._call("CreateTable", request, "", UNSAFE)
        self._wait_until_active()
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
                UNSAFE,
            )

    def _wait_until_active(self, attempts: int = 100, pause: float = 0.2) -> None:
        client = self.connection.client
        for _ in range(attempts):
            described = self._call("DescribeTable", {"TableName": self.name}, "", READ)
            if described.get("Table", {}).get("TableStatus") == "ACTIVE":
                return
            client.policy.sleep(pause)
        raise DynamormError(
            f"the table did not become ACTIVE within {attempts * pause:.0f} s",
            operation="DescribeTable",
            table=self.name,
        )

    def drop(self) -> None:
        """Delete the table; for development and tests."""
        self._call("DeleteTable", {"TableName": self.name}, "", UNSAFE)


MAX_SEGMENTS = 1_000_000  # DynamoDB's limit on TotalSegments


def call_expecting_item(
    handle: TableHandle,
    operation: str,
    request: dict[str, Any],
    entity: str,
    *,
    only_existence: bool,
    kind: Kind,
) -> dict[str, Any]:
    """Send a write that requires the item to exist; a failed condition becomes NotFound when
    the item's absence is certain: it was the only condition, or the old item came back empty."""
    try:
        return handle._call(operation, request, entity, kind)
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
            missing.after_uncertain = exc.after_uncertain
            raise missing from None
        raise
