"""What botocore would send: a request signed by botocore's own client, captured before it
leaves (its ``before-send`` event answers at once), for comparing our signing with it."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterator, Mapping
from typing import Any
from unittest import mock

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from dynamorm_gen.runtime.sigv4 import Credentials


@functools.cache
def _session() -> botocore.session.Session:
    """One botocore session: it caches the service models, which makes clients cheap."""
    return botocore.session.Session()


def signed_by_botocore(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    region: str,
    endpoint: str | None,
    credentials: Credentials,
    when: datetime.datetime,
) -> Any:
    """The request (an ``AWSRequest``) botocore's ``service`` client signs at ``when`` for
    ``operation`` (its API name, e.g. ``AssumeRole``) with ``params``."""
    client = _session().create_client(
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    )
    captured = []
    # An error answer in the service's protocol: XML for STS's query, else JSON.
    answer = (
        b"<ErrorResponse/>" if client.meta.service_model.protocol == "query" else b"{}"
    )

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield answer

    def capture(request: Any, **_: Any) -> AWSResponse:
        captured.append(request)
        return AWSResponse(request.url, 400, {}, Raw())

    client.meta.events.register(f"before-send.{service}.{operation}", capture)
    names = {api: name for name, api in client.meta.method_to_api_mapping.items()}
    method = getattr(client, names[operation])
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=when),
        pytest.raises(ClientError),  # the answer is an error
    ):
        method(**params)
    return captured[0]
