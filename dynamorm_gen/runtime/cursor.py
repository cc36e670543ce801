"""Pagination cursors: opaque, signed, and bound to the access pattern that produced them.

A cursor is ``<payload>.<mac>``: the payload is LastEvaluatedKey as compact JSON (base64url),
the MAC an HMAC-SHA256 over the access pattern, the query's parameter values (and the partner
whose account it reads, for a partner table) and the payload. A cursor that was altered,
forged, or produced by another access pattern, other parameters or in another partner's
account is rejected with InvalidCursor before anything reaches DynamoDB, so clients cannot
steer a query to keys of their choosing.

The key comes from ``DYNAMORM_CURSOR_KEY`` (or ``set_cursor_key``). Without one, each process
signs with a random key of its own: cursors then work within a process only, so configure the
key wherever a cursor travels between invocations (an API handing cursors to its clients).
"""

from __future__ import annotations

import os
from typing import Any

from dynamorm_gen.runtime.errors import InvalidCursor
from dynamorm_gen.runtime.types import AttributeValue, Key

KEY_ENV = "DYNAMORM_CURSOR_KEY"
_MAC_BYTES = 16  # 128-bit tags: forgery is out of reach and cursors stay short

# Longer cursors are refused before any work. A LastEvaluatedKey holds at most a table key and
# an index key: values of at most 2 x 2048 (partition) + 2 x 1024 (sort) = 6144 UTF-8 bytes,
# and four names of at most 255 bytes. In the JSON, a control character becomes six
# characters (\u0001), and the base64url payload is 4/3 of the JSON: 4/3 x 6 x (6144 + 1020)
# is about 57,300, plus the tags, quotes and MAC. 64 KiB holds the worst case.
MAX_CURSOR_CHARS = 64 * 1024

_BASE64URL = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)
# DynamoDB's number syntax; [0-9], as \d would also take other scripts' digits.
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"

_key: bytes | None = None


def set_cursor_key(key: str | bytes | None) -> None:
    """Use this secret to sign cursors (None: back to $DYNAMORM_CURSOR_KEY or a random key)."""
    global _key
    _key = key.encode() if isinstance(key, str) else key


def _signing_key() -> bytes:
    global _key
    if _key is None:
        configured = os.environ.get(KEY_ENV)
        _key = configured.encode() if configured else os.urandom(32)
    return _key


def _mac(pattern: str, context: str, payload: str) -> str:
    import base64
    import hashlib
    import hmac

    message = f"{pattern}\0{context}\0{payload}".encode()
    digest = hmac.new(_signing_key(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode().rstrip("=")


def query_context(values: dict[str, Any], partner: str | None = None) -> str:
    """A canonical text of a query's parameter values, and of the partner whose account it
    reads (None: the function's own), to bind its cursors to them: a cursor from one
    partner's query does not continue the same query in another partner's account."""
    import base64
    import json

    def binary(value: object) -> str:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return base64.b64encode(value).decode()
        raise TypeError(type(value).__name__)

    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=binary)
    # JSON text holds no NUL, so the partner cannot be confused with the values.
    return text if partner is None else f"{text}\0partner={partner}"


def encode_cursor(key: Key, pattern: str, context: str = "") -> str:
    """The cursor for LastEvaluatedKey ``key`` of a query by ``pattern``; ``context`` (the
    query's parameters) is signed too, so the cursor continues only that same query."""
    import base64
    import json

    plain = {
        name: {"B": base64.b64encode(value["B"]).decode()} if "B" in value else value
        for name, value in key.items()
    }
    raw = json.dumps(plain, separators=(",", ":"), sort_keys=True)
    payload = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return f"{payload}.{_mac(pattern, context, payload)}"


def decode_cursor(cursor: str, pattern: str, context: str = "") -> Key:
    """ExclusiveStartKey from a cursor; InvalidCursor unless this query signed it.

    Cursors come from clients: anything may arrive despite the type hint (an int or a dict
    from a JSON API). Whatever it is, the only error is InvalidCursor, and it quotes neither
    the cursor nor the query's parameters. Each raise sits outside any ``except`` block, so
    the error has no chained exception that could carry them either.
    """
    import hmac

    if not isinstance(cursor, str):
        raise InvalidCursor(
            f"cursor for access pattern {pattern!r} must be a str, not"
            f" {type(cursor).__name__}"
        )
    if len(cursor) > MAX_CURSOR_CHARS:
        # Before any work: the MAC of a huge cursor would be computed for nothing.
        raise InvalidCursor(
            f"cursor for access pattern {pattern!r} is longer than {MAX_CURSOR_CHARS}"
            " characters"
        )
    payload, _, mac = cursor.partition(".")
    # A cursor is ASCII: hmac.compare_digest refuses other text (TypeError), and a lone
    # surrogate would fail to encode in _mac with the query's parameters in the error.
    if not cursor.isascii() or not payload or not mac:
        raise InvalidCursor(_malformed(pattern))
    if not hmac.compare_digest(mac, _mac(pattern, context, payload)):
        raise InvalidCursor(
            f"cursor was not issued for this query by access pattern {pattern!r} (altered,"
            f" from other parameters or another query, or signed with another key: set"
            f" {KEY_ENV} alike everywhere)"
        )
    key = _payload_key(payload)
    if key is None:
        raise InvalidCursor(_malformed(pattern))
    return key


def _malformed(pattern: str) -> str:
    return f"malformed cursor for access pattern {pattern!r}"


def _payload_key(payload: str) -> Key | None:
    """The key a signed payload holds, or None unless it is base64url JSON mapping attribute
    names to one-tag S, N or B values (the only types a key can have)."""
    import base64
    import json

    # Payloads are unpadded base64url; no length leaves exactly one character over.
    if len(payload) % 4 == 1 or not set(payload) <= _BASE64URL:
        return None
    # binascii, Unicode and JSON errors are ValueErrors; deep nesting is a RecursionError.
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not data:
        return None
    key: Key = {}
    for name, value in data.items():
        attribute = _key_value(value)
        if not name or not _is_utf8(name) or attribute is None:
            return None
        key[name] = attribute
    return key


def _key_value(value: object) -> AttributeValue | None:
    import base64
    import re

    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((tag, data),) = value.items()
    if not isinstance(data, str):
        return None
    if tag == "S":
        return {"S": data} if _is_utf8(data) else None
    if tag == "N":
        return {"N": data} if re.fullmatch(_NUMBER, data) else None
    if tag == "B":
        try:
            return {"B": base64.b64decode(data, validate=True)}
        except ValueError:  # binascii.Error: not base64, or padded wrongly
            return None
    return None


def _is_utf8(text: str) -> bool:
    # JSON escapes can spell lone surrogates; such text would fail when the request is encoded.
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
