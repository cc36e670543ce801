"""Conditions on writes, from the schema's vocabulary: generated ``<Entity>When`` builders.

A condition is ANDed to whatever the operation needs itself (the item exists, the version
matches), in the same request.
"""

from __future__ import annotations

from typing import Any, Literal

from dynamorm_gen.runtime.types import AttributeValue, Item

Comparison = Literal["eq", "ne", "lt", "lte", "gt", "gte"]
Equality = Literal["eq", "ne"]
_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class Condition:
    """The base of generated ``<Entity>When`` builders: conditions a write must meet, ANDed.

    Generated methods fix the attribute, its stored name and how its value is written; this
    class only numbers the placeholders and joins the clauses. Encrypted attributes have no
    methods: their stored values are ciphertext, so comparing them would be meaningless.
    """

    __slots__ = ("_clauses", "_names", "_values")

    def __init__(self) -> None:
        self._clauses: list[str] = []
        self._names: dict[str, str] = {}
        self._values: Item = {}

    def _value(self, value: AttributeValue) -> str:
        placeholder = f":c_{len(self._values)}"
        self._values[placeholder] = value
        return placeholder

    def _compare(self, name: str, stored: str, op: str, value: AttributeValue) -> None:
        if op not in _OPERATORS:
            raise ValueError(f"op must be one of {', '.join(_OPERATORS)}")
        self._names[name] = stored
        self._clauses.append(f"{name} {_OPERATORS[op]} {self._value(value)}")

    def _between(
        self, name: str, stored: str, low: AttributeValue, high: AttributeValue
    ) -> None:
        self._names[name] = stored
        self._clauses.append(
            f"{name} BETWEEN {self._value(low)} AND {self._value(high)}"
        )

    def _function(
        self, function: str, name: str, stored: str, value: AttributeValue
    ) -> None:
        self._names[name] = stored
        self._clauses.append(f"{function}({name}, {self._value(value)})")

    def _presence(self, function: str, name: str, stored: str) -> None:
        self._names[name] = stored
        self._clauses.append(f"{function}({name})")

    def __bool__(self) -> bool:
        return bool(self._clauses)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({' AND '.join(self._clauses)})"


def merge(request: dict[str, Any], when: Condition | None) -> dict[str, Any]:
    """Add ``when``'s clauses to a request's ConditionExpression (AND), with their names and
    values; placeholders of generated conditions (#c_, :c_) never clash with the runtime's."""
    if not when:
        return request
    assert when is not None
    expression = " AND ".join(when._clauses)
    existing = request.get("ConditionExpression")
    request["ConditionExpression"] = (
        f"({existing}) AND {expression}" if existing else expression
    )
    request["ExpressionAttributeNames"] = {
        **request.get("ExpressionAttributeNames", {}),
        **when._names,
    }
    request["ExpressionAttributeValues"] = {
        **request.get("ExpressionAttributeValues", {}),
        **when._values,
    }
    return request
