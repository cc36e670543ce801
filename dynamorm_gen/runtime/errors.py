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

    ``after_uncertain`` is True when the failure answered a resend that followed an attempt
    whose outcome was unknown: the stored item may then be this call's own write. Generated
    writes settle that before raising (see ``retry.py``); the flag is for code that sends
    its own requests.
    """

    item: Item | None = None
    after_uncertain: bool = False


class NotFound(ConditionFailed):
    """The item an update or a ``must_exist`` delete needs is not there. A ConditionFailed, so
    existing handlers keep working; raised when that is the only reason the condition can
    have failed (no other conditions), or when the returned old item shows it."""


class TransactionCancelled(DynamormError):
    """A transaction was cancelled; ``reasons`` holds (action index, entity, reason code) for
    each action that caused it, e.g. (1, "Payment", "ConditionalCheckFailed"). ``items``
    holds, per action, the stored item an action that asked for it
    (``ReturnValuesOnConditionCheckFailure``) got back, else None."""

    reasons: list[tuple[int, str, str]]
    items: list[Item | None]


class Throttled(DynamormError):
    """DynamoDB throttled the request after the client's retries."""


class ValidationFailed(DynamormError):
    """DynamoDB rejected the request as invalid (ValidationException)."""


class TableNotFound(DynamormError):
    """The table (or index) does not exist (ResourceNotFoundException)."""


class AccessDenied(DynamormError):
    """The credentials may not do this (AccessDeniedException and friends)."""


class CredentialsExpired(AccessDenied):
    """Temporary credentials have expired: DynamoDB's ExpiredTokenException (a partner's
    connection then assumes its role again on the next call), or STS's ExpiredToken."""


class ConfigurationError(DynamormError):
    """The runtime is missing configuration (region, credentials, table name)."""


class UnknownPartner(ConfigurationError, LookupError):
    """No partner has this id in the registry (a typo, or a partner that was removed)."""


class PartnerRequired(DynamormError):
    """A partner table was called with no partner bound to the context (``with
    db.partner(...)``). It never falls back to the function's own account."""


class TenantRequired(DynamormError):
    """A method of a tenant entity was called with no tenant bound to the context (``with
    tenant(...)`` or ``with db.tenant(...)``). It never takes the tenant from its arguments
    alone, and never reads or writes without one."""


class TenantMismatch(DynamormError):
    """A tenant entity's method was given another tenant than the bound one: as its tenant
    argument, in an object to write, in a raw key (batch methods), or in an update's index
    keys. Raised before anything is sent; the message names the entity and the tenant
    attribute, never a tenant."""


class InvalidTenant(DynamormError, ValueError):
    """A tenant id that cannot be bound: not a str of 1 to 128 ASCII letters, digits, ``_``,
    ``.`` and ``-``."""


class InvalidActor(DynamormError, ValueError):
    """An actor that cannot be bound (audit records name it): not a non-empty str of at
    most 256 characters."""


class AssumeRoleFailed(DynamormError):
    """STS did not give a partner's credentials (``code`` says why: Throttling after the
    resends, a ValidationError, a network failure...); no request was sent to the partner's
    account. ``partner`` is the partner's id."""

    partner: str = ""


class PartnerAccessDenied(AssumeRoleFailed, AccessDenied):
    """STS refused to let this function assume the partner's role (AccessDenied): the role's
    trust policy does not name this function's role, the external ID does not match, or this
    function may not call sts:AssumeRole on it."""


class SourceCredentialsExpired(AssumeRoleFailed, CredentialsExpired):
    """The credentials used to call STS (the function's own, or the partner's source
    credentials) have expired (ExpiredToken)."""


class RegionDisabled(AssumeRoleFailed):
    """STS is not activated in the partner's region for the account (RegionDisabledException);
    activate it in IAM's account settings, or use another region."""


class ConstraintViolation(DynamormError, ValueError):
    """A value breaks a constraint of the schema (min, max, length, pattern, enum), is not of
    its declared type, or cannot be stored by DynamoDB (a number out of range, text that is
    not Unicode). The message names the attribute and the rule, never the value."""


class KeyViolation(ConstraintViolation):
    """A value holds a separator of the key template it is written into: it could name
    another item's key, or widen a ``begins_with`` query into other items."""


class ItemTooLarge(ValidationFailed):
    """An item is over DynamoDB's 400 KB limit, measured by DynamoDB's rules before sending."""


class ItemDecodeError(DynamormError):
    """A stored item does not have the shape its entity expects."""


class InvalidCursor(DynamormError, ValueError):
    """A pagination cursor is malformed or belongs to another query."""


class EncryptionError(DynamormError):
    """An encrypted attribute could not be sealed or opened. ``entity`` and ``attribute``
    name it (the attribute as generated code names it); ``code`` says why (KMS's error code,
    ``InvalidTag``, ``InvalidEnvelope``...). Never a value, a key or a ciphertext."""

    attribute: str = ""


class EncryptionNotConfigured(EncryptionError):
    """An encrypted attribute was to be written with no KMS key configured for it (schema,
    environment, or the partner's ``kms_key``), or without the ``cryptography`` package.
    Fails closed: nothing was sent."""


class DecryptionFailed(EncryptionError):
    """An encrypted attribute did not decrypt: a ciphertext altered, or copied from another
    item or attribute, an envelope that is not one, or a key that KMS refuses (a wrong key,
    disabled, or not this function's to use). Fails closed: the item is not returned."""


class EncryptionFailed(EncryptionError):
    """An attribute could not be encrypted: KMS refused the key (not found, disabled, not
    allowed) or gave a bad data key. Fails closed: nothing was sent."""


class OutcomeUnknown(DynamormError):
    """A write that is not safe to repeat (an ``add_`` of a number, a list append, an update
    that increments a version without ``expected_version``) may or may not have been applied:
    the request left, and no answer said what happened. It was not sent again.

    Read the item to learn which; to have such writes resent safely, pass
    ``retry_safe=True`` (a one-action transaction with a client request token) or give
    ``expected_version``. ``code`` names what cut the exchange short.
    """


class ResponseLost(DynamormError):
    """The write was applied, but what it returned was lost: a response that arrived broken
    after a success status, or the old item of a write that had to be resent. Read the item
    if you need its values; do not repeat the write."""


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


class OutcomeUnknownAtDeadline(DeadlineExceeded, OutcomeUnknown):
    """The deadline ended a write that may have been applied: both a DeadlineExceeded (with
    ``sent`` True) and an OutcomeUnknown, so that handlers of either see it."""


class IdempotencyError(DynamormError):
    """Base of the errors of idempotent calls (``idempotency.py``). Messages name the
    idempotent operation and the records' table, never a key, a payload or a response."""


class AlreadyInProgress(IdempotencyError):
    """Another call with the same idempotency key is running (its record is IN_PROGRESS and
    its lock has not expired). Retryable: the call's outcome will be replayed once it
    completes; ``retry_after`` is the seconds until its lock ends at the latest."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        table: str = "",
        entity: str = "",
        retry_after: float = 0.0,
    ) -> None:
        super().__init__(message, table=table, entity=entity, code="AlreadyInProgress")
        self.retry_after = retry_after


class PayloadMismatch(IdempotencyError, ValueError):
    """A call reused an idempotency key with a different payload than the call that
    recorded it: a client bug, or two requests given the same key."""


class PreviousCallFailed(IdempotencyError):
    """The call that recorded this idempotency key raised, and its record is kept FAILED
    until it expires (``on_failure="keep"``); ``failure`` is that exception's type name."""

    def __init__(
        self,
        message: str,
        *,
        table: str = "",
        entity: str = "",
        failure: str | None = None,
    ) -> None:
        super().__init__(message, table=table, entity=entity)
        self.failure = failure


class ResponseNotStored(IdempotencyError):
    """A response could not be stored in its idempotency record: over DynamoDB's 400 KB
    item limit, or without a JSON form. ``applied`` says whether the call's effects were
    applied (plain mode: yes, and repeats raise this too; atomic mode: nothing was
    committed). ``response`` holds the call's result, never shown in the message."""

    response: object = None

    def __init__(
        self, message: str, *, table: str = "", entity: str = "", applied: bool
    ) -> None:
        super().__init__(message, table=table, entity=entity)
        self.applied = applied


class IdempotencyKeyError(IdempotencyError, ValueError):
    """A call's idempotency key or payload cannot be read: a path names nothing, a key is
    null, a json(...) step finds no JSON text, or the data has no canonical JSON form."""


class LockLost(IdempotencyError):
    """A call outlived its in-progress lock and another call took its idempotency key over.
    In atomic mode nothing of the late call was committed; in plain mode its effects were
    applied, and the other call's may be too."""


class RuntimeIncompatible(ImportError):
    """A generated module needs a newer runtime than the one installed."""


# The typed error for each service or client code; anything else is a plain DynamormError
# that keeps its code.
_BY_CODE: dict[str, type[DynamormError]] = {
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
    "ExpiredTokenException": CredentialsExpired,
    "ExpiredToken": CredentialsExpired,
}


def for_code(
    code: str, *, operation: str = "", table: str = "", entity: str = ""
) -> DynamormError:
    """The typed error for ``code``; its message is the code (the service's own message may
    quote values: callers keep it in ``server_message``)."""
    cls = _BY_CODE.get(code, DynamormError)
    error = cls(code, operation=operation, table=table, entity=entity, code=code)
    if isinstance(error, TransactionCancelled):
        error.reasons = []
        error.items = []
    return error
