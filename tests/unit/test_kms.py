"""KMS on the standard library: GenerateDataKey and Decrypt over JSON 1.1, signed as botocore
signs them, answered by moto's server over loopback HTTP, and KMS's errors typed; the KMS
client beside a DynamoDB client (same credentials, transport, retries; the endpoint from
``DYNAMORM_KMS_ENDPOINT_URL``)."""

from __future__ import annotations

import datetime
from typing import Any
from unittest import mock

import botocore.session
import pytest

from dynamorm_gen.runtime import ConfigurationError, DynamormError
from dynamorm_gen.runtime import endpoint as endpoint_module
from dynamorm_gen.runtime.client import Client, create
from dynamorm_gen.runtime.data_keys import DataKeys, as_data_keys
from dynamorm_gen.runtime.kms import KmsKeys, KmsTransport, client_beside
from dynamorm_gen.runtime.retry import RetryPolicy
from dynamorm_gen.runtime.sigv4 import Credentials
from dynamorm_gen.runtime.transport import ExchangeError
from dynamorm_gen.testing import LocalEngine, LocalKms, MotoKms, make_partners
from tests.botocore_requests import signed_by_botocore

CONTEXT = {"dynamorm-table": "payments", "dynamorm-entity": "Payment"}


@pytest.fixture
def moto_kms(dynamorm_moto: LocalEngine) -> MotoKms:
    dynamorm_moto.reset()
    made = MotoKms(dynamorm_moto.url)
    made.key_id = made.create_key()
    return made


def _fast_keys(url: str) -> KmsKeys:
    transport = KmsTransport("us-east-1", url, Credentials("testing", "testing"))
    return KmsKeys(Client(transport, RetryPolicy(sleep=lambda _: None), service="kms"))


# --- the request, against botocore's --------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "endpoint", "token"),
    [
        ("us-east-1", None, None),
        ("eu-west-2", "http://127.0.0.1:5000", "FwoGZXIvYXdzE//+tok="),
        ("cn-north-1", None, "token"),
        ("us-gov-west-1", "https://kms.example.com/", None),
    ],
)
def test_the_signed_request_matches_botocore(
    region: str, endpoint: str | None, token: str | None
) -> None:
    when = datetime.datetime(2026, 11, 29, 23, 59, 58)
    credentials = Credentials("AKIAEXAMPLE", "secret/Key+1", token)
    theirs = signed_by_botocore(
        "kms",
        "GenerateDataKey",
        {"KeyId": "alias/payments", "KeySpec": "AES_256", "EncryptionContext": CONTEXT},
        region=region,
        endpoint=endpoint,
        credentials=credentials,
        when=when,
    )
    transport = KmsTransport(region, endpoint, credentials)
    body = theirs.body if isinstance(theirs.body, bytes) else theirs.body.encode()
    with mock.patch.object(
        endpoint_module, "amz_date", lambda: when.strftime("%Y%m%dT%H%M%SZ")
    ):
        ours = transport._signed_request("GenerateDataKey", body)
    head, _, sent = ours.partition(b"\r\n\r\n")
    assert sent == body
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("POST /")
    headers = dict(line.split(": ", 1) for line in lines[1:])

    def header(name: str) -> str | None:
        value = theirs.headers.get(name)
        return value.decode() if isinstance(value, bytes) else value

    for name in ("Authorization", "X-Amz-Date", "X-Amz-Target", "Content-Type"):
        assert headers[name] == header(name), name
    assert headers.get("X-Amz-Security-Token") == header("X-Amz-Security-Token")
    assert headers["X-Amz-Target"] == "TrentService.GenerateDataKey"
    assert theirs.url.startswith(transport.endpoint_url.rstrip("/"))
    if endpoint is None:
        suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
        assert transport.endpoint_url == f"https://kms.{region}{suffix}"


def test_prepare_builds_the_json_request_with_blobs_as_base64() -> None:
    transport = KmsTransport("us-east-1", None, Credentials("AKIAEXAMPLE", "s"))
    request = transport.prepare("Decrypt", {"CiphertextBlob": b"\x00\xff"})
    assert request.endswith(b'{"CiphertextBlob":"AP8="}')
    assert b"\r\nContent-Type: application/x-amz-json-1.1\r\n" in request
    assert b"\r\nX-Amz-Target: TrentService.Decrypt\r\n" in request


# --- against moto's server ------------------------------------------------------------------


def test_data_keys_from_moto_over_http(moto_kms: MotoKms) -> None:
    keys = _fast_keys(moto_kms.url)
    plaintext, edk = keys.generate_data_key(moto_kms.key_id, CONTEXT)
    assert len(plaintext) == 32 and edk and plaintext not in edk
    assert keys.decrypt_data_key(edk, CONTEXT) == plaintext
    # Another context: KMS refuses, typed with its code.
    with pytest.raises(DynamormError) as refused:
        keys.decrypt_data_key(edk, {**CONTEXT, "dynamorm-entity": "Customer"})
    assert refused.value.code == "InvalidCiphertextException"
    assert refused.value.entity == "Customer"  # what the context named
    keys.close()


def test_an_alias_names_its_key(moto_kms: MotoKms) -> None:
    moto_kms.create_alias("alias/payments", moto_kms.key_id)
    keys = _fast_keys(moto_kms.url)
    plaintext, edk = keys.generate_data_key("alias/payments", CONTEXT)
    assert keys.decrypt_data_key(edk, CONTEXT) == plaintext
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        MotoKms("http://localhost:5000")


def test_a_key_kms_does_not_know_is_not_found(moto_kms: MotoKms) -> None:
    keys = _fast_keys(moto_kms.url)
    with pytest.raises(DynamormError) as refused:
        keys.generate_data_key("alias/no-such-key", CONTEXT)
    assert refused.value.code == "NotFoundException"
    assert refused.value.operation == "GenerateDataKey"


def test_a_key_of_another_account_is_refused(moto_kms: MotoKms) -> None:
    """moto keeps each account's keys apart: a data key made under a partner's key (with
    its role's credentials) does not decrypt with the function's own credentials."""
    partner = make_partners().get("partner-a")
    theirs = moto_kms.create_key(partner)
    assert ":111111111111:" in theirs
    mine = _fast_keys(moto_kms.url)
    with pytest.raises(DynamormError) as refused:
        mine.generate_data_key(theirs, CONTEXT)
    assert refused.value.code in ("NotFoundException", "AccessDeniedException")


def test_decrypt_needs_no_key_id_so_a_replaced_key_still_opens(
    moto_kms: MotoKms,
) -> None:
    keys = _fast_keys(moto_kms.url)
    old = moto_kms.key_id
    plaintext, edk = keys.generate_data_key(old, CONTEXT)
    new = moto_kms.create_key()
    assert keys.generate_data_key(new, CONTEXT)[1] != edk
    assert keys.decrypt_data_key(edk, CONTEXT) == plaintext  # the edk names the old key


class Answers:
    """A transport that answers each exchange from a list, or raises what it holds."""

    endpoint_url = "http://answers.invalid"
    region = "us-east-1"

    def __init__(self, *answers: dict[str, Any] | ExchangeError) -> None:
        self.answers = list(answers)
        self.sent: list[str] = []

    def exchange(
        self, operation: str, params: Any, body: bytes, timeout: Any
    ) -> dict[str, Any]:
        self.sent.append(operation)
        answer = self.answers.pop(0)
        if isinstance(answer, ExchangeError):
            raise answer
        return answer

    def prewarm(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_throttling_and_server_errors_are_resent() -> None:
    answers = Answers(
        ExchangeError("ThrottlingException", sent=True, status=400),
        ExchangeError("KMSInternalException", sent=True, status=500),
        {"Plaintext": "A" * 43 + "=", "CiphertextBlob": "ZWRr"},
    )
    keys = KmsKeys(Client(answers, RetryPolicy(sleep=lambda _: None), service="kms"))
    plaintext, edk = keys.generate_data_key("alias/x", {})
    assert len(plaintext) == 32 and edk == b"edk"
    assert answers.sent == ["GenerateDataKey"] * 3


def test_an_answer_without_its_blob_is_malformed_and_shows_nothing() -> None:
    answers = Answers({"Plaintext": "not base64!"})
    keys = KmsKeys(Client(answers, service="kms"))
    with pytest.raises(DynamormError) as broken:
        keys.decrypt_data_key(b"edk", {})
    assert broken.value.code == "ResponseMalformed"
    assert "not base64" not in str(broken.value)


# --- the KMS client beside a DynamoDB client ------------------------------------------------


def test_the_fast_kms_client_signs_with_the_dynamodb_clients_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DYNAMORM_KMS_ENDPOINT_URL", "http://127.0.0.1:4566")
    credentials = Credentials("AKIAPARTNER", "partner-secret", "tok")
    dynamodb = create("eu-west-1", None, transport="fast", credentials=credentials)
    dynamodb.partner = "acme"
    made = client_beside(dynamodb)
    assert isinstance(made.transport, KmsTransport)
    assert (made.service, made.partner, made.region) == ("kms", "acme", "eu-west-1")
    assert made.endpoint_url == "http://127.0.0.1:4566"
    assert made.policy is dynamodb.policy
    signed = made.transport.prepare("Decrypt", {"CiphertextBlob": b"x"})
    assert b"Credential=AKIAPARTNER/" in signed and b"/eu-west-1/kms/" in signed


def test_the_botocore_kms_client_is_made_with_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DYNAMORM_KMS_ENDPOINT_URL", raising=False)
    dynamodb = create("eu-west-1", None, transport="botocore")
    made = client_beside(dynamodb)
    transport: Any = made.transport
    assert transport.client.meta.service_model.service_name == "kms"
    assert made.endpoint_url == "https://kms.eu-west-1.amazonaws.com"
    assert transport.client.meta.config.retries["total_max_attempts"] == 1


def test_a_client_that_cannot_reach_kms_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match=r"Connection\(kms=\.\.\.\)"):
        client_beside(Client(Answers()))
    botocore_client = botocore.session.Session().create_client(
        "dynamodb",
        region_name="us-east-1",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    from dynamorm_gen.runtime.client import adopt

    with pytest.raises(ConfigurationError, match=r"Connection\(kms=\.\.\.\)"):
        client_beside(adopt(botocore_client))


def test_connection_kms_takes_a_key_service_a_kms_client_or_data_keys() -> None:
    service = LocalKms()
    cached = DataKeys(service)
    assert as_data_keys(cached) is cached
    assert as_data_keys(service).service is service
    kms_client = Client(Answers(), service="kms")
    made = as_data_keys(kms_client)
    assert isinstance(made.service, KmsKeys) and made.service.client is kms_client
    with pytest.raises(ConfigurationError, match="kms= takes"):
        as_data_keys(object())


def test_closing_a_client_wipes_its_data_keys() -> None:
    dynamodb = Client(Answers())
    kept = DataKeys(LocalKms())
    dynamodb._data_keys = kept
    key = kept.for_sealing("alias/x", ())
    dynamodb.close()
    assert key.material == bytearray(32) and dynamodb._data_keys is None
