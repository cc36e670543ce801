"""The layout engine of the line fitter (``fit``): how a statement that does not fit is split.

Expressions are trees of atoms and bracketed groups, which ``fit`` reads from the code. A group
is written on one line when the line fits; otherwise it is exploded one item per line with a
trailing comma (a "magic trailing comma", which ``ruff format`` keeps), and its items are laid
out the same way, recursively. The other functions split statements the way ruff splits them:
``and``/``or`` chains, conditional expressions, values that need parentheses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

LINE_LENGTH = 88


@dataclass(frozen=True)
class Atom:
    text: str


@dataclass(frozen=True)
class Pair:
    """``key: value`` in a dict, or ``name=value`` in a call: ``lead`` carries the separator."""

    lead: str
    value: Node


@dataclass(frozen=True)
class Group:
    """``head item, item tail``: a call, dict, list or set display, or a comprehension."""

    head: str
    items: tuple[Node, ...]
    tail: str
    comprehension: bool = (
        False  # items are the element and its ``for`` clauses: no commas
    )


Node = Atom | Pair | Group


def py_str(text: str) -> str:
    """A Python string literal in the formatter's preferred quotes: double, unless the text
    holds more double quotes than single ones (``'a "b"'``, as ruff writes it)."""
    literal = json.dumps(text, ensure_ascii=False)
    if text.count('"') <= text.count("'"):
        return literal
    # Every double quote of the JSON text is escaped as \"; single quotes need it instead.
    return "'" + literal[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"


def flat(node: Node) -> str:
    if isinstance(node, Atom):
        return node.text
    if isinstance(node, Pair):
        return node.lead + flat(node.value)
    separator = " " if node.comprehension else ", "
    return node.head + separator.join(flat(i) for i in node.items) + node.tail


def lay(node: Node, indent: int, prefix: str = "", suffix: str = "") -> list[str]:
    """Lines for ``prefix + node + suffix`` at ``indent`` spaces, exploded only where needed."""
    pad = " " * indent
    line = pad + prefix + flat(node) + suffix
    if len(line) <= LINE_LENGTH or isinstance(node, Atom):
        return [line]
    if isinstance(node, Pair):
        return lay(node.value, indent, prefix + node.lead, suffix)
    if node.comprehension:
        # The formatter first tries the whole comprehension on one line of its own inside
        # the brackets; only when that does not fit does it put each clause on a line. (A
        # comprehension has no trailing comma to keep it exploded, so this must match.)
        inner = pad + "    " + " ".join(flat(item) for item in node.items)
        if len(inner) <= LINE_LENGTH:
            return [pad + prefix + node.head, inner, pad + node.tail + suffix]
    lines = [pad + prefix + node.head]
    item_suffix = "" if node.comprehension else ","
    for item in node.items:
        lines.extend(lay(item, indent + 4, "", item_suffix))
    lines.append(pad + node.tail + suffix)
    return lines


def block(node: Node, indent: int, prefix: str = "", suffix: str = "") -> str:
    return "\n".join(lay(node, indent, prefix, suffix))


def and_chain(lead: str, terms: list[str], indent: int, suffix: str = "") -> str:
    """``lead a and b and c`` + ``suffix``; too long, it is parenthesised with one term per
    line."""
    pad = " " * indent
    line = pad + lead + " and ".join(terms) + suffix
    if len(line) <= LINE_LENGTH:
        return line
    inner = []
    for i, term in enumerate(terms):
        text = pad + "    " + ("and " if i else "") + term
        left, equals, right = term.partition(" == ")
        if len(text) > LINE_LENGTH and equals:
            inner.append(pad + "    " + ("and " if i else "") + left)
            inner.append(pad + "    == " + right)
        else:
            inner.append(text)
    return "\n".join([pad + lead + "(", *inner, pad + ")" + suffix])


def or_chain(
    lead: str, terms: list[str], indent: int, suffix: str, guard: Sequence[str] = ()
) -> str:
    """``lead a or b`` + ``suffix``, or with guards ``lead g and (a or b)`` + ``suffix``, split
    the way the formatter splits them: the ``or`` terms on one line of their own inside the
    brackets if they fit there, else one per line."""
    if len(terms) == 1:
        return and_chain(lead, [*guard, terms[0]], indent, suffix)
    pad = " " * indent
    inner = " or ".join(terms)
    head = lead + "".join(f"{g} and " for g in guard) + ("(" if guard else "")
    line = pad + head + inner + (")" if guard else "") + suffix
    if len(line) <= LINE_LENGTH:
        return line
    body = pad + "    " + inner
    if len(body) > LINE_LENGTH:
        body = "\n".join(
            pad + "    " + ("or " if i else "") + term for i, term in enumerate(terms)
        )
    return "\n".join([pad + (head if guard else lead + "("), body, pad + ")" + suffix])


def value_statement(lead: str, value: str, indent: int) -> str:
    """``lead value`` where value cannot be split: parenthesised on its own line if that fits."""
    pad = " " * indent
    line = pad + lead + value
    if len(line) <= LINE_LENGTH or len(pad) + 4 + len(value) > LINE_LENGTH:
        return line
    return "\n".join([pad + lead + "(", pad + "    " + value, pad + ")"])


def conditional(lead: str, body: str, test: str, orelse: str, indent: int) -> str:
    """``lead body if test else orelse``, split the way the formatter splits it."""
    pad = " " * indent
    value = f"{body} if {test} else {orelse}"
    if (
        len(pad + lead + value) <= LINE_LENGTH
        or len(pad) + 4 + len(value) <= LINE_LENGTH
    ):
        return value_statement(lead, value, indent)
    inner = pad + "    "
    return "\n".join(
        [
            pad + lead + "(",
            inner + body,
            inner + "if " + test,
            inner + "else " + orelse,
            pad + ")",
        ]
    )
