"""Typed errors. Messages name the operation, table and entity, never item values: items hold
financial data and error messages end up in logs."""

from __future__ import annotations

from dynamorm_gen.runtime.types import Item


class DynamormError(Exception):
    """Base of every error the runtime raises."""

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        table: str = "",
        entity: str = "",
        code: str = "",
    ) -> None:
        where = ", ".join(
            f"{label} {value}"
            for label, value in (
                ("operation", operation),
                ("table", table),
                ("entity", entity),
            )
            if value
        )
        super().__init__(f"{message} ({where})" if where else message)
        self.operation = operation
        self.table = table
        self.entity = entity
        self.code = code
        # The engine's own message may quote item values, so it is kept off str(error).
        self.server_message = ""


class ConditionFailed(DynamormError):
    """A condition expression did not hold (ConditionalCheckFailedException).

    ``item`` is the stored item when the write asked for it (``old_on_failure=True``), in
    wire form: decode it with the entity's ``from_item``. It is never part of the message.
    """

    item: Item | None = None


class NotFound(ConditionFailed):
    """The item an update or a ``must_exist`` delete needs is not there. A ConditionFailed, so
    existing handlers keep working; raised when that is the only reason the condition can
    have failed (no other conditions), or when the returned old item shows it."""


class TransactionCancelled(DynamormError):
    """A transaction was cancelled; ``reasons`` holds (action index, entity, reason code) for
    each action that caused it, e.g. (1, "Payment", "ConditionalCheckFailed")."""

    reasons: list[tuple[int, str, str]]


class Throttled(DynamormError):
    """DynamoDB throttled the request after the client's retries."""


class ValidationFailed(DynamormError):
    """DynamoDB rejected the request as invalid (ValidationException)."""


class TableNotFound(DynamormError):
    """The table (or index) does not exist (ResourceNotFoundException)."""


class AccessDenied(DynamormError):
    """The credentials may not do this (AccessDeniedException and friends)."""


class ConfigurationError(DynamormError):
    """The runtime is missing configuration (region, credentials, table name)."""


class ConstraintViolation(DynamormError, ValueError):
    """A value breaks a constraint of the schema (min, max, length, pattern, enum)."""


class ItemDecodeError(DynamormError):
    """A stored item does not have the shape its entity expects."""


class InvalidCursor(DynamormError, ValueError):
    """A pagination cursor is malformed or belongs to another query."""


class EncryptionNotConfigured(DynamormError):
    """An encrypted attribute was written or read before a field encryptor was registered."""


class DeadlineExceeded(DynamormError):
    """The invocation's deadline (``deadline.bind``) left no time for a request, or a request
    ran out of it.

    ``sent`` is False when the request never left: it certainly had no effect. When it is
    True a write may or may not have been applied (retry it with the same idempotency token,
    or re-read). ``cursor`` is where a query or scan interrupted between pages resumes: pass
    it back as ``cursor=`` (None there means from the start).
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        table: str = "",
        entity: str = "",
        code: str = "DeadlineExceeded",
        sent: bool = False,
    ) -> None:
        super().__init__(
            message, operation=operation, table=table, entity=entity, code=code
        )
        self.sent = sent
        self.cursor: str | None = None


class RuntimeIncompatible(ImportError):
    """A generated module needs a newer runtime than the one installed."""
