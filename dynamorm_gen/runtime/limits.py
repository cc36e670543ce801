"""DynamoDB's limits, measured before a request is sent.

The sizes follow the developer guide's "DynamoDB item sizes and formats"; where the guide only
approximates (numbers), the count errs high, never low. None of these checks quotes an item
value: they return sizes and attribute names, and table names are not secret.
"""

from __future__ import annotations

from collections.abc import Mapping

from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.types import AttributeValue

MAX_ITEM_BYTES = 400 * 1024

# The most a number can take under ``_number_size``: 20 digit pairs, exponent, sign byte.
_MAX_NUMBER_BYTES = 22

_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
)
_NAME_RULE = "3 to 255 characters from a-z, A-Z, 0-9, '_', '-' and '.'"
_SHOWN_NAME_CHARS = 64  # names in messages are cut here: enough to recognise one


# --- item size ---------------------------------------------------------------------------------


def item_size(item: Mapping[str, AttributeValue]) -> int:
    """The size of ``item`` by DynamoDB's rules: each attribute's name plus its value.

    - String: its UTF-8 bytes. Binary: its raw bytes (not its base64 text).
    - Number: 1 byte, plus 1 per pair of significant digits (pairs aligned on the decimal
      point), plus 1 if negative; never below the guide's approximation (see ``_number_size``).
    - Boolean and null: 1 byte.
    - List and map: 3 bytes, plus 1 byte per element, plus the elements (a map's element is
      its name plus its value, as at the top level).
    - String, number and binary sets: the sum of their elements' sizes.

    ``item`` is wire data as generated code builds it. A value under an unknown type tag counts
    nothing: DynamoDB rejects it with its own error.
    """
    return sum(_text_size(name) + _value_size(value) for name, value in item.items())


def too_large(item: Mapping[str, AttributeValue]) -> bool:
    """Whether DynamoDB would refuse ``item`` as over its 400 KB item limit."""
    return item_size(item) > MAX_ITEM_BYTES


def _value_size(value: AttributeValue) -> int:
    size = 0
    for tag, data in value.items():  # one tag in a well-formed value
        if tag == "S":
            size += _text_size(data)
        elif tag == "N":
            size += _number_size(data)
        elif tag == "B":
            size += _binary_size(data)
        elif tag == "BOOL" or tag == "NULL":
            size += 1
        elif tag == "M":
            size += 3 + sum(
                1 + _text_size(name) + _value_size(element)
                for name, element in data.items()
            )
        elif tag == "L":
            size += 3 + sum(1 + _value_size(element) for element in data)
        elif tag == "SS":
            size += sum(_text_size(element) for element in data)
        elif tag == "NS":
            size += sum(_number_size(element) for element in data)
        elif tag == "BS":
            size += sum(_binary_size(element) for element in data)
    return size


def _text_size(text: str) -> int:
    if text.isascii():
        return len(text)
    # "surrogatepass" so that text DynamoDB will refuse is measured, not raised on: a
    # UnicodeEncodeError would carry the whole string in its repr.
    return len(text.encode("utf-8", "surrogatepass"))


def _binary_size(data: bytes | bytearray | memoryview | str) -> int:
    if isinstance(data, memoryview):
        return data.nbytes
    if isinstance(data, str):
        # Base64 text, as in a request body: the raw bytes it stands for.
        return len(data.rstrip("=")) * 3 // 4
    return len(data)


def _number_size(text: str) -> int:
    """The bytes DynamoDB stores number ``text`` in, erring high, never low.

    The developer guide gives an approximation: 1 byte per two significant digits, plus
    1 byte, with leading and trailing zeros trimmed, i.e. ``(significant digits + 1) // 2 + 1``.
    That figure is low for some numbers. Measurements against DynamoDB (published by
    zaccharles/dynamodb-calculator and by dynoxide) show that the digits are stored in base-100
    pairs aligned on the decimal point, so that 1.5 takes 3 bytes (01|50), not 2, and that a
    negative number takes one byte more. This counts the pairs that way. The count is never
    below the documented approximation (n significant digits fill at least (n + 1) // 2 pairs)
    and matches the measured sizes, except for a negative number of 20 pairs: DynamoDB fits
    that in its 21-byte maximum, and this counts 22. Zero takes 1 byte.

    Text DynamoDB cannot read as a number counts as the most a number can take: DynamoDB
    rejects it with its own error.
    """
    from decimal import Decimal  # deferred: only requests over 400 KB are measured

    try:
        value = Decimal(text)
    except (ArithmeticError, ValueError, TypeError):
        return _MAX_NUMBER_BYTES
    negative, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return _MAX_NUMBER_BYTES  # NaN or infinity: the exponent is a letter
    significant = len(digits)
    while significant and digits[significant - 1] == 0:
        significant -= 1
        exponent += 1
    if not significant:
        return 1  # zero, whatever its sign or notation
    # Pair k holds the digits of 10**(2k) and 10**(2k+1); floor division keeps that true
    # below the decimal point too.
    lowest = exponent
    highest = exponent + significant - 1
    pairs = highest // 2 - lowest // 2 + 1
    return 1 + pairs + (1 if negative else 0)


# --- text --------------------------------------------------------------------------------------


def text_problem(item: Mapping[str, AttributeValue]) -> str | None:
    """The name of the first top-level attribute whose name, or any string in whose value
    (map keys, S and SS values, at any depth), cannot be encoded as UTF-8; None if there is
    none. Such text (a lone surrogate such as "\\ud800") cannot be sent to DynamoDB.

    The name is returned as stored, unless it is itself the bad text: then with the bad
    characters escaped (``\\ud800``), so that a message quoting it can be logged.
    """
    for name, value in item.items():
        if not _is_utf8(name):
            return name.encode("utf-8", "backslashreplace").decode("utf-8")
        if not _value_is_utf8(value):
            return name
    return None


def _value_is_utf8(value: AttributeValue) -> bool:
    for tag, data in value.items():
        if tag == "S":
            if not _is_utf8(data):
                return False
        elif tag == "SS":
            if not all(_is_utf8(element) for element in data):
                return False
        elif tag == "M":
            if not all(
                _is_utf8(name) and _value_is_utf8(element)
                for name, element in data.items()
            ):
                return False
        elif tag == "L" and not all(_value_is_utf8(element) for element in data):
            return False
    return True


def _is_utf8(text: object) -> bool:
    if not isinstance(text, str) or text.isascii():
        return True  # a non-string is a type problem, reported elsewhere
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- names -------------------------------------------------------------------------------------


def check_table_name(name: str, where: str) -> None:
    """ConfigurationError unless ``name`` is a valid DynamoDB table name: 3 to 255 characters
    from a-z, A-Z, 0-9, '_', '-' and '.', or the ARN of such a table (DynamoDB takes a table
    ARN wherever it takes a name, to reach a table of another account). ``where`` says where
    the name came from, e.g. "table name from $PAYMENTS_TABLE"."""
    if isinstance(name, str) and name.startswith("arn:") and _is_table_arn(name):
        return
    _check_name(name, where, "table")


def _is_table_arn(text: str) -> bool:
    """``arn:<partition>:dynamodb:<region>:<12-digit account>:table/<valid table name>``."""
    parts = text.split(":", 5)
    if len(parts) != 6:
        return False
    _, partition, service, region, account, resource = parts
    kind, _, table = resource.partition("/")
    return (
        partition.startswith("aws")
        and set(partition) <= _NAME_CHARS
        and service == "dynamodb"
        and bool(region)
        and set(region) <= _NAME_CHARS
        and len(account) == 12
        and account.isascii()
        and account.isdigit()
        and kind == "table"
        and 3 <= len(table) <= 255
        and set(table) <= _NAME_CHARS
    )


def check_index_name(name: str, where: str) -> None:
    """ConfigurationError unless ``name`` is a valid DynamoDB index name (the same rule as
    table names)."""
    _check_name(name, where, "index")


def _check_name(name: object, where: str, kind: str) -> None:
    if isinstance(name, str) and 3 <= len(name) <= 255 and set(name) <= _NAME_CHARS:
        return
    if not isinstance(name, str):
        shown = f"(a {type(name).__name__}, not a str)"
    elif len(name) > _SHOWN_NAME_CHARS:
        # repr() escapes control characters and lone surrogates: the message stays loggable.
        shown = f"{name[:_SHOWN_NAME_CHARS]!r}... ({len(name)} characters)"
    else:
        shown = f"{name!r} ({len(name)} characters)"
    raise ConfigurationError(
        f"{where} {shown} is not a valid DynamoDB {kind} name: {_NAME_RULE}"
    )
