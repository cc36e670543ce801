"""The fast transport: DynamoDB's JSON protocol over a kept-alive standard-library connection.

It exists because importing botocore and building a client costs ~250 ms of a Lambda cold
start, while this module needs only the standard library. botocore is imported only when the
environment holds no credentials and its credential chain must be asked.

One call of ``exchange`` is one HTTP exchange: sign (``sigv4.py``), send and read
(``endpoint.py``, which also says whether a failed request may have reached the server), check
the CRC32 DynamoDB puts on every response, parse. It never sends a request twice; ``retry.py``
decides about resending from the ``ExchangeError`` it raises.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from dynamorm_gen.runtime import codec
from dynamorm_gen.runtime.endpoint import CredentialsSource, Endpoint, amz_date
from dynamorm_gen.runtime.http import build_request
from dynamorm_gen.runtime.sigv4 import CONTENT_TYPE, Credentials, dynamodb_headers
from dynamorm_gen.runtime.transport import (
    CHECKSUM_MISMATCH,
    ExchangeError,
    json_result,
)

__all__ = ["Credentials", "CredentialsSource", "FastTransport"]


class FastTransport(Endpoint):
    """DynamoDB over a lean HTTP/1.1 exchange (``http.py``), one exchange per call.

    ``FastTransport(region=None, endpoint_url=None, credentials=None, *, profile=None,
    connect_timeout=2.0, read_timeout=10.0, max_idle_connections=16)``: see ``Endpoint``
    for the region, endpoint, credentials and connections. Safe to share between threads.
    """

    service = "dynamodb"

    # --- requests -----------------------------------------------------------------------------

    def prepare(self, operation: str, params: Mapping[str, Any]) -> bytes:
        """The HTTP request ``exchange`` would send now for ``operation``: the JSON body of
        ``params``, signed now, as bytes. Nothing is sent; for benchmarks and debugging (the
        bytes hold the request's values and a signature)."""
        return self._signed_request(operation, codec.encode(params))

    def _signed_request(self, operation: str, body: bytes) -> bytes:
        """The request's bytes, ``body`` signed with the current credentials and time."""
        signed = dynamodb_headers(
            operation=operation,
            host=self._host,
            body=body,
            credentials=self._credentials(),
            region=self.region,
            amz_date=amz_date(),
            path=self._path,
        )
        headers = [
            ("Host", self._host),
            ("Content-Type", CONTENT_TYPE),
            ("Content-Length", str(len(body))),
            ("X-Amz-Target", signed["X-Amz-Target"]),
            ("X-Amz-Date", signed["X-Amz-Date"]),
        ]
        token = signed.get("X-Amz-Security-Token")
        if token is not None:
            headers.append(("X-Amz-Security-Token", token))
        headers += (
            ("Authorization", signed["Authorization"]),
            ("Connection", "keep-alive"),
            ("Accept-Encoding", "identity"),
        )
        return build_request("POST", self._path, headers, body)

    def exchange(
        self,
        operation: str,
        params: Mapping[str, Any],
        body: bytes,
        timeout: float | None,
    ) -> dict[str, Any]:
        """Send ``body`` (``params`` as JSON) once; the parsed response, or ExchangeError.

        ``timeout`` (seconds, from a deadline) bounds connecting, sending and reading the
        whole response, each also bounded by the connect and read timeouts.
        """
        # Signed per attempt (the date is part of the signature), before connecting, so that
        # a credentials error leaves no connection behind.
        request = self._signed_request(operation, body)
        status, headers, data = self._roundtrip(request, timeout)
        crc = headers.get("x-amz-crc32")
        if crc is not None and not _crc_matches(crc, data):
            raise ExchangeError(CHECKSUM_MISMATCH, sent=True, status=status)
        try:
            parsed = codec.decode(data, operation) if data else {}
        except ValueError:
            parsed = None
        return json_result(status, headers, parsed)


def _crc_matches(header: str, data: bytes) -> bool:
    try:
        return int(header) == zlib.crc32(data)
    except ValueError:
        return False
