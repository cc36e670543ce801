"""The fault proxy (tests/faults/proxy.py) does what each fault says, against moto's server.

The client side is plain botocore (no retries, so each fault reaches the test as it happened),
http.client, or a raw socket when the exact bytes and the way the connection ended matter.
Whether the engine applied a write is read back from the engine directly, not through the
proxy: an ``ADD n 1`` counter tells how many times it landed.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from .proxy import ANY_OPERATION, TOKEN_LIFETIME, Fault, FaultProxy

TABLE = "Counters"
SOCKET_TIMEOUT = 5.0  # seconds: no raw client here waits longer for the proxy
# For raw requests: moto reads the region from the credential scope; neither engine checks the
# signature, but dynalite wants the Authorization header well formed and an X-Amz-Date.
AMZ_DATE = "20240101T000000Z"
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


# --- clients ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def botocore_session() -> botocore.session.Session:
    """One session for the module: it caches the service model, which makes clients cheap."""
    return botocore.session.Session()


def make_client(
    session: botocore.session.Session,
    url: str,
    *,
    read_timeout: float = SOCKET_TIMEOUT,
    attempts: int = 1,
) -> Any:
    """A botocore DynamoDB client; by default one attempt per call, so no retry hides a fault."""
    return session.create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=SOCKET_TIMEOUT,
            read_timeout=read_timeout,
        ),
    )


@pytest.fixture
def engine(
    moto_server: str, botocore_session: botocore.session.Session
) -> Iterator[Any]:
    """A client straight to moto (not through the proxy), with the counter table created."""
    client = make_client(botocore_session, moto_server)
    create_counter_table(client)
    yield client
    client.close()


@pytest.fixture
def proxied(
    fault_proxy: FaultProxy, botocore_session: botocore.session.Session
) -> Iterator[Any]:
    """A client that talks to moto through the proxy."""
    client = make_client(botocore_session, fault_proxy.url)
    yield client
    client.close()


def create_counter_table(client: Any) -> None:
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def add_one(key: str = "counter") -> dict[str, Any]:
    """UpdateItem parameters that add 1 to the counter ``n`` of ``key``."""
    return {
        "TableName": TABLE,
        "Key": {"pk": {"S": key}},
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
        "ReturnValues": "ALL_NEW",
    }


def get_counter(key: str = "counter") -> dict[str, Any]:
    return {"TableName": TABLE, "Key": {"pk": {"S": key}}}


def applied(engine: Any, key: str = "counter") -> int:
    """How many times the engine applied ``add_one(key)``."""
    item = engine.get_item(ConsistentRead=True, **get_counter(key)).get("Item")
    return int(item["n"]["N"]) if item else 0


def add_one_in_transaction(key: str = "counter") -> list[dict[str, Any]]:
    update = add_one(key)
    del update["ReturnValues"]
    return [{"Update": update}]


# --- raw HTTP --------------------------------------------------------------------------------


def raw_request(proxy: FaultProxy, operation: str, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    head = (
        "POST / HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{proxy.port}\r\n"
        f"X-Amz-Target: DynamoDB_20120810.{operation}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        f"Authorization: {AUTHORIZATION}\r\n"
        f"X-Amz-Date: {AMZ_DATE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def send_until_closed(
    proxy: FaultProxy, operation: str, payload: dict[str, Any]
) -> tuple[bytes, str]:
    """Send one request on a new connection and read until the proxy ends the connection.
    Returns the bytes received and how the connection ended: "eof" (FIN) or "reset" (RST)."""
    with socket.create_connection(
        ("127.0.0.1", proxy.port), timeout=SOCKET_TIMEOUT
    ) as sock:
        sock.sendall(raw_request(proxy, operation, payload))
        received = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return bytes(received), "reset"
            if not chunk:
                return bytes(received), "eof"
            received += chunk


def post(
    connection: http.client.HTTPConnection, operation: str, payload: dict[str, Any]
) -> tuple[http.client.HTTPResponse, bytes]:
    """One request on a (possibly kept-alive) http.client connection; the whole response."""
    connection.request(
        "POST",
        "/",
        body=json.dumps(payload).encode(),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTHORIZATION,
            "X-Amz-Date": AMZ_DATE,
        },
    )
    response = connection.getresponse()
    return response, response.read()


@pytest.fixture
def http_connection(fault_proxy: FaultProxy) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", fault_proxy.port, timeout=SOCKET_TIMEOUT
    )
    yield connection
    connection.close()


def split_response(data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers (lower-case names) and body of raw response bytes."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers, body


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SOCKET_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {SOCKET_TIMEOUT}s")
        time.sleep(0.005)


def error_type(body: bytes) -> str:
    payload: dict[str, str] = json.loads(body)
    return payload["__type"].rpartition("#")[2]


# --- passing through -------------------------------------------------------------------------


def test_unmatched_requests_are_forwarded_unchanged(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    fault_proxy.inject("DeleteItem", Fault.ERROR_500)

    result = proxied.update_item(**add_one())

    assert result["Attributes"]["n"] == {"N": "1"}
    assert applied(engine) == 1
    [record] = fault_proxy.requests
    assert record.operation == "UpdateItem"
    assert record.body == add_one()
    assert record.forwarded
    assert record.fault is None
    assert record.upstream_status == 200
    assert record.client_status == 200
    assert not record.from_token_memory
    assert fault_proxy.forwarded("UpdateItem") == 1
    assert fault_proxy.errors == []


def test_engine_errors_pass_through_as_they_are(
    fault_proxy: FaultProxy, proxied: Any, moto_server: str
) -> None:
    with pytest.raises(ClientError) as raised:
        proxied.get_item(**get_counter())  # no table yet

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert fault_proxy.requests[0].upstream_status == 400


def test_a_kept_alive_connection_carries_several_requests(
    fault_proxy: FaultProxy, engine: Any, http_connection: http.client.HTTPConnection
) -> None:
    first, first_body = post(http_connection, "UpdateItem", add_one())
    first_socket = http_connection.sock
    second, second_body = post(http_connection, "UpdateItem", add_one())

    assert http_connection.sock is first_socket  # http.client reused the connection
    assert (first.status, second.status) == (200, 200)
    assert json.loads(second_body)["Attributes"]["n"] == {"N": "2"}
    for response, body in ((first, first_body), (second, second_body)):
        assert response.getheader("Connection") == "keep-alive"
        assert response.getheader("Content-Length") == str(len(body))
        assert response.getheader("Transfer-Encoding") is None
        # moto's checksum, passed on.
        assert response.getheader("x-amz-crc32") == str(zlib.crc32(body))
    assert fault_proxy.connections == 1
    assert [record.connection for record in fault_proxy.requests] == [1, 1]
    assert applied(engine) == 2


def test_botocore_reuses_its_connection_through_the_proxy(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    for _ in range(3):
        proxied.update_item(**add_one())

    assert fault_proxy.connections == 1
    assert applied(engine) == 3


# --- faults before forwarding ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "expected_type"),
    [
        (Fault.ERROR_500, 500, "InternalServerError"),
        (Fault.ERROR_503, 503, "ServiceUnavailable"),
        (Fault.THROTTLE, 400, "ThrottlingException"),
        (Fault.PROVISIONED_THROUGHPUT, 400, "ProvisionedThroughputExceededException"),
    ],
)
def test_an_error_before_forwarding_is_not_applied(
    fault_proxy: FaultProxy,
    engine: Any,
    http_connection: http.client.HTTPConnection,
    fault: Fault,
    status: int,
    expected_type: str,
) -> None:
    fault_proxy.inject("UpdateItem", fault)

    response, body = post(http_connection, "UpdateItem", add_one())
    # On the same connection, which the error left alive.
    retried, _ = post(http_connection, "UpdateItem", add_one())

    assert response.status == status
    assert (
        json.loads(body)["__type"]
        == f"com.amazonaws.dynamodb.v20120810#{expected_type}"
    )
    assert response.getheader("x-amz-crc32") == str(zlib.crc32(body))
    assert response.getheader("Connection") == "keep-alive"
    assert retried.status == 200
    assert applied(engine) == 1  # the retry only
    assert fault_proxy.connections == 1
    first, second = fault_proxy.requests
    assert (
        first.fault,
        first.forwarded,
        first.upstream_status,
        first.client_status,
    ) == (
        fault,
        False,
        None,
        status,
    )
    assert (second.fault, second.forwarded) == (None, True)


@pytest.mark.parametrize(
    ("fault", "expected_type"),
    [
        (Fault.ERROR_500, "InternalServerError"),
        (Fault.ERROR_503, "ServiceUnavailable"),
        (Fault.THROTTLE, "ThrottlingException"),
        (Fault.PROVISIONED_THROUGHPUT, "ProvisionedThroughputExceededException"),
    ],
)
def test_botocore_reads_the_injected_error_codes(
    fault_proxy: FaultProxy, engine: Any, proxied: Any, fault: Fault, expected_type: str
) -> None:
    fault_proxy.inject("UpdateItem", fault)

    with pytest.raises(ClientError) as raised:
        proxied.update_item(**add_one())

    assert raised.value.response["Error"]["Code"] == expected_type


@pytest.mark.parametrize(
    ("fault", "ending"), [(Fault.RESET_BEFORE, "reset"), (Fault.CLOSE_BEFORE, "eof")]
)
def test_a_connection_dropped_before_forwarding_is_not_applied(
    fault_proxy: FaultProxy, engine: Any, fault: Fault, ending: str
) -> None:
    fault_proxy.inject("UpdateItem", fault)

    received, how = send_until_closed(fault_proxy, "UpdateItem", add_one())

    assert (received, how) == (b"", ending)
    assert applied(engine) == 0
    [record] = fault_proxy.requests
    assert (record.fault, record.forwarded, record.client_status) == (
        fault,
        False,
        None,
    )


# --- faults after forwarding -----------------------------------------------------------------


def test_error_500_after_forwarding_is_applied(
    fault_proxy: FaultProxy, engine: Any, http_connection: http.client.HTTPConnection
) -> None:
    fault_proxy.inject("UpdateItem", Fault.ERROR_500_AFTER)

    response, body = post(http_connection, "UpdateItem", add_one())

    assert response.status == 500
    assert error_type(body) == "InternalServerError"
    assert applied(engine) == 1
    [record] = fault_proxy.requests
    assert (record.forwarded, record.upstream_status, record.client_status) == (
        True,
        200,
        500,
    )


@pytest.mark.parametrize(
    ("fault", "ending"), [(Fault.RESET_AFTER, "reset"), (Fault.CLOSE_AFTER, "eof")]
)
def test_a_connection_dropped_after_forwarding_is_applied_without_a_response_byte(
    fault_proxy: FaultProxy, engine: Any, fault: Fault, ending: str
) -> None:
    fault_proxy.inject("UpdateItem", fault)

    received, how = send_until_closed(fault_proxy, "UpdateItem", add_one())

    assert (received, how) == (b"", ending)
    assert applied(engine) == 1
    [record] = fault_proxy.requests
    assert (
        record.fault,
        record.forwarded,
        record.upstream_status,
        record.client_status,
    ) == (
        fault,
        True,
        200,
        None,
    )


@pytest.mark.parametrize(
    ("fault", "ending"), [(Fault.RESET_MID_BODY, "reset"), (Fault.TRUNCATE, "eof")]
)
def test_a_response_cut_mid_body_is_applied(
    fault_proxy: FaultProxy, engine: Any, fault: Fault, ending: str
) -> None:
    fault_proxy.inject("UpdateItem", fault)

    received, how = send_until_closed(fault_proxy, "UpdateItem", add_one())

    assert how == ending
    status_line, headers, body = split_response(received)
    assert status_line == "HTTP/1.1 200 OK"
    content_length = int(headers["content-length"])
    assert 0 < len(body) < content_length  # the true length, but about half the body
    assert len(body) == content_length // 2
    assert applied(engine) == 1


def test_truncated_json_is_a_well_framed_response_with_half_the_body(
    fault_proxy: FaultProxy, engine: Any, http_connection: http.client.HTTPConnection
) -> None:
    fault_proxy.inject("UpdateItem", Fault.TRUNCATED_JSON)

    response, body = post(http_connection, "UpdateItem", add_one())
    _, whole_body = post(http_connection, "GetItem", get_counter())  # still kept alive

    assert response.status == 200
    assert response.getheader("Content-Length") == str(len(body))
    assert response.getheader("x-amz-crc32") is None
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert json.loads(whole_body)["Item"]["n"] == {"N": "1"}
    assert applied(engine) == 1


def test_botocore_silently_parses_truncated_json_as_an_empty_result(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    fault_proxy.inject("UpdateItem", Fault.TRUNCATED_JSON)

    result = proxied.update_item(**add_one())

    assert "Attributes" not in result  # no error: the broken body reads as {}
    assert applied(engine) == 1


def test_bad_crc_replaces_the_engine_checksum(
    fault_proxy: FaultProxy, engine: Any, http_connection: http.client.HTTPConnection
) -> None:
    fault_proxy.inject("UpdateItem", Fault.BAD_CRC)

    response, body = post(http_connection, "UpdateItem", add_one())

    assert response.status == 200
    assert json.loads(body)["Attributes"]["n"] == {"N": "1"}  # the body is intact
    assert response.getheader("x-amz-crc32") != str(zlib.crc32(body))
    assert len(response.headers.get_all("x-amz-crc32") or []) == 1
    assert applied(engine) == 1


def test_botocore_resends_a_write_whose_crc_is_bad(
    fault_proxy: FaultProxy, engine: Any, botocore_session: botocore.session.Session
) -> None:
    """Why the fault matters: botocore retries a checksum mismatch by sending the write again."""
    fault_proxy.inject("UpdateItem", Fault.BAD_CRC)
    client = make_client(botocore_session, fault_proxy.url, attempts=2)

    client.update_item(**add_one())
    client.close()

    assert fault_proxy.forwarded("UpdateItem") == 2
    assert applied(engine) == 2


def test_delay_holds_the_response_back(
    fault_proxy: FaultProxy, engine: Any, http_connection: http.client.HTTPConnection
) -> None:
    fault_proxy.inject("UpdateItem", Fault.DELAY, delay=0.2)

    started = time.monotonic()
    response, body = post(http_connection, "UpdateItem", add_one())

    assert time.monotonic() - started >= 0.2
    assert response.status == 200
    assert json.loads(body)["Attributes"]["n"] == {"N": "1"}


def test_delay_past_the_read_timeout_is_applied_and_the_late_response_dropped(
    fault_proxy: FaultProxy, engine: Any, botocore_session: botocore.session.Session
) -> None:
    fault_proxy.inject("UpdateItem", Fault.DELAY, delay=0.3)
    impatient = make_client(botocore_session, fault_proxy.url, read_timeout=0.1)

    with pytest.raises(ReadTimeoutError):
        impatient.update_item(**add_one())
    impatient.close()  # the client has gone before the response is due
    wait_until(lambda: fault_proxy.open_connections == 0)  # the late send found it gone

    assert applied(engine) == 1
    assert fault_proxy.requests[0].forwarded
    assert fault_proxy.errors == []
    patient = make_client(botocore_session, fault_proxy.url)
    assert patient.get_item(**get_counter())["Item"]["n"] == {"N": "1"}
    patient.close()


def test_stale_close_answers_then_closes_the_idle_connection(
    fault_proxy: FaultProxy, engine: Any
) -> None:
    fault_proxy.inject("UpdateItem", Fault.STALE_CLOSE, pause=0.05)

    received, how = send_until_closed(fault_proxy, "UpdateItem", add_one())

    status_line, headers, body = split_response(received)
    assert status_line == "HTTP/1.1 200 OK"
    assert headers["connection"] == "keep-alive"  # promised, then broken
    assert len(body) == int(headers["content-length"])
    assert json.loads(body)["Attributes"]["n"] == {"N": "1"}
    assert how == "eof"
    assert applied(engine) == 1


def test_stale_close_leaves_http_client_a_dead_pooled_connection(
    fault_proxy: FaultProxy, engine: Any, http_connection: http.client.HTTPConnection
) -> None:
    fault_proxy.inject("UpdateItem", Fault.STALE_CLOSE)

    response, _ = post(http_connection, "UpdateItem", add_one())

    assert response.status == 200
    assert http_connection.sock is not None
    # EOF: after its pause, the proxy closed the idle connection.
    assert http_connection.sock.recv(1) == b""


def test_botocore_detects_a_stale_connection_before_reusing_it(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    fault_proxy.inject("UpdateItem", Fault.STALE_CLOSE)

    proxied.update_item(**add_one())
    wait_until(lambda: fault_proxy.open_connections == 0)
    proxied.update_item(**add_one())

    assert fault_proxy.connections == 2
    assert applied(engine) == 2


# --- the script ------------------------------------------------------------------------------


def test_times_counts_matching_requests(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    injection = fault_proxy.inject("GetItem", Fault.ERROR_500, times=2)

    outcomes = []
    for _ in range(3):
        try:
            proxied.get_item(**get_counter())
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    assert outcomes == ["InternalServerError", "InternalServerError", "ok"]
    assert (injection.seen, injection.fired, injection.exhausted) == (3, 2, True)
    assert fault_proxy.unfired() == []


def test_skip_lets_earlier_matches_through(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    fault_proxy.inject("UpdateItem", Fault.CLOSE_AFTER, skip=1)

    proxied.update_item(**add_one())
    with pytest.raises(ConnectionClosedError):
        proxied.update_item(**add_one())
    proxied.update_item(**add_one())

    assert [record.fault for record in fault_proxy.requests] == [
        None,
        Fault.CLOSE_AFTER,
        None,
    ]
    assert applied(engine) == 3


def test_times_none_hits_every_match_and_only_that_operation(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    fault_proxy.inject("GetItem", Fault.THROTTLE, times=None)

    for _ in range(3):
        with pytest.raises(ClientError):
            proxied.get_item(**get_counter())
    proxied.update_item(**add_one())

    assert fault_proxy.forwarded("GetItem") == 0
    assert fault_proxy.forwarded("UpdateItem") == 1
    assert fault_proxy.unfired() == []  # an endless injection is never "unfired"


def test_any_operation_and_the_earliest_due_injection_wins(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    throttle = fault_proxy.inject(ANY_OPERATION, Fault.THROTTLE)
    error = fault_proxy.inject("GetItem", Fault.ERROR_503)

    codes = []
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            proxied.get_item(**get_counter())
        codes.append(raised.value.response["Error"]["Code"])

    assert codes == ["ThrottlingException", "ServiceUnavailable"]
    assert (throttle.fired, error.fired) == (1, 1)


def test_unfired_lists_injections_that_never_met_their_request(
    fault_proxy: FaultProxy,
) -> None:
    injection = fault_proxy.inject("TransactWriteItems", Fault.CLOSE_AFTER)

    assert fault_proxy.unfired() == [injection]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"operation": "UpdateItems", "fault": Fault.ERROR_500},
            "not a DynamoDB or STS operation",
        ),
        ({"operation": "GetItem", "fault": Fault.ERROR_500, "times": 0}, "times"),
        ({"operation": "GetItem", "fault": Fault.ERROR_500, "skip": -1}, "skip"),
        ({"operation": "GetItem", "fault": Fault.DELAY}, "delay="),
        ({"operation": "GetItem", "fault": Fault.ERROR_500, "delay": 1.0}, "delay="),
        ({"operation": "GetItem", "fault": Fault.ERROR_500, "pause": 1.0}, "pause="),
    ],
)
def test_inject_rejects_a_mistaken_script(
    arguments: dict[str, Any], message: str
) -> None:
    proxy = FaultProxy("http://127.0.0.1:1")

    with pytest.raises(ValueError, match=message):
        proxy.inject(**arguments)


def test_the_upstream_must_be_a_loopback_engine() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        FaultProxy("https://dynamodb.us-east-1.amazonaws.com")


def test_reset_forgets_script_records_and_tokens(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    fault_proxy.inject("GetItem", Fault.ERROR_500, times=None)
    proxied.transact_write_items(
        TransactItems=add_one_in_transaction(), ClientRequestToken="token-reset"
    )

    fault_proxy.reset()
    proxied.get_item(**get_counter())
    proxied.transact_write_items(
        TransactItems=add_one_in_transaction(), ClientRequestToken="token-reset"
    )

    assert [record.operation for record in fault_proxy.requests] == [
        "GetItem",
        "TransactWriteItems",
    ]
    assert fault_proxy.requests[1].forwarded  # the token was forgotten
    assert applied(engine) == 2
    assert fault_proxy.connections == 1  # connections outlive a reset


# --- the ClientRequestToken memory -----------------------------------------------------------


def test_moto_alone_applies_a_repeated_token_twice(
    moto_server: str, engine: Any, botocore_session: botocore.session.Session
) -> None:
    """Why the token memory exists: moto ignores ClientRequestToken."""
    with FaultProxy(moto_server, honour_tokens=False) as proxy:
        client = make_client(botocore_session, proxy.url)
        for _ in range(2):
            client.transact_write_items(
                TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
            )
        client.close()

        assert proxy.forwarded("TransactWriteItems") == 2
    assert applied(engine) == 2


def test_a_repeated_token_with_the_same_parameters_is_answered_without_forwarding(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    for _ in range(2):
        proxied.transact_write_items(
            TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
        )

    assert applied(engine) == 1
    first, repeat = fault_proxy.requests
    assert (first.forwarded, first.from_token_memory) == (True, False)
    assert (repeat.forwarded, repeat.from_token_memory, repeat.client_status) == (
        False,
        True,
        200,
    )
    assert (
        repeat.body["ClientRequestToken"]
        == first.body["ClientRequestToken"]
        == "token-1"
    )
    assert fault_proxy.forwarded("TransactWriteItems") == 1


def test_a_repeated_token_with_other_parameters_is_a_mismatch(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    proxied.transact_write_items(
        TransactItems=add_one_in_transaction("a"), ClientRequestToken="token-1"
    )

    with pytest.raises(ClientError) as raised:
        proxied.transact_write_items(
            TransactItems=add_one_in_transaction("b"), ClientRequestToken="token-1"
        )

    assert (
        raised.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    )
    assert (applied(engine, "a"), applied(engine, "b")) == (1, 0)
    assert fault_proxy.requests[1].from_token_memory
    assert not fault_proxy.requests[1].forwarded


def test_a_token_applied_behind_a_fault_is_answered_from_memory_on_resend(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    fault_proxy.inject("TransactWriteItems", Fault.CLOSE_AFTER)

    with pytest.raises(ConnectionClosedError):
        proxied.transact_write_items(
            TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
        )
    proxied.transact_write_items(
        TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
    )

    assert applied(engine) == 1
    assert [record.from_token_memory for record in fault_proxy.requests] == [
        False,
        True,
    ]


def test_faults_apply_to_a_request_the_token_memory_answers(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    fault_proxy.inject("TransactWriteItems", Fault.ERROR_500, skip=1)
    proxied.transact_write_items(
        TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
    )

    with pytest.raises(ClientError) as raised:
        proxied.transact_write_items(
            TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
        )

    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    assert not fault_proxy.requests[
        1
    ].from_token_memory  # refused before the memory was asked


def test_a_failed_transaction_leaves_its_token_free(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    guarded = add_one_in_transaction()
    guarded[0]["Update"]["ConditionExpression"] = "attribute_exists(pk)"

    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            proxied.transact_write_items(
                TransactItems=guarded, ClientRequestToken="token-1"
            )
        assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"

    assert fault_proxy.forwarded("TransactWriteItems") == 2


def test_the_token_memory_lasts_ten_minutes(
    moto_server: str, engine: Any, botocore_session: botocore.session.Session
) -> None:
    now = [1000.0]
    with FaultProxy(moto_server, clock=lambda: now[0]) as proxy:
        client = make_client(botocore_session, proxy.url)
        client.transact_write_items(
            TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
        )
        now[0] += TOKEN_LIFETIME - 1
        client.transact_write_items(
            TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
        )
        now[0] += 2  # past ten minutes from the first call
        client.transact_write_items(
            TransactItems=add_one_in_transaction(), ClientRequestToken="token-1"
        )
        client.close()

        assert [record.forwarded for record in proxy.requests] == [True, False, True]
    assert applied(engine) == 2


def test_a_token_still_in_flight_is_a_transaction_in_progress() -> None:
    transaction = {
        "TransactItems": add_one_in_transaction(),
        "ClientRequestToken": "token-1",
    }
    first_statuses: list[int] = []

    def send_first(proxy: FaultProxy) -> None:
        connection = http.client.HTTPConnection(
            "127.0.0.1", proxy.port, timeout=SOCKET_TIMEOUT
        )
        first_statuses.append(
            post(connection, "TransactWriteItems", transaction)[0].status
        )
        connection.close()

    # A stand-in engine that this test accepts connections on and never answers.
    with socket.create_server(("127.0.0.1", 0)) as silent_engine:
        silent_engine.settimeout(SOCKET_TIMEOUT)
        engine_url = f"http://127.0.0.1:{silent_engine.getsockname()[1]}"
        with FaultProxy(engine_url) as proxy:
            first = threading.Thread(target=send_first, args=(proxy,), daemon=True)
            first.start()
            upstream, _ = silent_engine.accept()  # the first request is being forwarded
            with upstream:
                connection = http.client.HTTPConnection(
                    "127.0.0.1", proxy.port, timeout=SOCKET_TIMEOUT
                )
                response, body = post(connection, "TransactWriteItems", transaction)
                connection.close()
            # The engine hung up without answering: the first request's outcome is unknown.
            first.join(SOCKET_TIMEOUT)

            assert (response.status, error_type(body)) == (
                400,
                "TransactionInProgressException",
            )
            assert first_statuses == [502]
            repeat, original = proxy.requests
            assert (repeat.forwarded, repeat.from_token_memory) == (False, True)
            assert (original.forwarded, original.upstream_status) == (True, None)
            assert len(proxy.errors) == 1


def test_transactions_without_a_token_are_always_forwarded(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    for _ in range(2):
        proxied.transact_write_items(TransactItems=add_one_in_transaction())

    assert applied(engine) == 2


# --- robustness and stopping -----------------------------------------------------------------


def test_a_client_that_hangs_up_mid_request_does_not_hurt_the_proxy(
    fault_proxy: FaultProxy, engine: Any, proxied: Any
) -> None:
    request = raw_request(fault_proxy, "UpdateItem", add_one())
    with socket.create_connection(
        ("127.0.0.1", fault_proxy.port), timeout=SOCKET_TIMEOUT
    ) as sock:
        sock.sendall(request[: len(request) - 10])  # the body is cut short

    assert proxied.get_item(**get_counter()) is not None
    assert applied(engine) == 0
    assert [record.operation for record in fault_proxy.requests] == ["GetItem"]
    assert fault_proxy.errors == []


def test_a_malformed_request_gets_400_and_a_closed_connection(
    fault_proxy: FaultProxy,
) -> None:
    with socket.create_connection(
        ("127.0.0.1", fault_proxy.port), timeout=SOCKET_TIMEOUT
    ) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        received = sock.makefile("rb").read()

    status_line, headers, _ = split_response(received)
    assert status_line == "HTTP/1.1 400 Bad Request"
    assert headers["connection"] == "close"
    assert fault_proxy.requests == []


def test_stop_closes_the_listener_and_every_connection(
    moto_server: str, botocore_session: botocore.session.Session
) -> None:
    proxy = FaultProxy(moto_server)
    proxy.start()
    port = proxy.port
    idle = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
    idle.sendall(raw_request(proxy, "ListTables", {}))
    response = http.client.HTTPResponse(idle)
    response.begin()
    response.read()
    proxy.inject("ListTables", Fault.DELAY, delay=30.0)
    waiting = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
    waiting.sendall(raw_request(proxy, "ListTables", {}))
    wait_until(lambda: len(proxy.requests) == 2)  # recorded: now in its delay

    started = time.monotonic()
    proxy.stop()
    stopped_in = time.monotonic() - started

    assert stopped_in < 1.0  # the 30-second delay was cut short
    assert idle.recv(1) == b""  # the kept-alive connection was closed
    assert waiting.recv(1) == b""  # and so was the one waiting for its delayed response
    idle.close()
    waiting.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT).close()
    leftovers = [
        thread.name
        for thread in threading.enumerate()
        if thread.name.startswith("fault-proxy")
    ]
    assert leftovers == []
    proxy.stop()  # stopping twice is harmless


# --- dynalite (which has no TransactWriteItems: it answers UnknownOperationException) ----------


def test_smoke_through_the_proxy_in_front_of_dynalite(
    dynalite_fault_proxy: FaultProxy,
    dynalite_admin: Any,
    botocore_session: botocore.session.Session,
) -> None:
    create_counter_table(dynalite_admin)
    client = make_client(botocore_session, dynalite_fault_proxy.url)
    dynalite_fault_proxy.inject("UpdateItem", Fault.CLOSE_AFTER)

    with pytest.raises(ConnectionClosedError):
        client.update_item(**add_one())
    result = client.update_item(**add_one())
    client.close()

    assert result["Attributes"]["n"] == {"N": "2"}
    assert applied(dynalite_admin) == 2
    assert dynalite_fault_proxy.forwarded("UpdateItem") == 2
    assert dynalite_fault_proxy.errors == []


def test_dynalite_responses_are_reframed_for_keep_alive(
    dynalite_fault_proxy: FaultProxy, dynalite_admin: Any
) -> None:
    create_counter_table(dynalite_admin)
    connection = http.client.HTTPConnection(
        "127.0.0.1", dynalite_fault_proxy.port, timeout=SOCKET_TIMEOUT
    )
    try:
        for _ in range(2):
            response, body = post(connection, "UpdateItem", add_one())
            assert response.status == 200
            assert response.getheader("Content-Length") == str(len(body))
            assert response.getheader("Connection") == "keep-alive"
            assert response.getheader("x-amz-crc32") == str(zlib.crc32(body))
    finally:
        connection.close()

    assert dynalite_fault_proxy.connections == 1
    assert applied(dynalite_admin) == 2
