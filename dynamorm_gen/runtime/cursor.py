"""Pagination cursors: opaque, signed, and bound to the access pattern that produced them.

A cursor is ``<payload>.<mac>``: the payload is LastEvaluatedKey as compact JSON (base64url),
the MAC an HMAC-SHA256 over the access pattern and the payload. A cursor that was altered,
forged, or produced by another access pattern is rejected with InvalidCursor before anything
reaches DynamoDB, so clients cannot steer a query to keys of their choosing.

The key comes from ``DYNAMORM_CURSOR_KEY`` (or ``set_cursor_key``). Without one, each process
signs with a random key of its own: cursors then work within a process only, so configure the
key wherever a cursor travels between invocations (an API handing cursors to its clients).
"""

from __future__ import annotations

import os
from typing import Any

from dynamorm_gen.runtime.errors import InvalidCursor
from dynamorm_gen.runtime.types import Key

KEY_ENV = "DYNAMORM_CURSOR_KEY"
_MAC_BYTES = 16  # 128-bit tags: forgery is out of reach and cursors stay short

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


def query_context(values: dict[str, Any]) -> str:
    """A canonical text of a query's parameter values, to bind its cursors to them."""
    import base64
    import json

    def binary(value: object) -> str:
        if isinstance(value, (bytes, bytearray)):
            return base64.b64encode(value).decode()
        raise TypeError(type(value).__name__)

    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=binary)


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
    """ExclusiveStartKey from a cursor; InvalidCursor unless this query signed it."""
    import base64
    import binascii
    import hmac
    import json

    payload, dot, mac = cursor.partition(".")
    if not dot or not hmac.compare_digest(mac, _mac(pattern, context, payload)):
        raise InvalidCursor(
            f"cursor was not issued for this query by access pattern {pattern!r} (altered,"
            f" from other parameters or another query, or signed with another key: set"
            f" {KEY_ENV} alike everywhere)"
        )
    try:
        key = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return {
            name: {"B": base64.b64decode(value["B"])} if "B" in value else value
            for name, value in key.items()
        }
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        raise InvalidCursor(
            f"malformed cursor for access pattern {pattern!r}"
        ) from None
