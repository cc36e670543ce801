"""The fast transport's HTTP/1.1 exchange (``runtime/http.py``) against a raw socket server.

The server on 127.0.0.1 answers each request with the next scripted answer, written in the
pieces given (one byte at a time, headers split, body split), with a pause between pieces so
that the client sees them in separate reads; it can then close the connection, or read a
request and close without answering.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dynamorm_gen.runtime import DynamormError, OutcomeUnknown
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.fast import FastTransport
from dynamorm_gen.runtime.http import (
    BrokenBody,
    HTTPConnection,
    IncompleteResponse,
    ProtocolError,
    RemoteDisconnected,
    build_request,
)
from dynamorm_gen.runtime.retry import READ, UNSAFE, RetryPolicy

# An item value that must never reach an error message.
SECRET_VALUE = "4111-1111-1111-1111"
REQUEST = build_request("POST", "/", [("Host", "x"), ("Content-Length", "2")], b"{}")


@dataclass
class Answer:
    pieces: list[bytes] = field(default_factory=list)
    close: bool = False  # close the connection after answering
    drop: bool = False  # read the request, then close without answering
    pause: float = 0.002  # between pieces


def response(
    body: bytes = b"{}",
    *,
    status: str = "200 OK",
    headers: tuple[str, ...] = (),
    length: bool = True,
) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/x-amz-json-1.0"]
    lines += [f"x-amz-crc32: {zlib.crc32(body)}", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(
    body: bytes, size: int, *, extension: str = "", trailers: str = ""
) -> bytes:
    head = response(body, headers=("Transfer-Encoding: chunked",), length=False)
    out = [head[: len(head) - len(body)]]
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        out.append(f"{len(piece):x}{extension}\r\n".encode() + piece + b"\r\n")
    out.append(f"0{extension}\r\n{trailers}\r\n".encode())
    return b"".join(out)


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


class RawServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.script: list[Answer] = []
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = threading.Semaphore(0)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except OSError:  # the client refused the certificate
                    conn.close()
                    continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket, buffer: bytearray) -> bool:
        while b"\r\n\r\n" not in buffer:
            more = conn.recv(65536)
            if not more:
                return False
            buffer += more
        end = buffer.index(b"\r\n\r\n") + 4
        length = 0
        for line in bytes(buffer[:end]).split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        while len(buffer) < end + length:
            more = conn.recv(65536)
            if not more:
                return False
            buffer += more
        self.requests.append(bytes(buffer[: end + length]))
        del buffer[: end + length]
        return True

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        try:
            while self._read_request(conn, buffer):
                answer = self.script.pop(0) if self.script else Answer([response()])
                if answer.drop:
                    break
                for i, piece in enumerate(answer.pieces):
                    if i:
                        time.sleep(answer.pause)
                    conn.sendall(piece)
                if answer.close:
                    break
        except OSError:
            pass
        finally:
            conn.close()
            self.closed.release()

    def stop(self) -> None:
        self.listener.close()


@pytest.fixture
def server() -> Iterator[RawServer]:
    raw = RawServer()
    yield raw
    raw.stop()


def _connection(server: RawServer) -> HTTPConnection:
    return HTTPConnection("127.0.0.1", server.port, connect_timeout=2, read_timeout=5)


def _client(server: RawServer) -> Client:
    policy = RetryPolicy(sleep=lambda seconds: None)
    return Client(FastTransport("us-east-1", server.url), policy)


def _query(client: Client) -> dict[str, object]:
    return client.call("Query", {"TableName": "cards"}, READ)


ADD_ONE = {
    "TableName": "cards",
    "Key": {"pk": {"S": SECRET_VALUE}},
    "UpdateExpression": "ADD n :one",
    "ExpressionAttributeValues": {":one": {"N": "1"}},
}


# --- requests ----------------------------------------------------------------------------------


def test_request_is_one_prebuilt_message() -> None:
    data = build_request("POST", "/", [("Host", "h"), ("Content-Length", "2")], b"{}")
    assert data == b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}"
    for bad in ("a\r\nX-Injected: 1", "a\nb", "a\rb"):
        with pytest.raises(ValueError, match="line break"):
            build_request("POST", "/", [("X-Amz-Security-Token", bad)], b"")


def test_fast_client_sends_the_headers_in_one_write(server: RawServer) -> None:
    _client(server).call("GetItem", {"TableName": "cards", "Key": {}}, READ)
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST / HTTP/1.1"
    names = [line.partition(":")[0] for line in lines[1:]]
    assert names == [
        "Host",
        "Content-Type",
        "Content-Length",
        "X-Amz-Target",
        "X-Amz-Date",
        "X-Amz-Security-Token",
        "Authorization",
        "Connection",
        "Accept-Encoding",
    ]
    assert f"Content-Length: {len(body)}" in lines
    assert "Accept-Encoding: identity" in lines and "Connection: keep-alive" in lines


# --- responses in pieces -----------------------------------------------------------------------


def test_response_one_byte_at_a_time(server: RawServer) -> None:
    body = json.dumps({"Item": {"pk": {"S": "k"}}}).encode()
    server.script.append(Answer(bytewise(response(body)), pause=0.0005))
    conn = _connection(server)
    status, headers, got, will_close = conn.exchange(REQUEST)
    assert (status, got, will_close) == (200, body, False)
    assert headers["content-length"] == str(len(body))
    assert headers["x-amz-crc32"] == str(zlib.crc32(body))
    assert conn.exchange(REQUEST)[2] == b"{}"  # kept alive
    assert server.connections == 1
    conn.close()


# Cut in the status line, right after it, in a header, between the two final CRLFs.
@pytest.mark.parametrize("split", [5, 17, 60, -1])
def test_headers_and_body_split_across_reads(server: RawServer, split: int) -> None:
    body = b'{"Count": 3, "Items": []}'
    data = response(body)
    end = data.index(b"\r\n\r\n")
    cut = end + 2 if split == -1 else split
    server.script.append(Answer([data[:cut], data[cut : end + 10], data[end + 10 :]]))
    status, headers, got, _ = _connection(server).exchange(REQUEST)
    assert (
        status == 200
        and got == body
        and headers["content-type"].startswith("application")
    )


def test_fast_client_reads_a_response_written_byte_by_byte(server: RawServer) -> None:
    body = json.dumps({"Count": 1, "Items": [{"pk": {"S": "k"}}]}).encode()
    server.script.append(Answer(bytewise(response(body)), pause=0.0005))
    got = _query(_client(server))
    assert got["Count"] == 1 and got["Items"] == [{"pk": {"S": "k"}}]


# --- chunked bodies ----------------------------------------------------------------------------


def test_chunked_body_with_extensions_and_trailers(server: RawServer) -> None:
    body = json.dumps({"Count": 2, "Items": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]})
    data = chunked(
        body.encode(),
        7,
        extension=';name="v";x',
        trailers="X-Trailer: 1\r\nX-Other: 2\r\n",
    )
    server.script += [Answer(bytewise(data), pause=0.0002), Answer([data])]
    conn = _connection(server)
    status, headers, got, will_close = conn.exchange(REQUEST)
    assert (status, got, will_close) == (200, body.encode(), False)
    assert headers["transfer-encoding"] == "chunked"
    assert conn.exchange(REQUEST)[2] == body.encode()  # kept alive, in step
    assert server.connections == 1


def test_fast_client_reads_chunked_bodies(server: RawServer) -> None:
    body = json.dumps({"Count": 4}).encode()
    server.script.append(Answer([chunked(body, 3)]))
    assert _query(_client(server))["Count"] == 4


def test_large_bodies(server: RawServer) -> None:
    body = b"x" * (1 << 20)
    data = response(body)
    server.script += [
        Answer([data[:100], data[100:70000], data[70000:]]),
        Answer([chunked(body, 100_000)]),
    ]
    conn = _connection(server)
    assert conn.exchange(REQUEST)[2] == body
    assert conn.exchange(REQUEST)[2] == body
    value = "v" * (1 << 20)
    item_body = json.dumps({"Item": {"pk": {"S": value}}}).encode()
    server.script.append(Answer([response(item_body)]))
    got = _client(server).call("GetItem", {"TableName": "cards", "Key": {}}, READ)
    assert got["Item"]["pk"]["S"] == value


# --- connection handling -----------------------------------------------------------------------


def test_connection_close_is_honoured(server: RawServer) -> None:
    server.script.append(Answer([response(headers=("Connection: close",))], close=True))
    conn = _connection(server)
    assert conn.exchange(REQUEST)[3] is True
    client = _client(server)
    server.script.append(Answer([response(headers=("Connection: close",))], close=True))
    _query(client)
    _query(client)
    assert server.connections == 3  # the closed one was not reused
    assert sum(b"DynamoDB_20120810.Query" in r for r in server.requests) == 2


def test_body_until_close(server: RawServer) -> None:
    body = b'{"Count": 9}'
    data = response(body, length=False)
    server.script.append(Answer([data, body[:0]], close=True))
    server.script.append(Answer([data[:30], data[30:]], close=True))
    status, _, got, will_close = _connection(server).exchange(REQUEST)
    assert (status, got, will_close) == (200, body, True)
    assert _query(_client(server))["Count"] == 9


def test_http_1_0_closes_unless_keep_alive(server: RawServer) -> None:
    data = response(b"{}").replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    alive = data.replace(b"\r\n\r\n", b"\r\nConnection: keep-alive\r\n\r\n", 1)
    server.script += [Answer([alive]), Answer([data])]
    conn = _connection(server)
    assert conn.exchange(REQUEST)[3] is False
    assert conn.exchange(REQUEST)[3] is True


def test_interim_response_is_skipped(server: RawServer) -> None:
    server.script.append(Answer([b"HTTP/1.1 100 Continue\r\n\r\n", response(b"[1]")]))
    assert _connection(server).exchange(REQUEST)[:3:2] == (200, b"[1]")


def test_bytes_after_the_body_stop_reuse(server: RawServer) -> None:
    server.script.append(Answer([response() + b"HTTP/1.1 200 OK\r\n"]))
    assert _connection(server).exchange(REQUEST)[3] is True


def test_idle_connection_closed_by_server_is_replaced(server: RawServer) -> None:
    client = _client(server)
    server.script.append(Answer([response(b'{"Count": 1}')], close=True))
    assert _query(client)["Count"] == 1
    assert server.closed.acquire(timeout=5)  # the keep-alive connection is now closed
    got = _query(client)
    assert got["ResponseMetadata"] == {
        "HTTPStatusCode": 200,
        "RequestId": "",
        "RetryAttempts": 0,
    }
    assert server.connections == 2 and len(server.requests) == 2


def test_reused_connection_dropped_without_answer_is_resent_for_a_read(
    server: RawServer,
) -> None:
    client = _client(server)
    _query(client)
    server.script += [Answer(drop=True), Answer([response(b'{"Count": 5}')])]
    # Checked and found open; the server closes as the request arrives. It was written,
    # so it counts as a resend (a read may be sent again; an ADD would not be).
    got = _query(client)
    assert got["Count"] == 5 and got["ResponseMetadata"]["RetryAttempts"] == 1
    assert server.connections == 2 and len(server.requests) == 3


def test_new_connection_closed_without_answer(server: RawServer) -> None:
    server.script.append(Answer(drop=True))
    with pytest.raises(RemoteDisconnected):
        _connection(server).exchange(REQUEST)
    server.script.append(Answer(drop=True))
    with pytest.raises(OutcomeUnknown) as caught:
        _client(server).call("UpdateItem", ADD_ONE, UNSAFE)
    assert caught.value.code == "ConnectionClosedError"
    assert SECRET_VALUE not in str(caught.value)
    assert len(server.requests) == 2  # not sent again: it may have been processed


def test_is_dropped(server: RawServer) -> None:
    conn = _connection(server)
    assert conn.is_dropped() is False  # never connected
    server.script.append(Answer([response()], close=True))
    conn.exchange(REQUEST)
    assert server.closed.acquire(timeout=5)
    deadline = time.monotonic() + 5
    while not conn.is_dropped():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    conn.close()
    conn = _connection(server)
    conn.exchange(REQUEST)
    assert conn.is_dropped() is False  # idle and open
    conn.close()


# --- malformed responses -----------------------------------------------------------------------

MALFORMED = {
    "status line": b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}",
    "not http": b"SSH-2.0-OpenSSH\r\n\r\n",
    "version": b"HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    "header line": f"HTTP/1.1 200 OK\r\n{SECRET_VALUE}\r\n\r\n{{}}".encode(),
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n{}",
    "negative length": b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}",
    "two lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunk end": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    "coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
}


# Malformed in how the body is framed, after a valid status line: the status still tells
# what the server did (a 2xx write was applied), so it comes with the error.
_IN_THE_BODY = frozenset(
    (
        "chunk size",
        "chunk end",
        "coding",
        "content-length",
        "negative length",
        "two lengths",
    )
)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_response_is_a_clean_error(server: RawServer, name: str) -> None:
    server.script.append(Answer([MALFORMED[name]], close=True))
    expected = BrokenBody if name in _IN_THE_BODY else ProtocolError
    with pytest.raises(expected) as caught:
        _connection(server).exchange(REQUEST)
    assert SECRET_VALUE not in str(caught.value)
    if isinstance(caught.value, BrokenBody):
        assert caught.value.status == 200 and not caught.value.timed_out
    else:
        assert "in the response" in str(caught.value)


def test_a_malformed_response_leaves_an_unsafe_write_unknown(
    server: RawServer,
) -> None:
    server.script.append(Answer([MALFORMED["header line"]], close=True))
    with pytest.raises(OutcomeUnknown) as caught:
        _client(server).call("UpdateItem", ADD_ONE, UNSAFE)
    assert caught.value.code == "ResponseMalformed"
    assert SECRET_VALUE not in str(caught.value)
    assert SECRET_VALUE not in caught.value.server_message
    assert len(server.requests) == 1


def test_headers_too_long(server: RawServer) -> None:
    data = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 70_000 + b"\r\n\r\n"
    server.script.append(Answer([data], close=True))
    with pytest.raises(ProtocolError, match="too long"):
        _connection(server).exchange(REQUEST)


def test_connection_closed_mid_response(server: RawServer) -> None:
    data = response(b'{"Count": 1}')
    server.script += [
        Answer([data[:-3]], close=True),
        Answer([data[:20]], close=True),
        Answer([chunked(b"abcdef", 2)[:-10]], close=True),
    ]
    with pytest.raises(BrokenBody) as cut:  # in the body: the status is known
        _connection(server).exchange(REQUEST)
    assert cut.value.status == 200
    with pytest.raises(IncompleteResponse):  # in the headers
        _connection(server).exchange(REQUEST)
    with pytest.raises(BrokenBody):
        _connection(server).exchange(REQUEST)
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n{}"
    server.script.append(Answer([huge], close=True))
    with pytest.raises(BrokenBody):  # nothing allocated for the claimed length
        _connection(server).exchange(REQUEST)
    # A 2xx cut short: a read is asked again.
    server.script += [Answer([data[:-3]], close=True), Answer([data])]
    got = _query(_client(server))
    assert got["Count"] == 1 and got["ResponseMetadata"]["RetryAttempts"] == 1
    # An ADD that the server answered 2xx was applied: success, nothing sent again.
    requests = len(server.requests)
    server.script.append(Answer([data[:-3]], close=True))
    _client(server).call("UpdateItem", ADD_ONE, UNSAFE)
    assert len(server.requests) == requests + 1
    # A 5xx cut short may have been applied: an ADD is unknown.
    failed = response(b'{"__type": "x#InternalServerError"}', status="500 Oops")
    server.script.append(Answer([failed[:-5]], close=True))
    with pytest.raises(OutcomeUnknown) as caught:
        _client(server).call("UpdateItem", ADD_ONE, UNSAFE)
    assert caught.value.code == "ResponseIncomplete"


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
    command += " -addext subjectAltName=DNS:localhost"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[RawServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    raw = RawServer(tls=context)
    yield raw
    raw.stop()


def test_tls_exchange_keep_alive_and_idle_check(
    tls_server: RawServer, certificate: tuple[Path, Path]
) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    conn = HTTPConnection(
        "localhost", tls_server.port, context=context, connect_timeout=2, read_timeout=5
    )
    body = b"y" * 200_000
    tls_server.script += [Answer([response(b'{"a": 1}')]), Answer([response(body)])]
    assert conn.exchange(REQUEST)[2] == b'{"a": 1}'
    time.sleep(0.05)  # let anything the server sent after the response arrive
    assert conn.is_dropped() is False  # TLS 1.3 session tickets do not count
    assert conn.exchange(REQUEST)[2] == body
    tls_server.script.append(Answer([response()], close=True))
    conn.exchange(REQUEST)
    assert tls_server.closed.acquire(timeout=5)
    deadline = time.monotonic() + 5
    while not conn.is_dropped():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert tls_server.connections == 1
    conn.close()


def test_fast_client_over_tls_checks_the_host_name(
    tls_server: RawServer, certificate: tuple[Path, Path]
) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    transport = FastTransport("us-east-1", f"https://localhost:{tls_server.port}")
    transport._ssl_context = context  # trust the test certificate
    client = Client(transport, RetryPolicy(sleep=lambda seconds: None))
    tls_server.script.append(Answer([response(b'{"Count": 2}')]))
    assert _query(client)["Count"] == 2
    _query(client)
    assert tls_server.connections == 1
    # The certificate names localhost, not 127.0.0.1: SNI and the host name check use
    # the endpoint's host, so this connection is refused before anything is sent.
    other = FastTransport("us-east-1", f"https://127.0.0.1:{tls_server.port}")
    other._ssl_context = context
    with pytest.raises(DynamormError) as caught:
        Client(other, RetryPolicy(sleep=lambda seconds: None)).call(
            "UpdateItem", ADD_ONE, UNSAFE
        )
    assert caught.value.code == "EndpointConnectionError"
    assert not isinstance(caught.value, OutcomeUnknown)  # never sent
    assert len(tls_server.requests) == 2
