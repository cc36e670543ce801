"""Partners' accounts: a client per (partner, region), with the partner's assumed-role
credentials, made on first use and reused across invocations.

``Accounts`` keeps, per partner, the credentials of its role (``role_credentials.py`` over an
STS client, ``sts.py``, on the fast transport; botocore's refreshable credentials on the
botocore transport), and per (partner, region) a DynamoDB client signing with them. At most
``max_connections`` clients are kept: the least recently used is closed (its idle sockets) when
another is needed. A partner that was removed from the registry, or replaced by a new
definition, is noticed at its next call: what was kept for it is dropped and closed. When
DynamoDB answers that a partner's credentials have expired (``CredentialsExpired``), its
credentials and clients are dropped too, so the next call assumes the role again.

``PartnerConnection`` is the ``Connection`` a partner table is made with. Its ``client`` is
resolved at every request: the client of its fixed partner, or of the partner bound to the
context (``with accounts.partner("acme")``, through ``context.py``, so correct across threads
and asyncio). A partner table called with no partner bound raises ``PartnerRequired``: it
never falls back to the function's own account.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dynamorm_gen.runtime import client as clients
from dynamorm_gen.runtime import context
from dynamorm_gen.runtime.client import Client
from dynamorm_gen.runtime.errors import ConfigurationError, PartnerRequired
from dynamorm_gen.runtime.partners import Partner, PartnerRegistry
from dynamorm_gen.runtime.retry import RetryPolicy
from dynamorm_gen.runtime.table import Connection

STS_ENDPOINT_ENV = "DYNAMORM_STS_ENDPOINT_URL"
MAX_CONNECTIONS = 32

# Every Accounts of the process, for forget_all() (tests reset their engine between tests).
_every: weakref.WeakSet[Accounts] = weakref.WeakSet()


def forget_all() -> None:
    """Make every ``Accounts`` of the process drop its partners' credentials and clients,
    so that each partner's role is assumed again: for tests, after resetting a local engine
    that forgot the roles it had issued (moto then answers in its default account)."""
    for accounts in list(_every):
        accounts.forget()


class Accounts:
    """The clients of partners' accounts (see the module docstring). Thread-safe.

    ``transport`` is ``"fast"`` or ``"botocore"``; ``endpoint_url`` is DynamoDB's (None:
    AWS's), ``sts_endpoint_url`` STS's (None: ``DYNAMORM_STS_ENDPOINT_URL``, else AWS's in
    the partner's region). ``region`` is the region of partners that name none. The timeouts,
    attempts and pool size are each client's, as for the function's own. ``clock`` (seconds
    since the epoch) decides when credentials are refreshed; injected in tests.
    """

    def __init__(
        self,
        partners: PartnerRegistry,
        *,
        transport: str = "fast",
        region: str | None = None,
        endpoint_url: str | None = None,
        sts_endpoint_url: str | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        max_attempts: int = 4,
        max_idle_connections: int = 16,
        max_connections: int = MAX_CONNECTIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if transport not in clients.TRANSPORTS:
            raise ConfigurationError(
                f"unknown transport {transport!r} (expected one of"
                f" {', '.join(clients.TRANSPORTS)})"
            )
        if type(max_connections) is not int or max_connections < 1:
            raise ConfigurationError("max_connections must be an integer of at least 1")
        self.partners = partners
        self.transport = transport
        self.region = region
        self.endpoint_url = endpoint_url
        self.sts_endpoint_url = (
            sts_endpoint_url or os.environ.get(STS_ENDPOINT_ENV) or None
        )
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.max_idle_connections = max_idle_connections
        self.max_connections = max_connections
        self.clock = clock
        # partner id -> (the definition they were made for, the credentials, their STS client)
        self._credentials: dict[str, tuple[Partner, Any, Client | None]] = {}
        # (partner id, region) -> (the definition it was made for, the client)
        self._clients: OrderedDict[tuple[str, str | None], tuple[Partner, Client]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        _every.add(self)

    def __repr__(self) -> str:
        return (
            f"Accounts({self.transport}, {len(self.partners)} partners,"
            f" {len(self._clients)} of {self.max_connections} connections)"
        )

    # --- the partner of the running context --------------------------------------------------

    @contextmanager
    def partner(self, partner_id: str) -> Iterator[Partner]:
        """Bind ``partner_id`` to the calls made inside the block (partner tables resolve to
        its account); UnknownPartner, before binding, if the registry has no such partner."""
        found = self.partners.get(partner_id)
        with context.bind_partner(partner_id):
            yield found

    def connection(
        self, partner: str | None = None, *, region: str | None = None
    ) -> PartnerConnection:
        """A connection for partner tables: to ``partner``'s account, or (None) to the
        account of the partner bound to the context at each request. ``region`` overrides
        the partner's."""
        if partner is not None:
            self.partners.get(partner)  # UnknownPartner now, not at the first request
        return PartnerConnection(self, partner, region)

    # --- clients ------------------------------------------------------------------------------

    def client(self, partner_id: str, region: str | None = None) -> Client:
        """The client of ``partner_id``'s account in ``region`` (None: the partner's), made
        on first use; UnknownPartner if the registry has no such partner."""
        partner = self.partners.get(partner_id)
        region = region or partner.region or self.region
        key = (partner_id, region)
        with self._lock:
            found = self._clients.get(key)
            if found is not None and found[0] is partner:
                self._clients.move_to_end(key)
                return found[1]
            if found is not None or self._stale_credentials(partner):
                self._drop(partner_id)  # replaced in the registry since
            made = self._make_client(partner, region)
            self._clients[key] = (partner, made)
            while len(self._clients) > self.max_connections:
                _, (_, evicted) = self._clients.popitem(last=False)
                evicted.close()
        return made

    def _stale_credentials(self, partner: Partner) -> bool:
        found = self._credentials.get(partner.id)
        return found is not None and found[0] is not partner

    def _make_client(self, partner: Partner, region: str | None) -> Client:
        """A DynamoDB client for ``partner``'s account; called holding the lock."""
        kept = self._credentials.get(partner.id)
        credentials = kept[1] if kept is not None else self._make_credentials(partner)
        made = clients.create(
            region,
            self.endpoint_url,
            None,
            self.transport,
            credentials=credentials,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_attempts=self.max_attempts,
            max_pool_connections=self.max_idle_connections,
            partner=partner.id,
        )
        made.on_credentials_expired = self._expired
        return made

    def _make_credentials(self, partner: Partner) -> Any:
        """The refreshing credentials of ``partner``'s role; called holding the lock.
        Nothing is sent: the role is assumed by the first request that signs with them."""
        if self.transport == "botocore":
            from dynamorm_gen.runtime.botocore_transport import assume_role_credentials

            credentials = assume_role_credentials(
                partner,
                region=self.region,
                sts_endpoint_url=self.sts_endpoint_url,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                max_attempts=self.max_attempts,
                clock=None if self.clock is time.time else self.clock,
            )
            self._credentials[partner.id] = (partner, credentials, None)
            return credentials
        from dynamorm_gen.runtime import sts
        from dynamorm_gen.runtime.role_credentials import (
            RoleCredentials,
            refresh_windows,
        )

        sts_client = Client(
            sts.StsTransport(
                partner.region or self.region,
                self.sts_endpoint_url,
                partner.source_credentials,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
            ),
            RetryPolicy(max_attempts=self.max_attempts),
            service="sts",
            partner=partner.id,
        )
        advisory, mandatory = refresh_windows(partner.duration_seconds)
        role = RoleCredentials(
            partner.id,
            lambda: sts.assume_role(sts_client, partner),
            advisory=advisory,
            mandatory=mandatory,
            clock=self.clock,
        )
        self._credentials[partner.id] = (partner, role, sts_client)
        return role

    def credentials(self, partner_id: str) -> Any:
        """The credentials kept for ``partner_id`` (a ``RoleCredentials`` on the fast
        transport, botocore's on the botocore transport), or None before its first client."""
        found = self._credentials.get(partner_id)
        return None if found is None else found[1]

    def _expired(self, client: Client) -> None:
        """DynamoDB said ``client``'s credentials had expired: drop its partner's
        credentials and clients (if nobody did already), so the next call assumes again."""
        partner_id = client.partner
        if partner_id is None:
            return
        with self._lock:
            if any(kept is client for _, kept in self._clients.values()):
                self._drop(partner_id)

    # --- forgetting ---------------------------------------------------------------------------

    def _drop(self, partner_id: str) -> None:
        """Forget and close what is kept for ``partner_id``; called holding the lock."""
        for key in [key for key in self._clients if key[0] == partner_id]:
            self._clients.pop(key)[1].close()
        kept = self._credentials.pop(partner_id, None)
        if kept is not None and kept[2] is not None:
            kept[2].close()

    def remove(self, partner_id: str) -> Partner:
        """Remove ``partner_id`` from the registry, and drop (closing their sockets) its
        clients and credentials. Its tables then raise UnknownPartner."""
        removed = self.partners.remove(partner_id)
        with self._lock:
            self._drop(partner_id)
        return removed

    def forget(self) -> None:
        """Drop every partner's credentials and clients (closing their sockets); each
        partner's role is assumed again at its next call."""
        with self._lock:
            for partner_id in {key[0] for key in self._clients} | set(
                self._credentials
            ):
                self._drop(partner_id)


class PartnerConnection(Connection):
    """The connection of partner tables: each request goes to the account of ``partner``,
    or, when it is None, of the partner bound to the context when the request is sent
    (``PartnerRequired`` when none is). ``region`` overrides the partner's region."""

    __slots__ = ("accounts", "partner")

    def __init__(
        self, accounts: Accounts, partner: str | None, region: str | None = None
    ) -> None:
        super().__init__(region=region, transport=accounts.transport)
        self.accounts = accounts
        self.partner = partner

    def current(self) -> Partner:
        """The partner requests go to now (UnknownPartner, PartnerRequired)."""
        return self.accounts.partners.get(self.partner_id())

    def current_partner(self) -> Partner:
        return self.current()

    def partner_id(self) -> str:
        """The partner requests go to now: the fixed one, else the context's
        (PartnerRequired when none is bound)."""
        partner = self.partner or context.current().partner
        if partner is None:
            raise PartnerRequired(
                "this table is a partner table, and no partner is bound: call it inside"
                " `with db.partner(partner_id):` (it never falls back to the function's"
                " own account)"
            )
        return partner

    @property
    def client(self) -> Client:
        return self.accounts.client(self.partner_id(), self.region)

    def __repr__(self) -> str:
        which = self.partner if self.partner is not None else "the context's partner"
        return f"PartnerConnection({which}, region {self.region})"
