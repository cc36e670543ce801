"""What the calls made in the running context share without being handed it.

One immutable ``CallContext`` per context, carried by a ``contextvars.ContextVar``, holds the
per-invocation state: the deadline (``deadline.py``) and the partner whose account partner
tables resolve to (``accounts.py``). A ContextVar is what makes this correct across threads
and asyncio: every asyncio task starts with a copy of its creator's context, and a plain
thread starts with an empty one (no deadline, no partner), never with another thread's.

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


class CallContext:
    """The per-invocation state bound to a context; immutable (bind a changed copy)."""

    __slots__ = ("deadline", "partner")

    deadline: Deadline | None
    partner: str | None

    def __init__(
        self, deadline: Deadline | None = None, partner: str | None = None
    ) -> None:
        object.__setattr__(self, "deadline", deadline)
        object.__setattr__(self, "partner", partner)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a CallContext cannot be changed: bind a new one")

    def __repr__(self) -> str:
        return f"CallContext(deadline={self.deadline!r}, partner={self.partner!r})"


EMPTY = CallContext()
_current: ContextVar[CallContext] = ContextVar("dynamorm_context", default=EMPTY)


def current() -> CallContext:
    """The state bound to the running context (``EMPTY`` when nothing is bound)."""
    return _current.get()


@contextmanager
def bind_deadline(deadline: Deadline | None) -> Iterator[Deadline | None]:
    """Bind ``deadline`` (None: no deadline) for the calls made inside the block."""
    found = _current.get()
    token = _current.set(CallContext(deadline, found.partner))
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
    token = _current.set(CallContext(found.deadline, partner))
    try:
        yield partner
    finally:
        _current.reset(token)
