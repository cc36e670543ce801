"""Write transactions: up to 100 puts, updates, deletes and condition checks on any generated
entities of one account and region, all applied or none.

The client is fixed by the first action added: every other action must resolve to the same
one, and ``commit`` sends through it, whatever partner is bound when it runs, so a transaction
can never be split between accounts nor sent to another partner's (``accounts.py``).

Generated table classes add actions with ``tx_put_<entity>``, ``tx_update_<entity>``,
``tx_delete_<entity>`` and ``tx_check_<entity>``; ``commit`` sends them in one
TransactWriteItems request with a client request token, so resending it (the runtime does
after a failure whose outcome is unknown) or committing the same transaction object again
(for example after a timeout) cannot apply it twice within DynamoDB's 10-minute window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.errors import TransactionCancelled, ValidationFailed
from dynamorm_gen.runtime.retry import IDEMPOTENT, READ
from dynamorm_gen.runtime.table import TableHandle
from dynamorm_gen.runtime.types import Item, Key

MAX_ACTIONS = 100
_ACTIONS = ("Put", "Update", "Delete", "ConditionCheck")


def _one_client(first: Client | None, handle: TableHandle, entity: str) -> Client:
    """A transaction goes to one endpoint: every table must resolve to the first one's
    client (for a partner table, the client of the partner bound now)."""
    client = handle.connection.client
    if first is not None and client is not first:
        raise ValidationFailed(
            "a transaction's tables must share one connection (account and region)",
            entity=entity,
        )
    return client


class TransactWrite:
    """Actions collected for one atomic write; nothing is sent before ``commit``."""

    __slots__ = ("_actions", "_after", "_client", "_table", "_token", "committed")

    def __init__(self, client_request_token: str | None = None) -> None:
        self._actions: list[
            tuple[str, str, dict[str, Any]]
        ] = []  # (kind, entity, params)
        self._after: list[Callable[[], None]] = []
        self._client: Client | None = None
        self._table = ""  # the first action's table, for error messages
        self._token = client_request_token
        self.committed = False

    def __len__(self) -> int:
        return len(self._actions)

    def add(
        self,
        handle: TableHandle,
        kind: str,
        params: dict[str, Any],
        *,
        entity: str,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        """Add one action; ``after_commit`` runs once the transaction succeeded."""
        if kind not in _ACTIONS:
            raise ValueError(f"unknown transaction action {kind!r}")
        if kind == "ConditionCheck" and "ConditionExpression" not in params:
            raise ValidationFailed(
                "a condition check needs a condition: must_exist, expected_version or when",
                entity=entity,
            )
        if self.committed:
            raise ValidationFailed(
                "this transaction was committed already", entity=entity
            )
        if len(self._actions) >= MAX_ACTIONS:
            raise ValidationFailed(
                f"a transaction holds at most {MAX_ACTIONS} actions", entity=entity
            )
        if self._client is None:
            self._table = handle.name
        self._client = _one_client(self._client, handle, entity)
        self._actions.append((kind, entity, params))
        if after_commit is not None:
            self._after.append(after_commit)

    def renew_token(self, client_request_token: str) -> None:
        """Give this uncommitted transaction another client request token, for a retry
        after DynamoDB cancelled it (a definitive answer: nothing was applied), which a retry
        under its first token might be answered with again."""
        if self.committed:
            raise ValidationFailed("this transaction was committed already")
        self._token = client_request_token

    def commit(self) -> None:
        """Apply every action or none; TransactionCancelled names the failing actions.

        After a failure (a timeout, say) commit may be called again: the same client request
        token makes DynamoDB apply the transaction at most once. After success it refuses.
        """
        if self.committed:
            raise ValidationFailed("this transaction was committed already")
        if self._client is None:
            return
        if self._token is None:
            import uuid

            self._token = str(uuid.uuid4())
        request = {
            "TransactItems": [{kind: params} for kind, _, params in self._actions],
            "ClientRequestToken": self._token,
        }
        try:
            self._client.call(
                "TransactWriteItems",
                request,
                IDEMPOTENT,
                table=self._table,
                entity="transaction",
            )
        except TransactionCancelled as exc:
            raise self._explained(exc) from None
        self.committed = True
        for callback in self._after:
            callback()

    def _explained(self, exc: TransactionCancelled) -> TransactionCancelled:
        reasons = [
            (i, self._actions[i][1], code)
            for i, _, code in getattr(exc, "reasons", [])
            if i < len(self._actions)
        ]
        parts = [
            f"action {i} ({entity} {self._actions[i][0]}): {code}"
            for i, entity, code in reasons
        ]
        error = TransactionCancelled(
            "transaction cancelled: " + ("; ".join(parts) or "no reason given"),
            operation="TransactWriteItems",
            table=exc.table,
            code=exc.code,
        )
        error.reasons = reasons
        error.items = exc.items
        error.server_message = exc.server_message
        return error


class TransactGet:
    """Reads of up to 100 items, any entities of one account and region, as one snapshot.

    Generated ``tx_get_<entity>`` methods add keys; ``fetch`` returns the decoded entities in
    the order they were added (None where there is no item).
    """

    __slots__ = ("_client", "_decoders", "_requests", "_table")

    def __init__(self) -> None:
        self._requests: list[dict[str, Any]] = []
        self._decoders: list[tuple[str, Callable[[Item], Any]]] = []
        self._client: Client | None = None
        self._table = ""

    def __len__(self) -> int:
        return len(self._requests)

    def add(
        self,
        handle: TableHandle,
        key: Key,
        *,
        entity: str,
        decode: Callable[[Item], Any],
    ) -> None:
        if len(self._requests) >= MAX_ACTIONS:
            raise ValidationFailed(
                f"a transaction holds at most {MAX_ACTIONS} reads", entity=entity
            )
        if self._client is None:
            self._table = handle.name
        self._client = _one_client(self._client, handle, entity)
        self._requests.append({"Get": {"TableName": handle.name, "Key": key}})
        self._decoders.append((entity, decode))

    def fetch(self) -> list[Any]:
        """The items, decoded, in the order added; TransactionCancelled if DynamoDB refuses."""
        if self._client is None:
            return []
        response = self._client.call(
            "TransactGetItems",
            {"TransactItems": self._requests},
            READ,
            table=self._table,
            entity="transaction",
        )
        results = []
        for (_, decode), response_item in zip(
            self._decoders, response.get("Responses", []), strict=False
        ):
            item = response_item.get("Item")
            results.append(None if not item else decode(item))
        return results
