"""A loopback fault-injection proxy for DynamoDB-compatible engines (tests only).

The proxy sits between a client and a local engine (moto's server or dynalite) and breaks the
network on purpose, so that tests can prove a client applies every write exactly once: a test
scripts a fault for a request, makes the call through ``proxy.url``, and then reads the item
back from the engine directly (not through the proxy) to count how often the write landed.

    with FaultProxy(engine_url) as proxy:
        proxy.inject("UpdateItem", Fault.CLOSE_AFTER)  # the 1st UpdateItem only
        ...  # call through proxy.url; the engine applies it, the client sees a dropped connection
        assert proxy.forwarded("UpdateItem") == 1

It speaks just enough HTTP/1.1: it reads a whole request from the client (body framed by
Content-Length, which DynamoDB's JSON protocol always sends), forwards it unchanged on a fresh
upstream connection, reads the engine's whole response, and answers on the client's connection
with its own framing (a correct Content-Length, ``Connection: keep-alive``), so that clients
reuse connections as they would with DynamoDB.

Faults are matched by operation (the part of ``X-Amz-Target`` after the dot; for STS's query
protocol, the form's ``Action``, so that tests can count AssumeRole requests) and by occurrence,
counted from the moment the fault is injected: ``inject(operation, fault, times=1, skip=0)``
lets ``skip`` matching requests pass and hits the next ``times`` (None: every one);
``Fault.DELAY`` takes ``delay=`` seconds and ``Fault.STALE_CLOSE`` an optional ``pause=``. A
fault either happens *before* forwarding (the engine never sees the request) or *after* it (the
engine applied the request, then the client gets something bad); ``Fault.forwards`` says which.

What happened is in ``requests`` (a ``RequestRecord`` per request), ``forwarded(operation)``,
``connections`` (accepted) and ``open_connections`` (open now); ``unfired()`` lists injections
still waiting for their request, and ``errors`` failures inside the proxy (an unreachable
engine, a bug). ``reset()`` forgets the script, the records and the token memory.

Client request tokens: DynamoDB documents that a ``TransactWriteItems`` call carrying a
``ClientRequestToken`` is idempotent for 10 minutes after the first call with that token
completes: a repeat with the same token and the same parameters succeeds without applying the
writes again, and the same token with different parameters fails with
``IdempotentParameterMismatchException``; a repeat while the first call is still running fails
with ``TransactionInProgressException``. moto ignores the token and applies every repeat, so
with ``honour_tokens=True`` (the default) the proxy stands in for DynamoDB's side of that
contract: it remembers the token of each ``TransactWriteItems`` the engine answered with 2xx,
together with a digest of the request's parameters, and answers a repeat itself (the
remembered response, or the error) without forwarding it. Tests then exercise the client's side
of the contract: after an outcome it cannot know, it must resend with the same token. The
remembered response is the engine's first answer verbatim (DynamoDB would report read rather
than write capacity on a repeat; no test here depends on that).

Serialising: DynamoDB applies the writes of one item one at a time, so of two conditional puts
racing for a new item one succeeds and the other fails its condition. moto's server answers
requests in threads and checks a condition and writes the item as separate steps with nothing
in between held, so under concurrent requests both puts can succeed (and a cancelled
transaction restores a copy of the table taken before it, undoing writes made meanwhile). With
``serialize=True`` the proxy forwards one request at a time, standing in for DynamoDB's side of
that contract, so that concurrency tests measure the client and not the engine's races.

Nothing here logs or prints request or response bodies: they may hold financial data.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import hashlib
import http
import http.client
import json
import socket
import struct
import threading
import time
import traceback
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import urlsplit

ANY_OPERATION = "*"
# Seconds: DynamoDB's documented idempotency window for client request tokens.
TOKEN_LIFETIME = 600.0
# Seconds between a STALE_CLOSE response and closing the idle connection.
DEFAULT_STALE_PAUSE = 0.05
# Seconds a kept-alive client connection may wait for its next request.
CLIENT_IDLE_TIMEOUT = 60.0
# Seconds for connecting to, and for each read from, the engine.
UPSTREAM_TIMEOUT = 10.0
# Seconds: the accept loop rechecks for stop() at least this often.
ACCEPT_POLL = 0.5
# Seconds stop() waits for each thread before leaving it (a daemon) behind.
STOP_JOIN_TIMEOUT = 2.0
MAX_LINE = 65536  # bytes in a request line or a header line
MAX_BODY = 32 * 1024 * 1024  # bytes: twice DynamoDB's 16 MB request limit
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

ERROR_TYPE_PREFIX = "com.amazonaws.dynamodb.v20120810#"
FORM = "application/x-www-form-urlencoded"  # STS's query protocol
TRANSACT_WRITE_ITEMS = "TransactWriteItems"
# Framing the proxy does itself; every other header of the engine's response is passed on.
REFRAMED_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length"}
)
CRC32_HEADER = "x-amz-crc32"


class Fault(enum.Enum):
    """What goes wrong with a request. ``forwards`` says whether the engine applies it.

    Before forwarding (the engine never sees the request):

    * ``ERROR_500``: 500 InternalServerError; ``ERROR_503``: 503 ServiceUnavailable;
      ``THROTTLE``: 400 ThrottlingException; ``PROVISIONED_THROUGHPUT``: 400
      ProvisionedThroughputExceededException; ``EXPIRED_TOKEN``: 400 ExpiredTokenException
      (the request's credentials have expired: not a network fault, so not in the
      exactly-once matrix); ``TRANSACTION_CONFLICT``: 400 TransactionCanceledException, every
      action's reason ``TransactionConflict`` (another request held one of its items: DynamoDB
      cancels the transaction, applying nothing; moto never does; not in the matrix either).
      The connection stays alive.
    * ``RESET_BEFORE``: a TCP reset, no response; ``CLOSE_BEFORE``: a clean close (FIN), no
      response, as when a server's keep-alive timer fires as the request arrives.

    After forwarding (the engine applied the request):

    * ``ERROR_500_AFTER``: 500 InternalServerError instead of the engine's answer.
    * ``CLOSE_AFTER``: a clean close, no response byte; ``RESET_AFTER``: a reset, no byte.
    * ``RESET_MID_BODY``: status line, headers and half the body, then a reset.
    * ``TRUNCATE``: the true Content-Length but half the body, then a clean close.
    * ``TRUNCATED_JSON``: a well-framed response whose body is half the engine's JSON, with
      no x-amz-crc32 header, so nothing tells the client the body is broken.
    * ``BAD_CRC``: the engine's response with a wrong x-amz-crc32.
    * ``DELAY``: the engine's response, ``delay`` seconds late (dropped if the client left).
    * ``STALE_CLOSE``: the engine's response, then, ``pause`` seconds later, a clean close of
      the idle connection: the client's pooled connection is dead at its next use.
    """

    ERROR_500 = "ERROR_500"
    ERROR_503 = "ERROR_503"
    THROTTLE = "THROTTLE"
    PROVISIONED_THROUGHPUT = "PROVISIONED_THROUGHPUT"
    RESET_BEFORE = "RESET_BEFORE"
    CLOSE_BEFORE = "CLOSE_BEFORE"
    ERROR_500_AFTER = "ERROR_500_AFTER"
    CLOSE_AFTER = "CLOSE_AFTER"
    RESET_AFTER = "RESET_AFTER"
    RESET_MID_BODY = "RESET_MID_BODY"
    TRUNCATE = "TRUNCATE"
    TRUNCATED_JSON = "TRUNCATED_JSON"
    BAD_CRC = "BAD_CRC"
    DELAY = "DELAY"
    STALE_CLOSE = "STALE_CLOSE"
    EXPIRED_TOKEN = "EXPIRED_TOKEN"
    TRANSACTION_CONFLICT = "TRANSACTION_CONFLICT"

    @property
    def forwards(self) -> bool:
        """Whether the engine receives (and so may apply) a request that meets this fault."""
        return self not in _NOT_FORWARDED


_NOT_FORWARDED = frozenset(
    {
        Fault.ERROR_500,
        Fault.ERROR_503,
        Fault.THROTTLE,
        Fault.PROVISIONED_THROUGHPUT,
        Fault.RESET_BEFORE,
        Fault.CLOSE_BEFORE,
        Fault.EXPIRED_TOKEN,
        Fault.TRANSACTION_CONFLICT,
    }
)

# Faults answered with a DynamoDB-style error: status, error type, message.
_ERROR_REPLIES: dict[Fault, tuple[int, str, str]] = {
    Fault.ERROR_500: (500, "InternalServerError", "Internal server error (injected)"),
    Fault.ERROR_500_AFTER: (
        500,
        "InternalServerError",
        "Internal server error (injected)",
    ),
    Fault.ERROR_503: (503, "ServiceUnavailable", "Service unavailable (injected)"),
    Fault.THROTTLE: (400, "ThrottlingException", "Rate exceeded (injected)"),
    Fault.PROVISIONED_THROUGHPUT: (
        400,
        "ProvisionedThroughputExceededException",
        "Throughput exceeds the provisioned throughput (injected)",
    ),
    Fault.EXPIRED_TOKEN: (
        400,
        "ExpiredTokenException",
        "The security token included in the request is expired (injected)",
    ),
}


@dataclass
class Injection:
    """One scripted fault: skip ``skip`` matching requests, then hit the next ``times`` of them
    (every one when ``times`` is None). ``seen`` and ``fired`` count as requests arrive."""

    operation: str
    fault: Fault
    times: int | None
    skip: int
    delay: float
    pause: float
    seen: int = 0
    fired: int = 0

    def matches(self, operation: str) -> bool:
        return self.operation in (ANY_OPERATION, operation)

    @property
    def due(self) -> bool:
        """Whether the request just counted in ``seen`` should get this fault."""
        return self.seen > self.skip and (self.times is None or self.fired < self.times)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


@dataclass(frozen=True)
class RequestRecord:
    """What happened to one request the proxy read in full.

    * ``number``: 1-based, in arrival order; ``connection``: 1-based number of the client
      connection it came on.
    * ``operation``: e.g. "UpdateItem" (the part of X-Amz-Target after the dot); "" without.
    * ``body``: the parsed JSON body; None when empty or not JSON.
    * ``fault``: the injected fault it met, if any.
    * ``forwarded``: sent to the engine (which then may have applied it).
    * ``upstream_status``: the engine's status; None when not forwarded or not answered.
    * ``from_token_memory``: answered by the proxy's ClientRequestToken memory (the
      remembered success, or an IdempotentParameterMismatch / TransactionInProgress error).
    * ``client_status``: the status line sent (or, for DELAY, due) to the client; None when
      the fault sends none.
    """

    number: int
    connection: int
    operation: str
    body: Any
    fault: Fault | None
    forwarded: bool
    upstream_status: int | None
    from_token_memory: bool
    client_status: int | None


@dataclass(frozen=True)
class _Request:
    raw: bytes  # exactly the bytes the client sent, forwarded unchanged
    method: str
    operation: str
    body: Any
    keep_alive: bool


@dataclass(frozen=True)
class _Response:
    status: int
    reason: str
    # As the engine sent them, framing headers included (head() leaves those out).
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def head(self, content_length: int, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [
            f"{name}: {value}"
            for name, value in self.headers
            if name.lower() not in REFRAMED_HEADERS
        ]
        lines.append(f"Content-Length: {content_length}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def encode(self, keep_alive: bool) -> bytes:
        return self.head(len(self.body), keep_alive) + self.body

    def without_header(self, name: str) -> tuple[tuple[str, str], ...]:
        return tuple((key, value) for key, value in self.headers if key.lower() != name)


@dataclass(frozen=True)
class _Answer:
    response: _Response | None  # None: forwarded, but the engine gave no answer
    forwarded: bool
    from_token_memory: bool


@dataclass(frozen=True)
class _RememberedToken:
    parameters_digest: str
    response: _Response
    expires_at: float


class _BadRequest(Exception):
    """The client sent something this proxy does not parse."""


class _ClientConnection:
    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.number = number
        self.reader: BinaryIO = sock.makefile("rb")
        self.closed = False

    def send(self, data: bytes) -> bool:
        """Write ``data``; False when the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def close_cleanly(self) -> None:
        """Close with a FIN (an orderly shutdown)."""
        if self.closed:
            return
        with contextlib.suppress(OSError):  # already gone: closing is all that is left
            self.sock.shutdown(socket.SHUT_WR)
        self.close()

    def reset(self) -> None:
        """Close with a TCP RST: SO_LINGER on with a zero timeout discards the connection."""
        if self.closed:
            return
        with contextlib.suppress(OSError):  # already gone: closing is all that is left
            self.sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        self.close()

    def close(self) -> None:
        # The reader holds a reference to the socket: both must close to release it.
        self.closed = True
        self.reader.close()
        self.sock.close()


class FaultProxy:
    """A threaded HTTP/1.1 proxy on 127.0.0.1 that injects scripted faults (see the module
    docstring). Start it with ``start()`` or ``with``; call through ``url``."""

    def __init__(
        self,
        upstream: str,
        *,
        honour_tokens: bool = True,
        serialize: bool = False,
        upstream_timeout: float = UPSTREAM_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(upstream)
        if (
            parts.scheme != "http"
            or parts.hostname not in LOOPBACK_HOSTS
            or parts.port is None
        ):
            raise ValueError(
                f"the upstream must be an http://127.0.0.1:PORT engine, not {upstream!r}"
            )
        self.upstream = upstream
        self.honour_tokens = honour_tokens
        # Held around each forwarded exchange when serializing: one request at a time.
        self._engine_lock: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if serialize else contextlib.nullcontext()
        )
        self._upstream_address = (parts.hostname, parts.port)
        self._upstream_timeout = upstream_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._client_sockets: set[socket.socket] = set()
        self._upstream_sockets: set[socket.socket] = set()
        self._script: list[Injection] = []
        self._records: list[RequestRecord] = []
        self._errors: list[str] = []
        self._token_memory: dict[str, _RememberedToken] = {}
        self._tokens_in_flight: set[str] = set()
        self._answering = 0  # requests being forwarded or answered from token memory
        self._connection_count = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._listener is not None:
            raise RuntimeError("a proxy starts once")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(ACCEPT_POLL)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="fault-proxy-accept", daemon=True
        )
        self._accept_thread.start()

    def stop(self) -> None:
        """Close the listener and every socket the proxy holds; wait a little for its threads."""
        self._stopping.set()
        if self._listener is not None:
            _shut_down(self._listener)
            self._listener.close()
        with self._lock:
            sockets = [*self._client_sockets, *self._upstream_sockets]
            threads = list(self._threads)
        for sock in sockets:
            _shut_down(sock)
            sock.close()
        if self._accept_thread is not None:
            self._accept_thread.join(STOP_JOIN_TIMEOUT)
        for thread in threads:
            thread.join(STOP_JOIN_TIMEOUT)

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the proxy is not started")
        return self._port

    # --- the script --------------------------------------------------------------------------

    def inject(
        self,
        operation: str,
        fault: Fault,
        *,
        times: int | None = 1,
        skip: int = 0,
        delay: float | None = None,
        pause: float | None = None,
    ) -> Injection:
        """Script ``fault`` for requests of ``operation`` (``ANY_OPERATION`` for all): after
        ``skip`` matching requests pass, the next ``times`` ones get it (None: every one).
        ``delay`` (seconds) is required by, and only allowed for, ``Fault.DELAY``; ``pause``
        (seconds, default 0.05) only for ``Fault.STALE_CLOSE``. When several injections are
        due for a request, the earliest injected applies; each counts every matching request.
        """
        if (
            operation != ANY_OPERATION
            and operation not in _dynamodb_operations()
            and operation not in _sts_operations()
        ):
            raise ValueError(
                f"{operation!r} is not a DynamoDB or STS operation (nor ANY_OPERATION)"
            )
        if times is not None and times < 1:
            raise ValueError(
                f"times must be at least 1, or None for every request, not {times}"
            )
        if skip < 0:
            raise ValueError(f"skip must not be negative, not {skip}")
        if (fault is Fault.DELAY) != (delay is not None):
            raise ValueError(
                "delay= is required by Fault.DELAY and meaningless for other faults"
            )
        if pause is not None and fault is not Fault.STALE_CLOSE:
            raise ValueError("pause= is meaningful only for Fault.STALE_CLOSE")
        injection = Injection(
            operation=operation,
            fault=fault,
            times=times,
            skip=skip,
            delay=delay if delay is not None else 0.0,
            pause=pause if pause is not None else DEFAULT_STALE_PAUSE,
        )
        with self._lock:
            self._script.append(injection)
        return injection

    def unfired(self) -> list[Injection]:
        """Injections with a count that have not yet hit all their requests."""
        with self._lock:
            return [
                injection
                for injection in self._script
                if injection.times is not None and not injection.exhausted
            ]

    def reset(self) -> None:
        """Forget the script, the records, the errors and the token memory. Open connections
        stay open, and connection numbers keep counting."""
        with self._lock:
            self._script.clear()
            self._records.clear()
            self._errors.clear()
            self._token_memory.clear()

    # --- what happened -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request read in full so far, in arrival order."""
        with self._lock:
            return list(self._records)

    def forwarded(self, operation: str) -> int:
        """How many requests of ``operation`` went to the engine."""
        return sum(
            1
            for record in self.requests
            if record.operation == operation and record.forwarded
        )

    @property
    def connections(self) -> int:
        """How many client connections the proxy has accepted."""
        with self._lock:
            return self._connection_count

    @property
    def open_connections(self) -> int:
        """How many client connections the proxy holds open now."""
        with self._lock:
            return len(self._client_sockets)

    @property
    def answering(self) -> int:
        """How many requests the proxy is forwarding to the engine (or answering) now: a
        client that gave up may have left one the engine is still applying."""
        with self._lock:
            return self._answering

    @property
    def errors(self) -> list[str]:
        """Unexpected failures inside the proxy (engine unreachable, a bug): tests may assert
        this is empty. A client that disconnects is not an error."""
        with self._lock:
            return list(self._errors)

    # --- serving -----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # stop() closed the listener
            sock.settimeout(CLIENT_IDLE_TIMEOUT)
            with self._lock:
                if self._stopping.is_set():
                    sock.close()
                    return
                self._connection_count += 1
                connection = _ClientConnection(sock, self._connection_count)
                self._client_sockets.add(sock)
                thread = threading.Thread(
                    target=self._serve_connection,
                    args=(connection,),
                    name=f"fault-proxy-connection-{connection.number}",
                    daemon=True,
                )
                self._threads = [alive for alive in self._threads if alive.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve_connection(self, connection: _ClientConnection) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    request = _read_request(connection.reader)
                except _BadRequest as error:
                    connection.send(_bad_request(str(error)).encode(keep_alive=False))
                    connection.close_cleanly()
                    return
                if request is None:
                    return  # the client closed its connection
                if not self._serve_request(connection, request):
                    return
        except OSError:
            pass  # the client went away, timed out, or stop() shut the socket
        except Exception as error:
            # A bug in the proxy: keep serving other connections, and let tests see it. Say
            # where it happened, not its message: a message might quote the request's data.
            where = traceback.extract_tb(error.__traceback__)[-1]
            self._note_error(
                f"connection {connection.number}: {type(error).__name__} "
                f"in {where.name}, line {where.lineno}"
            )
        finally:
            connection.close()
            with self._lock:
                self._client_sockets.discard(connection.sock)

    def _serve_request(self, connection: _ClientConnection, request: _Request) -> bool:
        """Answer one request as the script says; False when the connection is done."""
        injection = self._choose_injection(request.operation)
        fault = injection.fault if injection is not None else None
        forwarded = False
        from_token_memory = False
        upstream_status: int | None = None
        response: _Response | None
        if fault is not None and not fault.forwards:
            if fault is Fault.TRANSACTION_CONFLICT:
                response = _transaction_conflict(request)
            else:
                response = _error_reply(fault) if fault in _ERROR_REPLIES else None
        else:
            answer = self._answer(request)
            forwarded = answer.forwarded
            from_token_memory = answer.from_token_memory
            if answer.response is None:
                response = _bad_gateway()
            else:
                upstream_status = answer.response.status if forwarded else None
                response = _after_fault_response(fault, answer.response)
        client_status: int | None = None
        if response is not None and fault not in (Fault.CLOSE_AFTER, Fault.RESET_AFTER):
            client_status = response.status
        self._record(
            connection=connection.number,
            request=request,
            fault=fault,
            forwarded=forwarded,
            upstream_status=upstream_status,
            from_token_memory=from_token_memory,
            client_status=client_status,
        )
        keep_alive = request.keep_alive
        match fault:
            case Fault.RESET_BEFORE | Fault.RESET_AFTER:
                connection.reset()
                return False
            case Fault.CLOSE_BEFORE | Fault.CLOSE_AFTER:
                connection.close_cleanly()
                return False
            case Fault.RESET_MID_BODY | Fault.TRUNCATE:
                assert response is not None
                half = len(response.body) // 2
                connection.send(
                    response.head(len(response.body), keep_alive) + response.body[:half]
                )
                if fault is Fault.RESET_MID_BODY:
                    connection.reset()
                else:
                    connection.close_cleanly()
                return False
            case Fault.DELAY:
                assert injection is not None and response is not None
                if self._stopping.wait(injection.delay):
                    return False
                return connection.send(response.encode(keep_alive)) and keep_alive
            case Fault.STALE_CLOSE:
                assert injection is not None and response is not None
                connection.send(response.encode(keep_alive))
                # Closed while idle, so the client's pooled connection is dead at its next use.
                self._stopping.wait(injection.pause)
                connection.close_cleanly()
                return False
            case _:
                assert response is not None
                return connection.send(response.encode(keep_alive)) and keep_alive

    def _choose_injection(self, operation: str) -> Injection | None:
        with self._lock:
            chosen: Injection | None = None
            for injection in self._script:
                if not injection.matches(operation):
                    continue
                injection.seen += 1
                if chosen is None and injection.due:
                    chosen = injection
            if chosen is not None:
                chosen.fired += 1
            return chosen

    def _answer(self, request: _Request) -> _Answer:
        """Forward ``request``, unless the token memory answers it."""
        with self._lock:
            self._answering += 1
        try:
            return self._answer_counted(request)
        finally:
            with self._lock:
                self._answering -= 1

    def _answer_counted(self, request: _Request) -> _Answer:
        token = _client_request_token(request) if self.honour_tokens else None
        if token is None:
            return _Answer(
                self._forward(request), forwarded=True, from_token_memory=False
            )
        digest = _parameters_digest(request.body)
        with self._lock:
            now = self._clock()
            remembered = self._token_memory.get(token)
            if remembered is not None and remembered.expires_at <= now:
                del self._token_memory[token]
                remembered = None
            if remembered is not None:
                if remembered.parameters_digest == digest:
                    return _Answer(
                        remembered.response, forwarded=False, from_token_memory=True
                    )
                return _Answer(
                    _idempotent_parameter_mismatch(),
                    forwarded=False,
                    from_token_memory=True,
                )
            if token in self._tokens_in_flight:
                return _Answer(
                    _transaction_in_progress(), forwarded=False, from_token_memory=True
                )
            self._tokens_in_flight.add(token)
        response = None
        try:
            response = self._forward(request)
            return _Answer(response, forwarded=True, from_token_memory=False)
        finally:
            with self._lock:
                self._tokens_in_flight.discard(token)
                if response is not None and 200 <= response.status < 300:
                    # The window starts when the first call completes, as DynamoDB documents.
                    self._token_memory[token] = _RememberedToken(
                        digest, response, self._clock() + TOKEN_LIFETIME
                    )

    def _forward(self, request: _Request) -> _Response | None:
        """Send the request to the engine on a fresh connection and read its whole answer;
        None when the engine gave none (then whether it applied the request is unknown)."""
        with self._engine_lock:
            return self._exchange(request)

    def _exchange(self, request: _Request) -> _Response | None:
        try:
            sock = socket.create_connection(
                self._upstream_address, timeout=self._upstream_timeout
            )
        except OSError as error:
            self._note_error(
                f"{request.operation}: cannot connect to the engine: {error}"
            )
            return None
        with self._lock:
            self._upstream_sockets.add(sock)
        upstream: http.client.HTTPResponse | None = None
        try:
            sock.sendall(request.raw)
            upstream = http.client.HTTPResponse(sock, method=request.method)
            upstream.begin()  # http.client reads Content-Length, chunked and to-close bodies
            body = upstream.read()
            return _Response(
                upstream.status, upstream.reason, tuple(upstream.msg.items()), body
            )
        except (OSError, http.client.HTTPException) as error:
            self._note_error(
                f"{request.operation}: forwarded, but no answer from the engine: {type(error).__name__}"
            )
            return None
        finally:
            if upstream is not None:
                upstream.close()
            sock.close()
            with self._lock:
                self._upstream_sockets.discard(sock)

    def _record(
        self,
        *,
        connection: int,
        request: _Request,
        fault: Fault | None,
        forwarded: bool,
        upstream_status: int | None,
        from_token_memory: bool,
        client_status: int | None,
    ) -> None:
        with self._lock:
            self._records.append(
                RequestRecord(
                    number=len(self._records) + 1,
                    connection=connection,
                    operation=request.operation,
                    body=request.body,
                    fault=fault,
                    forwarded=forwarded,
                    upstream_status=upstream_status,
                    from_token_memory=from_token_memory,
                    client_status=client_status,
                )
            )

    def _note_error(self, description: str) -> None:
        with self._lock:
            self._errors.append(description)


# --- HTTP parsing ----------------------------------------------------------------------------


def _read_request(reader: BinaryIO) -> _Request | None:
    """Read one whole request; None when the client closed the connection between requests."""
    request_line = reader.readline(MAX_LINE + 1)
    if not request_line:
        return None
    if len(request_line) > MAX_LINE or not request_line.endswith(b"\n"):
        raise _BadRequest("request line too long or cut short")
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest("malformed request line")
    method, _target, version = parts
    raw = bytearray(request_line)
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise _BadRequest("header line too long or cut short")
        raw += line
        if line in (b"\r\n", b"\n"):
            break
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise _BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequest(
            "chunked request bodies are not supported (DynamoDB clients send Content-Length)"
        )
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _BadRequest("malformed Content-Length") from None
    if not 0 <= length <= MAX_BODY:
        raise _BadRequest("Content-Length out of range")
    body = reader.read(length)
    if len(body) != length:
        raise _BadRequest("body cut short")
    raw += body
    connection_tokens = headers.get("connection", "").lower()
    keep_alive = (
        "close" not in connection_tokens
        if version == "HTTP/1.1"
        else "keep-alive" in connection_tokens
    )
    target = headers.get("x-amz-target", "")
    operation = target.rpartition(".")[2]
    if not target and headers.get("content-type", "").startswith(FORM):
        operation = _form_action(body)
    return _Request(
        raw=bytes(raw),
        method=method,
        operation=operation,
        body=_parse_json(body),
        keep_alive=keep_alive,
    )


def _form_action(body: bytes) -> str:
    """The ``Action`` of a query-protocol request (STS); the rest of the form (an external
    ID, say) is not kept."""
    for field in body.split(b"&"):
        name, _, value = field.partition(b"=")
        if name == b"Action":
            return value.decode("ascii", "replace")
    return ""


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _shut_down(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` (close alone does not)."""
    with contextlib.suppress(OSError):  # not connected, or already closed
        sock.shutdown(socket.SHUT_RDWR)


@functools.cache
def _sts_operations() -> frozenset[str]:
    import botocore.loaders

    model = botocore.loaders.create_loader().load_service_model("sts", "service-2")
    return frozenset(model["operations"])


@functools.cache
def _dynamodb_operations() -> frozenset[str]:
    import botocore.loaders

    model = botocore.loaders.create_loader().load_service_model("dynamodb", "service-2")
    return frozenset(model["operations"])


# --- responses the proxy makes itself --------------------------------------------------------


def _json_response(status: int, payload: dict[str, str]) -> _Response:
    body = json.dumps(payload).encode()
    headers = (
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", uuid.uuid4().hex),
        (CRC32_HEADER, str(zlib.crc32(body))),
    )
    return _Response(status, http.HTTPStatus(status).phrase, headers, body)


def _dynamodb_error(status: int, error_type: str, message: str) -> _Response:
    return _json_response(
        status, {"__type": ERROR_TYPE_PREFIX + error_type, "message": message}
    )


def _error_reply(fault: Fault) -> _Response:
    status, error_type, message = _ERROR_REPLIES[fault]
    return _dynamodb_error(status, error_type, message)


def _transaction_conflict(request: _Request) -> _Response:
    """A transaction cancelled because another request held its items: one reason per
    action, as DynamoDB lists them."""
    body = request.body if isinstance(request.body, dict) else {}
    actions = len(body.get("TransactItems", []))
    conflict = {
        "Code": "TransactionConflict",
        "Message": "Transaction is ongoing for the item",
    }
    body = json.dumps(
        {
            "__type": ERROR_TYPE_PREFIX + "TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for"
            " specific reasons [TransactionConflict] (injected)",
            "CancellationReasons": [conflict] * max(actions, 1),
        }
    ).encode()
    headers = (
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", uuid.uuid4().hex),
        (CRC32_HEADER, str(zlib.crc32(body))),
    )
    return _Response(400, http.HTTPStatus(400).phrase, headers, body)


def _idempotent_parameter_mismatch() -> _Response:
    return _dynamodb_error(
        400,
        "IdempotentParameterMismatchException",
        "The ClientRequestToken was already used with different parameters (fault proxy token memory)",
    )


def _transaction_in_progress() -> _Response:
    return _dynamodb_error(
        400,
        "TransactionInProgressException",
        "The transaction with the given request token is already in progress (fault proxy token memory)",
    )


def _bad_gateway() -> _Response:
    return _json_response(
        502, {"message": "the fault proxy got no answer from the engine"}
    )


def _bad_request(reason: str) -> _Response:
    return _json_response(
        400, {"message": f"the fault proxy could not parse the request: {reason}"}
    )


def _after_fault_response(fault: Fault | None, response: _Response) -> _Response:
    """The response a forwarding fault makes of the engine's (or remembered) response."""
    match fault:
        case Fault.ERROR_500_AFTER:
            return _error_reply(fault)
        case Fault.TRUNCATED_JSON:
            # No checksum, so a client that trusts the framing parses a broken body.
            return _Response(
                response.status,
                response.reason,
                response.without_header(CRC32_HEADER),
                response.body[: len(response.body) // 2],
            )
        case Fault.BAD_CRC:
            wrong_crc = zlib.crc32(response.body) ^ 1
            headers = (
                *response.without_header(CRC32_HEADER),
                (CRC32_HEADER, str(wrong_crc)),
            )
            return _Response(response.status, response.reason, headers, response.body)
        case _:
            return response


# --- ClientRequestToken memory ---------------------------------------------------------------


def _client_request_token(request: _Request) -> str | None:
    if request.operation != TRANSACT_WRITE_ITEMS or not isinstance(request.body, dict):
        return None
    token = request.body.get("ClientRequestToken")
    return token if isinstance(token, str) and token else None


def _parameters_digest(body: Any) -> str:
    """A digest of the request's parameters, blind to key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
