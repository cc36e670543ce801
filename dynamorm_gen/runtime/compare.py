"""Equality of items as DynamoDB stores them.

After resending a write whose first attempt had no answer, the runtime reads the item back and
asks whether it is the one this call wrote. Byte equality of the wire form would say no too
often: DynamoDB canonicalises numbers ("1.50" is stored as "1.5", "1E+2" as "100", "-0" as
"0"), keeps sets in no particular order, and binary values come back as bytes or bytearray.

Malformed values (no tag, several tags, an unknown tag, data of the wrong type) are unequal to
everything, themselves included; nothing here raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from dynamorm_gen.runtime.types import AttributeValue, Item

if TYPE_CHECKING:
    from decimal import Decimal

T = TypeVar("T")

# DynamoDB nests documents at most 32 levels deep; anything deeper cannot be stored, so it is
# unequal rather than a RecursionError.
_MAX_DEPTH = 64

# DynamoDB's number syntax. Decimal() alone would also take "NaN", "1_000" and " 1 ".
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def same_value(a: AttributeValue, b: AttributeValue) -> bool:
    """Whether ``a`` and ``b`` are the same value as DynamoDB stores it: numbers (N, NS) by
    exact decimal value, sets (SS, NS, BS) in any order, binary as bytes, maps by equal names
    and values, lists element by element in order, S, BOOL and NULL exactly. Different type
    tags are unequal (an N never equals an S)."""
    return _same(a, b, 0)


def same_item(a: Item | None, b: Item | None) -> bool:
    """Whether items ``a`` and ``b`` have the same attribute names, each with the same value
    (``same_value``). None (no item) equals only None."""
    if a is None or b is None:
        return a is None and b is None
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return False
    return a.keys() == b.keys() and all(_same(a[name], b[name], 0) for name in a)


def contains_values(
    stored: Item | None, expected: Mapping[str, AttributeValue | None]
) -> bool:
    """Whether ``stored`` shows ``expected``: each attribute named there with a value holds the
    same value (``same_value``) in ``stored``, and each one mapped to None is absent.

    Used to tell whether an update's SET and REMOVE actions are visible. A missing item
    (None) shows nothing: an applied update always leaves an item behind.
    """
    if not isinstance(stored, Mapping):
        return False
    for name, value in expected.items():
        if value is None:
            if name in stored:
                return False
        elif name not in stored or not _same(stored[name], value, 0):
            return False
    return True


def _same(a: object, b: object, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return False
    if len(a) != 1 or len(b) != 1:
        return False
    ((tag, x),) = a.items()
    ((other_tag, y),) = b.items()
    if tag != other_tag:
        return False
    if tag == "S":
        return isinstance(x, str) and isinstance(y, str) and x == y
    if tag == "N":
        number = _number(x)
        return number is not None and number == _number(y)
    if tag == "B":
        blob = _binary(x)
        return blob is not None and blob == _binary(y)
    if tag == "BOOL" or tag == "NULL":
        return type(x) is bool and type(y) is bool and x == y
    if tag == "SS":
        strings = _set(x, _text)
        return strings is not None and strings == _set(y, _text)
    if tag == "NS":
        numbers = _set(x, _number)
        return numbers is not None and numbers == _set(y, _number)
    if tag == "BS":
        blobs = _set(x, _binary)
        return blobs is not None and blobs == _set(y, _binary)
    if tag == "M":
        return (
            isinstance(x, Mapping)
            and isinstance(y, Mapping)
            and x.keys() == y.keys()
            and all(_same(x[name], y[name], depth + 1) for name in x)
        )
    if tag == "L":
        return (
            isinstance(x, (list, tuple))
            and isinstance(y, (list, tuple))
            and len(x) == len(y)
            and all(_same(p, q, depth + 1) for p, q in zip(x, y, strict=True))
        )
    return False


def _set(values: object, convert: Callable[[object], T | None]) -> frozenset[T] | None:
    """The members of a set value, each converted; None if it is not a collection of valid
    members (a str is not: it would compare as a set of characters)."""
    if not isinstance(values, (list, tuple, set, frozenset)):
        return None
    converted = set()
    for member in values:
        value = convert(member)
        if value is None:
            return None
        converted.add(value)
    return frozenset(converted)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> Decimal | None:
    """The exact value of number text, or None if it is not DynamoDB number syntax."""
    if not isinstance(value, str):
        return None
    import re  # deferred, with decimal: only re-reads after an uncertain write compare
    from decimal import Decimal

    if re.fullmatch(_NUMBER, value) is None:
        return None
    try:
        return Decimal(value)
    except ArithmeticError:  # an exponent beyond what decimal represents
        return None


def _binary(value: object) -> bytes | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return None
