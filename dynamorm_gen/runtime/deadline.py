"""Deadlines: how long the current invocation may still talk to DynamoDB.

A deadline is bound to the running context (a ``contextvars.ContextVar``), so every table,
batch and transaction call made while it is bound honours it without being handed it:

- no request starts once the time left (after the safety margin) is gone: ``DeadlineExceeded``;
- on the fast transport a request (connecting, sending, reading the whole response) and
  the pauses between its retries end by the deadline;
- multi-page reads and batch retries stop between requests and hand back a cursor or the
  unprocessed remainder.

Lambda handlers get one from ``aws_lambda.LambdaDatabase``; any code can bind one with
``bind(Deadline.after(seconds))``. It is held, with the rest of the per-invocation state, by
``context.py``.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager

from dynamorm_gen.runtime import context
from dynamorm_gen.runtime.errors import DeadlineExceeded


class Deadline:
    """A point in time (``time.monotonic()``) by which calls must be finished, less a margin
    kept back for the caller to record what was done and return."""

    __slots__ = ("at", "margin")

    def __init__(self, at: float, margin: float = 0.0) -> None:
        self.at = at
        self.margin = margin

    @classmethod
    def after(cls, seconds: float, margin: float = 0.0) -> Deadline:
        return cls(time.monotonic() + seconds, margin)

    def remaining(self) -> float:
        """Seconds left for DynamoDB calls (negative once the margin is reached)."""
        return self.at - self.margin - time.monotonic()

    def require(self, operation: str, *, table: str = "", entity: str = "") -> float:
        """The seconds left, or DeadlineExceeded when there is no time even to start."""
        left = self.remaining()
        if left <= 0:
            raise DeadlineExceeded(
                "no time left before the deadline to start the request",
                operation=operation,
                table=table,
                entity=entity,
                sent=False,
            )
        return left

    def __repr__(self) -> str:
        return f"Deadline({self.remaining():.3f}s left, margin {self.margin:.3f}s)"


def current() -> Deadline | None:
    """The deadline bound to the running context, if any."""
    return context.current().deadline


def bind(deadline: Deadline | None) -> AbstractContextManager[Deadline | None]:
    """Bind ``deadline`` for the calls made inside the ``with`` block (None: no deadline)."""
    return context.bind_deadline(deadline)
