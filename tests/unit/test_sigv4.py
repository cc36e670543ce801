"""The standard-library SigV4 signer agrees with botocore's, byte for byte."""

from __future__ import annotations

import datetime
import json
import random
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from dynamorm_gen.runtime import sigv4
from dynamorm_gen.runtime.codec import _encode_binary
from dynamorm_gen.runtime.endpoint import host_header as _host_header
from dynamorm_gen.runtime.sigv4 import Credentials, dynamodb_headers, sign

OPERATIONS = (
    "PutItem",
    "GetItem",
    "DeleteItem",
    "UpdateItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "CreateTable",
)
REGIONS = ("us-east-1", "eu-west-2", "ap-southeast-2", "us-gov-west-1", "cn-north-1")
ENDPOINTS = (
    "https://dynamodb.{region}.amazonaws.com",
    "https://dynamodb.{region}.amazonaws.com:443",
    "http://127.0.0.1:8000",
    "http://localhost:80",
    "http://LocalHost:4567/",
    "http://[::1]:8000",
)
TEXTS = (
    "plain",
    "naïve café",
    "日本語テキスト",
    "emoji 💳🏦",
    'quote " and \\ slash',
    "",
)


def _body(rng: random.Random, operation: str) -> bytes:
    item: dict[str, Any] = {
        "pk": {"S": f"{operation}#{rng.randrange(10**6)}"},
        "text": {"S": rng.choice(TEXTS)},
        "amount": {"N": str(rng.randrange(-(10**9), 10**9))},
        "blob": {"B": rng.randbytes(rng.randrange(0, 40))},
        "blobs": {"BS": [rng.randbytes(5), rng.randbytes(9)]},
        "nested": {
            "M": {"l": {"L": [{"B": rng.randbytes(3)}, {"S": rng.choice(TEXTS)}]}}
        },
    }
    request = {"TableName": f"table-{rng.randrange(100)}", "Item": item}
    # Half ASCII-escaped, half raw UTF-8: the signer must hash the bytes as sent.
    text = json.dumps(
        request,
        separators=(",", ":"),
        default=_encode_binary,
        ensure_ascii=rng.random() < 0.5,
    )
    return text.encode("utf-8")


def _cases() -> list[tuple[str, str, str, bytes, Credentials, datetime.datetime]]:
    rng = random.Random(20261125)
    cases = []
    for n in range(72):
        operation = OPERATIONS[n % len(OPERATIONS)]
        region = REGIONS[n % len(REGIONS)]
        endpoint = ENDPOINTS[n % len(ENDPOINTS)].format(region=region)
        token = None if n % 3 == 0 else f"FwoGZXIvYXdzE{rng.randrange(10**12)}//+token="
        credentials = Credentials(
            f"AKIA{rng.randrange(10**12):012d}",
            f"secret/{rng.randrange(10**9)}+Key",
            token,
        )
        when = datetime.datetime(2026, 1, 1) + datetime.timedelta(
            seconds=rng.randrange(3 * 365 * 86400)
        )
        cases.append(
            (operation, region, endpoint, _body(rng, operation), credentials, when)
        )
    return cases


def _botocore_headers(
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    when: datetime.datetime,
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    signer = SigV4Auth(
        BotoCredentials(
            credentials.access_key, credentials.secret_key, credentials.token
        ),
        "dynamodb",
        region,
    )
    # botocore reads its clock through this name; freezing it is how its own tests sign.
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("operation", "region", "endpoint", "body", "credentials", "when"), _cases()
)
def test_signature_matches_botocore(
    operation: str,
    region: str,
    endpoint: str,
    body: bytes,
    credentials: Credentials,
    when: datetime.datetime,
) -> None:
    parts = urlsplit(endpoint)
    assert parts.hostname is not None
    ours = dynamodb_headers(
        operation=operation,
        host=_host_header(parts.hostname, parts.port, parts.scheme),
        body=body,
        credentials=credentials,
        region=region,
        amz_date=when.strftime("%Y%m%dT%H%M%SZ"),
        path=parts.path or "/",
    )
    theirs = _botocore_headers(
        url=endpoint,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        },
        body=body,
        credentials=credentials,
        region=region,
        when=when,
    )
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")
    assert ("X-Amz-Security-Token" in ours) == (credentials.token is not None)


def test_generic_headers_are_trimmed_and_filtered_like_botocore() -> None:
    """Whitespace runs collapse, hop-by-hop and User-Agent headers stay unsigned."""
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.Query",
        "X-Custom": "  several   spaces\there  ",
        "User-Agent": "something/1.0",
        "Connection": "keep-alive",
        "X-Amzn-Trace-Id": "Root=1-abc",
    }
    credentials = Credentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None
    )
    when = datetime.datetime(2026, 11, 25, 23, 59, 59)
    ours = sign(
        method="POST",
        host="dynamodb.us-east-1.amazonaws.com",
        path="/",
        headers=headers,
        body=b'{"TableName":"t"}',
        credentials=credentials,
        region="us-east-1",
        service="dynamodb",
        amz_date=when.strftime("%Y%m%dT%H%M%SZ"),
    )
    theirs = _botocore_headers(
        url="https://dynamodb.us-east-1.amazonaws.com/",
        headers=headers,
        body=b'{"TableName":"t"}',
        credentials=credentials,
        region="us-east-1",
        when=when,
    )
    assert ours["Authorization"] == theirs["Authorization"]
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target;x-custom,"
        in (ours["Authorization"])
    )


def test_signing_keys_are_cached_per_secret_day_region_and_service() -> None:
    sigv4._keys.clear()
    first = sigv4.signing_key("secret", "20261125", "us-east-1", "dynamodb")
    assert sigv4.signing_key("secret", "20261125", "us-east-1", "dynamodb") is first
    others = {
        sigv4.signing_key("secret2", "20261125", "us-east-1", "dynamodb"),
        sigv4.signing_key("secret", "20261126", "us-east-1", "dynamodb"),
        sigv4.signing_key("secret", "20261125", "eu-west-1", "dynamodb"),
        sigv4.signing_key("secret", "20261125", "us-east-1", "s3"),
    }
    assert len(others) == 4 and first not in others
    assert len(sigv4._keys) == 5


def test_signing_key_cache_is_bounded() -> None:
    sigv4._keys.clear()
    for day in range(sigv4._MAX_KEYS * 2):
        sigv4.signing_key("secret", f"2026{day:04d}", "us-east-1", "dynamodb")
    assert len(sigv4._keys) <= sigv4._MAX_KEYS
