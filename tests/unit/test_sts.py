"""STS's query protocol on the standard library (runtime/sts.py): the signed request matches
botocore's byte for byte, answers and errors are parsed into typed errors naming the partner,
and AssumeRole goes through the client's retry loop, deadline and hooks."""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator, Mapping
from typing import Any
from unittest import mock

import pytest

from dynamorm_gen.runtime import (
    AssumeRoleFailed,
    ConfigurationError,
    CredentialsExpired,
    DeadlineExceeded,
    PartnerAccessDenied,
    RegionDisabled,
    SourceCredentialsExpired,
    hooks,
    sts,
)
from dynamorm_gen.runtime import endpoint as endpoint_module
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.hooks import CallInfo
from dynamorm_gen.runtime.partners import Partner
from dynamorm_gen.runtime.retry import RetryPolicy
from dynamorm_gen.runtime.sigv4 import Credentials
from dynamorm_gen.runtime.sts import StsTransport, encode_form
from dynamorm_gen.runtime.transport import ExchangeError
from dynamorm_gen.testing import StsStub
from tests.botocore_requests import signed_by_botocore

EXTERNAL_ID = "ext:ID/with+=,.@-chars"
PARTNER = Partner(
    "acme",
    role_arn="arn:aws:iam::111122223333:role/path/payments-access",
    external_id=EXTERNAL_ID,
    session_name="payments@api",
)


@pytest.fixture
def stub() -> Iterator[StsStub]:
    with StsStub() as found:
        yield found


def _client(url: str, *, attempts: int = 4) -> Client:
    return Client(
        StsTransport("eu-west-1", url, Credentials("AKIASOURCE", "source-secret")),
        RetryPolicy(max_attempts=attempts, sleep=lambda _: None),
        service="sts",
        partner="acme",
    )


# --- the request, against botocore's ------------------------------------------------------


def _cases() -> list[tuple[str, str | None, Credentials, dict[str, Any]]]:
    rng = random.Random(20261129)
    cases = []
    endpoints = (
        None,
        "http://127.0.0.1:5000",
        "https://sts.example.com/",
        "http://[::1]:8000",
    )
    regions = ("us-east-1", "eu-west-2", "cn-north-1", "us-gov-west-1")
    for n in range(12):
        params: dict[str, Any] = {
            "RoleArn": f"arn:aws:iam::{rng.randrange(10**12):012d}:role/team/role-{n}",
            "RoleSessionName": rng.choice(
                ("dynamorm-gen", "payments@api", "a.b-c_d=e,f+g")
            ),
            "DurationSeconds": rng.choice((900, 3600, 43200)),
        }
        if n % 3:
            params["ExternalId"] = rng.choice((EXTERNAL_ID, "plain", "a/b:c=d+e"))
        token = None if n % 4 == 0 else f"FwoGZXIvYXdzE{rng.randrange(10**9)}//+tok="
        credentials = Credentials(f"AKIA{n:016d}", f"secret/{n}+Key", token)
        cases.append((regions[n % 4], endpoints[n % 4], credentials, params))
    return cases


@pytest.mark.parametrize(("region", "endpoint", "credentials", "params"), _cases())
def test_the_signed_request_matches_botocore_byte_for_byte(
    region: str,
    endpoint: str | None,
    credentials: Credentials,
    params: dict[str, Any],
) -> None:
    when = datetime.datetime(2026, 11, 29, 23, 59, 58)
    theirs = signed_by_botocore(
        "sts",
        "AssumeRole",
        params,
        region=region,
        endpoint=endpoint,
        credentials=credentials,
        when=when,
    )
    transport = StsTransport(region, endpoint, credentials)
    with mock.patch.object(
        endpoint_module, "amz_date", lambda: when.strftime("%Y%m%dT%H%M%SZ")
    ):
        ours = transport.prepare("AssumeRole", params)
    head, _, body = ours.partition(b"\r\n\r\n")
    sent = theirs.body.encode() if isinstance(theirs.body, str) else theirs.body
    assert body == sent  # form-encoded as botocore's query serializer does
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST / HTTP/1.1" or lines[0].startswith("POST /")
    headers = dict(line.split(": ", 1) for line in lines[1:])

    def header(name: str) -> str | None:
        value = theirs.headers.get(name)
        return value.decode() if isinstance(value, bytes) else value

    assert headers["Authorization"] == header("Authorization")
    assert headers["X-Amz-Date"] == header("X-Amz-Date")
    assert headers.get("X-Amz-Security-Token") == header("X-Amz-Security-Token")
    assert headers["Content-Type"] == header("Content-Type")
    assert theirs.url.startswith(transport.endpoint_url.rstrip("/"))


def test_the_form_keeps_the_order_and_refuses_what_sts_would_not_get() -> None:
    assert encode_form("AssumeRole", {"RoleArn": "a:b/c", "DurationSeconds": 900}) == (
        b"Action=AssumeRole&Version=2011-06-15&RoleArn=a%3Ab%2Fc&DurationSeconds=900"
    )
    with pytest.raises(TypeError, match="Tags must be a str or an int"):
        encode_form("AssumeRole", {"Tags": [{"Key": "a"}]})


def test_the_aws_endpoint_is_regional() -> None:
    assert (
        StsTransport("eu-central-1").endpoint_url
        == "https://sts.eu-central-1.amazonaws.com"
    )
    assert (
        StsTransport("cn-north-1").endpoint_url
        == "https://sts.cn-north-1.amazonaws.com.cn"
    )
    with pytest.raises(ConfigurationError, match="invalid STS endpoint URL"):
        StsTransport("eu-central-1", "ftp://sts")


# --- answers and errors ---------------------------------------------------------------------


def test_assume_role_through_the_client(stub: StsStub) -> None:
    credentials, expiry = sts.assume_role(_client(stub.url), PARTNER)
    call = stub.calls[0]
    assert call["Action"] == "AssumeRole" and call["Version"] == "2011-06-15"
    assert call["RoleArn"] == PARTNER.role_arn and call["ExternalId"] == EXTERNAL_ID
    assert (
        call["RoleSessionName"] == "payments@api" and call["DurationSeconds"] == "3600"
    )
    assert credentials.access_key.startswith("ASIA") and credentials.token
    assert 3590 < expiry - stub.clock() <= 3600
    assert "Credentials" in repr(credentials) and credentials.secret_key not in repr(
        credentials
    )


def test_without_an_external_id_none_is_sent(stub: StsStub) -> None:
    plain = Partner("plain", role_arn="arn:aws:iam::111122223333:role/x")
    sts.assume_role(_client(stub.url), plain)
    assert "ExternalId" not in stub.calls[0]


@pytest.mark.parametrize(
    ("code", "error", "also"),
    [
        ("AccessDenied", PartnerAccessDenied, "trust policy"),
        ("ExpiredToken", SourceCredentialsExpired, "have expired"),
        ("RegionDisabledException", RegionDisabled, "not activated"),
        ("ValidationError", AssumeRoleFailed, "AssumeRole failed"),
        ("InvalidClientTokenId", AssumeRoleFailed, "AssumeRole failed"),
    ],
)
def test_sts_errors_are_typed_and_name_the_partner(
    stub: StsStub, code: str, error: type[AssumeRoleFailed], also: str
) -> None:
    stub.fail(code)
    with pytest.raises(error) as caught:
        sts.assume_role(_client(stub.url), PARTNER)
    failure = caught.value
    assert type(failure) is error and failure.partner == "acme" and failure.code == code
    assert "partner 'acme'" in str(failure) and also in str(failure)
    assert f"({code})" in str(failure) and failure.operation == "AssumeRole"
    assert EXTERNAL_ID not in str(failure) and PARTNER.role_arn not in str(failure)
    assert "scripted by the test" in failure.server_message  # kept, out of str()
    assert stub.assumed() == 1  # a definitive refusal is not resent
    if code == "AccessDenied":
        from dynamorm_gen.runtime import AccessDenied

        assert isinstance(failure, AccessDenied)
    if code == "ExpiredToken":
        assert isinstance(failure, CredentialsExpired)


def test_throttling_and_server_errors_are_resent(stub: StsStub) -> None:
    stub.fail("Throttling")
    stub.fail("InternalFailure")
    credentials, _ = sts.assume_role(_client(stub.url), PARTNER)
    assert credentials.access_key.startswith("ASIA") and stub.assumed() == 3


def test_throttling_after_every_attempt_is_an_assume_role_failure(
    stub: StsStub,
) -> None:
    stub.fail("Throttling", times=2)
    with pytest.raises(AssumeRoleFailed, match=r"\(Throttling\)"):
        sts.assume_role(_client(stub.url, attempts=2), PARTNER)


def test_server_errors_after_every_attempt_never_read_as_an_outcome_unknown(
    stub: StsStub,
) -> None:
    """The retry loop calls an idempotent request that ran out after a 5xx OutcomeUnknown;
    for AssumeRole that would tell the DynamoDB caller its write may have been applied."""
    stub.fail("ServiceUnavailable", times=2)
    with pytest.raises(AssumeRoleFailed) as caught:
        sts.assume_role(_client(stub.url, attempts=2), PARTNER)
    assert type(caught.value) is AssumeRoleFailed
    assert caught.value.code == "ServiceUnavailable"


class _Answers:
    """An STS transport replaced by scripted answers (parsed results or failures)."""

    endpoint_url = "http://scripted.invalid"
    region = "eu-west-1"

    def __init__(self, *answers: dict[str, Any] | ExchangeError) -> None:
        self.answers = list(answers)

    def exchange(
        self,
        operation: str,
        params: Mapping[str, Any],
        body: bytes,
        timeout: float | None,
    ) -> dict[str, Any]:
        answer = self.answers.pop(0)
        if isinstance(answer, ExchangeError):
            raise answer
        return answer

    def prewarm(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "credentials",
    [
        None,
        {"AccessKeyId": "ASIA1", "SecretAccessKey": "s3cr3t-value"},
        {
            "AccessKeyId": "ASIA1",
            "SecretAccessKey": "s3cr3t-value",
            "SessionToken": "t",
            "Expiration": "not a time",
        },
        {
            "AccessKeyId": "ASIA 1",
            "SecretAccessKey": "s3cr3t-value",
            "SessionToken": "t",
            "Expiration": "2026-11-29T16:37:58Z",
        },
    ],
)
def test_a_malformed_answer_is_an_assume_role_failure_without_its_values(
    credentials: dict[str, str] | None,
) -> None:
    answer: dict[str, Any] = {} if credentials is None else {"Credentials": credentials}
    client = Client(_Answers(answer), service="sts")
    with pytest.raises(AssumeRoleFailed, match="ResponseMalformed") as caught:
        sts.assume_role(client, PARTNER)
    assert "s3cr3t" not in str(caught.value) and caught.value.__context__ is None


def test_expiry_times_are_utc_whatever_their_form() -> None:
    for written in (
        "2026-11-29T16:37:58Z",
        "2026-11-29T16:37:58.744234Z",
        "2026-11-29T16:37:58",
        "2026-11-29T17:37:58+01:00",
    ):
        _, expiry = sts.issued(
            "acme",
            {
                "Credentials": {
                    "AccessKeyId": "ASIA1",
                    "SecretAccessKey": "s",
                    "SessionToken": "t",
                    "Expiration": written,
                }
            },
        )
        assert int(expiry) == 1795970278, written


def test_xml_that_is_not_the_answer_is_malformed_and_resent(stub: StsStub) -> None:
    client = Client(
        _Answers(
            ExchangeError("ResponseMalformed", sent=True, status=200),
            {
                "Credentials": {
                    "AccessKeyId": "ASIA1",
                    "SecretAccessKey": "s",
                    "SessionToken": "t",
                    "Expiration": "2026-11-29T16:37:58Z",
                }
            },
        ),
        RetryPolicy(sleep=lambda _: None),
        service="sts",
    )
    assert sts.assume_role(client, PARTNER)[0].access_key == "ASIA1"
    assert sts._result("AssumeRole", b"<Other/>") is None
    assert sts._result("AssumeRole", b"not xml") is None
    error = sts._service_error(502, b"<html>bad gateway</html>")
    assert (error.code, error.status) == ("502", 502)


def test_the_deadline_ends_assume_role_as_unsent() -> None:
    """Out of time while assuming: the DynamoDB request the credentials were for was never
    sent, so the error says sent=False whatever happened to the STS request."""
    client = Client(
        _Answers(ExchangeError("ReadTimeoutError", sent=True)),
        RetryPolicy(sleep=lambda _: None),
        service="sts",
    )
    with bind(Deadline.after(-1)), pytest.raises(DeadlineExceeded) as caught:
        sts.assume_role(client, PARTNER)
    assert caught.value.sent is False and caught.value.operation == "AssumeRole"
    assert "partner 'acme'" in str(caught.value)


class _Recorder:
    wants_capacity = False

    def __init__(self) -> None:
        self.calls: list[CallInfo] = []

    def before_call(self, call: CallInfo) -> None:
        pass

    def after_call(self, call: CallInfo) -> None:
        self.calls.append(call)


def test_hooks_see_assume_role_as_an_sts_call_of_the_partner(stub: StsStub) -> None:
    recorder = _Recorder()
    hooks.add_hook(recorder)
    try:
        stub.fail("Throttling")
        sts.assume_role(_client(stub.url), PARTNER)
    finally:
        hooks.remove_hook(recorder)
    (call,) = recorder.calls
    assert (call.service, call.operation, call.partner) == ("sts", "AssumeRole", "acme")
    assert call.resends == ["Throttling"] and call.error is None
