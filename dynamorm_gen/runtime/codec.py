"""DynamoDB's JSON protocol bodies: requests to bytes, responses to dictionaries.

Binary values (B, BS) travel as base64 text; here they are ``bytes``, as in botocore's
low-level client. Requests are encoded as UTF-8 JSON without ASCII escapes: shorter for
non-ASCII text, and text that is not Unicode (an unpaired surrogate) fails to encode here,
before anything is sent, instead of reaching the service.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

# base64.b64decode without its Python wrapper: the same non-strict decoding of ASCII text.
_b64decode = binascii.a2b_base64


def _encode_binary(value: object) -> object:
    # json calls this only for types it cannot serialise; in a well-formed request those are
    # the bytes of B and BS values (sent as base64), and sets, which botocore also accepts.
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to DynamoDB")


def _decode_binary(obj: dict[str, Any]) -> dict[str, Any]:
    # An attribute value is a one-key object; B and BS arrive as base64 text. A one-key
    # object named "B" holding a string occurs nowhere else in DynamoDB's responses.
    # Called for every object of the response: the common case is one failed lookup.
    if "B" in obj:
        value = obj["B"]
        if type(value) is str and len(obj) == 1:
            return {"B": _b64decode(value)}
    elif "BS" in obj:
        values = obj["BS"]
        if (
            type(values) is list
            and len(obj) == 1
            and all(type(v) is str for v in values)
        ):
            return {"BS": [_b64decode(v) for v in values]}
    return obj


# Built once: json.loads() and dumps() with keyword arguments build new ones on every call.
_DECODER = json.JSONDecoder()
_BINARY_DECODER = json.JSONDecoder(object_hook=_decode_binary)
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_encode_binary
)
# Where binary values can be in these responses: item attributes only. Walking just those
# costs a fraction of the object hook, which Python calls for every object of the response.
_ITEM_RESPONSES = frozenset(("GetItem", "Query", "Scan"))


def encode(params: Mapping[str, Any]) -> bytes:
    """The request body; ``UnicodeEncodeError`` if some text is not Unicode (a surrogate),
    ``TypeError`` for a value that has no JSON form."""
    return _ENCODER.encode(params).encode("utf-8")


def decode(data: bytes, operation: str = "") -> Any:
    """The parsed response body, binary values as ``bytes``; ``ValueError`` if it is not
    UTF-8 JSON."""
    text = data.decode("utf-8")
    if '"B"' not in text and '"BS"' not in text:
        return _DECODER.decode(text)
    if operation in _ITEM_RESPONSES:
        result = _DECODER.decode(text)
        try:
            for item in result.get("Items", ()):
                _decode_attributes(item.values())
            for name in ("Item", "LastEvaluatedKey"):
                if name in result:
                    _decode_attributes(result[name].values())
        except (AttributeError, TypeError, binascii.Error):
            pass  # not DynamoDB's shape: decoded the long way below
        else:
            return result
    return _BINARY_DECODER.decode(text)


def _decode_attributes(values: Iterable[dict[str, Any]]) -> None:
    """Base64 B and BS values (at any depth) among attribute ``values`` to bytes, in place."""
    for value in values:
        if "S" in value or "N" in value:
            continue
        if "B" in value:
            if type(value["B"]) is str:
                value["B"] = _b64decode(value["B"])
        elif "M" in value:
            _decode_attributes(value["M"].values())
        elif "L" in value:
            _decode_attributes(value["L"])
        elif "BS" in value:
            value["BS"] = [_b64decode(v) if type(v) is str else v for v in value["BS"]]
