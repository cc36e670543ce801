"""Updates: what generated ``<Entity>Update`` builders collect, and how an update is sent.

Builders are plain classes generated per entity, one method per attribute and action, so the
expression text and placeholders are fixed strings in generated code; this module only joins
the parts and adds what every update needs: the item must exist, the version (when the entity
has one) is checked and incremented in the same request, and ``auto: update`` timestamps move.
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

    __slots__ = ("_add", "_delete", "_names", "_remove", "_set", "_values")

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: Item = {}
        self._set: list[str] = []
        self._remove: list[str] = []
        self._add: list[str] = []
        self._delete: list[str] = []

    def _attribute(self, placeholder: str, stored: str, where: str) -> None:
        """Claim an attribute for one change; DynamoDB rejects two changes to one path."""
        if placeholder in self._names:
            raise ValidationFailed(f"{where} is changed twice in one update")
        self._names[placeholder] = stored

    def __bool__(self) -> bool:
        return bool(self._set or self._remove or self._add or self._delete)

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
    stored names of ``auto: update`` attributes to their new values."""
    names = {**changes._names, "#k_pk": handle.definition.key_names[0]}
    values: Item = dict(changes._values)
    assignments = list(changes._set)
    for i, (stored, value) in enumerate(sorted(touched.items())):
        names[f"#t_{i}"] = stored
        values[f":t_{i}"] = value
        assignments.append(f"#t_{i} = :t_{i}")
    conditions = ["attribute_exists(#k_pk)"]
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
        ("REMOVE", changes._remove),
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
    only_existence = expected_version is None and not when
    response = call_expecting_item(
        handle, "UpdateItem", built, entity, only_existence=only_existence
    )
    attributes: Item | None = response.get("Attributes")
    return attributes
