"""Idempotent calls: a repeated request replays the first one's response instead of running again.

    from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
    from dynamorm_gen.runtime.idempotency import Idempotency
    from generated.payment import CAPTURE_PAYMENT, PaymentsTable

    db = LambdaDatabase()
    payments = db.table(PaymentsTable)
    idempotency = Idempotency(payments)          # records where the schema puts them

    @db.handler
    @idempotency.handler(CAPTURE_PAYMENT)        # key and payload paths from the schema
    def handler(event, context): ...

    @db.handler
    @idempotency.atomic_handler(CAPTURE_PAYMENT)
    def handler(event, context, tx):             # business writes and the record commit in
        payments.tx_update_payment(tx, ...)      # one TransactWriteItems
        return {...}

One record per (operation, idempotency key), the schema's ``IdempotencyRecord`` entity in the
table its ``idempotency`` section names. A call:

1. hashes its key (SHA-256 of canonical JSON, with the bound partner and tenant) and payload;
2. writes the record IN_PROGRESS with one conditional PutItem, which succeeds when there is
   no record, or it expired, or its in-progress lock expired; when it fails, DynamoDB returns
   the stored record (``ReturnValuesOnConditionCheckFailure``), so no second read is needed:
   COMPLETED replays the stored response, a live IN_PROGRESS raises ``AlreadyInProgress`` (or
   is waited for, up to ``wait`` seconds), FAILED raises ``PreviousCallFailed``, and a
   different payload raises ``PayloadMismatch``;
3. runs the function, then (plain mode) writes the record COMPLETED with the response, or
   (atomic mode) commits the function's transaction with the COMPLETED record in it, under a
   client request token derived from the key;
4. on an exception, deletes the record (or keeps it FAILED: ``on_failure="keep"``).

Every write of the record after the first is conditioned on the record still being this
call's (its ``owner``) and in progress, so a call that outlived its lock can never overwrite
the record of the call that took the key over; in atomic mode that condition is part of the
transaction, so the business writes commit only with the record that says they did.

The in-progress lock lasts until the invocation's deadline (``deadline.py``, which
``LambdaDatabase.handler`` binds; else the Lambda context's remaining time), or
``in_progress_expiry`` seconds when given. ``DYNAMORM_IDEMPOTENCY_DISABLED=1`` turns it all off
(tests). Errors name the operation and the table, never a key, a payload or a response.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Protocol, TypeVar

from dynamorm_gen.runtime import context
from dynamorm_gen.runtime.errors import (
    AlreadyInProgress,
    ConditionFailed,
    ConfigurationError,
    DynamormError,
    IdempotencyKeyError,
    LockLost,
    OutcomeUnknown,
    PayloadMismatch,
    PreviousCallFailed,
    ResponseLost,
    ResponseNotStored,
    TransactionCancelled,
    ValidationFailed,
)
from dynamorm_gen.runtime.event_paths import Missing, NotJson, Path, PathSyntaxError
from dynamorm_gen.runtime.retry import CONDITIONAL, READ
from dynamorm_gen.runtime.table import TableHandle
from dynamorm_gen.runtime.transact import TransactWrite
from dynamorm_gen.runtime.types import Item, Key

if TYPE_CHECKING:
    import inspect
    import json

__all__ = [
    "DISABLED_ENV",
    "Idempotency",
    "IdempotentOperation",
    "canonical_json",
]

P = ParamSpec("P")
R = TypeVar("R")

DISABLED_ENV = "DYNAMORM_IDEMPOTENCY_DISABLED"
Status = Literal["IN_PROGRESS", "COMPLETED", "FAILED"]
IN_PROGRESS: Status = "IN_PROGRESS"
COMPLETED: Status = "COMPLETED"
FAILED: Status = "FAILED"
ENTITY = "IdempotencyRecord"
# Seconds an in-progress lock lasts when the call has no deadline and no context saying how
# long it may run: Lambda's longest invocation.
DEFAULT_IN_PROGRESS_EXPIRY = 900.0
MAX_EXPIRES_AFTER = 366 * 24 * 3600  # seconds; the schema's limit too
DEFAULT_EXPIRES_AFTER = 3600
MAX_OPERATION_NAME = 64
MAX_RECORD_BYTES = 400 * 1024  # DynamoDB's item limit
# How often a waiting call reads the record: the first pause, doubled up to the last.
FIRST_POLL = 0.05
LONGEST_POLL = 1.0
# Conditional puts of a call whose record vanished between its put and its read (a release
# in between); past this the key counts as in progress.
MAX_BEGINS = 3
# Commits of an atomic call cancelled by a conflict with another request (nothing applied).
COMMIT_ATTEMPTS = 3
_OPERATION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
# The stored names of the record's attributes that conditions name (the compiler's
# ``model.record_attributes_spec``); the expiry is the table's TTL attribute.
_STATUS = "status"
_IN_PROGRESS_UNTIL = "in_progress_until"
_OWNER = "owner"


# --- what generated code provides ----------------------------------------------------------------


class Record(Protocol):
    """A generated ``IdempotencyRecord``."""

    @property
    def operation(self) -> str: ...
    @property
    def key_hash(self) -> str: ...
    @property
    def status(self) -> Status: ...
    @property
    def expires_at(self) -> int: ...
    @property
    def in_progress_until(self) -> int: ...
    @property
    def payload_hash(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def response(self) -> str | None: ...
    @property
    def failure(self) -> str | None: ...
    def key(self) -> Key: ...
    def to_item(self) -> Item: ...


class RecordClass(Protocol):
    """The generated ``IdempotencyRecord`` class (a table class's ``idempotency_records``)."""

    def __call__(
        self,
        *,
        operation: str,
        key_hash: str,
        status: Status,
        expires_at: int,
        in_progress_until: int,
        payload_hash: str,
        owner: str,
        response: str | None = None,
        failure: str | None = None,
    ) -> Record: ...

    def from_item(self, item: Item) -> Record: ...

    def make_key(self, *, operation: str, key_hash: str) -> Key: ...


# --- operations --------------------------------------------------------------------------------

Source = tuple[Path, ...] | Callable[..., Any] | None


class IdempotentOperation:
    """An idempotent operation: its name (part of each record's key), where its idempotency
    key and the payload a repeat must match are read, and how long a completed call replays.

    ``key`` and ``payload`` are a path (``event_paths.py``), a list of paths (their values
    together), or a function: of the event for handlers, of the call's arguments for
    functions. Without ``key``, a function's key is all of its arguments (a handler needs
    one). Without ``payload``, the payload is the whole event, or all of the arguments.
    ``expires_after`` (seconds) defaults to the schema's ``idempotency.expires_after``.
    Generated modules declare the schema's operations with this class.
    """

    __slots__ = ("expires_after", "key", "name", "payload")

    def __init__(
        self,
        name: str,
        *,
        key: str | Sequence[str] | Callable[..., Any] | None = None,
        payload: str | Sequence[str] | Callable[..., Any] | None = None,
        expires_after: int | None = None,
    ) -> None:
        if not (
            type(name) is str
            and 0 < len(name) <= MAX_OPERATION_NAME
            and name[0].isalpha()
            and _OPERATION_CHARACTERS.issuperset(name)
        ):
            raise ConfigurationError(
                "an operation name is 1 to 64 lower-case letters, digits and '_',"
                " starting with a letter"
            )
        if expires_after is not None and not (
            type(expires_after) is int and 1 <= expires_after <= MAX_EXPIRES_AFTER
        ):
            raise ConfigurationError(
                f"operation '{name}': expires_after is a whole number of seconds,"
                f" 1 to {MAX_EXPIRES_AFTER}"
            )
        self.name = name
        self.key: Source = _source(key, name, "key")
        self.payload: Source = _source(payload, name, "payload")
        self.expires_after = expires_after

    def __repr__(self) -> str:
        return f"IdempotentOperation({self.name!r})"


def _source(spec: object, operation: str, what: str) -> Source:
    if spec is None:
        return None
    if callable(spec):
        return spec
    texts = [spec] if isinstance(spec, str) else spec
    if not isinstance(texts, Sequence) or not texts:
        raise ConfigurationError(
            f"operation '{operation}': {what} is a path, a list of paths or a function"
        )
    paths = []
    for text in texts:
        try:
            paths.append(Path(text))
        except PathSyntaxError as exc:
            raise ConfigurationError(
                f"operation '{operation}': bad {what} path: {exc}"
            ) from None
    return tuple(paths)


def _select(
    paths: tuple[Path, ...], root: object, operation: str, what: str, where: str
) -> Any:
    """The values ``paths`` name in ``root``: one, or a list of them in order."""
    values = []
    for path in paths:
        try:
            value = path.read(root)
        except Missing:
            raise IdempotencyKeyError(
                f"operation '{operation}': the {what} path '{path.text}' names nothing in"
                f" the {where}",
                entity=ENTITY,
            ) from None
        except NotJson as exc:
            raise IdempotencyKeyError(
                f"operation '{operation}': the {what} path '{path.text}': {exc}",
                entity=ENTITY,
            ) from None
        if value is None and what == "key":
            raise IdempotencyKeyError(
                f"operation '{operation}': the key path '{path.text}' names null in the"
                f" {where}",
                entity=ENTITY,
            )
        values.append(value)
    return values[0] if len(values) == 1 else values


# --- hashing -----------------------------------------------------------------------------------


@functools.cache
def _encoders() -> tuple[json.JSONEncoder, json.JSONEncoder]:
    """The canonical encoder of keys and payloads, and the encoder of responses: built once
    (``json.dumps`` with options builds an encoder per call), when first needed."""
    import json

    canonical = json.JSONEncoder(
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )
    response = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return canonical, response


def canonical_json(data: Any) -> str:
    """``data`` as canonical JSON: keys sorted, no whitespace, text unescaped, no NaN or
    infinity. Decimals are written normalised (as text), dates and datetimes in ISO 8601,
    dataclasses as mappings; anything else without a JSON form is a TypeError."""
    return _encoders()[0].encode(data)


def _json_default(value: object) -> object:
    from datetime import date
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses

        return dataclasses.asdict(value)  # type: ignore[call-overload]
    raise TypeError(f"a {type(value).__name__} has no JSON form")


def _digest(data: Any, operation: str, what: str) -> str:
    """The SHA-256 (hex) of ``data``'s canonical JSON."""
    import hashlib

    try:
        text = canonical_json(data)
    except (TypeError, ValueError) as exc:
        # Neither message holds a value: json's name types and rules, ours a type name.
        reason = str(exc) if str(exc).startswith("a ") else type(exc).__name__
        raise IdempotencyKeyError(
            f"operation '{operation}': the {what} has no canonical JSON form ({reason});"
            f" give the operation a {what}= path or function that selects JSON data",
            entity=ENTITY,
        ) from None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _encoded_response(result: object) -> str | None:
    """The response as stored (JSON), or None when it has no JSON form (or holds text
    that is not Unicode, a lone surrogate, which could not be sent)."""
    try:
        text = _encoders()[1].encode(result)
        text.encode("utf-8")
    except (TypeError, ValueError):
        return None
    return text


# --- the local cache ---------------------------------------------------------------------------


class _Cache:
    """Completed calls kept in the process, least recently used dropped first: a repeat is
    replayed without a request while its record has not expired. Thread-safe."""

    __slots__ = ("_entries", "_lock", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str], tuple[str, str, int]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str], now: float) -> tuple[str, str] | None:
        """(payload hash, response JSON) of an unexpired completed call, or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[2] < now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[0], found[1]

    def put(
        self, key: tuple[str, str, str], payload_hash: str, response: str, expires: int
    ) -> None:
        with self._lock:
            self._entries[key] = (payload_hash, response, expires)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# --- idempotency -------------------------------------------------------------------------------


class _HeldTransaction(TransactWrite):
    """The transaction an atomic function fills: committed by ``Idempotency`` with the
    COMPLETED record in it (``TransactWrite.commit``), never by the function, whose writes
    would otherwise commit without the record."""

    __slots__ = ()

    def commit(self) -> None:
        raise ValidationFailed(
            "an atomic idempotent function's transaction is committed for it, with its"
            " idempotency record; do not commit it",
            entity=ENTITY,
        )


class Idempotency:
    """Idempotent handlers and functions, with records in the table of ``table`` (a generated
    table object whose schema has an ``idempotency`` section naming its table).

    - ``in_progress_expiry``: seconds a call holds its key. None (the default): until the
      invocation's deadline (a Lambda invocation cannot outlive it), else 900. A longer one
      keeps a repeat that follows a timeout from running again until it ends.
    - ``wait``: seconds a repeat waits for a call in progress to finish (reading the record
      with a growing pause, within the deadline) before ``AlreadyInProgress``; 0 fails at once.
    - ``on_failure``: ``"delete"`` the record when the function raises (a repeat runs again),
      or ``"keep"`` it FAILED until it expires (a repeat raises ``PreviousCallFailed``).
    - ``cache_size``: completed calls kept in the process (0: none), replayed with no request.
    - ``clock`` (seconds since the epoch) and ``sleep`` are injected for tests.
    """

    __slots__ = (
        "_cache",
        "_clock",
        "_expires_after",
        "_handle",
        "_records",
        "_sleep",
        "in_progress_expiry",
        "on_failure",
        "wait",
    )

    def __init__(
        self,
        table: object,
        *,
        in_progress_expiry: float | None = None,
        wait: float = 0.0,
        on_failure: Literal["delete", "keep"] = "delete",
        cache_size: int = 0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        records = getattr(type(table), "idempotency_records", None)
        handle = getattr(table, "handle", None)
        if records is None or not isinstance(handle, TableHandle):
            raise ConfigurationError(
                f"a {type(table).__name__} holds no idempotency records: give Idempotency"
                " the generated table class named by the schema's idempotency section"
            )
        if in_progress_expiry is not None and not 0 < in_progress_expiry < float("inf"):
            raise ConfigurationError(
                "in_progress_expiry is a positive number of seconds"
            )
        if not 0 <= wait < float("inf"):
            raise ConfigurationError("wait is a number of seconds, 0 or more")
        if on_failure not in ("delete", "keep"):
            raise ConfigurationError('on_failure is "delete" or "keep"')
        if type(cache_size) is not int or cache_size < 0:
            raise ConfigurationError("cache_size is a whole number, 0 or more")
        self._records: RecordClass = records
        self._handle = handle
        self._expires_after: int = getattr(
            type(table), "idempotency_expires_after", DEFAULT_EXPIRES_AFTER
        )
        self.in_progress_expiry = in_progress_expiry
        self.wait = wait
        self.on_failure = on_failure
        self._cache = _Cache(cache_size) if cache_size else None
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Idempotency(table {self._handle.definition.logical_name!r})"

    def clear_cache(self) -> None:
        """Forget the completed calls kept in the process."""
        if self._cache is not None:
            self._cache.clear()

    def record(
        self, operation: IdempotentOperation | str, key: object
    ) -> Record | None:
        """The stored record of ``operation`` for the idempotency key ``key`` (the data the
        operation's key paths or function read: one value, or the list of them), under the
        partner and tenant bound now; None when there is none. For inspection: deleting it
        (``table.handle.delete_item(record.key(), entity="IdempotencyRecord")``) lets the
        key run again."""
        name = operation if isinstance(operation, str) else operation.name
        bound = context.current()
        key_hash = _digest([bound.partner, bound.tenant, key], name, "key")
        item = self._handle.get_item(
            self._records.make_key(operation=name, key_hash=key_hash),
            entity=ENTITY,
            consistent=True,
        )
        return None if item is None else self._records.from_item(item)

    # --- decorators ----------------------------------------------------------------------------

    def handler(
        self, operation: IdempotentOperation
    ) -> Callable[[Callable[[Any, Any], R]], Callable[[Any, Any], R]]:
        """Decorate a Lambda handler ``(event, context)``: key and payload from the event."""
        _needs_key(operation)

        def decorate(function: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
            @functools.wraps(function)
            def run(event: Any, lambda_context: Any) -> R:
                result: R = self._run(
                    operation,
                    lambda: _event_data(operation, event),
                    lambda tx: function(event, lambda_context),
                    atomic=False,
                    lambda_context=lambda_context,
                )
                return result

            return run

        return decorate

    def atomic_handler(
        self, operation: IdempotentOperation
    ) -> Callable[[Callable[[Any, Any, TransactWrite], R]], Callable[[Any, Any], R]]:
        """Decorate a Lambda handler ``(event, context, tx)``: its writes added to ``tx``
        commit in one TransactWriteItems with the COMPLETED record, or not at all."""
        _needs_key(operation)

        def decorate(
            function: Callable[[Any, Any, TransactWrite], R],
        ) -> Callable[[Any, Any], R]:
            @functools.wraps(function)
            def run(event: Any, lambda_context: Any) -> R:
                def body(tx: TransactWrite | None) -> R:
                    assert tx is not None
                    return function(event, lambda_context, tx)

                result: R = self._run(
                    operation,
                    lambda: _event_data(operation, event),
                    body,
                    atomic=True,
                    lambda_context=lambda_context,
                )
                return result

            return run

        return decorate

    def function(
        self, operation: IdempotentOperation
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a plain function: key and payload from its arguments, by name."""

        def decorate(function: Callable[P, R]) -> Callable[P, R]:
            signature = _signature(function, atomic=False)

            @functools.wraps(function)
            def run(*args: P.args, **kwargs: P.kwargs) -> R:
                result: R = self._run(
                    operation,
                    lambda: _argument_data(operation, signature, args, kwargs),
                    lambda tx: function(*args, **kwargs),
                    atomic=False,
                    lambda_context=None,
                )
                return result

            return run

        return decorate

    def atomic_function(
        self, operation: IdempotentOperation
    ) -> Callable[[Callable[..., R]], Callable[..., R]]:
        """Decorate a function that takes a keyword argument ``tx`` (a TransactWrite, given
        by the decorator, not by callers): its writes added to ``tx`` commit with the
        COMPLETED record in one TransactWriteItems."""

        def decorate(function: Callable[..., R]) -> Callable[..., R]:
            signature = _signature(function, atomic=True)

            @functools.wraps(function)
            def run(*args: Any, **kwargs: Any) -> R:
                def body(tx: TransactWrite | None) -> R:
                    return function(*args, **kwargs, tx=tx)

                result: R = self._run(
                    operation,
                    lambda: _argument_data(operation, signature, args, kwargs),
                    body,
                    atomic=True,
                    lambda_context=None,
                )
                return result

            return run

        return decorate

    # --- one call ------------------------------------------------------------------------------

    def _run(
        self,
        operation: IdempotentOperation,
        data: Callable[[], tuple[Any, Any]],
        body: Callable[[TransactWrite | None], Any],
        *,
        atomic: bool,
        lambda_context: object,
    ) -> Any:
        if os.environ.get(DISABLED_ENV, "").lower() in ("1", "true", "yes"):
            import warnings

            warnings.warn(
                f"{DISABLED_ENV} is set: idempotent calls run every time, with no record"
                " (for tests only)",
                RuntimeWarning,
                stacklevel=3,
            )
            return _without_records(body, atomic)
        key, payload = (
            data()
        )  # the call's key and payload, read before anything is sent
        bound = context.current()
        key_hash = _digest([bound.partner, bound.tenant, key], operation.name, "key")
        payload_hash = _digest(payload, operation.name, "payload")
        call = _Call(self, operation, key_hash, payload_hash, lambda_context)
        if self._cache is not None:
            cached = self._cache.get(call.cache_key, call.now)
            if cached is not None:
                if cached[0] != payload_hash:
                    raise call.mismatch()
                return _decoded(cached[1])
        while True:
            stored = call.begin()
            if stored is None:
                return call.run(body, atomic)
            if stored.status != IN_PROGRESS or stored.payload_hash != payload_hash:
                return call.repeat(stored)
            stored = call.wait_for(stored)
            if stored is not None:
                return call.repeat(stored)
            # The record was released or its lock expired: try to take the key again.


def _needs_key(operation: IdempotentOperation) -> None:
    if operation.key is None:
        raise ConfigurationError(
            f"operation '{operation.name}': an idempotent handler needs a key (a path into"
            " the event, or a function of it)"
        )


def _event_data(operation: IdempotentOperation, event: object) -> tuple[Any, Any]:
    """The key and payload of a handler's call, from its event."""
    source = operation.key
    if callable(source):
        key = source(event)
    else:
        assert source is not None
        key = _select(source, event, operation.name, "key", "event")
    source = operation.payload
    if source is None:
        payload = event
    elif callable(source):
        payload = source(event)
    else:
        payload = _select(source, event, operation.name, "payload", "event")
    return key, payload


def _signature(function: Callable[..., Any], *, atomic: bool) -> inspect.Signature:
    """The signature callers call ``function`` with (an atomic one's without ``tx``)."""
    import inspect

    signature = inspect.signature(function)
    if not atomic:
        return signature
    if "tx" not in signature.parameters:
        raise ConfigurationError(
            f"{function.__qualname__} takes no 'tx': an atomic idempotent function adds its"
            " writes to the transaction it is given as tx="
        )
    return signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != "tx"]
    )


def _argument_data(
    operation: IdempotentOperation,
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> tuple[Any, Any]:
    """The key and payload of a function's call, from its arguments by name."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{operation.name}: {exc}") from None
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    values = []
    for source in (operation.key, operation.payload):
        if source is None:
            values.append(arguments)
        elif callable(source):
            values.append(source(*args, **kwargs))
        else:
            what = "key" if source is operation.key else "payload"
            values.append(_select(source, arguments, operation.name, what, "arguments"))
    return values[0], values[1]


def _without_records(body: Callable[[TransactWrite | None], Any], atomic: bool) -> Any:
    """The call as if it were not idempotent (``DYNAMORM_IDEMPOTENCY_DISABLED``)."""
    if not atomic:
        return body(None)
    tx = TransactWrite()
    result = body(tx)
    tx.commit()
    return result


def _decoded(response: str) -> Any:
    import json

    return json.loads(response)


class _Call:
    """One idempotent call: its key's record, the lock it holds, and the requests it makes."""

    __slots__ = (
        "cache_key",
        "idempotency",
        "key_hash",
        "lock_until",
        "now",
        "operation",
        "owner",
        "payload_hash",
        "polls",
        "record",
        "waited",
    )

    def __init__(
        self,
        idempotency: Idempotency,
        operation: IdempotentOperation,
        key_hash: str,
        payload_hash: str,
        lambda_context: object,
    ) -> None:
        self.idempotency = idempotency
        self.operation = operation
        self.key_hash = key_hash
        self.payload_hash = payload_hash
        self.owner = os.urandom(16).hex()
        self.now = idempotency._clock()
        self.lock_until = self.now + _lock_seconds(idempotency, lambda_context)
        self.cache_key = (idempotency._handle.name, operation.name, key_hash)
        self.record = self.made(IN_PROGRESS)
        self.waited = 0.0  # seconds slept waiting for another call with the key
        self.polls = 0

    # --- the record --------------------------------------------------------------------------

    def made(
        self,
        status: Status,
        *,
        response: str | None = None,
        failure: str | None = None,
        now: float | None = None,
    ) -> Record:
        """This call's record in ``status``; it expires ``expires_after`` seconds from
        ``now`` (the call's start by default), and in progress never before its lock ends."""
        idempotency = self.idempotency
        expires_after = self.operation.expires_after or idempotency._expires_after
        expires_at = int(self.now if now is None else now) + expires_after
        if status == IN_PROGRESS:
            expires_at = max(expires_at, int(self.lock_until) + 1)
        return idempotency._records(
            operation=self.operation.name,
            key_hash=self.key_hash,
            status=status,
            expires_at=expires_at,
            in_progress_until=int(self.lock_until * 1000),
            payload_hash=self.payload_hash,
            owner=self.owner,
            response=response,
            failure=failure,
        )

    def _send(
        self, operation: str, request: dict[str, Any], kind: Any
    ) -> dict[str, Any]:
        handle = self.idempotency._handle
        return handle.connection.client.call(
            operation, request, kind, table=handle.name, entity=ENTITY
        )

    def _mine(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The condition that the stored record is still this call's, in progress."""
        return (
            "#i_owner = :i_owner AND #i_status = :i_in_progress",
            {"#i_owner": _OWNER, "#i_status": _STATUS},
            {":i_owner": {"S": self.owner}, ":i_in_progress": {"S": IN_PROGRESS}},
        )

    def _put_mine(self, record: Record) -> dict[str, Any]:
        """A Put of ``record`` over this call's record (PutItem's or a transaction's)."""
        expression, names, values = self._mine()
        return {
            "TableName": self.idempotency._handle.name,
            "Item": record.to_item(),
            "ConditionExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _read(self) -> Record | None:
        response = self._send(
            "GetItem",
            {
                "TableName": self.idempotency._handle.name,
                "Key": self.record.key(),
                "ConsistentRead": True,
            },
            READ,
        )
        item = response.get("Item")
        return None if not item else self.idempotency._records.from_item(item)

    # --- taking the key ----------------------------------------------------------------------

    def begin(self) -> Record | None:
        """Write the record IN_PROGRESS, unless another call's record holds the key: None
        when this call holds it now, else the stored record."""
        handle = self.idempotency._handle
        definition = handle.definition
        now = self.idempotency._clock()
        request = {
            "TableName": handle.name,
            "Item": self.record.to_item(),
            "ConditionExpression": "attribute_not_exists(#i_pk) OR #i_expires < :i_now"
            " OR (#i_status = :i_in_progress AND #i_until < :i_now_ms)",
            "ExpressionAttributeNames": {
                "#i_pk": definition.key_names[0],
                "#i_expires": definition.ttl_attribute or "",
                "#i_status": _STATUS,
                "#i_until": _IN_PROGRESS_UNTIL,
            },
            "ExpressionAttributeValues": {
                ":i_now": {"N": str(int(now))},
                ":i_now_ms": {"N": str(int(now * 1000))},
                ":i_in_progress": {"S": IN_PROGRESS},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        for _ in range(MAX_BEGINS):
            try:
                self._send("PutItem", request, CONDITIONAL)
            except ConditionFailed as failure:
                # dynalite returns no old item: then it is read.
                stored = self.stored(failure)
                if stored is None:
                    continue  # released since: try again
                if stored.owner == self.owner and stored.status == IN_PROGRESS:
                    return None  # a resend found this call's own first attempt
                return stored
            return None
        # Released each time before it could be read: busy enough to count as in progress.
        raise AlreadyInProgress(
            f"operation '{self.operation.name}': calls with this idempotency key keep"
            " taking and releasing it; retry later",
            table=self.idempotency._handle.name,
            entity=ENTITY,
        )

    def wait_for(self, stored: Record) -> Record | None:
        """Read the record until its call finishes (the record, to repeat), or it is gone
        or its lock expired (None: take the key); AlreadyInProgress once the call has
        waited ``wait`` seconds in all, or when the deadline leaves no time to."""
        while True:
            left = self.idempotency.wait - self.waited
            deadline = context.current().deadline
            if deadline is not None:
                left = min(left, deadline.remaining())
            if left <= 0:
                raise self.in_progress(stored)
            pause = min(FIRST_POLL * 2**self.polls, LONGEST_POLL, left)
            self.idempotency._sleep(pause)
            self.waited += pause
            self.polls += 1
            if deadline is not None and deadline.remaining() <= 0:
                raise self.in_progress(stored)  # no time left to read it again
            found = self._read()
            if found is None:
                return None
            if found.status != IN_PROGRESS or found.payload_hash != self.payload_hash:
                return found
            if found.in_progress_until < int(self.idempotency._clock() * 1000):
                return None
            stored = found

    # --- repeats -----------------------------------------------------------------------------

    def repeat(self, stored: Record) -> Any:
        """What a repeat of the call ``stored`` records gets: its response, or an error."""
        if stored.payload_hash != self.payload_hash:
            raise self.mismatch()
        if stored.status == FAILED:
            raise PreviousCallFailed(
                f"operation '{self.operation.name}': an earlier call with this key failed"
                f" ({stored.failure or 'an exception'}), and its record is kept until it"
                " expires",
                table=self.idempotency._handle.name,
                entity=ENTITY,
                failure=stored.failure,
            )
        if stored.status == IN_PROGRESS:
            raise self.in_progress(stored)
        if stored.response is None:
            raise ResponseNotStored(
                f"operation '{self.operation.name}': the call with this key completed,"
                " but its response could not be stored (over DynamoDB's 400 KB, or no"
                " JSON form), so it cannot be replayed",
                table=self.idempotency._handle.name,
                entity=ENTITY,
                applied=True,
            )
        self.remember(stored.response, stored.expires_at)
        return _decoded(stored.response)

    def mismatch(self) -> PayloadMismatch:
        return PayloadMismatch(
            f"operation '{self.operation.name}': this idempotency key was used with"
            " another payload",
            table=self.idempotency._handle.name,
            entity=ENTITY,
        )

    def in_progress(self, stored: Record) -> AlreadyInProgress:
        retry_after = max(
            0.0, stored.in_progress_until / 1000 - self.idempotency._clock()
        )
        return AlreadyInProgress(
            f"operation '{self.operation.name}': a call with this idempotency key is in"
            f" progress (its lock ends in {retry_after:.1f} s); retry later",
            table=self.idempotency._handle.name,
            entity=ENTITY,
            retry_after=retry_after,
        )

    def remember(self, response: str, expires_at: int) -> None:
        cache = self.idempotency._cache
        if cache is not None:
            cache.put(self.cache_key, self.payload_hash, response, expires_at)

    # --- running -----------------------------------------------------------------------------

    def run(self, body: Callable[[TransactWrite | None], Any], atomic: bool) -> Any:
        """Run the function while holding the key, and record what it did."""
        if atomic:
            return self.run_atomic(body)
        try:
            result = body(None)
        except Exception as exc:
            self.release(exc, keep=self.keeps(exc))
            raise
        completed, reason = self.completed(result)
        try:
            self._send("PutItem", self._put_mine(completed), CONDITIONAL)
        except ConditionFailed as failure:
            if not (failure.after_uncertain and self.is_mine(failure, COMPLETED)):
                raise self.lock_lost(applied=True) from None
        if reason:
            raise self.not_stored(reason, result, applied=True)
        assert completed.response is not None
        self.remember(completed.response, completed.expires_at)
        return result

    def token(self, attempt: int) -> str:
        """The client request token of this call's transaction: derived from its key and
        from the call (its owner), so a resend of the commit is deduplicated by DynamoDB and
        no other call can ever send the same token; ``attempt`` counts commits retried
        after a conflict."""
        import hashlib

        text = f"{self.operation.name}#{self.key_hash}#{self.owner}#{attempt}"
        return hashlib.sha256(text.encode()).hexdigest()[:36]

    def run_atomic(self, body: Callable[[TransactWrite | None], Any]) -> Any:
        tx = _HeldTransaction(self.token(0))
        try:
            result = body(tx)
            completed, reason = self.completed(result)
            if reason:
                raise self.not_stored(reason, result, applied=False)
            tx.add(
                self.idempotency._handle,
                "Put",
                self._put_mine(completed),
                entity=ENTITY,
            )
        except Exception as exc:
            self.release(exc, keep=self.keeps(exc))
            raise
        self.commit(tx)
        assert completed.response is not None
        self.remember(completed.response, completed.expires_at)
        return result

    def commit(self, tx: TransactWrite) -> None:
        """Commit the function's writes with the COMPLETED record (its last action); settle
        what a failure means for the record."""
        keep = self.idempotency.on_failure == "keep"
        record = len(tx) - 1
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                TransactWrite.commit(tx)
                return
            except TransactionCancelled as exc:
                codes = {index: code for index, _, code in exc.reasons}
                if codes.get(record) == "ConditionalCheckFailed":
                    raise self.lock_lost(applied=False) from None
                conflict = bool(codes) and set(codes.values()) == {
                    "TransactionConflict"
                }
                if conflict and attempt < COMMIT_ATTEMPTS:
                    # Another request held an item: nothing was applied; again, under a
                    # token of its own (the first one's answer could be replayed).
                    self.idempotency._sleep(FIRST_POLL * 2**attempt)
                    tx.renew_token(self.token(attempt))
                    continue
                self.release(exc, keep=keep)
                raise
            except ResponseLost:
                return  # committed: its answer was lost
            except OutcomeUnknown as exc:
                # Settle it: a release that finds the record COMPLETED by this call means
                # the transaction committed; one that succeeds means it never will (its
                # condition needs this call's record in progress).
                if self.release(exc, keep=keep) != COMPLETED:
                    raise
                return
            except DynamormError as exc:
                self.release(exc, keep=keep)  # refused: nothing was applied
                raise

    def completed(self, result: object) -> tuple[Record, str]:
        """The COMPLETED record of ``result``, and why its response is not in it ("" when
        it is)."""
        response = _encoded_response(result)
        now = self.idempotency._clock()
        if response is None:
            return self.made(COMPLETED, now=now), "it has no JSON form"
        record = self.made(COMPLETED, response=response, now=now)
        if len(response) * 4 > MAX_RECORD_BYTES - 1024:
            from dynamorm_gen.runtime.limits import item_size

            if item_size(record.to_item()) > MAX_RECORD_BYTES:
                return self.made(COMPLETED, now=now), "it is over DynamoDB's 400 KB"
        return record, ""

    def not_stored(
        self, reason: str, result: object, applied: bool
    ) -> ResponseNotStored:
        error = ResponseNotStored(
            f"operation '{self.operation.name}': the response cannot be stored, {reason};"
            + (
                " the call's effects were applied, and repeats raise this error"
                if applied
                else " nothing was committed"
            ),
            table=self.idempotency._handle.name,
            entity=ENTITY,
            applied=applied,
        )
        error.response = result
        return error

    def lock_lost(self, *, applied: bool) -> LockLost:
        return LockLost(
            f"operation '{self.operation.name}': the call outlived its in-progress lock and"
            " another call took the key over; "
            + (
                "this call's effects were applied, and the other's may be too (use"
                " atomic mode, or a longer in_progress_expiry)"
                if applied
                else "nothing of this call was committed"
            ),
            table=self.idempotency._handle.name,
            entity=ENTITY,
        )

    def stored(self, failure: ConditionFailed) -> Record | None:
        """The record a condition failed on: the one returned, else read now."""
        if failure.item is None:
            return self._read()
        return self.idempotency._records.from_item(failure.item)

    def is_mine(self, failure: ConditionFailed, status: Status) -> bool:
        """Whether the record a condition failed on is this call's, in ``status``."""
        found = self.stored(failure)
        return (
            found is not None and found.owner == self.owner and found.status == status
        )

    def keeps(self, error: BaseException) -> bool:
        """Whether the record of a call that raised ``error`` is kept FAILED: by
        ``on_failure``, and always after a write of unknown outcome (or one applied whose
        answer was lost), which may have applied the function's effects: never released to
        run them again."""
        return self.idempotency.on_failure == "keep" or isinstance(
            error, OutcomeUnknown | ResponseLost
        )

    def release(self, error: BaseException, *, keep: bool) -> str:
        """Delete this call's record, or keep it FAILED, if it is still this call's and in
        progress. What is stored after: "" (released), the status of the record it found
        instead, "taken" (another call's), or "unknown" when the request failed (the record
        then stays until its lock ends)."""
        expression, names, values = self._mine()
        try:
            if keep:
                failed = self.made(FAILED, failure=type(error).__name__)
                request = self._put_mine(failed)
                request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
                self._send("PutItem", request, CONDITIONAL)
            else:
                self._send(
                    "DeleteItem",
                    {
                        "TableName": self.idempotency._handle.name,
                        "Key": self.record.key(),
                        "ConditionExpression": expression,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    },
                    CONDITIONAL,
                )
        except ConditionFailed as failure:
            try:
                found = self.stored(failure)
            except DynamormError:
                return "unknown"
            if found is None or found.owner != self.owner:
                return "" if failure.after_uncertain else "taken"
            if failure.after_uncertain and found.status == FAILED:
                return ""
            return found.status
        except DynamormError:
            return "unknown"
        return ""


def _lock_seconds(idempotency: Idempotency, lambda_context: object) -> float:
    """How long a call holds its key: ``in_progress_expiry``, else until the invocation's
    deadline (the bound one, else the Lambda context's remaining time), else the default."""
    if idempotency.in_progress_expiry is not None:
        return idempotency.in_progress_expiry
    deadline = context.current().deadline
    if deadline is not None:
        return max(0.0, deadline.at - time.monotonic())
    remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        return max(0.0, float(remaining()) / 1000)
    return DEFAULT_IN_PROGRESS_EXPIRY
