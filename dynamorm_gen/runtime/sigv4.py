"""AWS Signature Version 4 for DynamoDB's JSON protocol, with the standard library only.

The fast transport signs every request itself so that a Lambda never imports botocore. The
algorithm follows botocore's ``SigV4Auth`` step for step (header selection, trimming, ordering,
payload hash) and the tests compare both byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping

from dynamorm_gen.runtime.errors import ConfigurationError

ALGORITHM = "AWS4-HMAC-SHA256"
CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "DynamoDB_20120810."

# Headers botocore leaves out of the signature (hop-by-hop, or changed by proxies).
_UNSIGNED = frozenset(
    (
        "authorization",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    )
)

# A derived key is valid for one UTC day; a container sees few (secret, day, region, service)
# tuples, so the cache stays tiny. It is cleared when it grows, so a process that rotates
# credentials for a long time cannot leak memory through it.
_MAX_KEYS = 64
_keys: dict[tuple[str, str, str, str], bytes] = {}
_keys_lock = threading.Lock()


class Credentials:
    """An access key pair and, for temporary credentials, the session token. Its repr shows
    the access key id only. (A plain class: a NamedTuple costs a Lambda ~2 ms to define.)

    The fields are checked here, where the mistake is made: each goes into a request header,
    where a CR or LF would fail (or split the header) far from its cause. The access key and
    secret key are printable ASCII without whitespace; the token is printable ASCII. An
    empty token means none. ConfigurationError names the field, never its value.
    """

    __slots__ = ("access_key", "secret_key", "token")

    def __init__(
        self, access_key: str, secret_key: str, token: str | None = None
    ) -> None:
        _check_key("access key", access_key)
        _check_key("secret key", secret_key)
        if token is not None:
            _check_token(token)
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token or None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (self.access_key, self.secret_key, self.token) == (
            other.access_key,
            other.secret_key,
            other.token,
        )

    def __hash__(self) -> int:
        return hash((self.access_key, self.secret_key, self.token))

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r}, secret_key='***')"


def _check_key(field: str, value: object) -> None:
    if not isinstance(value, str):
        raise ConfigurationError(
            f"AWS credentials: the {field} must be a str, not {type(value).__name__}"
        )
    if not value:
        raise ConfigurationError(f"AWS credentials: the {field} is empty")
    # isprintable() is False for CR, LF, tab and NUL; the space is checked on its own.
    if not (value.isascii() and value.isprintable()) or " " in value:
        raise ConfigurationError(
            f"AWS credentials: the {field} must be printable ASCII without whitespace"
            " (it holds a control, space or non-ASCII character)"
        )


def _check_token(value: object) -> None:
    if not isinstance(value, str):
        raise ConfigurationError(
            f"AWS credentials: the session token must be a str, not {type(value).__name__}"
        )
    if not (value.isascii() and value.isprintable()):
        raise ConfigurationError(
            "AWS credentials: the session token must be printable ASCII (it holds a"
            " control character such as CR, LF or NUL, or a non-ASCII character)"
        )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The derived key for ``date`` (YYYYMMDD); four HMACs, computed once per day and scope."""
    cache_key = (secret_key, date, region, service)
    key = _keys.get(cache_key)
    if key is None:
        key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
        key = _hmac(key, region)
        key = _hmac(key, service)
        key = _hmac(key, "aws4_request")
        with _keys_lock:
            if len(_keys) >= _MAX_KEYS:
                _keys.clear()
            _keys[cache_key] = key
    return key


def _trim(value: str) -> str:
    # SigV4 "Trimall": strip, and collapse runs of whitespace to one space.
    return " ".join(value.split())


def sign(
    *,
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str,
    amz_date: str,
) -> dict[str, str]:
    """The headers to add to a request: ``X-Amz-Date``, the token if any, ``Authorization``.

    ``host`` is the value of the Host header (no default port); ``path`` is already
    URI-encoded; ``amz_date`` is ``YYYYMMDDTHHMMSSZ`` in UTC. There is no query string, as
    DynamoDB's JSON protocol has none.
    """
    added = {"X-Amz-Date": amz_date}
    if credentials.token:
        added["X-Amz-Security-Token"] = credentials.token
    canonical: dict[str, str] = {}
    for name, value in (*headers.items(), *added.items()):
        lname = name.lower()
        if lname not in _UNSIGNED:
            canonical[lname] = _trim(value)
    canonical.setdefault("host", host)
    names = sorted(canonical)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        (
            method,
            path,
            "",
            "".join(f"{name}:{canonical[name]}\n" for name in names),
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        )
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        )
    )
    key = signing_key(credentials.secret_key, date, region, service)
    signature = hmac.new(
        key, string_to_sign.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return added


def dynamodb_headers(
    *,
    operation: str,
    host: str,
    body: bytes,
    credentials: Credentials,
    region: str,
    amz_date: str,
    path: str = "/",
) -> dict[str, str]:
    """Every header a DynamoDB JSON request needs, signed (Content-Length is left to HTTP).

    The same signature as ``sign`` computes, specialised: the signed headers of a DynamoDB
    request are always the same few, so the canonical request is one format string and the
    HMAC a one-shot call. This runs once per request on the Lambda path.
    """
    token = credentials.token
    target = TARGET_PREFIX + operation
    date = amz_date[:8]
    scope = f"{date}/{region}/dynamodb/aws4_request"
    if token:
        signed = _SIGNED_WITH_TOKEN
        token_line = f"x-amz-security-token:{_trim(token)}\n"
    else:
        signed = _SIGNED
        token_line = ""
    canonical_request = (
        f"POST\n{path}\n\ncontent-type:{CONTENT_TYPE}\nhost:{_trim(host)}\n"
        f"x-amz-date:{amz_date}\n{token_line}x-amz-target:{target}\n\n{signed}\n"
        f"{hashlib.sha256(body).hexdigest()}"
    )
    string_to_sign = (
        f"{ALGORITHM}\n{amz_date}\n{scope}\n"
        f"{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    )
    key = signing_key(credentials.secret_key, date, region, "dynamodb")
    signature = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
    headers = {
        "Content-Type": CONTENT_TYPE,
        "X-Amz-Target": target,
        "X-Amz-Date": amz_date,
    }
    if token:
        headers["X-Amz-Security-Token"] = token
    headers["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    headers["Host"] = host
    return headers


_SIGNED = "content-type;host;x-amz-date;x-amz-target"
_SIGNED_WITH_TOKEN = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
