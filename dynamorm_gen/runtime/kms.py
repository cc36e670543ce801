"""KMS for encrypted attributes: GenerateDataKey and Decrypt, on either transport.

Field encryption (``encryption.py``) asks KMS for data keys and for their plaintext back. On
the fast path this module speaks KMS itself, so that a Lambda never imports botocore:
``KmsTransport`` is a ``Transport`` (``transport.py``) on the same connection code
(``endpoint.py``) and signer (``sigv4.sign``, service ``kms``) as the fast DynamoDB transport.
KMS's protocol is JSON 1.1: a POST to ``https://kms.<region>.amazonaws.com/`` with the target
in ``X-Amz-Target: TrentService.<Operation>``, blobs as base64 text both ways, and errors as
``{"__type": "<code>", "message": ...}``, which ``transport.service_error`` reads as it reads
DynamoDB's. On the botocore transport a botocore KMS client does the exchange
(``BotocoreTransport.beside``).

``client_beside`` makes the KMS client of a DynamoDB client: same region, same credentials
(a partner's assumed role included), same transport and retry policy, so KMS calls get the
runtime's retry loop, deadline and hooks (``service`` ``"kms"``). Its endpoint is
``$DYNAMORM_KMS_ENDPOINT_URL`` when set (tests point it at moto's server), else AWS's.

``KmsKeys`` is the key service that ``data_keys.DataKeys`` caches: GenerateDataKey
(``KeySpec`` AES_256) with an encryption context, and Decrypt of an encrypted data key with
the same context and no ``KeyId``, so KMS decrypts with whichever key the encrypted data key
names (keys that were rotated, or replaced in the configuration, still decrypt what they
encrypted). Neither is resent in a way that matters: a second GenerateDataKey only makes
another key, a second Decrypt returns the same one.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dynamorm_gen.runtime import codec
from dynamorm_gen.runtime.endpoint import Endpoint
from dynamorm_gen.runtime.errors import ConfigurationError, DynamormError
from dynamorm_gen.runtime.retry import IDEMPOTENT, READ
from dynamorm_gen.runtime.transport import RESPONSE_MALFORMED, json_result

if TYPE_CHECKING:
    from dynamorm_gen.runtime.client import Client

ENDPOINT_ENV = "DYNAMORM_KMS_ENDPOINT_URL"
CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "TrentService."
# A data key for AES-256-GCM.
DATA_KEY_BYTES = 32


class KmsTransport(Endpoint):
    """KMS's JSON 1.1 protocol over the fast transport's connections; one exchange per call.

    ``KmsTransport(region=None, endpoint_url=None, credentials=None, *, profile=None,
    connect_timeout=2.0, read_timeout=10.0, max_idle_connections=None)``: see ``Endpoint``
    (two idle connections by default).
    """

    service = "kms"
    # Few idle connections: with data keys cached, KMS is asked a few times an hour.
    idle_connections = 2

    def prepare(self, operation: str, params: Mapping[str, Any]) -> bytes:
        """The signed request ``exchange`` would send now, as bytes (nothing is sent; they
        hold the request's parameters and a signature)."""
        return self._signed_request(operation, codec.encode(params))

    def _signed_request(self, operation: str, body: bytes) -> bytes:
        headers = {
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": TARGET_PREFIX + operation,
        }
        return self._signed_post(headers, body)

    def exchange(
        self,
        operation: str,
        params: Mapping[str, Any],
        body: bytes,
        timeout: float | None,
    ) -> dict[str, Any]:
        """Send ``body`` (``params`` as JSON, blobs as base64) once; the parsed response
        (blobs still base64 text), or ExchangeError."""
        request = self._signed_request(operation, body)
        status, headers, data = self._roundtrip(request, timeout)
        try:
            parsed = codec.decode(data) if data else {}
        except ValueError:
            parsed = None
        return json_result(status, headers, parsed)


def client_beside(client: Client) -> Client:
    """The KMS client of ``client``'s account and region: the same credentials, transport
    and retry policy, at ``$DYNAMORM_KMS_ENDPOINT_URL`` when set, else AWS's endpoint.
    ConfigurationError when ``client``'s transport cannot make one (a botocore client given
    to ``Connection(client=...)``: give ``Connection(kms=...)`` too)."""
    from dynamorm_gen.runtime.client import Client

    beside = getattr(client.transport, "beside", None)
    if beside is None:
        raise ConfigurationError(
            f"cannot reach KMS beside a {type(client.transport).__name__}: pass"
            " Connection(kms=...) a KMS client or a key service"
        )
    endpoint_url = os.environ.get(ENDPOINT_ENV) or None
    made = Client(
        beside("kms", endpoint_url),
        client.policy,
        service="kms",
        partner=client.partner,
    )
    expired = client.on_credentials_expired
    if expired is not None:
        # A partner's credentials that KMS found expired are dropped like DynamoDB's.
        made.on_credentials_expired = lambda _: expired(client)
    return made


class KmsKeys:
    """Data keys from KMS, through ``client`` (a ``Client`` of KMS: ``client_beside``)."""

    __slots__ = ("client",)

    def __init__(self, client: Client) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"KmsKeys({self.client!r})"

    def generate_data_key(
        self, key_id: str, context: Mapping[str, str]
    ) -> tuple[bytes, bytes]:
        """A new 256-bit data key under ``key_id``: its plaintext and its encrypted form,
        bound to ``context`` (KMS's encryption context; empty: none)."""
        params: dict[str, Any] = {"KeyId": key_id, "KeySpec": "AES_256"}
        if context:
            params["EncryptionContext"] = dict(context)
        response = self.client.call(
            "GenerateDataKey", params, IDEMPOTENT, entity=_entity(context)
        )
        return (
            _blob(response, "Plaintext", "GenerateDataKey"),
            _blob(response, "CiphertextBlob", "GenerateDataKey"),
        )

    def decrypt_data_key(self, edk: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext of the encrypted data key ``edk``, which KMS gives only with the
        ``context`` it was made with, and only to who may use the key it names."""
        params: dict[str, Any] = {"CiphertextBlob": edk}
        if context:
            params["EncryptionContext"] = dict(context)
        response = self.client.call("Decrypt", params, READ, entity=_entity(context))
        return _blob(response, "Plaintext", "Decrypt")

    def close(self) -> None:
        self.client.close()


def _entity(context: Mapping[str, str]) -> str:
    """The entity type the encryption context names, for hooks and error messages."""
    return context.get("dynamorm-entity", "")


def _blob(response: Mapping[str, Any], name: str, operation: str) -> bytes:
    """A blob of KMS's answer: bytes from botocore, base64 text from the fast transport.
    A missing or malformed one is a ResponseMalformed (its value is never shown)."""
    value = response.get(name)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            pass
    raise DynamormError(
        f"KMS answered without a readable {name}",
        operation=operation,
        code=RESPONSE_MALFORMED,
    )
