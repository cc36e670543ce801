"""STS with the standard library: AssumeRole over the query protocol, for partners' credentials.

A Lambda that works in its partners' accounts assumes a role in each of them. botocore would
cost a quarter of a second of cold start for one request an hour, so the fast path sends
AssumeRole itself: ``StsTransport`` is a ``Transport`` (``transport.py``) like the fast
DynamoDB transport, on the same connection code (``endpoint.py``) and signer (``sigv4.sign``,
service ``sts``). Its ``exchange`` form-encodes ``params`` (``Action=AssumeRole&Version=
2011-06-15&...``, POSTed to ``https://sts.<region>.amazonaws.com/``), ignores the JSON
``body`` the client encoded, and parses the XML answer with the standard library's expat
(``xml.parsers.expat``, imported on the first answer: ~0.5 ms, where ``xml.etree`` costs a
cold start ~6 ms and ``urllib.parse``, which this module does without, ~4 ms). An ``<ErrorResponse>``'s ``<Code>`` becomes the ``ExchangeError``'s code, so a
``Client`` around it gives STS calls the same retry loop, deadline and hooks as DynamoDB
calls: ``assume_role`` sends AssumeRole as an idempotent request (it only issues credentials:
sending it again is harmless).

``assume_role`` turns STS's failures into typed errors naming the partner
(``PartnerAccessDenied``, ``SourceCredentialsExpired``, ``RegionDisabled``, else
``AssumeRoleFailed``); the botocore transport maps botocore's the same way
(``error_for_code``). Nothing here logs or quotes the credentials, the external ID or the
response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dynamorm_gen.runtime.endpoint import Endpoint
from dynamorm_gen.runtime.errors import (
    AssumeRoleFailed,
    DeadlineExceeded,
    DynamormError,
    PartnerAccessDenied,
    RegionDisabled,
    SourceCredentialsExpired,
)
from dynamorm_gen.runtime.retry import IDEMPOTENT
from dynamorm_gen.runtime.sigv4 import Credentials
from dynamorm_gen.runtime.transport import RESPONSE_MALFORMED, ExchangeError

if TYPE_CHECKING:
    from dynamorm_gen.runtime.client import Client
    from dynamorm_gen.runtime.partners import Partner

VERSION = "2011-06-15"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"

# STS's error codes, and what each means for the partner whose role was asked for.
_ERRORS: dict[str, tuple[type[AssumeRoleFailed], str]] = {
    "AccessDenied": (
        PartnerAccessDenied,
        "STS refused to let this function assume the partner's role (check the role's"
        " trust policy, its external ID, and this function's sts:AssumeRole permission)",
    ),
    "ExpiredToken": (
        SourceCredentialsExpired,
        "the credentials that call STS have expired",
    ),
    "RegionDisabledException": (
        RegionDisabled,
        "STS is not activated in this region for the account",
    ),
}


class StsTransport(Endpoint):
    """STS's query protocol over the fast transport's connections; one exchange per call.

    ``StsTransport(region=None, endpoint_url=None, credentials=None, *, profile=None,
    connect_timeout=2.0, read_timeout=10.0, max_idle_connections=None)``: one idle
    connection by default; ``credentials`` (else the environment's, else botocore's chain)
    sign the requests; the endpoint is ``https://sts.<region>.amazonaws.com`` unless
    ``endpoint_url`` is given.
    """

    service = "sts"
    # One idle connection: a partner's credentials are refreshed about once an hour.
    idle_connections = 1

    def prepare(self, operation: str, params: Mapping[str, Any]) -> bytes:
        """The signed request ``exchange`` would send now, as bytes (nothing is sent; they
        hold the request's parameters and a signature)."""
        return self._signed_request(encode_form(operation, params))

    def _signed_request(self, body: bytes) -> bytes:
        return self._signed_post({"Content-Type": CONTENT_TYPE}, body)

    def exchange(
        self,
        operation: str,
        params: Mapping[str, Any],
        body: bytes,
        timeout: float | None,
    ) -> dict[str, Any]:
        """Send ``operation`` with ``params`` once, form-encoded (``body``, the JSON the
        client made, is not what STS speaks); the result as a dict, or ExchangeError."""
        request = self._signed_request(encode_form(operation, params))
        status, headers, data = self._roundtrip(request, timeout)
        if status >= 300:
            raise _service_error(status, data)
        result = _result(operation, data)
        if result is None:
            raise ExchangeError(RESPONSE_MALFORMED, sent=True, status=status)
        result["ResponseMetadata"] = {
            "HTTPStatusCode": status,
            "RequestId": headers.get("x-amzn-requestid", ""),
        }
        return result


def encode_form(operation: str, params: Mapping[str, Any]) -> bytes:
    """The query protocol's body, as botocore makes it: ``Action`` and ``Version`` first, then
    the parameters in their order, ``application/x-www-form-urlencoded`` as ``urlencode``
    writes it (spaces as '+', everything but letters, digits and ``_.-~`` percent-encoded).
    Only scalar parameters: AssumeRole's lists (policy ARNs, tags) are not sent."""
    fields = [f"Action={_quote(operation)}", f"Version={VERSION}"]
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"STS parameter {name} must be a str or an int")
        fields.append(f"{_quote(name)}={_quote(str(value))}")
    return "&".join(fields).encode("ascii")


_UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
)


def _quote(text: str) -> str:
    """``urllib.parse.quote_plus`` of ``text`` (UTF-8), without importing urllib.parse."""
    return "".join(
        chr(byte) if byte in _UNRESERVED else "+" if byte == 0x20 else f"%{byte:02X}"
        for byte in text.encode("utf-8")
    )


def _parse(data: bytes) -> dict[str, Any] | None:
    """An XML document as nested dicts: each element by its local name (namespaces left
    out), a leaf's value its text. Repeated names keep the last (STS's AssumeRole answer has
    none). None when it is not XML, or declares a document type (STS's never does, and
    entity declarations are how XML bombs are built)."""
    from xml.parsers import expat

    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[dict[str, Any]] = [{}]
    text: list[str] = []

    def start(name: str, attributes: dict[str, str]) -> None:
        stack.append({})
        text.clear()

    def end(name: str) -> None:
        element = stack.pop()
        stack[-1][name.rpartition(" ")[2]] = element or "".join(text).strip()
        text.clear()

    def refuse(*_: Any) -> None:
        raise ValueError("a document type declaration")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    parser.StartDoctypeDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except (expat.ExpatError, ValueError):
        return None
    return stack[0]


def _result(operation: str, data: bytes) -> dict[str, Any] | None:
    """``<OperationResponse><OperationResult>...``'s result, or None if it is not there."""
    document = _parse(data)
    response = (document or {}).get(f"{operation}Response")
    result = response.get(f"{operation}Result") if isinstance(response, dict) else None
    return result if isinstance(result, dict) else None


def _service_error(status: int, data: bytes) -> ExchangeError:
    """``<ErrorResponse><Error><Code>``: the code; a body that is not STS's (a proxy or load
    balancer answered) gives the status as the code, as botocore does."""
    document = _parse(data) if data else None
    response = (document or {}).get("ErrorResponse")
    error = response.get("Error") if isinstance(response, dict) else None
    if not isinstance(error, dict):
        error = {}
    code, message = error.get("Code"), error.get("Message")
    return ExchangeError(
        code if isinstance(code, str) and code else str(status),
        sent=True,
        status=status,
        server_message=message if isinstance(message, str) else "",
    )


# --- AssumeRole ---------------------------------------------------------------------------------


def error_for_code(
    partner: str, code: str, server_message: str = ""
) -> AssumeRoleFailed:
    """The typed error of a failed AssumeRole for ``partner``, from STS's (or the network's)
    code; the message names the partner, never the role's external ID or credentials."""
    cls, why = _ERRORS.get(code, (AssumeRoleFailed, "AssumeRole failed"))
    error = cls(
        f"partner {partner!r}: {why} ({code})", operation="AssumeRole", code=code
    )
    error.partner = partner
    error.server_message = server_message
    return error


def assume_role(client: Client, partner: Partner) -> tuple[Credentials, float]:
    """Assume ``partner``'s role through ``client`` (an STS client): its credentials and
    their expiry (epoch seconds). Typed errors: ``AssumeRoleFailed`` and its subclasses, and
    ``DeadlineExceeded`` (with ``sent`` False: the request the credentials were for was not
    sent) when the invocation's deadline ends it."""
    params: dict[str, Any] = {
        "RoleArn": partner.role_arn,
        "RoleSessionName": partner.session_name,
        "DurationSeconds": partner.duration_seconds,
    }
    if partner.external_id is not None:
        params["ExternalId"] = partner.external_id
    try:
        response = client.call("AssumeRole", params, IDEMPOTENT)
    except AssumeRoleFailed:
        raise
    except DeadlineExceeded as exc:
        raise DeadlineExceeded(
            f"partner {partner.id!r}: no time left to assume its role before the deadline",
            operation="AssumeRole",
            code=exc.code,
            sent=False,
        ) from None
    except DynamormError as exc:
        if exc.code:
            raise error_for_code(partner.id, exc.code, exc.server_message) from None
        raise
    return issued(partner.id, response)


def issued(partner: str, response: Mapping[str, Any]) -> tuple[Credentials, float]:
    """The credentials and expiry (epoch seconds) in an AssumeRole result."""
    found = response.get("Credentials")
    # The failure is raised outside the except blocks, so that it carries no context: the
    # errors caught may quote a field (the response holds the secret key).
    malformed = False
    try:
        if not isinstance(found, Mapping):
            raise ValueError("no Credentials")
        credentials = Credentials(
            found["AccessKeyId"], found["SecretAccessKey"], found["SessionToken"]
        )
        expiry = epoch_seconds(found["Expiration"])
    except (KeyError, ValueError, TypeError, AttributeError, DynamormError):
        malformed = True
    if malformed:
        raise error_for_code(partner, RESPONSE_MALFORMED)
    return credentials, expiry


def epoch_seconds(text: str) -> float:
    """Seconds since the epoch of an ISO 8601 time as STS writes it
    (``2026-11-29T16:37:58Z``, with or without fractions of a second); a time without a zone
    is UTC. ValueError for anything else."""
    from datetime import UTC, datetime

    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # STS's times are UTC
    return when.timestamp()
