"""The fast transport, with the retry loop around it, against a scripted DynamoDB-style
server on 127.0.0.1.

The stub answers each request with the next scripted reply: a JSON body with a correct, wrong
or missing CRC32 header, an error, a delay, or a dropped connection; it records what it
received and how many connections were opened, so resends and reconnects can be counted.
Pauses between attempts are recorded, not slept (the policy's injected sleep).
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dynamorm_gen.runtime import (
    ConditionFailed,
    ConfigurationError,
    DeadlineExceeded,
    DynamormError,
    OutcomeUnknown,
    ResponseLost,
    Throttled,
    TransactionCancelled,
    ValidationFailed,
    codec,
    endpoint,
    fast,
    http,
)
from dynamorm_gen.runtime import deadline as deadline_module
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.fast import Credentials, FastTransport
from dynamorm_gen.runtime.retry import (
    CONDITIONAL,
    IDEMPOTENT,
    READ,
    UNSAFE,
    RetryPolicy,
)
from dynamorm_gen.runtime.table import (
    Connection,
    TableDefinition,
    TableHandle,
    reset_clients,
)
from tests.conftest import ROOT

SECRET_VALUE = (
    "4111-1111-1111-1111"  # an item value that must never reach an error message
)


@dataclass
class Reply:
    body: Any = field(default_factory=dict)
    status: int = 200
    crc: str = "good"  # good | bad | none
    drop: bool = False  # read the request, then close without answering
    close_after: bool = False  # answer as keep-alive, then close the connection
    delay: float = 0.0


@dataclass
class Seen:
    target: str
    headers: dict[str, str]
    body: Any


def _b64(value: object) -> str:
    # What DynamoDB does with binary values; written out here rather than borrowed from fast.py.
    assert isinstance(value, bytes)
    return base64.b64encode(value).decode()


def _error(code: str, message: str = "", status: int = 400, **extra: Any) -> Reply:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
    return Reply(body={**body, **extra}, status=status)


class Stub:
    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[Seen] = []
        self.connections = 0
        self.closed = threading.Semaphore(0)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like DynamoDB

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without this, Nagle and delayed
                # ACKs add 40 ms to every exchange.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stub.connections += 1

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                stub.requests.append(
                    Seen(self.headers["X-Amz-Target"], dict(self.headers.items()), body)
                )
                reply = stub.script.pop(0) if stub.script else Reply()
                if reply.drop:
                    self.close_connection = True
                    return
                time.sleep(reply.delay)
                data = json.dumps(reply.body, default=_b64).encode()
                try:
                    self._answer(reply, data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = (
                        True  # the client gave up waiting (timeout test)
                    )

            def _answer(self, reply: Reply, data: bytes) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", f"req-{len(stub.requests)}")
                if reply.crc != "none":
                    crc = zlib.crc32(data) ^ (1 if reply.crc == "bad" else 0)
                    self.send_header("x-amz-crc32", str(crc))
                self.end_headers()
                self.wfile.write(data)
                if reply.close_after:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def shutdown_request(self, request: Any) -> None:
                super().shutdown_request(request)
                stub.closed.release()  # after the socket is closed, so a client can see it

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    yield server
    server.stop()


class Sleeps(list[float]):
    """The pauses a policy would have slept."""


def _client(url: str, *, sleeps: list[float] | None = None, **options: Any) -> Client:
    policy = RetryPolicy(
        sleep=(sleeps if sleeps is not None else []).append, random=lambda: 0.5
    )
    return Client(FastTransport("us-east-1", url, **options), policy)


def _handle(client: Client) -> TableHandle:
    definition = TableDefinition(
        logical_name="cards",
        name_env="CARDS_TABLE",
        key_names=("pk",),
        entity_type_attribute="type",
        create_table={},
    )
    return TableHandle(definition, Connection(client=client), name="cards")


ADD_ONE = {
    "TableName": "cards",
    "Key": {"pk": {"S": "k"}},
    "UpdateExpression": "ADD n :one",
    "ExpressionAttributeValues": {":one": {"N": "1"}},
}


# --- requests and responses ----------------------------------------------------------------------


def test_request_is_signed_json_and_binary_round_trips(stub: Stub) -> None:
    item = {
        "pk": {"S": "k"},
        "b": {"B": b"\x00\xffraw"},
        "bs": {"BS": [b"one", b"\x01"]},
        "m": {
            "M": {"inner": {"B": b"deep"}, "l": {"L": [{"B": b"in list"}, {"S": "B"}]}}
        },
        "B": {"S": "an attribute called B"},
        "text": {"S": "Zürich, 東京"},
    }
    stub.script.append(Reply(body={"Item": item}))
    client = _client(stub.url)
    got = client.call(
        "GetItem", {"TableName": "cards", "Key": {"pk": {"S": "k"}}}, READ
    )
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == {"Item": item}
    metadata = got["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 200 and metadata["RetryAttempts"] == 0
    assert metadata["RequestId"] == "req-1"

    stub.script.append(Reply(body={}))
    client.call("PutItem", {"TableName": "cards", "Item": item}, IDEMPOTENT)
    seen = stub.requests[-1]
    assert seen.target == "DynamoDB_20120810.PutItem"
    assert seen.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert seen.headers["Host"] == stub.url.removeprefix("http://")
    assert seen.headers["X-Amz-Security-Token"] == "testing"  # from the environment
    assert seen.headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=testing/"
    )
    assert "/us-east-1/dynamodb/aws4_request" in seen.headers["Authorization"]
    sent = seen.body["Item"]
    assert sent["b"] == {"B": base64.b64encode(b"\x00\xffraw").decode()}
    assert sent["bs"] == {"BS": [base64.b64encode(b"one").decode(), "AQ=="]}
    assert sent["m"]["M"]["l"]["L"][0] == {"B": base64.b64encode(b"in list").decode()}
    assert sent["B"] == {"S": "an attribute called B"}
    assert sent["text"] == {"S": "Zürich, 東京"}


BINARY_ITEM = {
    "pk": {"B": b"\x00key"},
    "m": {"M": {"l": {"L": [{"B": b"deep"}, {"BS": [b"\x01"]}, {"N": "1"}]}}},
    "s": {"S": "B"},
}


def _wire(value: Any) -> Any:
    """``value`` as DynamoDB sends it: bytes as base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("operation", "response"),
    [
        (
            "Query",
            {"Items": [BINARY_ITEM] * 2, "LastEvaluatedKey": {"pk": {"B": b"k"}}},
        ),
        ("Scan", {"Items": [BINARY_ITEM], "Count": 1}),
        ("GetItem", {"Item": BINARY_ITEM}),
        # Decoded by the object hook: binary values outside Item/Items.
        ("BatchGetItem", {"Responses": {"t": [BINARY_ITEM]}, "UnprocessedKeys": {}}),
        ("UpdateItem", {"Attributes": BINARY_ITEM}),
    ],
)
def test_binary_values_are_decoded_wherever_they_are(
    operation: str, response: dict[str, Any]
) -> None:
    data = json.dumps(_wire(response)).encode()
    assert codec.decode(data, operation) == response


def test_binary_in_an_unexpected_shape_falls_back_to_the_hook() -> None:
    # "Items" holding something other than items: the walk gives up, the hook decodes it.
    response = {"Items": [{"x": 1}], "Item": {"b": {"B": b"raw"}}}
    assert codec.decode(json.dumps(_wire(response)).encode(), "Query") == response


def test_keep_alive_connection_is_reused(stub: Stub) -> None:
    client = _client(stub.url)
    for _ in range(5):
        client.call("Query", {"TableName": "cards"}, READ)
    assert len(stub.requests) == 5 and stub.connections == 1


def test_explicit_credentials_without_token(stub: Stub) -> None:
    client = _client(stub.url, credentials=Credentials("AKIDEXPLICIT", "s3cret"))
    client.call("GetItem", {"TableName": "cards", "Key": {}}, READ)
    headers = stub.requests[0].headers
    assert "X-Amz-Security-Token" not in headers
    assert "Credential=AKIDEXPLICIT/" in headers["Authorization"]


# --- CRC32: a broken answer to a read is asked again; one to a write means it was applied --------


def test_crc_mismatch_on_a_read_is_resent(stub: Stub) -> None:
    stub.script += [Reply(body={"Count": 1}, crc="bad"), Reply(body={"Count": 2})]
    got = _client(stub.url).call("Query", {"TableName": "cards"}, READ)
    assert got["Count"] == 2 and got["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(stub.requests) == 2


def test_crc_mismatch_every_time_is_an_error(stub: Stub) -> None:
    stub.script += [Reply(crc="bad") for _ in range(4)]
    with pytest.raises(DynamormError) as caught:
        _client(stub.url).call("Query", {"TableName": "cards"}, READ)
    assert caught.value.code == "CRC32CheckFailed"
    assert len(stub.requests) == 4  # the first attempt and 3 resends


@pytest.mark.parametrize("kind", [CONDITIONAL, UNSAFE])
def test_crc_mismatch_after_a_write_succeeded_is_not_resent(
    stub: Stub, kind: Any
) -> None:
    """A 2xx whose body is damaged still says the write was applied: sending it again
    would apply it twice (or fail its condition on its own result)."""
    stub.script.append(Reply(body={}, crc="bad"))
    got = _client(stub.url).call(
        "UpdateItem", {**ADD_ONE, "ReturnValues": "NONE"}, kind
    )
    assert got["ResponseMetadata"]["RetryAttempts"] == 0
    assert len(stub.requests) == 1
    # Asked for the new item: the write is done, its answer is not.
    stub.script.append(Reply(body={"Attributes": {"n": {"N": "1"}}}, crc="bad"))
    with pytest.raises(ResponseLost) as caught:
        _client(stub.url).call(
            "UpdateItem", {**ADD_ONE, "ReturnValues": "ALL_NEW"}, kind
        )
    assert caught.value.code == "CRC32CheckFailed"
    assert len(stub.requests) == 2


def test_crc_mismatch_after_an_idempotent_write_is_resent(stub: Stub) -> None:
    stub.script += [Reply(body={}, crc="bad"), Reply(body={})]
    got = _client(stub.url).call(
        "PutItem", {"TableName": "cards", "Item": {"pk": {"S": "k"}}}, IDEMPOTENT
    )
    assert got["ResponseMetadata"]["RetryAttempts"] == 1 and len(stub.requests) == 2


def test_missing_crc_header_is_accepted(stub: Stub) -> None:
    stub.script.append(Reply(body={"Count": 0}, crc="none"))
    assert _client(stub.url).call("Query", {"TableName": "cards"}, READ)["Count"] == 0


def test_a_2xx_body_that_is_not_json_is_never_read_as_empty(stub: Stub) -> None:
    stub.script += [Reply(body="not json {", crc="none"), Reply(body={"Count": 3})]
    got = _client(stub.url).call("Query", {"TableName": "cards"}, READ)
    assert got["Count"] == 3 and len(stub.requests) == 2
    stub.script.append(Reply(body=[1, 2], crc="none"))
    with pytest.raises(ResponseLost) as caught:
        _client(stub.url).call(
            "UpdateItem", {**ADD_ONE, "ReturnValues": "ALL_NEW"}, UNSAFE
        )
    assert caught.value.code == "ResponseMalformed"


# --- resending -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "TransactionConflictException",
    ],
)
@pytest.mark.parametrize("kind", [READ, UNSAFE])
def test_refusals_are_resent_for_every_kind(stub: Stub, code: str, kind: Any) -> None:
    """A throttled or conflicting request was not applied: even an ADD may be sent again."""
    stub.script += [_error(code), _error(code), Reply(body={"Count": 3})]
    got = _client(stub.url).call("UpdateItem", ADD_ONE, kind)
    assert got["Count"] == 3 and got["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(stub.requests) == 3


def test_throttling_gives_up_after_the_policy_s_attempts(stub: Stub) -> None:
    stub.script += [_error("ThrottlingException", "slow down") for _ in range(5)]
    handle = _handle(_client(stub.url))
    with pytest.raises(Throttled) as caught:
        handle.get_item({"pk": {"S": "k"}}, entity="Card")
    assert len(stub.requests) == 4
    assert caught.value.code == "ThrottlingException"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_resent_for_reads_and_safe_writes(
    stub: Stub, status: int
) -> None:
    for kind in (READ, IDEMPOTENT, CONDITIONAL):
        stub.script += [
            _error("InternalServerError", status=status),
            Reply(body="<html>bad gateway</html>", status=status),
            Reply(body={"Count": 1}),
        ]
        got = _client(stub.url).call("Query", {"TableName": "cards"}, kind)
        assert got["Count"] == 1 and got["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(stub.requests) == 9


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_never_resent_for_unsafe_writes(
    stub: Stub, status: int
) -> None:
    """A 5xx may come after the work was done: an ADD is not sent again."""
    stub.script.append(_error("InternalServerError", SECRET_VALUE, status=status))
    with pytest.raises(OutcomeUnknown) as caught:
        _handle(_client(stub.url))._call("UpdateItem", ADD_ONE, "Card", UNSAFE)
    assert len(stub.requests) == 1
    assert caught.value.code == "InternalServerError"
    assert caught.value.operation == "UpdateItem" and caught.value.table == "cards"
    assert SECRET_VALUE not in str(caught.value) and "may or may not" in str(
        caught.value
    )


def test_a_write_that_runs_out_of_attempts_after_a_5xx_is_outcome_unknown(
    stub: Stub,
) -> None:
    stub.script += [_error("InternalServerError", status=500) for _ in range(4)]
    with pytest.raises(OutcomeUnknown):
        _client(stub.url).call(
            "PutItem", {"TableName": "cards", "Item": {"pk": {"S": "k"}}}, IDEMPOTENT
        )
    assert len(stub.requests) == 4


def test_proxy_error_without_json_uses_the_status_as_code(stub: Stub) -> None:
    stub.script += [Reply(body="<html>forbidden</html>", status=403)]
    with pytest.raises(DynamormError) as caught:
        _client(stub.url).call("Query", {"TableName": "cards"}, READ)
    assert caught.value.code == "403" and len(stub.requests) == 1


def test_client_errors_are_not_resent(stub: Stub) -> None:
    message = f"One or more parameter values were invalid: {SECRET_VALUE}"
    stub.script.append(_error("ValidationException", message))
    with pytest.raises(ValidationFailed) as caught:
        _handle(_client(stub.url)).put_item({"pk": {"S": SECRET_VALUE}}, entity="Card")
    error = caught.value
    assert error.code == "ValidationException" and error.operation == "PutItem"
    assert error.server_message == message
    assert SECRET_VALUE not in str(error) and SECRET_VALUE not in repr(error)
    assert len(stub.requests) == 1


def test_backoff_is_full_jitter_of_a_doubling_base_up_to_the_cap(stub: Stub) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(
        sleep=sleeps.append, random=lambda: 1.0, base_delay=0.05, max_delay=0.15
    )
    stub.script += [_error("InternalServerError", status=500) for _ in range(4)]
    client = Client(FastTransport("us-east-1", stub.url), policy)
    with pytest.raises(DynamormError):
        client.call("Query", {"TableName": "cards"}, READ)
    assert sleeps == pytest.approx([0.05, 0.1, 0.15])
    # Throttling waits on its own, longer base.
    sleeps.clear()
    stub.script += [_error("ThrottlingException") for _ in range(4)]
    with pytest.raises(Throttled):
        Client(FastTransport("us-east-1", stub.url), policy.replace(max_delay=9)).call(
            "Query", {"TableName": "cards"}, READ
        )
    assert sleeps == pytest.approx([0.1, 0.2, 0.4])


# --- connections ---------------------------------------------------------------------------------


def test_idle_connection_closed_by_server_is_replaced_before_sending(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[bool] = []
    is_dropped = endpoint._is_dropped

    def recording(conn: Any) -> bool:
        checks.append(is_dropped(conn))
        return checks[-1]

    monkeypatch.setattr(endpoint, "_is_dropped", recording)
    client = _client(stub.url)
    stub.script.append(Reply(body={"Count": 1}, close_after=True))
    client.call("Query", {"TableName": "cards"}, READ)
    assert stub.closed.acquire(timeout=5)  # the server has closed the idle connection
    # Found dead before a byte was written: even an ADD goes out once, on a new connection.
    got = client.call("UpdateItem", ADD_ONE, UNSAFE)
    assert got["ResponseMetadata"]["RetryAttempts"] == 0
    assert len(stub.requests) == 2 and stub.connections == 2
    assert checks == [True]
    client.call("Query", {"TableName": "cards"}, READ)
    assert checks == [True, False] and stub.connections == 2


def test_reused_connection_dropped_at_the_request_is_resent_for_a_read(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the idle check cannot see: the server closes as the request arrives."""
    client = _client(stub.url)
    client.call("Query", {"TableName": "cards"}, READ)
    monkeypatch.setattr(endpoint, "_is_dropped", lambda conn: False)
    stub.script += [Reply(drop=True), Reply(body={"Count": 7})]
    got = client.call("Query", {"TableName": "cards"}, READ)
    assert got["Count"] == 7 and got["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(stub.requests) == 3 and stub.connections == 2


def test_a_dropped_connection_after_sending_leaves_an_unsafe_write_unknown(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reused or new, a connection that closes after the request was written may have
    carried it to a server that applied it: an ADD is reported, never sent again."""
    client = _client(stub.url)
    client.call("Query", {"TableName": "cards"}, READ)
    monkeypatch.setattr(endpoint, "_is_dropped", lambda conn: False)
    stub.script.append(Reply(drop=True))
    with pytest.raises(OutcomeUnknown) as caught:
        client.call("UpdateItem", ADD_ONE, UNSAFE)
    assert caught.value.code == "ConnectionClosedError"
    stub.script.append(Reply(drop=True))
    with pytest.raises(OutcomeUnknown):
        _client(stub.url).call("UpdateItem", ADD_ONE, UNSAFE)
    assert len(stub.requests) == 3


def test_a_dropped_connection_after_sending_is_resent_for_safe_writes(
    stub: Stub,
) -> None:
    stub.script += [Reply(drop=True), Reply(body={})]
    got = _client(stub.url).call(
        "PutItem",
        {"TableName": "cards", "Item": {"pk": {"S": SECRET_VALUE}}},
        IDEMPOTENT,
    )
    assert got["ResponseMetadata"]["RetryAttempts"] == 1 and len(stub.requests) == 2


def test_read_timeout(stub: Stub) -> None:
    stub.script += [Reply(body={"Count": 1}, delay=1.0), Reply(body={"Count": 2})]
    client = _client(stub.url, read_timeout=0.2)
    got = client.call("Query", {"TableName": "cards"}, READ)
    assert got["Count"] == 2 and got["ResponseMetadata"]["RetryAttempts"] == 1
    stub.script.append(Reply(delay=1.0))
    with pytest.raises(OutcomeUnknown) as caught:
        client.call("UpdateItem", ADD_ONE, UNSAFE)
    assert caught.value.code == "ReadTimeoutError"
    assert len(stub.requests) == 3


def test_refused_connection_is_resent_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    sleeps: list[float] = []
    client = _client(f"http://127.0.0.1:{port}", sleeps=sleeps)
    # Nothing was sent: even an unsafe write may be tried again.
    with pytest.raises(DynamormError) as caught:
        client.call("UpdateItem", ADD_ONE, UNSAFE)
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.code == "EndpointConnectionError"
    assert len(sleeps) == 3


# --- errors through TableHandle ------------------------------------------------------------------


def test_conditional_check_failure_maps_to_condition_failed(stub: Stub) -> None:
    old = {"pk": {"S": "k"}, "token": {"B": b"\x01\x02"}}
    stub.script.append(
        _error(
            "ConditionalCheckFailedException",
            "The conditional request failed",
            Item=old,
        )
    )
    handle = _handle(_client(stub.url))
    with pytest.raises(ConditionFailed) as caught:
        # The stub answers as DynamoDB does when a condition fails.
        handle.put_item({"pk": {"S": "k"}}, entity="Card", if_not_exists=True)
    assert caught.value.table == "cards" and caught.value.entity == "Card"
    assert caught.value.item == old and caught.value.after_uncertain is False
    assert len(stub.requests) == 1


def test_cancellation_reasons_are_kept(stub: Stub) -> None:
    reasons = [
        {"Code": "None"},
        {
            "Code": "ConditionalCheckFailed",
            "Message": "failed",
            "Item": {"n": {"N": "1"}},
        },
    ]
    stub.script.append(
        _error("TransactionCanceledException", "cancelled", CancellationReasons=reasons)
    )
    with pytest.raises(TransactionCancelled) as caught:
        _client(stub.url).call("TransactWriteItems", {"TransactItems": []}, IDEMPOTENT)
    assert caught.value.reasons == [(1, "", "ConditionalCheckFailed")]
    assert caught.value.items == [None, {"n": {"N": "1"}}]


def test_unknown_error_keeps_its_code(stub: Stub) -> None:
    stub.script.append(_error("ResourceInUseException", "Table already exists"))
    with pytest.raises(DynamormError) as caught:
        _handle(_client(stub.url)).drop()
    assert caught.value.code == "ResourceInUseException"


# --- configuration -------------------------------------------------------------------------------


def test_region_and_endpoint_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-2")
    transport = FastTransport()
    assert transport.region == "eu-west-2"
    assert transport.endpoint_url == "https://dynamodb.eu-west-2.amazonaws.com"
    monkeypatch.delenv("AWS_REGION")
    assert FastTransport().region == "us-east-1"  # AWS_DEFAULT_REGION
    assert FastTransport("ap-south-1").region == "ap-south-1"
    china = FastTransport("cn-north-1").endpoint_url
    assert china == "https://dynamodb.cn-north-1.amazonaws.com.cn"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError, match="NoRegionError"):
        FastTransport()
    with pytest.raises(ConfigurationError, match="endpoint"):
        FastTransport("us-east-1", "ftp://example")
    # The region becomes part of the host name: nothing else may ride in with it.
    for bad in ("us-east-1.evil.example/", "us east 1", "us-east-1:80", "ü-east-1"):
        with pytest.raises(ConfigurationError, match="invalid AWS region"):
            FastTransport(bad)


def test_aws_endpoint_is_built_without_parsing_a_url() -> None:
    transport = FastTransport("eu-central-1")
    assert transport._address == ("dynamodb.eu-central-1.amazonaws.com", 443)
    assert transport._host == "dynamodb.eu-central-1.amazonaws.com" and transport._https
    # The same as what parsing the same URL gives.
    parsed = FastTransport(
        "eu-central-1", "https://dynamodb.eu-central-1.amazonaws.com"
    )
    assert (parsed._address, parsed._host, parsed._path) == (
        transport._address,
        transport._host,
        transport._path,
    )


def test_credentials_repr_hides_the_secrets() -> None:
    shown = repr(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI", "FwoGZXIvYXdzEJr"))
    assert "AKIDEXAMPLE" in shown
    assert "wJalrXUtnFEMI" not in shown and "FwoGZXIvYXdzEJr" not in shown
    assert (
        Credentials("a", "b", "c")
        == Credentials("a", "b", "c")
        != Credentials("a", "b")
    )


def test_connection_selects_the_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_clients()
    try:
        assert isinstance(Connection(transport="fast").client.transport, FastTransport)
        assert not isinstance(Connection().client.transport, FastTransport)
        monkeypatch.setenv("DYNAMORM_TRANSPORT", "fast")
        shared = Connection().client
        assert isinstance(shared.transport, FastTransport)
        assert Connection().client is shared
        botocore = Connection(transport="botocore").client.transport
        assert not isinstance(botocore, FastTransport)
        with pytest.raises(ConfigurationError, match="unknown transport 'http2'"):
            _ = Connection(transport="http2").client
    finally:
        reset_clients()


def test_an_injected_botocore_client_must_not_retry_on_its_own() -> None:
    import botocore.session
    from botocore.config import Config

    session = botocore.session.Session()
    retrying = session.create_client("dynamodb", region_name="us-east-1")
    with pytest.raises(ConfigurationError, match="one attempt per call"):
        Connection(client=retrying)
    once = session.create_client(
        "dynamodb",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
    )
    assert Connection(client=once).client.region == "us-east-1"
    with pytest.raises(ConfigurationError, match="cannot use a str"):
        Connection(client="dynamodb")


def test_credentials_fall_back_to_botocore_chain(
    stub: Stub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    shared = tmp_path / "credentials"
    shared.write_text(
        "[default]\naws_access_key_id = AKIDFROMFILE\naws_secret_access_key = x\n"
        "[other]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = y\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    request = {"TableName": "cards", "Key": {}}
    _client(stub.url).call("GetItem", request, READ)
    assert "Credential=AKIDFROMFILE/" in stub.requests[-1].headers["Authorization"]
    _client(stub.url, profile="other").call("GetItem", request, READ)
    assert "Credential=AKIDPROFILE/" in stub.requests[-1].headers["Authorization"]
    with pytest.raises(ConfigurationError, match="ProfileNotFound"):
        _client(stub.url, profile="missing").call("GetItem", request, READ)


def test_create_waits_until_the_table_is_active(stub: Stub) -> None:
    stub.script += [
        Reply(body={"TableDescription": {"TableStatus": "CREATING"}}),
        Reply(body={"Table": {"TableStatus": "CREATING"}}),
        Reply(body={"Table": {"TableStatus": "ACTIVE"}}),
    ]
    sleeps: list[float] = []
    _handle(_client(stub.url, sleeps=sleeps)).create(ttl=False)
    assert [s.target.partition(".")[2] for s in stub.requests] == [
        "CreateTable",
        "DescribeTable",
        "DescribeTable",
    ]
    assert sleeps == [0.2]


# --- import cost ---------------------------------------------------------------------------------

PROBE = """
import json, sys
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.fast import FastTransport
from dynamorm_gen.runtime.table import Connection, TableDefinition, TableHandle
client = Client(FastTransport(endpoint_url=sys.argv[1]))
client.call("GetItem", {"TableName": "cards", "Key": {"pk": {"S": "k"}}}, "read")
definition = TableDefinition(logical_name="cards", name_env="CARDS_TABLE", key_names=("pk",),
                             entity_type_attribute="type", create_table={})
handle = TableHandle(definition, Connection(transport="fast", endpoint_url=sys.argv[1]))
handle.put_item({"pk": {"S": "k"}, "b": {"B": b"x"}}, entity="Card")
print(json.dumps(sorted(sys.modules)))
"""


def test_fast_path_imports_no_botocore(stub: Stub) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, stub.url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    loaded = json.loads(result.stdout)
    bad = [m for m in loaded if m.split(".")[0] in ("botocore", "boto3")]
    assert bad == []
    assert [s.target for s in stub.requests] == [
        "DynamoDB_20120810.GetItem",
        "DynamoDB_20120810.PutItem",
    ]


# --- deadlines -----------------------------------------------------------------------------------
#
# These need a real slow server, so they take real time; each waits on a server that would
# take far longer (30 s) than the deadline allows (0.3 s), and only checks that the call came
# back long before that, so a busy machine cannot make them fail.

SLOW = 30.0


def test_deadline_caps_the_wait_for_a_response(stub: Stub) -> None:
    """A slow answer is cut at the deadline, not at the 10 s read timeout."""
    stub.script.append(Reply(body={}, delay=SLOW))
    handle = _handle(_client(stub.url))
    started = time.monotonic()
    with bind(Deadline.after(0.3)), pytest.raises(DeadlineExceeded) as info:
        handle.put_item({"pk": {"S": SECRET_VALUE}}, entity="Card")
    assert time.monotonic() - started < SLOW / 3
    assert info.value.sent is True  # it left: a write may have been applied
    assert info.value.code == "ReadTimeoutError"
    assert SECRET_VALUE not in str(info.value)
    # The next request, without a deadline, waits as long as read_timeout allows again.
    stub.script.append(Reply(body={"Item": {"pk": {"S": "k"}}}, delay=0.4))
    assert handle.get_item({"pk": {"S": "k"}}, entity="Card") is not None


def test_no_time_to_start_sends_nothing(stub: Stub) -> None:
    handle = _handle(_client(stub.url))
    with bind(Deadline.after(0.5, margin=0.5)), pytest.raises(DeadlineExceeded) as info:
        handle.get_item({"pk": {"S": "k"}}, entity="Card")
    assert info.value.sent is False and info.value.operation == "GetItem"
    assert "no time left" in str(info.value)
    assert stub.requests == [] and stub.connections == 0


def test_pauses_are_not_taken_past_the_deadline(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Clock:
        now = 1000.0

        def monotonic(self) -> float:
            return self.now

    monkeypatch.setattr(deadline_module, "time", Clock())
    sleeps: list[float] = []
    policy = RetryPolicy(
        sleep=sleeps.append, random=lambda: 1.0, throttle_base_delay=0.2
    )
    stub.script += [_error("ThrottlingException") for _ in range(4)]
    client = Client(FastTransport("us-east-1", stub.url), policy)
    with bind(Deadline(Clock.now + 0.3)), pytest.raises(Throttled):
        _handle(client).get_item({"pk": {"S": "k"}}, entity="Card")
    # 0.2 s fitted in the time left, 0.4 s did not: two attempts, one pause.
    assert sleeps == [0.2] and len(stub.requests) == 2


def test_prewarm_opens_the_connection_the_first_request_uses(stub: Stub) -> None:
    client = _client(stub.url)
    client.prewarm()
    waited = time.monotonic() + 5
    while stub.connections == 0 and time.monotonic() < waited:
        time.sleep(0.01)  # the server accepts in its own thread
    assert stub.connections == 1 and stub.requests == []
    client.call("Query", {"TableName": "cards"}, READ)
    assert stub.connections == 1 and len(stub.requests) == 1


def test_prewarm_without_a_server_leaves_the_error_to_the_first_request() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once it is closed
    client = Client(
        FastTransport("us-east-1", f"http://127.0.0.1:{port}"),
        RetryPolicy(max_attempts=1),
    )
    client.prewarm()  # no exception: init must not fail on a transient network problem
    with pytest.raises(DynamormError, match="EndpointConnectionError"):
        client.call("Query", {"TableName": "cards"}, READ)


def test_prepare_builds_the_signed_request_that_exchange_sends(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast, "amz_date", lambda: "20240517T093012Z")  # one signature
    sent: list[bytes] = []
    send = http.HTTPConnection.send

    def recording(conn: Any, request: bytes, cap: float | None = None) -> None:
        sent.append(request)
        send(conn, request, cap)

    monkeypatch.setattr(http.HTTPConnection, "send", recording)
    transport = FastTransport("us-east-1", stub.url)
    request = {"TableName": "cards", "Item": {"pk": {"S": "k"}, "b": {"B": b"\x00"}}}
    prepared = transport.prepare("PutItem", request)
    assert stub.requests == [] and stub.connections == 0  # nothing sent
    Client(transport).call("PutItem", request, IDEMPOTENT)
    assert sent == [prepared]
    assert stub.requests[0].body["Item"]["b"] == {"B": "AA=="}


def _one_shot_server(answer: Any) -> tuple[str, threading.Thread]:
    """A server for one connection, answering each request with ``answer(conn)``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            while conn.recv(65536):
                answer(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread


def test_deadline_bounds_a_response_that_trickles_in() -> None:
    """Pieces arriving 0.2 s apart never time one wait out; the deadline still ends it."""
    body = b"{}" + b" " * 300

    def trickle(conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        conn.sendall(head)
        try:
            for i in range(0, len(body), 2):
                time.sleep(0.2)
                conn.sendall(body[i : i + 2])
        except OSError:
            pass  # the client gave up, as it should

    url, _ = _one_shot_server(trickle)
    started = time.monotonic()
    with bind(Deadline.after(0.5)), pytest.raises(DeadlineExceeded) as info:
        _handle(_client(url)).get_item({"pk": {"S": "k"}}, entity="Card")
    assert time.monotonic() - started < 10  # not the 30 s the pieces take
    assert info.value.sent is True


def test_a_sent_attempt_is_never_reported_unsent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write answered 500 (it may have applied), then a pause that ends past the deadline:
    the error says the outcome is unknown, not DeadlineExceeded(sent=False)."""

    class Clock:
        now = 1000.0

        def monotonic(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(deadline_module, "time", clock)

    def late_sleep(seconds: float) -> None:
        clock.now += seconds + 0.02  # the pause ends late, as it may under load

    answer = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}'

    def fail(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: %d\r\n\r\n%s"
            % (len(answer), answer)
        )

    url, _ = _one_shot_server(fail)
    policy = RetryPolicy(sleep=late_sleep, random=lambda: 1.0, base_delay=0.05)
    client = Client(FastTransport("us-east-1", url), policy)
    with bind(Deadline(clock.now + 0.06)), pytest.raises(DynamormError) as info:
        _handle(client).put_item({"pk": {"S": "k"}}, entity="Card")
    assert isinstance(info.value, OutcomeUnknown)
    assert info.value.code == "InternalServerError"
