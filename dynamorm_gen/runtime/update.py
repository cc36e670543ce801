"""Updates: what generated ``<Entity>Update`` builders collect, and how an update is sent.

Builders are plain classes generated per entity, one method per attribute and action. Each
method checks and converts its value, then records one change here: the stored attribute
name, the action (set, set if absent, remove, add, delete members, append) and the wire
value. The changes are kept as data, not as expression text, so the runtime can reason about
them: whether applying the update twice gives another result than applying it once
(``accumulates``), and what the stored item must hold afterwards. ``request`` writes the
UpdateExpression from them, numbering the placeholders itself, and adds what every update
needs: the item must exist, the version (when the entity has one) is checked and incremented
in the same request, and ``auto: update`` timestamps move.

Changing an attribute that index key templates use also rebuilds (or, for a sparse index the
item leaves, removes) those index keys. Builders record them by stored name too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from dynamorm_gen.runtime.condition import Condition, merge
from dynamorm_gen.runtime.errors import (
    ConditionFailed,
    DynamormError,
    NotFound,
    OutcomeUnknown,
    ResponseLost,
    TransactionCancelled,
    ValidationFailed,
)
from dynamorm_gen.runtime.retry import CONDITIONAL, IDEMPOTENT, UNCERTAIN, UNSAFE
from dynamorm_gen.runtime.table import TableHandle, call_expecting_item
from dynamorm_gen.runtime.types import AttributeValue, Item, Key

if TYPE_CHECKING:
    from dynamorm_gen.runtime.encryption import EncryptedField
    from dynamorm_gen.runtime.table import Connection

_RETURN_VALUES = {"new": "ALL_NEW", "old": "ALL_OLD", "none": "NONE"}

# The actions of a change. ``ADD`` takes a number or set members, ``DELETE`` set members,
# ``APPEND`` a list; ``REMOVE`` has no value.
SET = "set"
SET_IF_ABSENT = "set_if_absent"
REMOVE = "remove"
ADD = "add"
DELETE = "delete"
APPEND = "append"


class Change(NamedTuple):
    """One change of an update: the stored attribute name, the action, its wire value."""

    name: str
    action: str
    # None for REMOVE, and for an encrypted value: it is sealed when the update is sent.
    value: AttributeValue | None


class Update:
    """The base of generated ``<Entity>Update`` builders: the changes of one UpdateItem."""

    __slots__ = ("_changes", "_encrypted", "_expected", "_keys")

    def __init__(self) -> None:
        # Stored name -> (action, wire value), in the order the builder's methods were called.
        self._changes: dict[str, tuple[str, AttributeValue | None]] = {}
        # Encrypted attributes set, by stored name: their values, sealed when the update is
        # sent (the envelope binds the item's key, which the builder does not know).
        self._encrypted: dict[str, tuple[EncryptedField, str | bytes]] = {}
        # Index key attributes by stored name: the new value, or None to remove the key.
        self._keys: dict[str, AttributeValue | None] = {}
        # What the stored item must hold for the rebuilt keys to be right: the other
        # attributes of their templates, as the caller gave them (None: absent).
        self._expected: dict[str, AttributeValue | None] = {}

    def _change(
        self, stored: str, where: str, action: str, value: AttributeValue | None
    ) -> None:
        """Claim attribute ``stored`` for one change; DynamoDB rejects two changes to one
        path. ``where`` (``Entity.attribute``) names it in the error."""
        if stored in self._changes:
            raise ValidationFailed(f"{where} is changed twice in one update")
        self._changes[stored] = (action, value)

    def _set(self, stored: str, where: str, value: AttributeValue) -> None:
        self._change(stored, where, SET, value)

    def _set_if_absent(self, stored: str, where: str, value: AttributeValue) -> None:
        """Set unless the stored item holds the attribute already (``if_not_exists``)."""
        self._change(stored, where, SET_IF_ABSENT, value)

    def _set_encrypted(
        self, stored: str, field: EncryptedField, value: str | bytes, action: str = SET
    ) -> None:
        """Set (or, ``action`` SET_IF_ABSENT, set unless present) encrypted attribute
        ``stored``; ``value`` is checked now and sealed when the update is sent."""
        field.check(value)
        self._change(stored, field.where, action, None)
        self._encrypted[stored] = (field, value)

    def _remove(self, stored: str, where: str) -> None:
        self._change(stored, where, REMOVE, None)

    def _add(self, stored: str, where: str, value: AttributeValue) -> None:
        """Add a number (``{"N": ...}``) to a stored number, or members (``SS``, ``NS``,
        ``BS``) to a stored set; an absent attribute counts as 0 or the empty set."""
        self._change(stored, where, ADD, value)

    def _delete(self, stored: str, where: str, value: AttributeValue) -> None:
        """Remove members (``SS``, ``NS``, ``BS``) from a stored set."""
        self._change(stored, where, DELETE, value)

    def _append(self, stored: str, where: str, value: AttributeValue) -> None:
        """Append the items of a list (``{"L": [...]}``) to a stored list (absent: empty)."""
        self._change(stored, where, APPEND, value)

    def _set_key(self, stored: str, value: AttributeValue, entity: str) -> None:
        """Write index key attribute ``stored``, rebuilt from the attributes being set."""
        self._key(stored, value, entity)

    def _remove_key(self, stored: str, entity: str) -> None:
        """Remove index key attribute ``stored``: the item leaves a sparse index."""
        self._key(stored, None, entity)

    def _key(self, stored: str, value: AttributeValue | None, entity: str) -> None:
        # Two changes may rebuild one key (sk "{a}#{b}": set_a(.., b=..) and set_b(.., a=..)).
        # Equal results are one change; different ones mean the arguments disagree.
        if stored in self._keys and self._keys[stored] != value:
            raise ValidationFailed(
                f"index key {stored} is rebuilt two different ways in one update",
                entity=entity,
            )
        self._keys[stored] = value

    def _expect(self, stored: str, value: AttributeValue | None, entity: str) -> None:
        """Require the stored item's ``stored`` attribute to equal ``value`` (None: to be
        absent), so that an index key rebuilt from a wrong argument fails the update."""
        if stored in self._expected and self._expected[stored] != value:
            raise ValidationFailed(
                f"{stored} is given two different values in one update", entity=entity
            )
        self._expected[stored] = value

    @property
    def accumulates(self) -> bool:
        """Whether applying this update twice gives another result than applying it once:
        it adds to a number or appends to a list. SET, set if absent, REMOVE and adding or
        deleting set members are repeatable. (The version increment of a versioned entity is
        not a change of the builder: without ``expected_version`` it accumulates too.)"""
        return any(
            action == APPEND or (action == ADD and value is not None and "N" in value)
            for action, value in self._changes.values()
        )

    def sealed(
        self, connection: Connection, key: Key
    ) -> dict[str, tuple[str, AttributeValue | None]]:
        """The changes by stored name, encrypted values sealed for the item ``key`` through
        ``connection``: what one request sends (each request seals afresh)."""
        if not self._encrypted:
            return self._changes
        changes = dict(self._changes)
        for stored, (field, value) in self._encrypted.items():
            changes[stored] = (changes[stored][0], field.seal(connection, key, value))
        return changes

    @property
    def changes(self) -> tuple[Change, ...]:
        """The changes, in the order they were made."""
        return tuple(
            Change(name, action, value)
            for name, (action, value) in self._changes.items()
        )

    @property
    def key_writes(self) -> tuple[tuple[str, AttributeValue | None], ...]:
        """The index key attributes this update writes, by stored name (sorted), with their
        new values; None where it removes one (the item leaves a sparse index)."""
        return tuple(sorted(self._keys.items()))

    @property
    def expectations(self) -> tuple[tuple[str, AttributeValue | None], ...]:
        """What the stored item must hold for the rebuilt index keys to be right, by stored
        name (sorted): the other attributes of their templates as the builder was given
        them; None where one must be absent."""
        return tuple(sorted(self._expected.items()))

    def __bool__(self) -> bool:
        return bool(self._changes or self._keys)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(sorted(self._changes))})"


def request(
    handle: TableHandle,
    key: Key,
    changes: Update,
    *,
    entity: str,
    touched: dict[str, AttributeValue],
    version: str | None = None,
    expected_version: int | None = None,
    when: Condition | None = None,
) -> dict[str, Any]:
    """UpdateItem's parameters: the changes, plus the item must exist, the version (when the
    entity has one) is incremented and, given ``expected_version``, checked. ``touched`` maps
    stored names of ``auto: update`` attributes, and of index keys built from them, to their
    new values. Encrypted values are sealed for the item ``key``."""
    return _request(
        handle,
        key,
        changes,
        changes.sealed(handle.connection, key),
        entity=entity,
        touched=touched,
        version=version,
        expected_version=expected_version,
        when=when,
    )


def _request(
    handle: TableHandle,
    key: Key,
    changes: Update,
    sealed: dict[str, tuple[str, AttributeValue | None]],
    *,
    entity: str,
    touched: dict[str, AttributeValue],
    version: str | None,
    expected_version: int | None,
    when: Condition | None,
) -> dict[str, Any]:
    """``request`` with the changes ``sealed`` already."""
    if not changes:
        raise ValidationFailed("an update needs at least one change", entity=entity)
    names = {"#k_pk": handle.definition.key_names[0]}
    values: Item = {}
    assignments: list[str] = []
    removals: list[str] = []
    additions: list[str] = []
    deletions: list[str] = []
    # Placeholders are numbered in the order of the stored names, as are the index keys and
    # expectations below: the same changes always give the same request, whatever the order
    # the builder's methods were called in.
    for i, (stored, (action, value)) in enumerate(sorted(sealed.items())):
        name, placeholder = f"#u{i}", f":u{i}"
        names[name] = stored
        if action == REMOVE or value is None:
            removals.append(name)
            continue
        values[placeholder] = value
        if action == SET:
            assignments.append(f"{name} = {placeholder}")
        elif action == SET_IF_ABSENT:
            assignments.append(f"{name} = if_not_exists({name}, {placeholder})")
        elif action == APPEND:
            values[f"{placeholder}e"] = {"L": []}
            assignments.append(
                f"{name} = list_append(if_not_exists({name}, {placeholder}e), {placeholder})"
            )
        elif action == ADD:
            additions.append(f"{name} {placeholder}")
        else:
            deletions.append(f"{name} {placeholder}")
    for i, (stored, key_value) in enumerate(sorted(changes._keys.items())):
        names[f"#i_{i}"] = stored
        if key_value is None:
            removals.append(f"#i_{i}")
        else:
            values[f":i_{i}"] = key_value
            assignments.append(f"#i_{i} = :i_{i}")
    for i, (stored, value) in enumerate(sorted(touched.items())):
        names[f"#t_{i}"] = stored
        values[f":t_{i}"] = value
        assignments.append(f"#t_{i} = :t_{i}")
    conditions = ["attribute_exists(#k_pk)"]
    # An attribute this update also changes is given its new value there, which the stored
    # item does not hold yet: only the others are checked.
    expected = [
        (k, v)
        for k, v in sorted(changes._expected.items())
        if k not in changes._changes
    ]
    for i, (stored, held) in enumerate(expected):
        names[f"#e_{i}"] = stored
        if held is None:
            conditions.append(f"attribute_not_exists(#e_{i})")
        else:
            values[f":e_{i}"] = held
            conditions.append(f"#e_{i} = :e_{i}")
    if version is not None:
        names["#k_version"] = version
        values[":k_one"] = {"N": "1"}
        assignments.append("#k_version = #k_version + :k_one")
        if expected_version is not None:
            values[":k_expected"] = {"N": str(expected_version)}
            conditions.append("#k_version = :k_expected")
    elif expected_version is not None:
        raise ValueError(f"{entity} has no version attribute to expect")
    clauses = [
        f"{keyword} {', '.join(parts)}"
        for keyword, parts in (
            ("SET", assignments),
            ("REMOVE", removals),
            ("ADD", additions),
            ("DELETE", deletions),
        )
        if parts
    ]
    built: dict[str, Any] = {
        "TableName": handle.name,
        "Key": key,
        "UpdateExpression": " ".join(clauses),
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
    }
    if values:
        built["ExpressionAttributeValues"] = values
    return merge(built, when)


def apply(
    handle: TableHandle,
    key: Key,
    changes: Update,
    *,
    entity: str,
    touched: dict[str, AttributeValue],
    version: str | None = None,
    expected_version: int | None = None,
    returning: str = "new",
    when: Condition | None = None,
    old_on_failure: bool = False,
    retry_safe: bool = False,
) -> Item | None:
    """Send the update; returns the item as ``returning`` asks ("new", "old" or "none").

    How it may be resent (see retry.py) follows from what it does: with ``expected_version``
    only one attempt can apply it (conditional); an update that adds to a number, appends to
    a list, or increments a version without checking it applies again when repeated, so it is
    never resent once it may have arrived (unsafe: OutcomeUnknown), unless ``retry_safe``
    sends it as a one-action TransactWriteItems with a client request token, which DynamoDB
    applies at most once however often it is resent within ten minutes (``_apply_once``).
    Any other update sets values, and repeating it changes nothing (idempotent).
    """
    if returning not in _RETURN_VALUES:
        raise ValueError(f"returning must be one of {', '.join(_RETURN_VALUES)}")
    if retry_safe and returning == "old":
        raise ValidationFailed(
            'returning="old" is not available with retry_safe=True: a transaction returns'
            " no item",
            operation="UpdateItem",
            entity=entity,
        )
    sealed = changes.sealed(handle.connection, key)
    built = _request(
        handle,
        key,
        changes,
        sealed,
        entity=entity,
        touched=touched,
        version=version,
        expected_version=expected_version,
        when=when,
    )
    only_existence = expected_version is None and not when and not changes._expected
    if retry_safe:
        return _apply_once(
            handle,
            key,
            built,
            entity=entity,
            returning=returning,
            old_on_failure=old_on_failure,
            only_existence=only_existence,
        )
    built["ReturnValues"] = _RETURN_VALUES[returning]
    if old_on_failure:
        built["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if expected_version is not None:
        kind = CONDITIONAL
    elif changes.accumulates or version is not None:
        kind = UNSAFE
    else:
        kind = IDEMPOTENT
    try:
        response = call_expecting_item(
            handle,
            "UpdateItem",
            built,
            entity,
            only_existence=only_existence,
            kind=kind,
        )
    except ConditionFailed as failure:
        if not failure.after_uncertain:
            raise
        stored = handle._stored(failure, key, entity)
        settled = _settled(
            changes, sealed, stored, touched, version, expected_version, failure, entity
        )
        if not settled:
            raise
        # An earlier attempt applied this update: the stored item is its result.
        if returning == "old":
            raise _old_lost(handle, entity) from None
        return stored if returning == "new" else None
    if returning == "old" and response["ResponseMetadata"].get(UNCERTAIN):
        # A resend after an attempt that may have landed: what it replaced may be that
        # attempt's own result, not the item before this update.
        raise _old_lost(handle, entity)
    attributes: Item | None = response.get("Attributes")
    return attributes


def _settled(
    changes: Update,
    sealed: dict[str, tuple[str, AttributeValue | None]],
    stored: Item | None,
    touched: dict[str, AttributeValue],
    version: str | None,
    expected_version: int | None,
    failure: ConditionFailed,
    entity: str,
) -> bool:
    """Whether ``stored``, the item a resent update's condition failed on, is that update's
    own result: an earlier attempt was applied. Every change whose result can be seen must
    show (the values set, the attributes removed, the set members added or deleted, the index
    keys and the ``auto: update`` timestamps written), and the version must be the expected
    one plus one. An ADD to a number or a list append cannot be seen in the item: then only a
    timestamp this call wrote (unique to it) tells; without one, OutcomeUnknown."""
    from dynamorm_gen.runtime.compare import contains_values, same_value

    if stored is None:
        return False  # an update never deletes: the item was not there to update
    if version is not None and expected_version is not None:
        held = stored.get(version)
        if held is None or not same_value(held, {"N": str(expected_version + 1)}):
            return False
    expected: dict[str, AttributeValue | None] = {**changes._keys, **touched}
    for name, (action, value) in sealed.items():
        if action == SET:
            expected[name] = value
        elif action == REMOVE:
            expected[name] = None
        elif action == SET_IF_ABSENT and name not in stored:
            return False
        elif action in (ADD, DELETE) and value is not None and "N" not in value:
            members_show = _members_show(stored.get(name), value, action == ADD)
            if not members_show:
                return False
    if not contains_values(stored, expected):
        return False
    if changes.accumulates and not touched:
        raise OutcomeUnknown(
            "the update may or may not have been applied: a resend found the item"
            " changed, and adding to a number or appending to a list leaves no trace to"
            " tell whose change it was",
            operation="UpdateItem",
            table=failure.table,
            entity=entity,
            code=failure.code,
        )
    return True


def _members_show(
    stored: AttributeValue | None, members: AttributeValue, added: bool
) -> bool:
    """Whether the set members of an ADD (``added``) are all in the stored set, or those of a
    DELETE all out of it."""
    from dynamorm_gen.runtime.compare import same_value

    ((tag, wanted),) = members.items()
    held = list(stored.get(tag, [])) if stored is not None else []

    def present(member: Any) -> bool:
        return any(same_value({tag: [member]}, {tag: [h]}) for h in held)

    if added:
        return all(present(m) for m in wanted)
    return not any(present(m) for m in wanted)


def _old_lost(handle: TableHandle, entity: str) -> ResponseLost:
    return ResponseLost(
        "the update was applied, but the item it replaced was lost with an earlier"
        " attempt; read the item for its current values",
        operation="UpdateItem",
        table=handle.name,
        entity=entity,
    )


def _apply_once(
    handle: TableHandle,
    key: Key,
    built: dict[str, Any],
    *,
    entity: str,
    returning: str,
    old_on_failure: bool,
    only_existence: bool,
) -> Item | None:
    """The update as the only action of a TransactWriteItems with a client request token: a
    resend of this request within DynamoDB's ten-minute window is never applied twice, so the
    retry loop may resend it after any failure. A transaction returns no item, so "new" is
    read back afterwards, consistently."""
    import uuid  # deferred: only retry-safe updates pay for it

    if old_on_failure:
        built["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    transaction = {
        "TransactItems": [{"Update": built}],
        "ClientRequestToken": str(uuid.uuid4()),
    }
    try:
        handle._call("TransactWriteItems", transaction, entity, IDEMPOTENT)
    except TransactionCancelled as exc:
        if [code for _, _, code in exc.reasons] != ["ConditionalCheckFailed"]:
            raise
        # The same errors as the plain update's (call_expecting_item): NotFound when the
        # item's absence is certain, else ConditionFailed, with the stored item if asked for.
        item = exc.items[0] if exc.items else None
        missing = only_existence or (old_on_failure and item is None)
        error = (NotFound if missing else ConditionFailed)(
            "no such item" if missing else "ConditionalCheckFailed",
            operation="TransactWriteItems",
            table=handle.name,
            entity=entity,
            code="ConditionalCheckFailed",
        )
        error.item = item
        error.server_message = exc.server_message
        raise error from None
    if returning != "new":
        return None
    try:
        return handle.get_item(key, entity=entity, consistent=True)
    except DynamormError as exc:
        # The update was applied: an error here must not look like a write to repeat.
        raise ResponseLost(
            "the update was applied, but reading the item back failed",
            operation="GetItem",
            table=handle.name,
            entity=entity,
            code=exc.code or type(exc).__name__,
        ) from None
