"""Value converters that generated code calls where a one-liner would not do.

Everything here is plain functions over standard-library types; generated converters inline the
simple cases (strings, integers, booleans) and call these for the rest.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from dynamorm_gen.runtime.errors import (
    ConstraintViolation,
    ItemDecodeError,
    KeyViolation,
    RuntimeIncompatible,
)
from dynamorm_gen.runtime.types import AttributeValue

# 2: encrypted attributes are KMS envelopes (encryption.py), sealed through a connection.
API_VERSION = 2
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INFINITY = float("inf")
# DynamoDB's number type: 38 significant digits, positive magnitudes 1E-130 to 9.99...E+125.
_MAX_DIGITS = 38
# Integers are checked in generated code against these: NEG_INT_LIMIT < value < INT_LIMIT
# (a constant, since negating INT_LIMIT in each check would build a new int every time).
INT_LIMIT = 10**_MAX_DIGITS
NEG_INT_LIMIT = -INT_LIMIT
_MIN_EXPONENT = -130
_MAX_EXPONENT = 125
_MIN_FLOAT = 1e-130
_MAX_FLOAT = 1e126


def require_api(version: int) -> None:
    """Called once by each generated module at import: a cheap compatibility check."""
    if version > API_VERSION:
        raise RuntimeIncompatible(
            f"generated code needs dynamorm_gen runtime API {version}, this runtime has"
            f" {API_VERSION}: upgrade dynamorm-gen or rebuild with the installed version"
        )


# --- generated values --------------------------------------------------------------------------


def new_ulid() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, 26 Crockford base32 characters.

    Sortable by creation time, which makes it a good sort-key component.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_uuid4() -> str:
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- scalars -----------------------------------------------------------------------------------


# "00".."59": fields formatted by table lookup cost a third of isoformat() on an aware datetime.
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))


def datetime_to_s(value: datetime, where: str) -> str:
    """ISO-8601 in UTC with microseconds and 'Z': fixed width, so strings sort like instants.

    ``where`` (``Entity.attribute``) names the value in errors: naive, out of range once in
    UTC, or not a datetime at all.
    """
    try:
        if value.tzinfo is not UTC:  # utc_now() and UTC values skip this
            if value.tzinfo is None:
                raise ConstraintViolation(f"{where} must be a timezone-aware datetime")
            if value.utcoffset():
                try:
                    value = value.astimezone(UTC)
                except OverflowError:
                    raise ConstraintViolation(
                        f"{where} is out of range once converted to UTC"
                    ) from None
        year = value.year
        digits = _TWO_DIGITS
        return (
            f"{year if year >= 1000 else f'{year:04d}'}-{digits[value.month]}-{digits[value.day]}"
            f"T{digits[value.hour]}:{digits[value.minute]}:{digits[value.second]}"
            f".{value.microsecond:06d}Z"
        )
    except (AttributeError, TypeError):
        # Not a datetime (a string, a date, None): nothing above applies to it.
        raise _not_a(where, "a datetime", value) from None


def datetime_from_s(text: str) -> datetime:
    """The stored instant; a string without an offset (written by other tools) is UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def date_to_s(value: date, where: str) -> str:
    """``YYYY-MM-DD``. A datetime is refused: it is a date subclass, but its isoformat() would
    write a time, and keys built from it would no longer sort or split as dates."""
    if type(value) is not date and (
        isinstance(value, datetime) or not isinstance(value, date)
    ):
        raise _not_a(where, "a date", value)
    return value.isoformat()


def check_int(where: str, value: int) -> None:
    """An integer-valued attribute: an int (a subclass too, but not a bool) that DynamoDB's
    number type holds. Generated code calls this when ``type(value) is not int`` or when the
    value has 38 digits or more, which DynamoDB takes only with at most 38 significant digits
    and fewer than 127 digits in all."""
    if type(value) is not int and (
        not isinstance(value, int) or isinstance(value, bool)
    ):
        raise _not_a(where, "an integer", value)
    if NEG_INT_LIMIT < value < INT_LIMIT:
        return
    digits = str(abs(int(value)))
    if len(digits) > _MAX_EXPONENT + 1 or len(digits.rstrip("0")) > _MAX_DIGITS:
        raise violation(where, "DynamoDB number range")


def int_to_n(value: int, where: str) -> str:
    """An integer as DynamoDB number text, checked like integer attributes (list items, map
    values, set members: places where generated code has no statement of its own)."""
    if type(value) is not int or not NEG_INT_LIMIT < value < INT_LIMIT:
        check_int(where, value)
        return str(int(value))
    return str(value)


def decimal_to_n(value: Decimal, where: str) -> str:
    """DynamoDB numbers: finite, at most 38 significant digits, magnitude 1E-130 to <1E+126.

    Takes a Decimal or an int (not a bool); a float is refused, because it is inexact.
    """
    if type(value) is not Decimal:
        value = _as_decimal(value, where)
    text = str(value)
    if len(text) <= _MAX_DIGITS and "E" not in text and value.is_finite():
        return text  # written out in full in at most 38 characters: within every limit
    if not value.is_finite():
        raise violation(where, "finite")
    if value and not (
        _MIN_EXPONENT <= value.adjusted() <= _MAX_EXPONENT
        and _significant_digits(value) <= _MAX_DIGITS
    ):
        raise violation(where, "DynamoDB number range")
    return text


def check_decimal(where: str, value: Decimal) -> None:
    """A decimal with bounds, before it is compared with them: a Decimal or an int (not a bool),
    and finite. Generated code calls this when ``type(value) is not Decimal`` or the value is
    not finite."""
    if not _as_decimal(value, where).is_finite():
        raise violation(where, "finite")


def _as_decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise _not_a(where, "a Decimal (floats are inexact)", value)


def _significant_digits(value: Decimal) -> int:
    digits = value.as_tuple().digits
    if len(digits) <= _MAX_DIGITS:
        return len(digits)
    # Trailing zeros are not significant (1E+40 written out in full is fine).
    return len("".join(map(str, digits)).rstrip("0"))


def float_to_n(value: float, where: str) -> str:
    """repr() is the shortest string that reads back as the same float: exact round trips.

    Takes a float or an int (not a bool); a Decimal is refused (declare the attribute decimal).
    """
    if type(value) is not float:
        value = _as_float(value, where)
    if value != value or value in (_INFINITY, -_INFINITY):
        raise violation(where, "finite")
    if value and not (_MIN_FLOAT <= abs(value) < _MAX_FLOAT):
        raise violation(where, "DynamoDB number range")
    return repr(value)


def check_float(where: str, value: float) -> None:
    """A float with bounds, before it is compared with them: a float or an int (not a bool).
    Generated code calls this when ``type(value) is not float``."""
    _as_float(value, where)


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, float) or (
        isinstance(value, int) and not isinstance(value, bool)
    ):
        try:
            return float(value)
        except OverflowError:
            raise violation(where, "DynamoDB number range") from None
    raise _not_a(where, "a float", value)


def check_key_text(where: str, value: str, separators: str, *templates: str) -> None:
    """A string written into string keys: a str holding none of the ``separators`` of the
    key ``templates`` it is written into, so that it can neither name another item's key nor
    widen a ``begins_with`` query into other items. Generated code calls this when
    ``type(value) is not str`` or the value holds a separator. The message names the rule,
    which is schema data, never the value."""
    if not isinstance(value, str):
        raise _not_a(where, "a string", value)
    if any(c in value for c in separators):
        raise key_violation(where, separators, templates)


def key_violation(
    where: str, separators: str, templates: tuple[str, ...]
) -> KeyViolation:
    """The error for a key part that holds a separator: the attribute, the separators and
    the templates (schema data), never the value."""
    chars = " or ".join(f"'{c}'" for c in separators)
    texts = " and ".join(f"'{t}'" for t in templates)
    parts = "they separate" if len(separators) > 1 else "it separates"
    noun = "key templates" if len(templates) > 1 else "key template"
    return KeyViolation(
        f"{where} may not contain {chars}: {parts} the parts of {noun} {texts}"
    )


def fullmatch(pattern: str, value: str | None) -> bool:
    """Whether ``value`` matches all of ``pattern``; None (an unset optional) passes."""
    if value is None:
        return True
    import re  # deferred: only schemas with 'pattern' constraints pay for it

    return re.fullmatch(pattern, value) is not None


def violation(where: str, rule: str) -> ConstraintViolation:
    """The error for a broken constraint; names the attribute and rule, never the value."""
    return ConstraintViolation(f"{where} breaks constraint: {rule}")


def _not_a(where: str, wanted: str, value: object) -> ConstraintViolation:
    """The error for a value of the wrong type; names its type, never the value."""
    return ConstraintViolation(f"{where} must be {wanted}, not {type(value).__name__}")


def decode_error(entity: str, exc: Exception) -> ItemDecodeError:
    """The error for an item that does not decode; never quotes the item's values."""
    if isinstance(exc, KeyError):
        detail = f"missing attribute or type tag {exc.args[0]!r}"
    else:
        detail = f"malformed value ({type(exc).__name__})"
    return ItemDecodeError(f"cannot decode {entity} item: {detail}", entity=entity)


# --- free-form maps ----------------------------------------------------------------------------


def to_wire_value(value: Any, where: str) -> AttributeValue:
    """A JSON-like Python value as an AttributeValue (free-form maps and lists). ``where``
    (``Entity.attribute``) names the map or list in errors."""
    kind = type(value)
    # Exact types first: identity checks cost less than a chain of isinstance calls.
    if kind is str:
        return {"S": value}
    if kind is int:
        if NEG_INT_LIMIT < value < INT_LIMIT:
            return {"N": str(value)}
        return {"N": int_to_n(value, where)}
    if kind is bool:
        return {"BOOL": value}
    if kind is dict:
        return {"M": to_wire_map(value, where)}
    if kind is list:
        return {"L": [to_wire_value(v, where) for v in value]}
    if value is None:
        return {"NULL": True}
    if kind is Decimal:
        return {"N": decimal_to_n(value, where)}
    if kind is float:
        return {"N": float_to_n(value, where)}
    if isinstance(value, bool):
        return {"BOOL": bool(value)}
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, int):
        return {"N": int_to_n(value, where)}
    if isinstance(value, Decimal):
        return {"N": decimal_to_n(value, where)}
    if isinstance(value, float):
        return {"N": float_to_n(float(value), where)}
    if isinstance(value, dict):
        return {"M": to_wire_map(value, where)}
    if isinstance(value, (list, tuple)):
        return {"L": [to_wire_value(v, where) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, (set, frozenset)) and value:
        if all(isinstance(v, str) for v in value):
            return {"SS": [str(v) for v in value]}
        if all(isinstance(v, (bytes, bytearray)) for v in value):
            return {"BS": [bytes(v) for v in value]}
        if all(
            isinstance(v, (int, Decimal)) and not isinstance(v, bool) for v in value
        ):
            return {
                "NS": [
                    int_to_n(v, where) if isinstance(v, int) else decimal_to_n(v, where)
                    for v in value
                ]
            }
    raise ConstraintViolation(
        f"{where}: a {type(value).__name__} cannot be stored in a free-form map"
    )


def to_wire_map(value: dict[str, Any], where: str) -> dict[str, AttributeValue]:
    """A free-form map's contents; ``where`` (``Entity.attribute``) names it in errors."""
    try:
        entries = value.items()
    except AttributeError:
        raise ConstraintViolation(
            f"{where} must be a dict, not {type(value).__name__}"
        ) from None
    result: dict[str, AttributeValue] = {}
    for key, item in entries:
        if type(key) is not str and not isinstance(key, str):
            raise ConstraintViolation(f"{where}: free-form map keys must be strings")
        # The commonest values inline: one call fewer per value on the hot path.
        kind = type(item)
        if kind is str:
            result[key] = {"S": item}
        elif kind is bool:
            result[key] = {"BOOL": item}
        elif kind is int and NEG_INT_LIMIT < item < INT_LIMIT:
            result[key] = {"N": str(item)}
        elif kind is dict:
            result[key] = {"M": to_wire_map(item, where)}
        elif kind is list:
            # Mostly strings (tags, ids): those without a call each.
            result[key] = {
                "L": [
                    {"S": v} if type(v) is str else to_wire_value(v, where)
                    for v in item
                ]
            }
        else:
            result[key] = to_wire_value(item, where)
    return result


def from_wire_value(value: AttributeValue) -> Any:
    ((tag, data),) = value.items()
    if tag == "S":
        return data
    if tag == "N":
        return _number(data)
    if tag == "BOOL":
        return data
    if tag == "NULL":
        return None
    if tag == "M":
        return from_wire_map(data)
    if tag == "L":
        return [from_wire_value(v) for v in data]
    if tag == "B":
        return bytes(data)
    if tag == "SS":
        return set(data)
    if tag == "NS":
        return {_number(v) for v in data}
    if tag == "BS":
        return {bytes(v) for v in data}
    raise ValueError(f"unknown AttributeValue type {tag!r}")


def from_wire_map(value: dict[str, AttributeValue]) -> dict[str, Any]:
    result = {}
    for key, item in value.items():
        # The commonest tags inline; anything else (and anything malformed) goes the long way.
        if len(item) != 1:
            result[key] = from_wire_value(item)
        elif "S" in item:
            result[key] = item["S"]
        elif "N" in item:
            result[key] = _number(item["N"])
        elif "BOOL" in item:
            result[key] = item["BOOL"]
        elif "M" in item:
            result[key] = from_wire_map(item["M"])
        elif "L" in item:
            result[key] = [
                v["S"] if "S" in v and len(v) == 1 else from_wire_value(v)
                for v in item["L"]
            ]
        else:
            result[key] = from_wire_value(item)
    return result


def _number(text: str) -> int | Decimal:
    """Integers come back as int, anything else as an exact Decimal (never a lossy float)."""
    try:
        return int(text)
    except ValueError:
        return Decimal(text)
