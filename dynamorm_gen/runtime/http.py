"""A lean HTTP/1.1 client exchange over a socket, for the fast transport (``fast.py``).

``http.client`` spends most of a DynamoDB call's client CPU building the request header by
header and parsing the response headers with the ``email`` package. This module does only what
the fast transport needs: it sends one prebuilt request with a single ``sendall`` and reads the
response into a buffer, parsing the status line and headers itself. Response bodies are
delimited by ``Content-Length``, by ``Transfer-Encoding: chunked`` (extensions and trailers
allowed and ignored) or, with neither, by the server closing the connection.

Errors never quote the response: a malformed response raises ``ProtocolError`` with a fixed
description, because header values and bodies may hold item values.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Protocol

__all__ = [
    "BrokenBody",
    "HTTPConnection",
    "IncompleteResponse",
    "ProtocolError",
    "RemoteDisconnected",
    "build_request",
]

_RECV_SIZE = 65536
_MAX_HEAD = 65536  # status line and headers together
_MAX_LINE = 65536  # a chunk-size line or a trailer line
_MAX_PREALLOCATE = (
    1 << 26
)  # larger bodies are read without allocating Content-Length first
_HEX = b"0123456789abcdefABCDEF"
_NO_BODY = frozenset({204, 304})

Response = tuple[int, dict[str, str], bytes, bool]
"""Status, headers (lower-case names), body, and whether the connection must be closed."""


class _Receiver(Protocol):
    def recv(self, size: int, /) -> bytes: ...

    def recv_into(self, buffer: memoryview, /) -> int: ...


class _Bounded:
    """A socket whose receives all end by ``until`` (``time.monotonic()``): a deadline caps
    the whole response, however it arrives in pieces, not each wait alone."""

    __slots__ = ("_sock", "_timeout", "_until")

    def __init__(self, sock: socket.socket, until: float) -> None:
        self._sock = sock
        self._until = until
        # What send() set: read_timeout, or the time left if that is shorter.
        self._timeout = sock.gettimeout()

    def _arm(self) -> None:
        left = self._until - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline passed while reading the response")
        # Shortened only when the time left is the tighter bound (settimeout costs syscalls).
        if self._timeout is None or left < self._timeout:
            self._sock.settimeout(left)
            self._timeout = left

    def recv(self, size: int, /) -> bytes:
        self._arm()
        return self._sock.recv(size)

    def recv_into(self, buffer: memoryview, /) -> int:
        self._arm()
        return self._sock.recv_into(buffer)


class ProtocolError(Exception):
    """The response is not valid HTTP/1.1 (the message never quotes it)."""


class IncompleteResponse(ConnectionError):
    """The server closed the connection in the middle of a response."""


class RemoteDisconnected(ConnectionError):
    """The server closed the connection before sending any byte of a response."""


class BrokenBody(Exception):
    """The status line and headers arrived, then the body could not be read whole: the
    connection closed or broke, time ran out, or its framing was malformed. ``status`` says
    what the server answered, which decides whether a write was applied."""

    def __init__(self, status: int, cause: BaseException) -> None:
        super().__init__(
            f"the response body could not be read ({type(cause).__name__})"
        )
        self.status = status
        self.timed_out = isinstance(cause, TimeoutError)


def build_request(
    method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
) -> bytes:
    """The request's bytes: request line, ``headers`` in order, a blank line and ``body``.

    Raises ``ValueError`` if a value holds CR or LF (header injection) or is not Latin-1.
    """
    lines = [f"{method} {path} HTTP/1.1"]
    lines.extend([f"{name}: {value}" for name, value in headers])
    head = "\r\n".join(lines)
    breaks = len(lines) - 1
    if head.count("\n") != breaks or head.count("\r") != breaks:
        raise ValueError("a request header holds a line break")
    return (head + "\r\n\r\n").encode("latin-1") + body


class HTTPConnection:
    """One kept-alive connection to ``host:port``, TLS when ``context`` is given.

    ``connect_timeout`` covers the TCP connection and the TLS handshake, ``read_timeout`` every
    later send and receive; both raise ``TimeoutError``. Not thread-safe: the fast transport
    gives each request a connection of its own.
    """

    __slots__ = (
        "_capped",
        "_connect_timeout",
        "_context",
        "_read_timeout",
        "_until",
        "host",
        "port",
        "sock",
    )

    def __init__(
        self,
        host: str,
        port: int,
        *,
        context: ssl.SSLContext | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sock: socket.socket | None = None
        self._context = context
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._capped = False  # the socket's timeout is a deadline's, not read_timeout
        self._until: float | None = None  # when the current exchange must be over

    def connect(self, cap: float | None = None) -> None:
        """Open the connection; ``cap`` (seconds) bounds the handshakes and later waits."""
        sock = socket.create_connection(
            (self.host, self.port), _capped(self._connect_timeout, cap)
        )
        try:
            # The request goes out in one write; no reason to let Nagle hold any of it back.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self.host)
            timeout = _capped(self._read_timeout, cap)
            sock.settimeout(timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._capped = timeout != self._read_timeout

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def is_dropped(self) -> bool:
        """Whether an idle connection is unusable: closed, broken, or holding stray bytes.

        A select with no wait: an idle HTTP connection has nothing to read unless the server
        closed it (EOF), reset it, or sent something unsolicited; none of these can be used
        for the next request. Over TLS, a readable socket may also hold only protocol records
        (a TLS 1.3 session ticket), which a non-blocking read consumes without data.
        """
        sock = self.sock
        if sock is None:
            return False
        try:
            readable = select.select([sock], [], [], 0)[0]
        except (OSError, ValueError):
            return True
        if not isinstance(sock, ssl.SSLSocket):
            return bool(readable)
        if sock.pending():
            return True  # decrypted bytes nobody asked for
        if not readable:
            return False
        try:
            sock.settimeout(0)
            try:
                # b"" at EOF, a byte if stray data arrived: dropped either way.
                sock.recv(1)
            except ssl.SSLWantReadError:
                return False  # only TLS records: the connection is fine
            finally:
                sock.settimeout(self._read_timeout)
        except OSError:
            pass
        return True

    def exchange(self, request: bytes) -> Response:
        """Send ``request`` and read the response (connecting first if needed).

        Raises ``OSError`` (``TimeoutError``, ``ConnectionError``...) from the socket,
        ``RemoteDisconnected`` if the server closed without answering, ``IncompleteResponse``
        if it closed in the response headers, ``ProtocolError`` for malformed headers, and
        ``BrokenBody`` for anything that went wrong once the headers were read. After any of
        these the connection must be closed.
        """
        if self.sock is None:
            self.connect()
        self.send(request)
        return self.read_response()

    def send(self, request: bytes, cap: float | None = None) -> None:
        """Send ``request`` on the open connection. ``cap`` (seconds, from a deadline) bounds
        this exchange: sending, and all of reading the response.

        Connecting is a separate step (``connect``) because the two fail differently: a
        request that never connected cannot have reached the server, while one whose sending
        failed may have, in part or whole.
        """
        sock = self.sock
        if sock is None:
            raise RemoteDisconnected("not connected")
        self._until = None if cap is None else time.monotonic() + cap
        if cap is not None and (self._read_timeout is None or cap < self._read_timeout):
            sock.settimeout(cap)
            self._capped = True
        elif self._capped:
            # read_timeout is the tighter bound again (settimeout costs syscalls: only then).
            sock.settimeout(self._read_timeout)
            self._capped = False
        sock.sendall(request)

    def read_response(self) -> Response:
        if self.sock is None:
            raise RemoteDisconnected("not connected")
        sock: _Receiver = self.sock
        if self._until is not None:
            sock = _Bounded(self.sock, self._until)
        data = sock.recv(_RECV_SIZE)
        if not data:
            raise RemoteDisconnected(
                "the server closed the connection without a response"
            )
        while True:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                data, end = _read_head(sock, data)
            status, headers, will_close = _parse_head(data, end)
            rest = data[end + 4 :]
            if status >= 200 or status == 101:
                break
            # An interim response (100 Continue, 103 Early Hints): the real one follows.
            data = rest or sock.recv(_RECV_SIZE)
            if not data:
                raise IncompleteResponse(
                    "the connection closed after an interim response"
                )
        if status in _NO_BODY or status < 200:
            return status, headers, b"", will_close or bool(rest)
        try:
            body, close = _read_body(sock, headers, rest, will_close)
        except (OSError, ProtocolError) as exc:
            raise BrokenBody(status, exc) from exc
        return status, headers, body, close


def _read_body(
    sock: _Receiver, headers: dict[str, str], rest: bytes, will_close: bool
) -> tuple[bytes, bool]:
    """The body after the headers (``rest`` holds its first bytes), and whether the
    connection must be closed after it."""
    coding = headers.get("transfer-encoding")
    if coding is not None:
        codings = [c.strip().lower() for c in coding.split(",")]
        if codings[-1] != "chunked":
            # Only a close can end such a body (RFC 9112 6.3); content codings such as
            # gzip are not decoded, as Accept-Encoding: identity was asked for.
            if any(c not in ("", "identity") for c in codings):
                raise ProtocolError("unsupported Transfer-Encoding in the response")
            return _read_to_close(sock, rest), True
        if any(c not in ("", "identity", "chunked") for c in codings[:-1]):
            raise ProtocolError("unsupported Transfer-Encoding in the response")
        body, extra = _read_chunked(sock, bytearray(rest))
        # With both headers, Content-Length is wrong or a smuggling attempt: do not reuse.
        reuse_unsafe = extra or "content-length" in headers
        return body, will_close or reuse_unsafe
    length_text = headers.get("content-length")
    if length_text is None:
        return _read_to_close(sock, rest), True
    length = _content_length(length_text)
    have = len(rest)
    if have >= length:
        # Bytes beyond the body answer nothing we sent: the connection is out of step.
        return rest[:length], will_close or have > length
    if length > _MAX_PREALLOCATE:
        # Not trusted for an allocation up front: grows only as the bytes arrive.
        grown = bytearray(rest)
        while len(grown) < length:
            more = sock.recv(min(_RECV_SIZE, length - len(grown)))
            if not more:
                raise IncompleteResponse("the connection closed in the response body")
            grown += more
        return bytes(grown), will_close
    buffer = bytearray(length)
    buffer[:have] = rest
    view = memoryview(buffer)
    while have < length:
        got = sock.recv_into(view[have:])
        if not got:
            raise IncompleteResponse("the connection closed in the response body")
        have += got
    return bytes(buffer), will_close


def _capped(timeout: float | None, cap: float | None) -> float | None:
    if cap is None:
        return timeout
    return cap if timeout is None else min(timeout, cap)


def _read_head(sock: _Receiver, data: bytes) -> tuple[bytes, int]:
    """Receive until the blank line that ends the headers; the bytes so far and its offset."""
    buffer = bytearray(data)
    while True:
        more = sock.recv(_RECV_SIZE)
        if not more:
            raise IncompleteResponse("the connection closed in the response headers")
        start = max(0, len(buffer) - 3)
        buffer += more
        end = buffer.find(b"\r\n\r\n", start)
        if end > _MAX_HEAD or (end < 0 and len(buffer) > _MAX_HEAD):
            raise ProtocolError("the response headers are too long")
        if end >= 0:
            return bytes(buffer), end


def _parse_head(data: bytes, end: int) -> tuple[int, dict[str, str], bool]:
    """Status, headers and whether the connection closes, from ``data[:end]``."""
    lines = data[:end].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if (
        version not in ("HTTP/1.1", "HTTP/1.0")
        or len(code) != 3
        or not (code.isascii() and code.isdigit())
        or rest[3:4] not in ("", " ")
    ):
        raise ProtocolError("malformed HTTP status line in the response")
    status = int(code)
    headers: dict[str, str] = {}
    name = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not name:
                raise ProtocolError("malformed header line in the response")
            # Obsolete line folding: the continuation joins the previous value.
            headers[name] = f"{headers[name]} {line.strip()}"
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or " " in name:
            raise ProtocolError("malformed header line in the response")
        name = name.lower()
        value = value.strip()
        if name in headers:
            headers[name] = f"{headers[name]}, {value}"
        else:
            headers[name] = value
    tokens = headers.get("connection", "").lower()
    if version == "HTTP/1.1":
        will_close = "close" in [t.strip() for t in tokens.split(",")]
    else:
        will_close = "keep-alive" not in [t.strip() for t in tokens.split(",")]
    return status, headers, will_close


def _content_length(text: str) -> int:
    # Repeated headers arrive joined with ", "; they are valid only if all agree.
    values = {v.strip() for v in text.split(",")}
    if len(values) != 1:
        raise ProtocolError("conflicting Content-Length headers in the response")
    value = values.pop()
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ProtocolError("invalid Content-Length in the response")
    return int(value)


def _read_to_close(sock: _Receiver, rest: bytes) -> bytes:
    buffer = bytearray(rest)
    while True:
        more = sock.recv(_RECV_SIZE)
        if not more:
            return bytes(buffer)
        buffer += more


def _fill(sock: _Receiver, buffer: bytearray) -> None:
    more = sock.recv(_RECV_SIZE)
    if not more:
        raise IncompleteResponse("the connection closed in a chunked response body")
    buffer += more


def _line(sock: _Receiver, buffer: bytearray, pos: int) -> tuple[bytes, int]:
    """The line at ``pos`` (without CRLF) and the offset after it, receiving as needed."""
    search = pos
    while True:
        end = buffer.find(b"\r\n", search)
        if end >= 0:
            return bytes(buffer[pos:end]), end + 2
        if len(buffer) - pos > _MAX_LINE:
            raise ProtocolError("a chunked-encoding line in the response is too long")
        search = max(pos, len(buffer) - 1)
        _fill(sock, buffer)


def _read_chunked(sock: _Receiver, buffer: bytearray) -> tuple[bytes, bool]:
    """The decoded body and whether bytes followed it; ``buffer`` holds what was received."""
    body = bytearray()
    pos = 0
    while True:
        line, pos = _line(sock, buffer, pos)
        size_text = line.partition(b";")[0].strip(b" \t")
        if not size_text or size_text.strip(_HEX) or len(size_text) > 16:
            raise ProtocolError("malformed chunk size in the response")
        size = int(size_text, 16)
        if size == 0:
            break
        while len(buffer) < pos + size + 2:
            _fill(sock, buffer)
        if buffer[pos + size : pos + size + 2] != b"\r\n":
            raise ProtocolError("malformed chunk in the response")
        body += buffer[pos : pos + size]
        pos += size + 2
        if pos > _RECV_SIZE:
            del buffer[:pos]
            pos = 0
    while True:  # trailer fields, ignored, up to the blank line
        line, pos = _line(sock, buffer, pos)
        if not line:
            return bytes(body), len(buffer) > pos
