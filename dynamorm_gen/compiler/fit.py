"""The line fitter: lays out generated code in `ruff format` style.

Templates write each statement as the code it is, on one line, or exploded one item per line
with a trailing comma, the way a person writes a long call. The fitter then:

- joins every bracket that is written exploded (its last item ends with a comma) into one
  line, so a template never decides by itself whether its code fits;
- breaks every line longer than ``LINE_LENGTH``, as ``ruff format`` would keep it: the
  statement is read with ``tokenize`` into the node trees of ``layout``, whose ``lay``
  explodes the outermost bracket first, one item per line with a trailing comma;
- keeps everything else as it is: lines that fit, docstrings, comments, and multi-line
  forms the fitter does not write itself (the table's ``__init__`` signature).

It knows only the statement shapes generated code has (assignments, ``return``, ``raise``,
``if``, ``def``, calls, imports); a line of any other shape is kept whole.
"""

from __future__ import annotations

import io
import keyword
import tokenize
from dataclasses import dataclass
from typing import NamedTuple

from dynamorm_gen.compiler import layout
from dynamorm_gen.compiler.layout import Atom, Group, Node, Pair

LINE_LENGTH = layout.LINE_LENGTH
_OPENERS = ("(", "[", "{")
_CLOSERS = (")", "]", "}")
# Python 3.12 and later split an f-string into tokens of its own; 3.11 has one STRING token.
_FSTRING_START = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END = getattr(tokenize, "FSTRING_END", -1)


def fit_module(source: str) -> str:
    """``source`` with its exploded brackets joined and its long lines broken."""
    lines = source.split("\n")
    out: list[str] = []
    in_docstring = False
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        # Docstrings are the only triple-quoted strings in generated code; one that spans
        # lines starts a line with three double quotes, and its text never holds them
        # (see the docstring filter of render.py).
        if in_docstring:
            in_docstring = '"""' not in line
            out.append(line)
            continue
        stripped = line.lstrip()
        if stripped.startswith('"""') and stripped.count('"""') == 1:
            in_docstring = True
            out.append(line)
            continue
        if stripped.startswith("#"):
            out.append(line)
            continue
        if line.endswith(_OPENERS) and _opens_bracket(line):
            end = _closing_line(lines, i, _indent(line))
            block = lines[i - 1 : end + 1]
            i = end + 1
            if len(block) > 2 and not block[-2].rstrip().endswith(","):
                out.extend(block)  # a multi-line form the fitter would not write: kept
                continue
            line = _join(block)
        out.extend(fit_line(line))
    return "\n".join(out)


def _opens_bracket(line: str) -> bool:
    """Whether a line ending with a bracket leaves it open: not when it ends a comment (an
    attribute's doc after its annotation)."""
    if "#" not in line:
        return True
    try:
        for _ in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            pass
    except tokenize.TokenError:
        return True
    return False


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _closing_line(lines: list[str], start: int, indent: int) -> int:
    """The line that closes a bracket opened at the end of a line indented ``indent``: the
    next line at that indentation (templates indent what is inside deeper)."""
    for j in range(start, len(lines)):
        if lines[j].strip() and _indent(lines[j]) <= indent:
            return j
    raise ValueError(f"unclosed bracket in generated code: {lines[start - 1]!r}")


def _join(block: list[str]) -> str:
    """An exploded bracket on one line: items separated by ", ", no trailing comma."""
    text = block[0].rstrip()
    for line in block[1:]:
        piece = line.strip()
        if piece.startswith(_CLOSERS):
            text = text.removesuffix(",") + piece
        elif text.endswith(_OPENERS):
            text += piece
        else:
            text += " " + piece
    return text


def fit_line(line: str) -> list[str]:
    """``line`` as it is when it fits, else broken the way ``ruff format`` keeps it."""
    if len(line) <= LINE_LENGTH:
        return [line]
    indent = _indent(line)
    code = line[indent:]
    pieces = _parse(code)
    if pieces is None:
        return [line]
    laid = _statement(code, pieces, indent)
    return [line] if laid is None else laid.split("\n")


# --- reading a line -----------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: int  # a tokenize token type; STRING for a whole f-string
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Bracket:
    opening: _Token
    children: list[_Piece]
    closing: _Token

    @property
    def start(self) -> int:
        return self.opening.start

    @property
    def end(self) -> int:
        return self.closing.end


_Piece = _Token | _Bracket


def _parse(code: str) -> list[_Piece] | None:
    """The tokens of one logical line, brackets nested; None for a line that is not one
    whole statement (or holds a comment: kept as written)."""
    try:
        raw = list(tokenize.generate_tokens(io.StringIO(code + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    tokens: list[_Token] = []
    fstring_depth = 0
    for t in raw:
        if t.type == _FSTRING_START:
            if not fstring_depth:
                tokens.append(_Token(tokenize.STRING, "", t.start[1], t.end[1]))
            fstring_depth += 1
            continue
        if fstring_depth:
            if t.type == _FSTRING_END:
                fstring_depth -= 1
                if not fstring_depth:
                    start = tokens[-1].start
                    tokens[-1] = _Token(
                        tokenize.STRING, code[start : t.end[1]], start, t.end[1]
                    )
            continue
        if t.type in (tokenize.COMMENT, tokenize.ERRORTOKEN):
            return None
        if t.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER):
            continue
        if t.start[0] != 1:
            return None
        tokens.append(_Token(t.type, t.string, t.start[1], t.end[1]))
    stack: list[tuple[_Token, list[_Piece]]] = []
    pieces: list[_Piece] = []
    for token in tokens:
        if token.text in _OPENERS and token.kind == tokenize.OP:
            stack.append((token, pieces))
            pieces = []
        elif token.text in _CLOSERS and token.kind == tokenize.OP:
            if not stack:
                return None
            opening, outer = stack.pop()
            outer.append(_Bracket(opening, pieces, token))
            pieces = outer
        else:
            pieces.append(token)
    return None if stack or not pieces else pieces


def _text(code: str, pieces: list[_Piece]) -> str:
    return code[pieces[0].start : pieces[-1].end]


def _is(piece: _Piece, *texts: str) -> bool:
    return type(piece) is _Token and piece.text in texts


def _is_name(piece: _Piece) -> bool:
    """A name that is not a keyword (``class`` and ``for`` start no call)."""
    return (
        isinstance(piece, _Token)
        and piece.kind == tokenize.NAME
        and not keyword.iskeyword(piece.text)
    )


def _split(pieces: list[_Piece], *separators: str) -> list[list[_Piece]]:
    """``pieces`` cut at the top-level tokens ``separators`` (which are left out)."""
    parts: list[list[_Piece]] = [[]]
    for piece in pieces:
        if _is(piece, *separators):
            parts.append([])
        else:
            parts[-1].append(piece)
    return parts


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
# An expression with these at its top level is kept whole inside brackets: splitting it
# is ruff's business only at the level of a statement (conditions and conditionals).
_OPERATORS = ("if", "else", "and", "or", "not", "is", "in", "lambda", *_COMPARISONS)


# --- statements ----------------------------------------------------------------------------------


def _statement(code: str, pieces: list[_Piece], indent: int) -> str | None:
    first = pieces[0]
    if _is(first, "from") and any(_is(p, "import") for p in pieces):
        return _import(code, pieces, indent)
    if _is(first, "if", "elif", "while") and _is(pieces[-1], ":"):
        lead = code[: pieces[1].start]
        return _condition(code, lead, pieces[1:-1], ":", indent)
    if _is(first, "def"):
        node = _expression(code, pieces[1:], statement=True)
        return None if isinstance(node, Atom) else layout.block(node, indent, "def ")
    assign = next((i for i, p in enumerate(pieces) if _is(p, "=")), None)
    if _is(first, "return", "raise"):
        value = pieces[1:]
    elif assign is not None and assign + 1 < len(pieces):
        value = pieces[assign + 1 :]
    else:
        node = _expression(code, pieces, statement=True)
        return None if isinstance(node, Atom) else layout.block(node, indent)
    if not value:
        return None
    lead = code[: value[0].start]
    return _value(code, lead, value, indent)


def _value(code: str, lead: str, pieces: list[_Piece], indent: int) -> str:
    """``lead`` (``x = ``, ``return ``, ``raise ``) followed by the value ``pieces``."""
    top = {p.text for p in pieces if isinstance(p, _Token)}
    if "if" in top and "else" in top:
        body, rest = _cut(pieces, "if")
        test, orelse = _cut(rest, "else")
        return layout.conditional(
            lead,
            _text(code, body),
            _text(code, test),
            _text(code, orelse),
            indent,
        )
    if top & {"and", "or", "=="}:
        return _condition(code, lead, pieces, "", indent)
    node = _expression(code, pieces, statement=True)
    if isinstance(node, Atom):
        return layout.value_statement(lead, node.text, indent)
    return layout.block(node, indent, lead)


def _cut(pieces: list[_Piece], word: str) -> tuple[list[_Piece], list[_Piece]]:
    at = next(i for i, p in enumerate(pieces) if _is(p, word))
    return pieces[:at], pieces[at + 1 :]


def _condition(
    code: str, lead: str, pieces: list[_Piece], suffix: str, indent: int
) -> str:
    """A boolean expression after ``lead``: ``a or b``, ``a and b`` or the guarded form
    ``g and (a or b)``, split the way ruff splits each."""
    alternatives = _split(pieces, "or")
    if len(alternatives) > 1:
        terms = [_text(code, t) for t in alternatives]
        return layout.or_chain(lead, terms, indent, suffix)
    conjuncts = _split(pieces, "and")
    last = conjuncts[-1]
    if len(conjuncts) > 1 and len(last) == 1 and isinstance(last[0], _Bracket):
        inner = _split(last[0].children, "or")
        if last[0].opening.text == "(" and len(inner) > 1:
            guard = [_text(code, t) for t in conjuncts[:-1]]
            terms = [_text(code, t) for t in inner]
            return layout.or_chain(lead, terms, indent, suffix, guard)
    terms = [_text(code, t) for t in conjuncts]
    return layout.and_chain(lead, terms, indent, suffix)


def _import(code: str, pieces: list[_Piece], indent: int) -> str:
    _, names = _cut(pieces, "import")
    head = code[: names[0].start].rstrip() + " ("
    items = tuple(Atom(_text(code, n)) for n in _split(names, ","))
    return layout.block(Group(head, items, ")"), indent)


# --- expressions ---------------------------------------------------------------------------------


def _expression(code: str, pieces: list[_Piece], *, statement: bool = False) -> Node:
    """A node for ``pieces``: a Group around their first bracket when it may be exploded
    (a call, a display, a tuple, a subscript holding a tuple), else an Atom. Whatever
    follows that bracket (``)[1]``, ``) -> Key:``, ``) from None``) stays with its close.
    """
    text = _text(code, pieces)
    at = next((i for i, p in enumerate(pieces) if isinstance(p, _Bracket)), None)
    if at is None or (not statement and any(_is(p, *_OPERATORS) for p in pieces)):
        return Atom(text)
    bracket = pieces[at]
    assert isinstance(bracket, _Bracket)
    head = pieces[:at]
    if not all(_is(p, ".") or _is_name(p) for p in head):
        return Atom(text)
    if not _explodable(bracket, called=bool(head)):
        return Atom(text)
    items, comprehension = _items(code, bracket)
    return Group(
        code[pieces[0].start : bracket.opening.end],
        items,
        code[bracket.closing.start : pieces[-1].end],
        comprehension,
    )


def _explodable(bracket: _Bracket, *, called: bool) -> bool:
    """Whether exploding ``bracket`` with a trailing comma keeps the code's meaning."""
    children = bracket.children
    commas = [i for i, p in enumerate(children) if _is(p, ",")]
    if not children or commas[-1:] == [len(children) - 1]:
        return False  # empty, or a one-element tuple ``(x,)``: kept whole
    opening = bracket.opening.text
    if opening == "(" and called:
        # ``f(x for x in y)`` takes no trailing comma
        return not any(_is(p, "for") for p in children)
    if opening == "(" or (opening == "[" and called):
        return bool(commas)  # a tuple; ``(x)`` and ``x[i]`` would become tuples
    return True


def _items(code: str, bracket: _Bracket) -> tuple[tuple[Node, ...], bool]:
    """The items of a bracket, and whether it is a comprehension (element and clauses)."""
    children = bracket.children
    opening = bracket.opening.text
    clauses = [
        i
        for i, p in enumerate(children)
        if _is(p, "for") or (_is(p, "if") and any(_is(q, "for") for q in children[:i]))
    ]
    if clauses:
        element = _item(code, children[: clauses[0]], opening)
        ends = [*clauses[1:], len(children)]
        rest = [
            Atom(_text(code, children[a:b])) for a, b in zip(clauses, ends, strict=True)
        ]
        return (element, *rest), True
    return tuple(_item(code, part, opening) for part in _split(children, ",")), False


def _item(code: str, pieces: list[_Piece], opening: str) -> Node:
    """One item: ``name=value`` in a call and ``key: value`` in a dict are Pairs."""
    separator = {"(": "=", "{": ":"}.get(opening)
    at = next(
        (i for i, p in enumerate(pieces) if separator and _is(p, separator)), None
    )
    if at is None or at + 1 == len(pieces):
        return _expression(code, pieces)
    value = pieces[at + 1 :]
    lead = code[pieces[0].start : value[0].start]
    return Pair(lead, _expression(code, value))
