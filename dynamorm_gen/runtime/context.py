"""What the calls made in the running context share without being handed it.

One immutable ``CallContext`` per context, carried by a ``contextvars.ContextVar``, holds the
per-invocation state: the deadline (``deadline.py``), the partner whose account partner
tables resolve to (``accounts.py``), the tenant whose items the methods of tenant entities
read and write (``tenants.py``) and the actor that audit records name (``audit.py``). A ContextVar is what makes this correct across threads and
asyncio: every asyncio task starts with a copy of its creator's context, and a plain thread
starts with an empty one (no deadline, no partner, no tenant, no actor), never with another thread's.

Binding returns to the previous value at the end of the ``with`` block, so bindings nest.
There are no process-wide values here: the only fallback is the empty context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dynamorm_gen.runtime.deadline import Deadline


# A tenant id: 1 to 128 ASCII letters, digits, '_', '.' and '-'. Key templates follow the
# tenant with a character outside these (the compiler checks it, DG220), so the tenant's part
# of a key ends there and no id can reach into another tenant's keys.
TENANT_ID_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
)
MAX_TENANT_ID = 128
MAX_ACTOR = 256


class CallContext:
    """The per-invocation state bound to a context; immutable (bind a changed copy)."""

    __slots__ = ("actor", "deadline", "partner", "tenant")

    deadline: Deadline | None
    partner: str | None
    tenant: str | None
    actor: str | None

    def __init__(
        self,
        deadline: Deadline | None = None,
        partner: str | None = None,
        tenant: str | None = None,
        actor: str | None = None,
    ) -> None:
        object.__setattr__(self, "deadline", deadline)
        object.__setattr__(self, "partner", partner)
        object.__setattr__(self, "tenant", tenant)
        object.__setattr__(self, "actor", actor)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a CallContext cannot be changed: bind a new one")

    def __repr__(self) -> str:
        return (
            f"CallContext(deadline={self.deadline!r}, partner={self.partner!r},"
            f" tenant={self.tenant!r}, actor={'<bound>' if self.actor else None})"
        )


EMPTY = CallContext()
_current: ContextVar[CallContext] = ContextVar("dynamorm_context", default=EMPTY)


def current() -> CallContext:
    """The state bound to the running context (``EMPTY`` when nothing is bound)."""
    return _current.get()


@contextmanager
def bind_deadline(deadline: Deadline | None) -> Iterator[Deadline | None]:
    """Bind ``deadline`` (None: no deadline) for the calls made inside the block."""
    found = _current.get()
    token = _current.set(
        CallContext(deadline, found.partner, found.tenant, found.actor)
    )
    try:
        yield deadline
    finally:
        _current.reset(token)


@contextmanager
def bind_partner(partner: str | None) -> Iterator[str | None]:
    """Bind the partner id ``partner`` (None: no partner) for the calls made inside the
    block. Nothing checks the id here; ``LambdaDatabase.partner`` and ``Accounts.partner``
    refuse an unknown one before binding it."""
    found = _current.get()
    token = _current.set(
        CallContext(found.deadline, partner, found.tenant, found.actor)
    )
    try:
        yield partner
    finally:
        _current.reset(token)


@contextmanager
def bind_tenant(tenant: str | None) -> Iterator[str | None]:
    """Bind the tenant id ``tenant`` (None: no tenant) for the calls made inside the block.

    The id is checked first (``InvalidTenant``, naming no value): a str of 1 to 128 ASCII
    letters, digits, ``_``, ``.`` and ``-``. The generated methods of tenant entities rely on it: the
    character that follows the tenant in their keys is never one of these.
    """
    if tenant is not None and not is_tenant_id(tenant):
        from dynamorm_gen.runtime.errors import InvalidTenant

        raise InvalidTenant(
            f"a tenant id is a str of 1 to {MAX_TENANT_ID} ASCII letters, digits, '_',"
            f" '.' or '-', not {'another str' if type(tenant) is str else type(tenant).__name__}"
        )
    found = _current.get()
    token = _current.set(
        CallContext(found.deadline, found.partner, tenant, found.actor)
    )
    try:
        yield tenant
    finally:
        _current.reset(token)


@contextmanager
def bind_actor(actor: str | None) -> Iterator[str | None]:
    """Bind ``actor`` (None: no actor), who the handler acts for, to the calls made inside
    the block: audit records name it. Any non-empty str of up to 256 characters
    (``InvalidActor`` otherwise, naming no value)."""
    if actor is not None and not (type(actor) is str and 0 < len(actor) <= MAX_ACTOR):
        from dynamorm_gen.runtime.errors import InvalidActor

        raise InvalidActor(
            f"an actor is a non-empty str of at most {MAX_ACTOR} characters, not"
            f" {'another str' if type(actor) is str else type(actor).__name__}"
        )
    found = _current.get()
    token = _current.set(
        CallContext(found.deadline, found.partner, found.tenant, actor)
    )
    try:
        yield actor
    finally:
        _current.reset(token)


def is_tenant_id(value: object) -> bool:
    """Whether ``value`` is a str a tenant may be bound to (see ``bind_tenant``)."""
    return (
        type(value) is str  # not a subclass: it could compare equal to anything
        and 0 < len(value) <= MAX_TENANT_ID
        and TENANT_ID_CHARACTERS.issuperset(value)
    )
