"""Value converters that generated code calls where a one-liner would not do.

Everything here is plain functions over standard-library types; generated converters inline the
simple cases (strings, integers, booleans) and call these for the rest.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from dynamorm_gen.runtime.errors import (
    ConstraintViolation,
    EncryptionNotConfigured,
    ItemDecodeError,
    RuntimeIncompatible,
)
from dynamorm_gen.runtime.types import AttributeValue

API_VERSION = 1
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INFINITY = float("inf")
# DynamoDB's number type: 38 significant digits, positive magnitudes 1E-130 to 9.99...E+125.
_MAX_DIGITS = 38
INT_LIMIT = 10**_MAX_DIGITS  # integers are checked in generated code against this
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


def datetime_to_s(value: datetime) -> str:
    """ISO-8601 in UTC with microseconds and 'Z': fixed width, so strings sort like instants."""
    if value.tzinfo is not UTC:  # utc_now() and UTC values skip this
        if value.tzinfo is None:
            raise ConstraintViolation("datetime values must be timezone-aware")
        if value.utcoffset():
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise ConstraintViolation("datetime out of range once in UTC") from None
    year = value.year
    digits = _TWO_DIGITS
    return (
        f"{year if year >= 1000 else f'{year:04d}'}-{digits[value.month]}-{digits[value.day]}"
        f"T{digits[value.hour]}:{digits[value.minute]}:{digits[value.second]}"
        f".{value.microsecond:06d}Z"
    )


def datetime_from_s(text: str) -> datetime:
    """The stored instant; a string without an offset (written by other tools) is UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def check_int(where: str, value: int) -> None:
    """An integer of 38 digits or more: DynamoDB takes it only with at most 38 significant
    digits and fewer than 127 digits in all."""
    digits = str(abs(value))
    if len(digits) > _MAX_EXPONENT + 1 or len(digits.rstrip("0")) > _MAX_DIGITS:
        raise violation(where, "DynamoDB number range")


def decimal_to_n(value: Decimal) -> str:
    """DynamoDB numbers: finite, at most 38 significant digits, magnitude 1E-130 to <1E+126."""
    text = str(value)
    if len(text) <= _MAX_DIGITS and "E" not in text and value.is_finite():
        return text  # written out in full in at most 38 characters: within every limit
    if not value.is_finite():
        raise ConstraintViolation("NaN and infinite decimals cannot be stored")
    if value and not (
        _MIN_EXPONENT <= value.adjusted() <= _MAX_EXPONENT
        and _significant_digits(value) <= _MAX_DIGITS
    ):
        raise ConstraintViolation(
            "decimal outside DynamoDB's number range or precision"
        )
    return text


def _significant_digits(value: Decimal) -> int:
    digits = value.as_tuple().digits
    if len(digits) <= _MAX_DIGITS:
        return len(digits)
    # Trailing zeros are not significant (1E+40 written out in full is fine).
    return len("".join(map(str, digits)).rstrip("0"))


def float_to_n(value: float) -> str:
    """repr() is the shortest string that reads back as the same float: exact round trips."""
    if value != value or value in (_INFINITY, -_INFINITY):
        raise ConstraintViolation("NaN and infinite floats cannot be stored")
    if value and not (_MIN_FLOAT <= abs(value) < _MAX_FLOAT):
        raise ConstraintViolation("float outside DynamoDB's number range")
    return repr(value)


def fullmatch(pattern: str, value: str | None) -> bool:
    """Whether ``value`` matches all of ``pattern``; None (an unset optional) passes."""
    if value is None:
        return True
    import re  # deferred: only schemas with 'pattern' constraints pay for it

    return re.fullmatch(pattern, value) is not None


def violation(where: str, rule: str) -> ConstraintViolation:
    """The error for a broken constraint; names the attribute and rule, never the value."""
    return ConstraintViolation(f"{where} breaks constraint: {rule}")


def decode_error(entity: str, exc: Exception) -> ItemDecodeError:
    """The error for an item that does not decode; never quotes the item's values."""
    if isinstance(exc, KeyError):
        detail = f"missing attribute or type tag {exc.args[0]!r}"
    else:
        detail = f"malformed value ({type(exc).__name__})"
    return ItemDecodeError(f"cannot decode {entity} item: {detail}", entity=entity)


# --- free-form maps ----------------------------------------------------------------------------


def to_wire_value(value: Any) -> AttributeValue:
    """A JSON-like Python value as an AttributeValue (free-form maps and lists)."""
    kind = type(value)
    # Exact types first: identity checks cost less than a chain of isinstance calls.
    if kind is str:
        return {"S": value}
    if kind is int:
        return {"N": str(value)}
    if kind is bool:
        return {"BOOL": value}
    if kind is dict:
        return {"M": to_wire_map(value)}
    if kind is list:
        return {"L": [to_wire_value(v) for v in value]}
    if value is None:
        return {"NULL": True}
    if kind is Decimal:
        return {"N": decimal_to_n(value)}
    if kind is float:
        return {"N": float_to_n(value)}
    if isinstance(value, bool):
        return {"BOOL": bool(value)}
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, int):
        return {"N": str(int(value))}
    if isinstance(value, Decimal):
        return {"N": decimal_to_n(value)}
    if isinstance(value, float):
        return {"N": float_to_n(value)}
    if isinstance(value, dict):
        return {"M": to_wire_map(value)}
    if isinstance(value, (list, tuple)):
        return {"L": [to_wire_value(v) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, (set, frozenset)) and value:
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, (bytes, bytearray)) for v in value):
            return {"BS": [bytes(v) for v in value]}
        if all(
            isinstance(v, (int, Decimal)) and not isinstance(v, bool) for v in value
        ):
            return {
                "NS": [str(v) if isinstance(v, int) else decimal_to_n(v) for v in value]
            }
    raise ConstraintViolation(
        f"a {type(value).__name__} cannot be stored in a free-form map"
    )


def to_wire_map(value: dict[str, Any]) -> dict[str, AttributeValue]:
    result: dict[str, AttributeValue] = {}
    for key, item in value.items():
        if type(key) is not str and not isinstance(key, str):
            raise ConstraintViolation("free-form map keys must be strings")
        # The commonest values inline: one call fewer per value on the hot path.
        kind = type(item)
        if kind is str:
            result[key] = {"S": item}
        elif kind is bool:
            result[key] = {"BOOL": item}
        elif kind is int:
            result[key] = {"N": str(item)}
        elif kind is dict:
            result[key] = {"M": to_wire_map(item)}
        elif kind is list:
            # Mostly strings (tags, ids): those without a call each.
            result[key] = {
                "L": [{"S": v} if type(v) is str else to_wire_value(v) for v in item]
            }
        else:
            result[key] = to_wire_value(item)
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


# --- field encryption --------------------------------------------------------------------------


class FieldEncryptor(Protocol):
    """Encrypts attributes marked ``encrypted: true``. ``context`` is ``Entity.attribute``; bind
    it to the ciphertext (e.g. as AES-GCM associated data) so values cannot be swapped."""

    def encrypt(self, context: str, plaintext: bytes) -> bytes: ...

    def decrypt(self, context: str, ciphertext: bytes) -> bytes: ...


_encryptor: FieldEncryptor | None = None


def set_field_encryptor(encryptor: FieldEncryptor | None) -> None:
    """Register the process-wide encryptor (e.g. KMS envelope encryption) for encrypted fields."""
    global _encryptor
    _encryptor = encryptor


def encrypt(context: str, plaintext: bytes) -> bytes:
    if _encryptor is None:
        raise EncryptionNotConfigured(
            f"{context} is encrypted but no field encryptor is registered;"
            " call dynamorm_gen.runtime.set_field_encryptor() at start-up"
        )
    return _encryptor.encrypt(context, plaintext)


def decrypt(context: str, ciphertext: bytes) -> bytes:
    if _encryptor is None:
        raise EncryptionNotConfigured(
            f"{context} is encrypted but no field encryptor is registered;"
            " call dynamorm_gen.runtime.set_field_encryptor() at start-up"
        )
    return _encryptor.decrypt(context, bytes(ciphertext))
