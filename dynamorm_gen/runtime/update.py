"""Updates: what generated ``<Entity>Update`` builders collect, and how an update is sent.

Builders are plain classes generated per entity, one method per attribute and action, so the
expression text and placeholders are fixed strings in generated code; this module only joins
the parts and adds what every update needs: the item must exist, the version (when the entity
has one) is checked and incremented in the same request, and ``auto: update`` timestamps move.

Changing an attribute that index key templates use also rebuilds (or, for a sparse index the
item leaves, removes) those index keys. Builders record them by stored name; placeholders are
given here, by position, so any stored name works.
"""

from __future__ import annotations

from typing import Any

from dynamorm_gen.runtime.condition import Condition, merge
from dynamorm_gen.runtime.errors import ValidationFailed
from dynamorm_gen.runtime.table import TableHandle, call_expecting_item
from dynamorm_gen.runtime.types import AttributeValue, Item, Key

_RETURN_VALUES = {"new": "ALL_NEW", "old": "ALL_OLD", "none": "NONE"}


class Update:
    """The base of generated ``<Entity>Update`` builders: the parts of an UpdateExpression."""

    __slots__ = (
        "_add",
        "_delete",
        "_expected",
        "_keys",
        "_names",
        "_remove",
        "_set",
        "_values",
    )

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: Item = {}
        self._set: list[str] = []
        self._remove: list[str] = []
        self._add: list[str] = []
        self._delete: list[str] = []
        # Index key attributes by stored name: the new value, or None to remove the key.
        self._keys: dict[str, AttributeValue | None] = {}
        # What the stored item must hold for the rebuilt keys to be right: the other
        # attributes of their templates, as the caller gave them (None: absent).
        self._expected: dict[str, AttributeValue | None] = {}

    def _attribute(self, placeholder: str, stored: str, where: str) -> None:
        """Claim an attribute for one change; DynamoDB rejects two changes to one path."""
        if placeholder in self._names:
            raise ValidationFailed(f"{where} is changed twice in one update")
        self._names[placeholder] = stored

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

    def __bool__(self) -> bool:
        return bool(
            self._set or self._remove or self._add or self._delete or self._keys
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(sorted(self._names.values()))})"


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
    new values."""
    names = {**changes._names, "#k_pk": handle.definition.key_names[0]}
    values: Item = dict(changes._values)
    assignments = list(changes._set)
    removals = list(changes._remove)
    # Sorted, so the same changes always give the same request, whatever the call order.
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
    changing = set(changes._names.values())
    # Sorted, like the keys; an attribute this update also changes is given its new value
    # there, which the stored item does not hold yet: only the others are checked.
    expected = [
        (k, v) for k, v in sorted(changes._expected.items()) if k not in changing
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
    clauses = []
    for keyword, parts in (
        ("SET", assignments),
        ("REMOVE", removals),
        ("ADD", changes._add),
        ("DELETE", changes._delete),
    ):
        if parts:
            clauses.append(f"{keyword} {', '.join(parts)}")
    if not changes:
        raise ValidationFailed("an update needs at least one change", entity=entity)
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
) -> Item | None:
    """Send the update; returns the item as ``returning`` asks ("new", "old" or "none")."""
    if returning not in _RETURN_VALUES:
        raise ValueError(f"returning must be one of {', '.join(_RETURN_VALUES)}")
    built = request(
        handle,
        key,
        changes,
        entity=entity,
        touched=touched,
        version=version,
        expected_version=expected_version,
        when=when,
    )
    built["ReturnValues"] = _RETURN_VALUES[returning]
    if old_on_failure:
        built["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    only_existence = expected_version is None and not when and not changes._expected
    response = call_expecting_item(
        handle, "UpdateItem", built, entity, only_existence=only_existence
    )
    attributes: Item | None = response.get("Attributes")
    return attributes
