"""Lambda support: a database handle made at init, deadlines per invocation, tuning by memory.

    from dynamorm_gen.runtime.aws_lambda import LambdaDatabase
    from generated_examples.payment import PaymentsTable

    db = LambdaDatabase(prewarm=True)      # init phase: environment read, connection opened
    payments = db.table(PaymentsTable)     # one per table, made once, reused by every call

    @db.handler
    def handler(event, context):           # each call runs under context's deadline
        ...

Nothing here inspects models: tables are the generated classes, made once at init. The fast
transport is the default (no botocore import); ``DYNAMORM_TRANSPORT`` or ``transport=`` pick
botocore instead, which is what moto's in-process mock intercepts.

Partners' accounts (``partners.py``, ``accounts.py``): a table made with ``partner_table`` sends
each request to the account of the partner bound at that moment::

    db = LambdaDatabase()                          # partners from $DYNAMORM_PARTNERS_FILE
    partner_payments = db.partner_table(PaymentsTable)

    @db.handler
    def handler(event, context):
        with db.partner(event["partner_id"]):      # UnknownPartner if not registered
            partner_payments.put_payment(...)      # AssumeRole on first use, then cached
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dynamorm_gen.runtime import audit, hooks, tenants
from dynamorm_gen.runtime import client as clients
from dynamorm_gen.runtime.client import TRANSPORT_ENV, Client
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.sigv4 import Credentials
from dynamorm_gen.runtime.table import ENDPOINT_ENV, Connection

if TYPE_CHECKING:
    # Imported when partners are first used: a function without them never loads them.
    from dynamorm_gen.runtime.accounts import Accounts, PartnerConnection
    from dynamorm_gen.runtime.partners import Partner, PartnerRegistry

T = TypeVar("T")
R = TypeVar("R")
CredentialsSource = Credentials | Callable[[], Credentials]

# Partners' clients kept at most (accounts.MAX_CONNECTIONS).
MAX_PARTNER_CONNECTIONS = 32

# Lambda gives a function one full vCPU at 1,769 MB and CPU in proportion to memory below it.
FULL_VCPU_MB = 1769


class LambdaContext(Protocol):
    """The parts of Lambda's context object used here."""

    def get_remaining_time_in_millis(self) -> int: ...


class LambdaEnvironment:
    """What the Lambda runtime tells a function about itself through its environment."""

    __slots__ = (
        "function_name",
        "function_version",
        "initialization_type",
        "log_group",
        "memory_mb",
        "region",
    )

    def __init__(
        self,
        *,
        function_name: str | None = None,
        function_version: str | None = None,
        memory_mb: int | None = None,
        region: str | None = None,
        initialization_type: str | None = None,
        log_group: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.memory_mb = memory_mb
        self.region = region
        self.initialization_type = initialization_type
        self.log_group = log_group

    @property
    def in_lambda(self) -> bool:
        return self.function_name is not None

    def __repr__(self) -> str:
        if not self.in_lambda:
            return f"LambdaEnvironment(not in Lambda, region={self.region})"
        return (
            f"LambdaEnvironment({self.function_name}:{self.function_version},"
            f" {self.memory_mb} MB, {self.region}, {self.initialization_type})"
        )


def detect(environ: Mapping[str, str] | None = None) -> LambdaEnvironment:
    """Read the Lambda runtime's variables (``os.environ`` unless ``environ`` is given)."""
    env = os.environ if environ is None else environ
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return LambdaEnvironment(
        function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or None,
        function_version=env.get("AWS_LAMBDA_FUNCTION_VERSION") or None,
        memory_mb=int(memory) if memory.isdigit() else None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        initialization_type=env.get("AWS_LAMBDA_INITIALIZATION_TYPE") or None,
        log_group=env.get("AWS_LAMBDA_LOG_GROUP_NAME") or None,
    )


class Tuning:
    """Client settings for the function's size (see ``for_memory``); every field can be given.

    ``safety_margin`` (seconds) is kept back from the invocation's remaining time: DynamoDB
    calls stop that long before Lambda would end the invocation, to leave time to record
    what was done and return it. ``max_idle_connections`` bounds the kept-alive pool (more
    only help threads that overlap).
    """

    __slots__ = (
        "connect_timeout",
        "max_idle_connections",
        "max_retries",
        "read_timeout",
        "safety_margin",
    )

    def __init__(
        self,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        max_idle_connections: int = 16,
        max_retries: int = 3,
        safety_margin: float = 0.2,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle_connections = max_idle_connections
        self.max_retries = max_retries
        self.safety_margin = safety_margin

    @classmethod
    def for_memory(cls, memory_mb: int | None) -> Tuning:
        """Settings for a function with ``memory_mb`` (None: not in Lambda, the defaults).

        Less memory means a smaller share of a vCPU: TLS handshakes, signing and JSON take
        longer, so timeouts and the safety margin grow; threads gain little, so the pool
        shrinks. From one full vCPU (1,769 MB) up, connections are quick and threads can
        overlap.
        """
        if memory_mb is None:
            return cls()
        if memory_mb < 512:
            return cls(
                connect_timeout=3.0,
                read_timeout=5.0,
                max_idle_connections=2,
                safety_margin=0.5,
            )
        if memory_mb < FULL_VCPU_MB:
            return cls(
                connect_timeout=2.0,
                read_timeout=5.0,
                max_idle_connections=4,
                safety_margin=0.3,
            )
        return cls(
            connect_timeout=1.0,
            read_timeout=5.0,
            max_idle_connections=16,
            safety_margin=0.2,
        )

    def replace(
        self,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_idle_connections: int | None = None,
        max_retries: int | None = None,
        safety_margin: float | None = None,
    ) -> Tuning:
        """A copy with the given fields changed: ``Tuning.for_memory(mb).replace(...)``
        keeps the memory-based values of the fields it does not name."""

        def pick(new: Any, old: Any) -> Any:
            return old if new is None else new

        return Tuning(
            connect_timeout=pick(connect_timeout, self.connect_timeout),
            read_timeout=pick(read_timeout, self.read_timeout),
            max_idle_connections=pick(max_idle_connections, self.max_idle_connections),
            max_retries=pick(max_retries, self.max_retries),
            safety_margin=pick(safety_margin, self.safety_margin),
        )

    def __repr__(self) -> str:
        return (
            f"Tuning(connect {self.connect_timeout}s, read {self.read_timeout}s,"
            f" pool {self.max_idle_connections}, retries {self.max_retries},"
            f" margin {self.safety_margin}s)"
        )


class Invocation:
    """One handler call: its deadline and the capacity its requests consumed so far."""

    __slots__ = ("capacity", "context", "deadline")

    def __init__(
        self,
        context: object,
        deadline: Deadline | None,
        capacity: hooks.CapacityMeter,
    ) -> None:
        self.context = context
        self.deadline = deadline
        self.capacity = capacity

    def remaining(self) -> float | None:
        """Seconds left for DynamoDB calls (after the margin); None without a deadline."""
        return None if self.deadline is None else self.deadline.remaining()


class LambdaDatabase:
    """The database handle of one Lambda function: create it at module level (init phase).

    It holds one client per (account, region), tuned for the function's memory, shared by
    every table it makes; registers a ``CapacityMeter`` (and the ``observers`` given) for the
    process; and binds each invocation's deadline (``handler``, ``invocation``). ``prewarm``
    opens the connection during init. ``xray`` adds the X-Ray hook; by default (None) it is
    added when aws-xray-sdk is installed and the function has active tracing on.

    ``partners`` (default: ``PartnerRegistry.from_env()``, empty when no partner variable is
    set) are the partners whose accounts ``partner_table`` tables reach, through ``accounts``
    (an ``Accounts``: at most ``max_partner_connections`` clients, STS at
    ``sts_endpoint_url``, else ``DYNAMORM_STS_ENDPOINT_URL``, else AWS's).
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        transport: str | None = None,
        environment: LambdaEnvironment | None = None,
        tuning: Tuning | None = None,
        prices: hooks.PriceTable | None = None,
        observers: tuple[hooks.Hook, ...] = (),
        prewarm: bool = False,
        xray: bool | None = None,
        partners: PartnerRegistry | None = None,
        sts_endpoint_url: str | None = None,
        max_partner_connections: int = MAX_PARTNER_CONNECTIONS,
    ) -> None:
        self.environment = environment or detect()
        self.tuning = tuning or Tuning.for_memory(self.environment.memory_mb)
        self.region = region or self.environment.region
        self.endpoint_url = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
        self.transport = transport or os.environ.get(TRANSPORT_ENV) or "fast"
        self.capacity = hooks.CapacityMeter(prices)
        if xray is None:
            # Lambda sets the daemon address only for functions with active tracing.
            xray = (
                self.environment.in_lambda
                and bool(os.environ.get("AWS_XRAY_DAEMON_ADDRESS"))
                and hooks.XRay.available()
            )
        if xray:
            observers = (*observers, hooks.XRay())
        self._observers = (self.capacity, *observers)
        self._connections: dict[tuple[str | None, str | None], Connection] = {}
        self._account_credentials: dict[str, CredentialsSource] = {}
        self._lock = threading.Lock()
        self._partners = partners
        self._sts_endpoint_url = sts_endpoint_url
        self._max_partner_connections = max_partner_connections
        self._accounts: Accounts | None = None
        for observer in self._observers:
            hooks.add_hook(observer)
        if prewarm:
            self.prewarm()

    def connection(
        self,
        region: str | None = None,
        *,
        account: str | None = None,
        credentials: CredentialsSource | None = None,
    ) -> Connection:
        """The connection for ``region`` (the function's by default) in ``account`` (None:
        the function's own credentials), made on first use and reused after.

        Another account's first connection needs ``credentials``: a ``Credentials`` value,
        or a function returning fresh ones (e.g. from STS AssumeRole), which is called for
        every request and should cache until shortly before they expire.
        """
        region = region or self.region
        key = (account, region)
        found = self._connections.get(key)
        if found is not None:
            return found
        with self._lock:
            found = self._connections.get(key)
            if found is None:
                if account is not None and credentials is None:
                    credentials = self._account_credentials.get(account)
                    if credentials is None:
                        raise ConfigurationError(
                            f"no credentials for account {account}: pass credentials= the"
                            " first time a connection to it is asked for"
                        )
                if account is not None and credentials is not None:
                    self._account_credentials[account] = credentials
                found = Connection(
                    region=region,
                    endpoint_url=self.endpoint_url,
                    client=self._client(region, credentials),
                    transport=self.transport,
                )
                self._connections[key] = found
        return found

    def _client(
        self, region: str | None, credentials: CredentialsSource | None
    ) -> Client:
        t = self.tuning
        return clients.create(
            region,
            self.endpoint_url,
            None,
            self.transport,
            credentials=credentials,
            connect_timeout=t.connect_timeout,
            read_timeout=t.read_timeout,
            max_attempts=t.max_retries + 1,
            max_pool_connections=t.max_idle_connections,
        )

    def table(
        self,
        table_class: Callable[..., T],
        *,
        name: str | None = None,
        region: str | None = None,
        account: str | None = None,
        credentials: CredentialsSource | None = None,
    ) -> T:
        """A generated table class (e.g. ``PaymentsTable``) bound to this handle's connection
        for ``region`` and ``account`` (see ``connection``)."""
        connection = self.connection(region, account=account, credentials=credentials)
        return table_class(connection, name=name)

    @property
    def accounts(self) -> Accounts:
        """The partners' clients and credentials, made when partners are first used (the
        registry read from the environment then, unless ``partners`` was given)."""
        if self._accounts is None:
            with self._lock:
                if self._accounts is None:
                    self._accounts = self._make_accounts()
        return self._accounts

    def _make_accounts(self) -> Accounts:
        from dynamorm_gen.runtime.accounts import Accounts
        from dynamorm_gen.runtime.partners import PartnerRegistry

        t = self.tuning
        partners = self._partners
        return Accounts(
            PartnerRegistry.from_env() if partners is None else partners,
            transport=self.transport,
            region=self.region,
            endpoint_url=self.endpoint_url,
            sts_endpoint_url=self._sts_endpoint_url,
            connect_timeout=t.connect_timeout,
            read_timeout=t.read_timeout,
            max_attempts=t.max_retries + 1,
            max_idle_connections=t.max_idle_connections,
            max_connections=self._max_partner_connections,
        )

    @property
    def partners(self) -> PartnerRegistry:
        return self.accounts.partners

    def partner(self, partner_id: str) -> AbstractContextManager[Partner]:
        """``with db.partner("acme"):`` binds the partner to the calls made inside the block:
        ``partner_table`` tables send them to its account, hooks and logs see its id.
        UnknownPartner, before anything is bound, if it is not registered."""
        return self.accounts.partner(partner_id)

    def tenant(self, tenant_id: str) -> AbstractContextManager[str]:
        """``with db.tenant("m-1"):`` binds the tenant to the calls made inside the block:
        the methods of tenant entities read and write only its items (``tenants.tenant``).
        InvalidTenant, before anything is bound, for an id that cannot be one."""
        return tenants.tenant(tenant_id)

    def actor(self, actor_id: str) -> AbstractContextManager[str]:
        """``with db.actor("user-1"):`` names who the calls made inside the block act for:
        the audit records of audited entities' writes hold it (``audit.actor``).
        InvalidActor, before anything is bound, unless it is a non-empty str of at most
        256 characters."""
        return audit.actor(actor_id)

    def partner_connection(
        self, partner: str | None = None, *, region: str | None = None
    ) -> PartnerConnection:
        """The connection of partner tables (see ``partner_table``)."""
        return self.accounts.connection(partner, region=region)

    def partner_table(
        self,
        table_class: Callable[..., T],
        *,
        partner: str | None = None,
        name: str | None = None,
        region: str | None = None,
    ) -> T:
        """A generated table class bound to partners' accounts: each request goes to the
        account of ``partner``, or (None, the usual case) of the partner bound with
        ``db.partner(...)`` when it is sent; ``PartnerRequired`` when none is bound. The
        table is in the partner's region unless ``region`` is given; ``name`` as for
        ``table``. Made once at init, like any table."""
        return table_class(self.partner_connection(partner, region=region), name=name)

    def remove_partner(self, partner_id: str) -> Partner:
        """Remove a partner: from the registry, and its clients (sockets closed) and
        credentials. Its tables then raise UnknownPartner."""
        return self.accounts.remove(partner_id)

    def prewarm(self) -> None:
        """Open the TLS connection of every region used so far (the function's if none), so
        that the first invocation does not wait for the handshakes. Only the fast transport
        keeps a connection it can open ahead; with botocore the client is made."""
        if not self._connections:
            self.connection()
        for connection in list(self._connections.values()):
            connection.client.prewarm()

    @contextmanager
    def invocation(self, context: object = None) -> Iterator[Invocation]:
        """Bind ``context``'s deadline (remaining time less the safety margin) to the calls
        made inside the block, and start counting capacity afresh. A context without
        ``get_remaining_time_in_millis`` (a local run) sets no deadline."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        deadline = None
        if remaining is not None:
            deadline = Deadline.after(remaining() / 1000, self.tuning.safety_margin)
        self.capacity.reset()
        with bind(deadline):
            yield Invocation(context, deadline, self.capacity)

    def handler(self, function: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]:
        """Decorate a Lambda handler so that each call runs inside ``invocation(context)``."""

        @functools.wraps(function)
        def run(event: Any, context: Any) -> R:
            with self.invocation(context):
                return function(event, context)

        return run

    def close(self) -> None:
        """Unregister this handle's hooks, close idle connections and drop partners'
        credentials (tests; a Lambda keeps its handle for life)."""
        for observer in self._observers:
            hooks.remove_hook(observer)
        for connection in self._connections.values():
            connection.client.close()
        if self._accounts is not None:
            self._accounts.forget()
