"""Stage 1, load: read YAML files into plain data, remembering where every key and value stands.

Scalars are resolved the YAML 1.2 way (only true/false are booleans, so `NO` or `on` stay strings)
and mapping keys are always strings. The standard tags !!str, !!int, !!float, !!bool, !!null,
!!map and !!seq are honoured; duplicate keys, merge keys and any other tag are errors.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dynamorm_gen.compiler.errors import CompileError, Diagnostic

PathKey = tuple[str | int, ...]

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
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


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
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CompileError(
            [Diagnostic(display, 1, 1, "DG001", f"cannot read file: {reason}")]
        ) from None
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
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise CompileError(
            [
                Diagnostic(
                    display,
                    line,
                    column,
                    "DG003",
                    f"YAML syntax error: {_syntax_problem(exc)}",
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
    builder = _Builder(display)
    data = builder.build(node, ())
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

    def __init__(self, display: str) -> None:
        self.display = display
        self.diagnostics: list[Diagnostic] = []
        self.value_positions: dict[PathKey, tuple[int, int]] = {}
        self.key_positions: dict[PathKey, tuple[int, int]] = {}
        self._active: set[int] = set()

    def _error(self, node: yaml.Node, code: str, message: str, hint: str = "") -> None:
        mark = node.start_mark
        self.diagnostics.append(
            Diagnostic(
                self.display, mark.line + 1, mark.column + 1, code, message, hint
            )
        )

    def build(self, node: yaml.Node, path: PathKey) -> Any:
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
                    self.build(item, (*path, i)) for i, item in enumerate(node.value)
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
            result[key] = self.build(value_node, child)
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
