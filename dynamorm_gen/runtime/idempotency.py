"""Idempotent operations: what generated modules declare for the schema's
``idempotency.operations``, and code may declare itself.

An operation has a name (part of each record's key), the paths (``event_paths.py``) or
function that read its idempotency key and the payload a repeat must match, and how long a
completed call replays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dynamorm_gen.runtime.errors import ConfigurationError
from dynamorm_gen.runtime.event_paths import Path, PathSyntaxError

__all__ = ["IdempotentOperation"]

MAX_EXPIRES_AFTER = 366 * 24 * 3600  # seconds; the schema's limit too
MAX_OPERATION_NAME = 64
_OPERATION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


# --- operations --------------------------------------------------------------------------------

Source = tuple[Path, ...] | Callable[..., Any] | None


class IdempotentOperation:
    """An idempotent operation: its name (part of each record's key), where its idempotency
    key and the payload a repeat must match are read, and how long a completed call replays.

    ``key`` and ``payload`` are a path (``event_paths.py``), a list of paths (their values
    together), or a function: of the event for handlers, of the call's arguments for
    functions. Without ``key``, a function's key is all of its arguments (a handler needs
    one). Without ``payload``, the payload is the whole event, or all of the arguments.
    ``expires_after`` (seconds) defaults to the schema's ``idempotency.expires_after``.
    Generated modules declare the schema's operations with this class.
    """

    __slots__ = ("expires_after", "key", "name", "payload")

    def __init__(
        self,
        name: str,
        *,
        key: str | Sequence[str] | Callable[..., Any] | None = None,
        payload: str | Sequence[str] | Callable[..., Any] | None = None,
        expires_after: int | None = None,
    ) -> None:
        if not (
            type(name) is str
            and 0 < len(name) <= MAX_OPERATION_NAME
            and name[0].isalpha()
            and _OPERATION_CHARACTERS.issuperset(name)
        ):
            raise ConfigurationError(
                "an operation name is 1 to 64 lower-case letters, digits and '_',"
                " starting with a letter"
            )
        if expires_after is not None and not (
            type(expires_after) is int and 1 <= expires_after <= MAX_EXPIRES_AFTER
        ):
            raise ConfigurationError(
                f"operation '{name}': expires_after is a whole number of seconds,"
                f" 1 to {MAX_EXPIRES_AFTER}"
            )
        self.name = name
        self.key: Source = _source(key, name, "key")
        self.payload: Source = _source(payload, name, "payload")
        self.expires_after = expires_after

    def __repr__(self) -> str:
        return f"IdempotentOperation({self.name!r})"


def _source(spec: object, operation: str, what: str) -> Source:
    if spec is None:
        return None
    if callable(spec):
        return spec
    texts = [spec] if isinstance(spec, str) else spec
    if not isinstance(texts, Sequence) or not texts:
        raise ConfigurationError(
            f"operation '{operation}': {what} is a path, a list of paths or a function"
        )
    paths = []
    for text in texts:
        try:
            paths.append(Path(text))
        except PathSyntaxError as exc:
            raise ConfigurationError(
                f"operation '{operation}': bad {what} path: {exc}"
            ) from None
    return tuple(paths)
