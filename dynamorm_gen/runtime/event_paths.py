"""Paths into an event or a call's arguments: where an idempotency key or payload is read.

A small syntax, in place of JMESPath (which would be a dependency):

=====================================  ==================================================
``merchant_id``                        the value under ``merchant_id``
``body.payment.id``                    nested mappings (or attributes of objects)
``records[0].id``                      an item of a list
``headers."Idempotency-Key"``          a name with other characters, in double quotes
                                       (unquoted names take letters, digits, ``_``, ``-``)
``json(body).payment_id``              a JSON text, decoded (API Gateway's ``body``)
=====================================  ==================================================

A path is parsed once, when an operation is made (the compiler checks the paths written in
a schema with the same parser); reading it walks the parsed steps. Errors name the path and
where in it, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

MAX_PATH_LENGTH = 1000
MAX_JSON_DEPTH = 8  # json( inside json( ...
_NAME_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
)


class _Json:
    """The step that decodes a JSON text."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "JSON"


JSON: Final = _Json()
Step = str | int | _Json


class PathSyntaxError(ValueError):
    """A path that does not parse; the message says where (a character offset)."""


class Missing(LookupError):
    """A path names nothing in the value it is read from."""


class NotJson(ValueError):
    """A ``json(...)`` step found something that is not a JSON text."""


class Path:
    """A parsed path: its text, and the steps that read it."""

    __slots__ = ("steps", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.steps: tuple[Step, ...] = parse(text)

    def read(self, value: Any) -> Any:
        """The value the path names in ``value``: Missing if there is none, NotJson if a
        ``json(...)`` step finds no JSON text."""
        for step in self.steps:
            value = _step(value, step)
        return value

    def __repr__(self) -> str:
        return f"Path({self.text!r})"


def _step(value: Any, step: Step) -> Any:
    if type(step) is str:
        if isinstance(value, Mapping):
            if step in value:
                return value[step]
            raise Missing(step)
        if step.startswith("_") or isinstance(value, str | bytes | Sequence):
            raise Missing(step)
        try:
            return getattr(value, step)
        except AttributeError:
            raise Missing(step) from None
    if type(step) is int:
        if (
            isinstance(value, Sequence)
            and not isinstance(value, str | bytes)
            and step < len(value)
        ):
            return value[step]
        raise Missing(step)
    if not isinstance(value, str | bytes | bytearray):
        raise NotJson("json(...) found a value that is not a text")
    import json

    try:
        return json.loads(value)
    except ValueError:
        raise NotJson("json(...) found a text that is not JSON") from None


def parse(text: str) -> tuple[Step, ...]:
    """The steps of ``text``; PathSyntaxError saying what is wrong and where."""
    if not isinstance(text, str):
        raise PathSyntaxError(f"a path is a str, not {type(text).__name__}")
    if len(text) > MAX_PATH_LENGTH:
        raise PathSyntaxError(f"a path is at most {MAX_PATH_LENGTH} characters")
    steps, end = _path(text, 0, 0)
    if end != len(text):
        raise PathSyntaxError(_unexpected(text, end))
    return tuple(steps)


def _path(text: str, pos: int, depth: int) -> tuple[list[Step], int]:
    """A path from ``pos``: a first name or json(...), then .name and [index] steps."""
    steps: list[Step]
    if text.startswith("json(", pos):
        if depth >= MAX_JSON_DEPTH:
            raise PathSyntaxError(
                f"json(...) is nested more than {MAX_JSON_DEPTH} deep ({_at(text, pos)})"
            )
        steps, pos = _path(text, pos + 5, depth + 1)
        if not text.startswith(")", pos):
            raise PathSyntaxError(_unexpected(text, pos, "')' to close json("))
        steps.append(JSON)
        pos += 1
    else:
        name, pos = _name(text, pos)
        steps = [name]
    while pos < len(text):
        char = text[pos]
        if char == ".":
            name, pos = _name(text, pos + 1)
            steps.append(name)
        elif char == "[":
            end = text.find("]", pos)
            digits = text[pos + 1 : end] if end > 0 else ""
            if not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
                raise PathSyntaxError(
                    f"an index is written [digits] (at most 9) {_at(text, pos)}"
                )
            steps.append(int(digits))
            pos = end + 1
        else:
            break
    return steps, pos


def _name(text: str, pos: int) -> tuple[str, int]:
    if text.startswith('"', pos):
        end = text.find('"', pos + 1)
        if end < 0:
            raise PathSyntaxError(f"a quoted name is not closed ({_at(text, pos)})")
        if end == pos + 1:
            raise PathSyntaxError(f"an empty quoted name {_at(text, pos)}")
        return text[pos + 1 : end], end + 1
    end = pos
    while end < len(text) and text[end] in _NAME_CHARACTERS:
        end += 1
    if end == pos:
        raise PathSyntaxError(_unexpected(text, pos, "a name"))
    return text[pos:end], end


def _unexpected(text: str, pos: int, wanted: str = "'.', '[' or the end") -> str:
    if pos >= len(text):
        return f"expected {wanted} at the end"
    return f"expected {wanted} {_at(text, pos)}, found {text[pos]!r}"


def _at(text: str, pos: int) -> str:
    """Where ``pos`` is, told by what comes before it."""
    return f"after '{text[:pos]}'" if pos else "at the start"
