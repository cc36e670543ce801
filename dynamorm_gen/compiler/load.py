"""Stage 1, load: read YAML files into plain data, remembering where every key and value stands.

Scalars are resolved the YAML 1.2 way (only true/false are booleans, so `NO` or `on` stay strings)
and mapping keys are always strings. The standard tags !!str, !!int, !!float, !!bool, !!null,
!!map and !!seq are honoured; duplicate keys, merge keys and any other tag are errors.

No input can make loading slow or large: a file over MAX_FILE_BYTES is refused before it is
parsed, and conversion stops once the data holds more than MAX_NODES keys and values (an alias
counting as a copy of what it names each time it is used, so an alias bomb stops early) or
nests deeper than MAX_DEPTH levels.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dynamorm_gen.compiler.errors import CompileError, Diagnostic

PathKey = tuple[str | int, ...]

# Far above any real schema (the payment example is 5 KB, about 1,000 keys and values, 7 levels
# deep), low enough that the worst input loads in about three seconds and 100 MB.
MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000
# Every later stage recurses over nested data; 50 levels stay far from Python's recursion limit
# and from its limit on nested brackets in the generated converters.
MAX_DEPTH = 50

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}
_YAML_TAG = "tag:yaml.org,2002:"
_STR, _INT_TAG, _FLOAT_TAG = f"{_YAML_TAG}str", f"{_YAML_TAG}int", f"{_YAML_TAG}float"
_BOOL_TAG, _NULL_TAG = f"{_YAML_TAG}bool", f"{_YAML_TAG}null"
_MAP_TAG, _SEQ_TAG = f"{_YAML_TAG}map", f"{_YAML_TAG}seq"
_SCALAR_TAGS = (_STR, _INT_TAG, _FLOAT_TAG, _BOOL_TAG, _NULL_TAG)
# The composer stores the resolver's guess as the tag of an untagged scalar and does not say
# whether a tag was written; a tag that differs from the guess for the scalar's style was.
_RESOLVER = yaml.resolver.Resolver()
# PyYAML's "while parsing ..." context of a syntax error, as a phrase followed by line:column.
_CONTEXTS = (
    ("flow sequence", "the list opened at"),
    ("flow mapping", "the mapping opened at"),
    ("quoted scalar", "the string opened at"),
    ("block mapping", "in the mapping starting at"),
    ("block collection", "in the list starting at"),
    ("block sequence", "in the list starting at"),
    ("block scalar", "in the text block starting at"),
    ("plain scalar", "in the value starting at"),
    ("single document", "after the document starting at"),
    ("duplicate anchor", "the anchor is already defined at"),
)

try:
    from yaml._yaml import CParser as _Parser  # libyaml's parser
except ImportError:  # PyYAML built without libyaml: its parser in Python

    class _Parser(  # type: ignore[no-redef]
        yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser
    ):
        def __init__(self, text: str) -> None:
            yaml.reader.Reader.__init__(self, text)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


_COLLECTION_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
# An alias written in the file: its anchor's name, and the line and column of the alias.
_Alias = tuple[str, int, int]


class _TooLarge(Exception):
    """Loading stops at the first limit passed; the diagnostic says which."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Loader(yaml.composer.Composer, _Parser, yaml.resolver.Resolver):
    """PyYAML's composer in Python over the events of libyaml's parser (whose own composer
    cannot be extended), noting where each alias is written, since the composed tree keeps
    only the node it names, and stopping at MAX_DEPTH before its recursion could overflow."""

    def __init__(self, text: str, display: str) -> None:
        _Parser.__init__(self, text)
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.display = display
        self.depth = 0
        # (id of the parent node, index of an item or id of a value's key node) -> alias
        self.aliases: dict[tuple[int, int], _Alias] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if parent is not None and index is not None:  # keys are single scalars
                child = index if isinstance(index, int) else id(index)
                alias = (str(event.anchor), *_position(event.start_mark))
                self.aliases[(id(parent), child)] = alias
            return super().compose_node(parent, index)
        if not isinstance(event, _COLLECTION_STARTS):
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooLarge(_too_deep(self.display, _position(event.start_mark), None))
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _position(mark: Any) -> tuple[int, int]:
    """A parser mark (libyaml's or PyYAML's) as a 1-based (line, column)."""
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _too_deep(
    display: str, position: tuple[int, int], alias: _Alias | None
) -> Diagnostic:
    line, column = alias[1:] if alias else position
    what = f"YAML alias '*{alias[0]}' nests" if alias else "the file nests"
    return Diagnostic(
        display,
        line,
        column,
        "DG008",
        f"{what} keys and values more than {MAX_DEPTH} levels deep",
        "a schema needs far fewer levels; flatten the data",
    )


@dataclass(frozen=True)
class SchemaFile:
    """One loaded schema file: its data and where each part of it came from."""

    path: str  # as shown to users: relative to the project root, with forward slashes
    sha256: str
    data: dict[str, Any]
    value_positions: dict[PathKey, tuple[int, int]] = field(repr=False)
    key_positions: dict[PathKey, tuple[int, int]] = field(repr=False)

    def position(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """The closest known (line, column) for a path: its key or value, else its parent's."""
        table = self.key_positions if key else self.value_positions
        while path:
            if path in table:
                return table[path]
            if path in self.value_positions:
                return self.value_positions[path]
            path = path[:-1]
        return self.value_positions.get((), (1, 1))

    def diagnostic(
        self,
        path: PathKey,
        code: str,
        message: str,
        hint: str = "",
        *,
        key: bool = False,
    ) -> Diagnostic:
        line, column = self.position(path, key=key)
        return Diagnostic(self.path, line, column, code, message, hint)


def load_file(path: Path, display: str, *, config: bool = False) -> SchemaFile:
    """Load one schema file (or, with ``config``, the project config) or raise CompileError
    with located diagnostics."""
    raw = _read(path, display, config=config)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        # Columns count characters, as editors do, not bytes.
        prefix = raw[line_start : exc.start].decode("utf-8", errors="replace")
        column = len(prefix) + 1
        raise CompileError(
            [
                Diagnostic(
                    display,
                    line,
                    column,
                    "DG002",
                    f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                    "save the schema as UTF-8",
                )
            ]
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = _Loader(text, display)
    try:
        node = loader.get_single_node()
    except _TooLarge as exc:
        raise CompileError([exc.diagnostic]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        tab = mark is not None and _at(text, mark) == "\t"
        problem = _tab_problem(text, mark) if tab and mark else _syntax_problem(exc)
        raise CompileError(
            [
                Diagnostic(
                    display,
                    line,
                    column,
                    "DG003",
                    f"YAML syntax error: {problem}",
                    "indent with spaces" if tab else "",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise CompileError(
            [
                Diagnostic(
                    display, 1, 1, "DG003", f"YAML syntax error: {type(exc).__name__}"
                )
            ]
        ) from None
    finally:
        loader.dispose()
    if node is None:
        raise CompileError(
            [
                Diagnostic(
                    display,
                    1,
                    1,
                    "DG005",
                    "file is empty",
                    "settings: schemas, output"
                    if config
                    else "a schema starts with 'version: 1'; `dynamorm-gen init` writes an example",
                )
            ]
        )
    builder = _Builder(display, loader.aliases)
    try:
        data = builder.build(node, ())
    except _TooLarge as exc:
        raise CompileError([*builder.diagnostics, exc.diagnostic]) from None
    if builder.diagnostics:
        raise CompileError(builder.diagnostics)
    if not isinstance(data, dict):
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        raise CompileError(
            [
                Diagnostic(
                    display,
                    line,
                    column,
                    "DG006",
                    f"a {'config' if config else 'schema'} file must be a mapping at the top level",
                    "settings: schemas, output"
                    if config
                    else "start with 'version: 1'",
                )
            ]
        )
    return SchemaFile(
        path=display,
        sha256=hashlib.sha256(raw).hexdigest(),
        data=data,
        value_positions=builder.value_positions,
        key_positions=builder.key_positions,
    )


def _read(path: Path, display: str, *, config: bool) -> bytes:
    """The file's bytes; a file over MAX_FILE_BYTES is refused before it is read whole, let
    alone parsed (a 5 MB list would otherwise cost seconds and hundreds of MB to reject)."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CompileError(
            [Diagnostic(display, 1, 1, "DG001", f"cannot read file: {reason}")]
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        # A pipe or device reports no size; then only the bytes read are known.
        shown = f"{size:,} bytes" if size > MAX_FILE_BYTES else "larger than that"
        raise CompileError(
            [
                Diagnostic(
                    display,
                    1,
                    1,
                    "DG008",
                    f"file is {shown}; the limit is {MAX_FILE_BYTES:,} bytes (1 MiB)",
                    "" if config else "split the schema into several files",
                )
            ]
        )
    return raw


def _at(text: str, mark: yaml.Mark) -> str:
    """The character at a parser mark, or '' past the end."""
    lines = text.split("\n")
    if mark.line >= len(lines):
        return ""
    return lines[mark.line][mark.column : mark.column + 1]


def _tab_problem(text: str, mark: yaml.Mark) -> str:
    """The parser says only that a tab "cannot start any token"; say what the rule is."""
    before = text.split("\n")[mark.line][: mark.column]
    if before.strip(" \t-") == "":
        return "YAML does not allow tabs for indentation"
    return "YAML does not allow a tab here"


def _syntax_problem(exc: yaml.MarkedYAMLError) -> str:
    """The parser's problem, plus where the construct it was reading began, if elsewhere.

    The problem is often noticed far from the mistake (an unclosed '[' at the end of the
    file), so the opening place is what leads to the fix.
    """
    problem = exc.problem or exc.context or "invalid YAML"
    mark, context = exc.context_mark, exc.context
    if not exc.problem or not context or mark is None:
        return problem
    # Composer problems continue their context ("but found another document", "second
    # occurrence"); on their own they need rewording.
    problem = problem.removeprefix("but ")
    if problem == "second occurrence":
        problem = "duplicate anchor"
    problem = problem.replace("end of stream", "end of file")
    if exc.problem_mark is not None and (mark.line, mark.column) == (
        exc.problem_mark.line,
        exc.problem_mark.column,
    ):
        return problem
    where = f"{mark.line + 1}:{mark.column + 1}"
    for words, phrase in _CONTEXTS:
        if words in context:
            return f"{problem} ({phrase} {where})"
    return f"{problem} ({context.removeprefix('while ')} at {where})"


def _shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML_TAG) if tag.startswith(_YAML_TAG) else tag


def _explicit_tag(node: yaml.Node) -> str | None:
    """The tag written in the file on this node, or None when the tag was resolved."""
    if isinstance(node, yaml.ScalarNode):
        if node.style:  # quoted or block: an untagged one is a string
            implicit = _STR
        else:
            # PyYAML's stubs leave resolve untyped; it returns the tag string.
            implicit = _RESOLVER.resolve(  # type: ignore[no-untyped-call]
                yaml.ScalarNode, node.value, (True, False)
            )
    else:
        implicit = _MAP_TAG if isinstance(node, yaml.MappingNode) else _SEQ_TAG
    return None if node.tag == implicit else node.tag


class _Builder:
    """Turns a composed YAML node tree into dicts, lists and scalars, recording positions."""

    def __init__(self, display: str, aliases: dict[tuple[int, int], _Alias]) -> None:
        self.display = display
        self.diagnostics: list[Diagnostic] = []
        self.value_positions: dict[PathKey, tuple[int, int]] = {}
        self.key_positions: dict[PathKey, tuple[int, int]] = {}
        self._active: set[int] = set()
        self._aliases = aliases
        self._nodes = 0
        # The alias written in the file that the conversion is inside of, if any: an alias
        # within what it names is a copy too, so limits passed there are reported at it.
        self._alias: _Alias | None = None

    def _child(
        self, parent: yaml.Node, where: int, node: yaml.Node, path: PathKey
    ) -> Any:
        """Convert an item or a mapping value, noting whether it is an alias written here."""
        alias = self._aliases.get((id(parent), where)) if self._alias is None else None
        if alias is None:
            return self.build(node, path)
        self._alias = alias
        try:
            return self.build(node, path)
        finally:
            self._alias = None

    def _count(self, node: yaml.Node) -> None:
        self._nodes += 1
        if self._nodes <= MAX_NODES:
            return
        line, column = self._alias[1:] if self._alias else _position(node.start_mark)
        if self._alias:
            message = f"YAML alias '*{self._alias[0]}' makes the file exceed"
            hint = (
                "each use of an alias counts as a copy of what it names,"
                " so nested aliases multiply"
            )
        else:
            message, hint = (
                "the file has more than",
                "split the schema into several files",
            )
        raise _TooLarge(
            Diagnostic(
                self.display,
                line,
                column,
                "DG008",
                f"{message} {MAX_NODES:,} keys and values",
                hint,
            )
        )

    def _error(self, node: yaml.Node, code: str, message: str, hint: str = "") -> None:
        mark = node.start_mark
        self.diagnostics.append(
            Diagnostic(
                self.display, mark.line + 1, mark.column + 1, code, message, hint
            )
        )

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self._count(node)
        if len(path) >= MAX_DEPTH and not isinstance(node, yaml.ScalarNode):
            where = _position(node.start_mark)
            raise _TooLarge(_too_deep(self.display, where, self._alias))
        self.value_positions[path] = (
            node.start_mark.line + 1,
            node.start_mark.column + 1,
        )
        tag = _explicit_tag(node)
        if tag is not None and tag not in (*_SCALAR_TAGS, _MAP_TAG, _SEQ_TAG):
            self._error(node, "DG007", f"YAML tag '{_shown_tag(tag)}' is not supported")
            return None
        if tag is not None and not isinstance(node, yaml.ScalarNode):
            # A standard tag on a mapping or list other than its own (!!map on a list).
            what = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
            self._error(
                node, "DG007", f"{what} cannot be read as YAML tag '{_shown_tag(tag)}'"
            )
            return None
        if id(node) in self._active:
            self._error(node, "DG007", "recursive YAML alias is not supported")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return [
                    self._child(node, i, item, (*path, i))
                    for i, item in enumerate(node.value)
                ]
            assert isinstance(node, yaml.ScalarNode)
            if tag is None:
                return _scalar(node)
            return self._tagged_scalar(node, tag)
        finally:
            self._active.discard(id(node))

    def _tagged_scalar(self, node: yaml.ScalarNode, tag: str) -> Any:
        """A scalar with an explicit standard tag: read its text as that type, by YAML 1.2 rules."""
        value: str = node.value
        if tag == _STR:
            return value
        if tag == _INT_TAG and _INT.match(value):
            return int(value)
        if (
            tag == _FLOAT_TAG
            and _FLOAT.match(value)
            and any(c.isdigit() for c in value)
        ):
            return float(value)
        if tag == _BOOL_TAG and value in _BOOLS:
            return _BOOLS[value]
        if tag == _NULL_TAG and value in _NULLS:
            return None
        self._error(
            node, "DG007", f"'{value}' cannot be read as YAML tag '{_shown_tag(tag)}'"
        )
        return None

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            self._count(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(key_node, "DG007", "mapping keys must be plain names")
                continue
            key_tag = _explicit_tag(key_node)
            if key_tag is not None and key_tag != _STR:
                # Keys are always strings, so any other tag would be silently ignored.
                self._error(
                    key_node,
                    "DG007",
                    f"YAML tag '{_shown_tag(key_tag)}' is not supported on a key",
                )
                continue
            key = str(key_node.value)
            if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                self._error(
                    key_node, "DG007", "YAML merge keys ('<<') are not supported"
                )
                continue
            if key in result:
                self._error(key_node, "DG004", f"duplicate key '{key}'")
                continue
            child = (*path, key)
            self.key_positions[child] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            result[key] = self._child(node, id(key_node), value_node, child)
        return result


def _scalar(node: yaml.ScalarNode) -> Any:
    value: str = node.value
    if node.style:  # quoted or block scalars are always strings (plain is None or "")
        return value
    if value in _NULLS:
        return None
    if value in _BOOLS:
        return _BOOLS[value]
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value) and any(c.isdigit() for c in value):
        return float(value)
    return value
