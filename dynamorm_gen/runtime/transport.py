"""What a transport is, and what one exchange with an AWS service can end in.

A transport sends one request and reads one response; it never retries (``retry.py`` decides
that, the same way for every transport). A failed exchange raises ``ExchangeError``,
translated once from whatever the transport's own machinery raised. It carries what the
retry module needs to judge the failure and nothing of the request or response contents:

- ``sent``: False only when the request certainly never reached the server (the connection
  could not be made). From the first byte written on, a request may have reached it.
- ``status``: the HTTP status, when a response's status line and headers arrived. A 2xx
  status with a body that could not be read (cut short, failed checksum, not JSON) means the
  server did what was asked; a 4xx means it refused; a 5xx, or no status at all after
  sending, leaves the outcome unknown.
- ``code``: the service's error code (``ConditionalCheckFailedException``,
  ``ThrottlingException``...), or one of the client-side codes below.

Client-side codes keep botocore's names, so that both transports report alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from dynamorm_gen.runtime.types import Item

# The connection could not be made: nothing was sent.
ENDPOINT_CONNECTION_ERROR = "EndpointConnectionError"
CONNECT_TIMEOUT = "ConnectTimeoutError"
# The request (or some of it) was written; no usable answer came back.
CONNECTION_CLOSED = "ConnectionClosedError"
READ_TIMEOUT = "ReadTimeoutError"
# A response head arrived, its body did not arrive whole or is not what it claims to be.
RESPONSE_INCOMPLETE = "ResponseIncomplete"
RESPONSE_MALFORMED = "ResponseMalformed"
CHECKSUM_MISMATCH = "CRC32CheckFailed"


class ExchangeError(Exception):
    """One exchange failed; ``str()`` holds the code only (the server's message may quote
    values and is kept in ``server_message``)."""

    def __init__(
        self,
        code: str,
        *,
        sent: bool,
        status: int | None = None,
        server_message: str = "",
        item: Item | None = None,
        reasons: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.sent = sent
        self.status = status
        self.server_message = server_message
        self.item = (
            item  # ConditionalCheckFailed with ReturnValuesOnConditionCheckFailure
        )
        self.reasons = reasons  # TransactionCanceledException's CancellationReasons

    @property
    def timed_out(self) -> bool:
        return self.code in (READ_TIMEOUT, CONNECT_TIMEOUT)


def not_sent(code: str) -> ExchangeError:
    return ExchangeError(code, sent=False)


def service_error(status: int, body: Mapping[str, Any] | None) -> ExchangeError:
    """The error of a 4xx/5xx response, from DynamoDB's JSON error body (``__type`` is
    ``<namespace>#<code>``); a body that is not DynamoDB's (a proxy or load balancer
    answered) gives the status as the code, as botocore does."""
    body = body or {}
    code = str(body.get("__type") or body.get("code") or "").rpartition("#")[2]
    message = body.get("message") or body.get("Message") or ""
    reasons = body.get("CancellationReasons")
    item = body.get("Item")
    return ExchangeError(
        code or str(status),
        sent=True,
        status=status,
        server_message=str(message),
        item=item if isinstance(item, dict) else None,
        reasons=reasons if isinstance(reasons, list) else None,
    )


def json_result(
    status: int, headers: Mapping[str, str], parsed: object
) -> dict[str, Any]:
    """The result of a JSON-protocol exchange (DynamoDB's, KMS's): ``parsed``, the body as
    parsed (None if it was not JSON), with its ``ResponseMetadata``; the service's error
    for a 4xx/5xx status, ResponseMalformed for a success that is not a JSON object."""
    if status >= 300:
        raise service_error(status, parsed if isinstance(parsed, dict) else None)
    if not isinstance(parsed, dict):
        raise ExchangeError(RESPONSE_MALFORMED, sent=True, status=status)
    parsed["ResponseMetadata"] = {
        "HTTPStatusCode": status,
        "RequestId": headers.get("x-amzn-requestid", ""),
    }
    return parsed


class Transport(Protocol):
    """One AWS JSON-protocol endpoint, one exchange at a time (thread-safe)."""

    endpoint_url: str
    region: str

    def exchange(
        self,
        operation: str,
        params: Mapping[str, Any],
        body: bytes,
        timeout: float | None,
    ) -> dict[str, Any]:
        """Send ``operation`` once and return the parsed response, or raise
        ``ExchangeError``; ``ConfigurationError`` when it cannot even be signed. ``body`` is
        ``params`` already encoded as JSON (UTF-8), for transports that send bytes;
        ``timeout`` (seconds, from the invocation's deadline) bounds the whole exchange
        where the transport can bound it."""
        ...

    def prewarm(self) -> None:
        """Open a connection ahead of the first request, where the transport keeps one."""
        ...

    def close(self) -> None:
        """Close idle connections; the transport stays usable."""
        ...
