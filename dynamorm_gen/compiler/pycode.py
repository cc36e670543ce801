"""Python code for one entity, object type or table: the bodies the templates place.

Each function returns source text already laid out in `ruff format` style (see ``layout``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dynamorm_gen.compiler import layout, model
from dynamorm_gen.compiler.layout import Atom, Group, Node, Pair, call, dict_, py_str
from dynamorm_gen.compiler.model import (
    AccessPattern,
    Attribute,
    Collection,
    Entity,
    EntityKey,
    FilterCondition,
    Index,
    KeyAttribute,
    ObjectType,
    Placeholder,
    Table,
    Template,
    TypeRef,
)

INT_LIMIT = 10**38  # integers this long get wire.check_int on write (wire.INT_LIMIT)
INT_KINDS = (
    "integer",
    "ttl",
    "version",
)  # integer-valued: generated code checks they are ints
_DECODE_ERRORS = "(KeyError, TypeError, ValueError, ArithmeticError)"


# --- names -------------------------------------------------------------------------------------


def snake(name: str) -> str:
    """``CustomerAccount`` -> ``customer_account``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def pascal(name: str) -> str:
    """``payments-v2`` -> ``PaymentsV2``."""
    return "".join(
        part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part
    )


def upper(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", snake(name)).upper().strip("_")


def table_class(table: Table) -> str:
    return pascal(table.name) + "Table"


def enum_alias(entity: str, attribute: Attribute) -> str:
    return entity + pascal(attribute.name)


def docstring(text: str, fallback: str) -> str:
    """One-line docstring text: whitespace folded, quotes and backslashes made harmless."""
    text = " ".join((text or fallback).split()).replace("\\", "/").replace('"""', "'''")
    return text.rstrip('"') or fallback


# --- types and converters ----------------------------------------------------------------------

_SCALAR_PY = {
    "string": "str",
    "integer": "int",
    "decimal": "Decimal",
    "float": "float",
    "boolean": "bool",
    "binary": "bytes",
    "datetime": "datetime",
    "date": "date",
    "ttl": "int",
    "version": "int",
}


def py_type(t: TypeRef, alias: str | None = None) -> str:
    if t.kind in _SCALAR_PY:
        return _SCALAR_PY[t.kind]
    if t.kind == "enum":
        return alias or "Literal[" + ", ".join(py_str(v) for v in t.values) + "]"
    if t.kind == "object":
        assert t.object_name is not None
        return t.object_name
    if t.kind == "list":
        assert t.of is not None
        return f"list[{py_type(t.of)}]"
    if t.kind == "map":
        return "dict[str, Any]" if t.of is None else f"dict[str, {py_type(t.of)}]"
    if t.kind == "string_set":
        return "set[str]"
    if t.kind == "binary_set":
        return "set[bytes]"
    assert t.kind == "number_set" and t.of is not None
    return f"set[{py_type(t.of)}]"


def attribute_type(entity: str, attribute: Attribute) -> str:
    alias = enum_alias(entity, attribute) if attribute.type.kind == "enum" else None
    return py_type(attribute.type, alias)


def to_wire(t: TypeRef, expr: str, where: str, depth: int = 0) -> Node:
    """An expression building the DynamoDB AttributeValue of ``expr``; ``where``
    (``Entity.attribute``) names it in the errors of the converters called.

    A top-level integer is written with ``str()``: the method checks it beforehand (see
    ``int_checks``). Integers inside lists, maps and sets go through ``wire.int_to_n``, which
    checks them, since there is no statement of their own to check them in.
    """
    v, k = f"v{depth}", f"k{depth}"
    kind = t.kind
    label = py_str(where)
    if kind in ("string", "enum"):
        return dict_([('"S"', expr)])
    if kind in ("integer", "ttl", "version"):
        if depth:
            return dict_([('"N"', call("wire.int_to_n", expr, label))])
        return dict_([('"N"', f"str({expr})")])
    if kind == "decimal":
        return dict_([('"N"', call("wire.decimal_to_n", expr, label))])
    if kind == "float":
        return dict_([('"N"', call("wire.float_to_n", expr, label))])
    if kind == "boolean":
        return dict_([('"BOOL"', expr)])
    if kind == "binary":
        return dict_([('"B"', expr)])
    if kind == "datetime":
        return dict_([('"S"', call("wire.datetime_to_s", expr, label))])
    if kind == "date":
        return dict_([('"S"', call("wire.date_to_s", expr, label))])
    if kind == "object":
        return dict_([('"M"', f"{expr}.to_map()")])
    if kind == "list":
        assert t.of is not None
        element = to_wire(t.of, v, where, depth + 1)
        return dict_(
            [('"L"', Group("[", (element, Atom(f"for {v} in {expr}")), "]", True))]
        )
    if kind == "map":
        if t.of is None:
            return dict_([('"M"', call("wire.to_wire_map", expr, label))])
        value = to_wire(t.of, v, where, depth + 1)
        entry = Pair(f"{k}: ", value)
        return dict_(
            [
                (
                    '"M"',
                    Group(
                        "{", (entry, Atom(f"for {k}, {v} in {expr}.items()")), "}", True
                    ),
                )
            ]
        )
    if kind == "string_set":
        return dict_([('"SS"', f"list({expr})")])
    if kind == "binary_set":
        return dict_([('"BS"', f"list({expr})")])
    assert kind == "number_set" and t.of is not None
    convert = "wire.decimal_to_n" if t.of.kind == "decimal" else "wire.int_to_n"
    element = call(convert, v, label)
    return dict_(
        [('"NS"', Group("[", (element, Atom(f"for {v} in {expr}")), "]", True))]
    )


def from_wire(t: TypeRef, expr: str, depth: int = 0) -> Node:
    """An expression decoding the AttributeValue ``expr`` into the Python value."""
    v, k = f"v{depth}", f"k{depth}"
    kind = t.kind
    if kind in ("string", "enum"):
        return Atom(f'{expr}["S"]')
    if kind in ("integer", "ttl", "version"):
        return call("int", f'{expr}["N"]')
    if kind == "decimal":
        return call("Decimal", f'{expr}["N"]')
    if kind == "float":
        return call("float", f'{expr}["N"]')
    if kind == "boolean":
        return Atom(f'{expr}["BOOL"]')
    if kind == "binary":
        return call("bytes", f'{expr}["B"]')
    if kind == "datetime":
        return call("wire.datetime_from_s", f'{expr}["S"]')
    if kind == "date":
        return call("date.fromisoformat", f'{expr}["S"]')
    if kind == "object":
        return call(f"{t.object_name}.from_map", f'{expr}["M"]')
    if kind == "list":
        assert t.of is not None
        element = from_wire(t.of, v, depth + 1)
        return Group("[", (element, Atom(f'for {v} in {expr}["L"]')), "]", True)
    if kind == "map":
        if t.of is None:
            return call("wire.from_wire_map", f'{expr}["M"]')
        entry = Pair(f"{k}: ", from_wire(t.of, v, depth + 1))
        return Group(
            "{", (entry, Atom(f'for {k}, {v} in {expr}["M"].items()')), "}", True
        )
    if kind == "string_set":
        return call("set", f'{expr}["SS"]')
    if kind == "binary_set":
        return call("set", f'{expr}["BS"]')
    assert kind == "number_set" and t.of is not None
    convert = "Decimal" if t.of.kind == "decimal" else "int"
    return Group(
        "{", (Atom(f"{convert}({v})"), Atom(f'for {v} in {expr}["NS"]')), "}", True
    )


def attribute_to_wire(owner: str, attribute: Attribute, expr: str) -> Node:
    if attribute.encrypted:
        context = py_str(f"{owner}.{attribute.name}")
        plain = f"{expr}.encode()" if attribute.type.kind == "string" else expr
        return dict_([('"B"', call("wire.encrypt", context, plain))])
    return to_wire(attribute.type, expr, f"{owner}.{attribute.name}")


def attribute_from_wire(owner: str, attribute: Attribute, expr: str) -> Node:
    if attribute.encrypted:
        context = py_str(f"{owner}.{attribute.name}")
        plain = call("wire.decrypt", context, f'{expr}["B"]')
        if attribute.type.kind == "string":
            return Atom(layout.flat(plain) + ".decode()")
        return plain
    return from_wire(attribute.type, expr)


# --- keys --------------------------------------------------------------------------------------


def template_part(
    attribute: Attribute,
    expr: str,
    where: str,
    width: int | None = None,
    formatted: str | None = None,
) -> str:
    """How one attribute's value is written inside a string key; ``formatted`` names a local
    that already holds the value's text. ``where`` names the value in converter errors (in
    single quotes: an f-string of Python 3.11 cannot hold its own quote character)."""
    if formatted is not None:
        return f"{{{formatted}}}"
    if width is not None:
        return f"{{{expr}:0{width}d}}"
    if attribute.type.kind == "datetime":
        return f"{{wire.datetime_to_s({expr}, '{where}')}}"
    if attribute.type.kind == "date":
        return f"{{wire.date_to_s({expr}, '{where}')}}"
    return f"{{{expr}}}"


def key_value(
    template: Template,
    key_type: str,
    entity: Entity,
    prefix: str,
    formatted: dict[str, str] | None = None,
    exprs: dict[str, str] | None = None,
) -> Node:
    """The AttributeValue for one key from its template. An attribute's value is read from
    ``exprs[name]`` when given, else from ``prefix + name`` (``prefix`` is ``self.`` or '');
    ``formatted`` names locals that already hold a value's key text."""

    def expr(name: str) -> str:
        return (exprs or {}).get(name, prefix + name)

    if key_type == "N":
        (name,) = template.names
        attribute = entity.attribute(name)
        return to_wire(attribute.type, expr(name), f"{entity.name}.{name}")
    if key_type == "B":
        return dict_([('"B"', expr(template.names[0]))])
    if not template.names:
        return dict_([('"S"', py_str(template.text))])
    parts = []
    for segment in template.segments:
        if isinstance(segment, Placeholder):
            parts.append(
                template_part(
                    entity.attribute(segment.name),
                    expr(segment.name),
                    f"{entity.name}.{segment.name}",
                    segment.width,
                    (formatted or {}).get(segment.name),
                )
            )
        else:
            parts.append(py_str(segment)[1:-1].replace("{", "{{").replace("}", "}}"))
    if template.is_single_placeholder and entity.attribute(
        template.names[0]
    ).type.kind in (
        "string",
        "enum",
    ):
        return dict_([('"S"', expr(template.names[0]))])
    return dict_([('"S"', 'f"' + "".join(parts) + '"')])


def key_parts(key: EntityKey) -> list[tuple[KeyAttribute, Template]]:
    """The key attributes of one key (table or index) and the templates that build them."""
    parts = [(key.pk_attribute, key.pk)]
    if key.sk is not None and key.sk_attribute is not None:
        parts.append((key.sk_attribute, key.sk))
    return parts


def key_entries(
    entity: Entity, key: EntityKey, prefix: str, formatted: dict[str, str] | None = None
) -> list[tuple[str, Node]]:
    return [
        (
            py_str(attribute.name),
            key_value(t, attribute.type, entity, prefix, formatted),
        )
        for attribute, t in key_parts(key)
    ]


@dataclass(frozen=True)
class IndexWrite:
    """The keys ``to_item`` writes for one index of an entity.

    ``optional`` lists the optional attributes of the index's templates: when there are any,
    the index is sparse and its keys are written only while all of them are set. ``parts``
    leaves out key attributes already written for the table or for a dense index before it
    (a local index repeats the table's partition key), so those are never written twice.
    """

    key: EntityKey
    optional: tuple[str, ...]
    parts: tuple[tuple[KeyAttribute, Template], ...]

    @property
    def name(self) -> str:
        assert self.key.index is not None
        return self.key.index

    @property
    def names(self) -> tuple[str, ...]:
        """The attribute names the written parts need, in template order."""
        return tuple(dict.fromkeys(n for _, t in self.parts for n in t.names))


def index_writes(entity: Entity) -> list[IndexWrite]:
    """What ``to_item`` writes for each index, in index order; updates rebuild the same."""
    written = {attribute.name for attribute, _ in key_parts(entity.key)}
    out = []
    for index_key in entity.index_keys:
        parts = tuple(
            (attribute, t)
            for attribute, t in key_parts(index_key)
            if attribute.name not in written
        )
        optional = tuple(_sparse_attributes(entity, index_key))
        if not optional:
            written.update(attribute.name for attribute, _ in parts)
        out.append(IndexWrite(index_key, optional, parts))
    return out


def key_params(entity: Entity, key: EntityKey) -> list[str]:
    names = list(dict.fromkeys(key.pk.names + (key.sk.names if key.sk else ())))
    return [f"{n}: {attribute_type(entity.name, entity.attribute(n))}" for n in names]


@dataclass(frozen=True)
class Signature:
    """A method signature with keyword-only parameters, exploded when it does not fit."""

    name: str
    params: list[str]
    returns: str
    first: str | tuple[str, ...] | None = None  # positional parameters after self
    is_method: bool = True

    def render(self, indent: int) -> str:
        items = ["self"] if self.is_method else []
        if self.first:
            items += [self.first] if isinstance(self.first, str) else list(self.first)
        if self.params:
            items += ["*", *self.params]
        node = Group(
            f"def {self.name}(", tuple(Atom(p) for p in items), f") -> {self.returns}:"
        )
        return layout.block(node, indent)


class RecordCode:
    """Code shared by entities and object types: slots, constructor, equality, converters."""

    def __init__(
        self,
        name: str,
        attributes: tuple[Attribute, ...],
        *,
        map_only: bool,
        key_widths: dict[str, int] | None = None,
        key_templates: dict[str, tuple[Template, ...]] | None = None,
    ) -> None:
        self.name = name
        self.attributes = attributes
        self.map_only = map_only  # object types convert to/from a map, entities an item
        self.key_widths = key_widths or {}  # zero-padded integers in key templates
        # The string key templates each attribute is written into (separator checks).
        self.key_templates = key_templates or {}

    def py_type(self, attribute: Attribute) -> str:
        return attribute_type(self.name, attribute)

    def slots(self) -> str:
        names = [
            py_str(n) for n in sorted((a.name for a in self.attributes), key=_natural)
        ]
        if len(names) == 1:
            return f"    __slots__ = ({names[0]},)"
        return layout.block(
            Group("(", tuple(Atom(n) for n in names), ")"), 4, "__slots__ = "
        )

    def annotations(self) -> str:
        lines = []
        for a in self.attributes:
            optional = a.optional and a.type.kind not in model.SET_TYPES
            line = f"    {a.name}: {self.py_type(a)}{' | None' if optional else ''}"
            doc = " ".join(a.doc.split())
            lines.append(f"{line}  # {doc}" if doc else line)
        return "\n".join(lines)

    def _param(self, a: Attribute) -> str:
        t = self.py_type(a)
        if a.default is not None:
            return f"{a.name}: {t} = {_literal(a)}"
        if a.type.kind == "version":
            return f"{a.name}: {t} = 0"
        if a.optional or a.generate or a.auto or a.type.kind in model.SET_TYPES:
            return f"{a.name}: {t} | None = None"
        return f"{a.name}: {t}"

    def init_signature(self) -> str:
        params = ["self", "*", *(self._param(a) for a in self.attributes)]
        return layout.block(
            Group("def __init__(", tuple(Atom(p) for p in params), ") -> None:"), 4
        )

    def init_body(self) -> str:
        lines = []
        for a in self.attributes:
            fill = None
            if a.generate:
                fill = f"wire.new_{a.generate}()"
            elif a.auto:
                fill = "wire.utc_now()"
            elif a.type.kind in model.SET_TYPES:
                fill = "set()"
            lead = f"self.{a.name} = "
            if fill is None:
                lines.append(layout.value_statement(lead, a.name, 8))
            else:
                lines.append(
                    layout.conditional(lead, fill, f"{a.name} is None", a.name, 8)
                )
        return "\n".join(lines)

    def eq_body(self) -> str:
        terms = [f"self.{a.name} == other.{a.name}" for a in self.attributes]
        return layout.and_chain("return ", terms, 8)

    def checks(self, owner: str, prefix: str = "self.") -> str:
        """Constraint checks before writing: straight-line comparisons, no loops over fields.

        A string written into keys is checked for separators first: that test also refuses a
        value that is not a string, before its length is taken.
        """
        out = []
        for a in self.attributes:
            expr = prefix + a.name
            templates = self.key_templates.get(a.name)
            if templates and a.type.kind == "string":
                where = f"{owner}.{a.name}"
                out += separator_check(where, expr, templates, optional=a.optional)
            out += _rules(owner, a, expr, optional=a.optional)
            width = self.key_widths.get(a.name)
            if width is not None:
                out += _width_check(owner, a, expr, width, optional=a.optional)
        return "\n".join(out)

    def encode_lines(
        self,
        target: str,
        base: list[tuple[str, Node]],
        indent: int = 8,
        formatted: dict[str, str] | None = None,
    ) -> str:
        """``target = {...}`` with required attributes, then optional ones added when set."""
        entries = list(base)
        later = []
        for a in self.attributes:
            expr = f"self.{a.name}"
            if formatted and a.name in formatted:
                value: Node = dict_([('"S"', formatted[a.name])])
            else:
                value = attribute_to_wire(self.name, a, expr)
            if a.type.kind == "version" and not self.map_only:
                entries.append((py_str(a.stored_as), value))
            elif a.optional or a.type.kind in model.SET_TYPES:
                test = (
                    f"if {expr}:"
                    if a.type.kind.endswith("_set")
                    else f"if {expr} is not None:"
                )
                later.append(" " * indent + test)
                later.extend(
                    layout.lay(value, indent + 4, f"{target}[{py_str(a.stored_as)}] = ")
                )
            else:
                entries.append((py_str(a.stored_as), value))
        head = layout.lay(
            dict_(entries),
            indent,
            f"{target}: {'dict[str, AttributeValue]' if self.map_only else 'Item'} = ",
        )
        return "\n".join(head + later)

    def decode_lines(self, source: str, target: str = "obj", indent: int = 12) -> str:
        pad = " " * indent
        lines = []
        for a in self.attributes:
            raw = f"{source}[{py_str(a.stored_as)}]"
            missing = _missing_value(a)
            if missing is None:
                lines.extend(
                    layout.lay(
                        attribute_from_wire(self.name, a, raw),
                        indent,
                        f"{target}.{a.name} = ",
                    )
                )
                continue
            lines.append(f"{pad}value = {source}.get({py_str(a.stored_as)})")
            decoded = layout.flat(attribute_from_wire(self.name, a, "value"))
            single = (
                f"{pad}{target}.{a.name} = {missing} if value is None else {decoded}"
            )
            if len(single) <= layout.LINE_LENGTH:
                lines.append(single)
            else:
                lines.append(f"{pad}if value is None:")
                lines.append(f"{pad}    {target}.{a.name} = {missing}")
                lines.append(f"{pad}else:")
                lines.extend(
                    layout.lay(
                        attribute_from_wire(self.name, a, "value"),
                        indent + 4,
                        f"{target}.{a.name} = ",
                    )
                )
        return "\n".join(lines)

    @property
    def decode_errors(self) -> str:
        return _DECODE_ERRORS


def _literal(a: Attribute) -> str:
    value = a.default
    if a.type.kind == "decimal":
        return f"Decimal({py_str(str(value))})"
    if a.type.kind == "float":
        return repr(float(value))
    if isinstance(value, str):
        return py_str(value)
    return repr(value)


def _missing_value(a: Attribute) -> str | None:
    """What an absent attribute reads as, or None when it is required."""
    if a.type.kind in model.SET_TYPES:
        return "set()"
    if a.optional:
        return "None"
    if a.default is not None:
        return _literal(a)
    return None


def _natural(name: str) -> list[Any]:
    """The order ruff's RUF023 keeps ``__slots__`` in: digits compare as numbers."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _rules(owner: str, a: Attribute, expr: str, *, optional: bool) -> list[str]:
    c = a.constraints
    kind = a.type.kind
    where = f"{owner}.{a.name}"
    guard = [f"{expr} is not None"] if optional else []
    bounded = c.min is not None or c.max is not None
    lines: list[str] = []
    # Bounds are compared with < and <=: a value of another type (a float for an integer, a
    # string for a decimal) is refused first, by the cheapest test that lets the usual type
    # through; the helper it calls accepts the other types the attribute takes (an int
    # subclass, an int for a decimal or a float) and raises for the rest. An unbounded
    # decimal or float is checked by its converter.
    if kind in INT_KINDS and not bounded:
        lines += int_checks(where, expr, optional=optional, ranged=kind == "integer")
    elif kind in INT_KINDS:
        test = f"type({expr}) is not int"
        lines += _check_if([*guard, test], "check_int", where, expr)
    elif kind == "decimal" and bounded:
        # NaN cannot be compared either: check_decimal reports it as rule "finite".
        terms = [f"type({expr}) is not Decimal", f"not {expr}.is_finite()"]
        lines.append(layout.or_chain("if ", terms, 8, ":", guard))
        lines += layout.lay(call("wire.check_decimal", py_str(where), expr), 12)
    elif kind == "float" and bounded:
        test = f"type({expr}) is not float"
        lines += _check_if([*guard, test], "check_float", where, expr)
    tests: list[tuple[str, str]] = []
    allowed = values_constant(owner, a)
    if kind == "enum":
        tests.append((f"{expr} not in {allowed}", "enum"))
    element = a.type.of
    if element is not None and element.kind == "enum" and kind in ("list", "map"):
        members = f"{expr}.values()" if kind == "map" else expr
        tests.append((f"not {allowed}.issuperset({members})", "enum"))
    bound = _decimal_literal if kind == "decimal" else repr
    # Both bounds: one chained comparison (half the work of two tests on the happy path).
    if c.min is not None and c.max is not None:
        low, high = bound(c.min), bound(c.max)
        tests.append((f"not {low} <= {expr} <= {high}", f"min {c.min}, max {c.max}"))
    elif c.min is not None:
        tests.append((f"{expr} < {bound(c.min)}", f"min {c.min}"))
    elif c.max is not None:
        tests.append((f"{expr} > {bound(c.max)}", f"max {c.max}"))
    low_len, high_len = c.min_length, c.max_length
    if low_len is not None and high_len is not None:
        rule = f"min_length {low_len}, max_length {high_len}"
        tests.append((f"not {low_len} <= len({expr}) <= {high_len}", rule))
    elif low_len is not None:
        tests.append((f"len({expr}) < {low_len}", f"min_length {low_len}"))
    elif high_len is not None:
        tests.append((f"len({expr}) > {high_len}", f"max_length {high_len}"))
    for test, rule in tests:
        lines += _raise_if(owner, a, [*guard, test], rule)
    if (
        kind == "integer"
        and bounded
        and not (
            c.min is not None
            and c.max is not None
            and -INT_LIMIT < c.min <= c.max < INT_LIMIT
        )
    ):
        lines += _int_range_check(where, expr, guard)
    if c.pattern is not None:
        # No None guard: wire.fullmatch lets None pass, and `a and not f(...)` is laid out
        # differently by the formatter than the other checks.
        lines += _raise_if(
            owner, a, [f"not wire.fullmatch({py_str(c.pattern)}, {expr})"], "pattern"
        )
    return lines


def _check_if(terms: list[str], helper: str, where: str, expr: str) -> list[str]:
    """``if <terms joined by and>: wire.<helper>(where, expr)``: a helper that raises."""
    return [
        layout.and_chain("if ", terms, 8, ":"),
        layout.block(call(f"wire.{helper}", py_str(where), expr), 12),
    ]


def _int_range_check(where: str, expr: str, guard: list[str]) -> list[str]:
    return _check_if([*guard, _in_range(expr)], "check_int", where, expr)


def _in_range(expr: str) -> str:
    # DynamoDB numbers hold 38 significant digits up to 1E+126: anything shorter than 38
    # digits fits (one comparison); longer values get the exact, slower check.
    return f"not wire.NEG_INT_LIMIT < {expr} < wire.INT_LIMIT"


def int_checks(
    where: str, expr: str, *, optional: bool = False, ranged: bool = False
) -> list[str]:
    """An integer-valued value without bounds to compare it with first: an int that is not a
    bool (``type(x) is not int`` lets the usual value through cheapest; wire.check_int takes
    other int subclasses). ``ranged``: also within DynamoDB's number range, in the same test,
    for values that are stored (integer attributes, deltas); a key, query or condition value
    out of range stores nothing, and DynamoDB refuses it (ValidationFailed)."""
    guard = [f"{expr} is not None"] if optional else []
    terms = [f"type({expr}) is not int", *([_in_range(expr)] if ranged else [])]
    return [
        layout.or_chain("if ", terms, 8, ":", guard),
        layout.block(call("wire.check_int", py_str(where), expr), 12),
    ]


def separator_check(
    where: str, expr: str, templates: Sequence[Template], *, optional: bool = False
) -> list[str]:
    """A string written into string keys must hold none of the separators of their
    templates, or it could name another item's key, or widen a begins_with query into
    other items. The cheap tests first; wire.check_key_text refuses a value that is not a
    string (a str subclass passes) or holds a separator, naming the rule, never the value."""
    separators = "".join(dict.fromkeys(c for t in templates for c in t.separators))
    if not separators:
        return []
    texts = dict.fromkeys(py_str(t.text) for t in templates if t.separators)
    terms = [
        f"type({expr}) is not str",
        *(f"{py_str(c)} in {expr}" for c in separators),
    ]
    guard = [f"{expr} is not None"] if optional else []
    check = call("wire.check_key_text", py_str(where), expr, py_str(separators), *texts)
    return [layout.or_chain("if ", terms, 8, ":", guard), *layout.lay(check, 12)]


@dataclass(frozen=True)
class KeyUse:
    """A value a method writes into keys: its expression, its attribute and the templates
    whose separators it must not hold (for a query, those of the stored keys it is compared
    with). ``optional``: None is a valid argument (an optional co-attribute)."""

    expr: str
    attribute: Attribute
    templates: tuple[Template, ...]
    optional: bool = False


def key_use_checks(owner: str, uses: Sequence[KeyUse]) -> list[str]:
    """Checks of values given as arguments (or read from ``self``) and written into keys,
    each once: strings hold no separator, enums are one of their values (a key cannot be
    forged from a value outside them), integers are ints. Dates and datetimes are checked
    by their converters."""
    lines = []
    for use in uses:
        a, expr = use.attribute, use.expr
        where = f"{owner}.{a.name}"
        kind = a.type.kind
        if kind == "string":
            lines += separator_check(where, expr, use.templates, optional=use.optional)
        elif kind == "enum":
            guard = [f"{expr} is not None"] if use.optional else []
            test = f"{expr} not in {values_constant(owner, a)}"
            lines += _raise_if(owner, a, [*guard, test], "enum")
        elif kind in INT_KINDS:
            lines += int_checks(where, expr, optional=use.optional)
    return lines


def _key_uses(
    entity: Entity, parts: Sequence[Template], prefix: str = ""
) -> list[KeyUse]:
    """One KeyUse per attribute of these templates, in order, with every template it is in."""
    names = dict.fromkeys(n for t in parts for n in t.names)
    return [
        KeyUse(
            prefix + n,
            entity.attribute(n),
            tuple(t for t in parts if n in t.names),
        )
        for n in names
    ]


def key_checks(entity: Entity, prefix: str) -> str:
    """The checks of ``key()`` (prefix ``self.``) and ``make_key()`` (no prefix)."""
    templates = [t for _, t in key_parts(entity.key)]
    return "\n".join(key_use_checks(entity.name, _key_uses(entity, templates, prefix)))


def _decimal_literal(value: float) -> str:
    """A bound for a decimal attribute, exact as written (a float literal would not be)."""
    return f"Decimal({py_str(str(value))})"


def values_constant(owner: str, a: Attribute) -> str:
    return f"_{upper(owner)}_{a.name.upper()}_VALUES"


def _raise_if(owner: str, a: Attribute, terms: list[str], rule: str) -> list[str]:
    """``if <terms joined by and>: raise wire.violation(...)``."""
    where = py_str(f"{owner}.{a.name}")
    return [
        layout.and_chain("if ", terms, 8, ":"),
        layout.block(call("wire.violation", where, py_str(rule)), 12, "raise "),
    ]


def enum_constants(owner: str, attributes: tuple[Attribute, ...]) -> list[str]:
    """The Literal alias and the allowed-values set for each enum attribute, and the set for
    lists and maps of enum values."""
    out = []
    for a in attributes:
        enum = a.type if a.type.kind == "enum" else a.type.of
        if (
            enum is None
            or enum.kind != "enum"
            or a.type.kind not in ("enum", "list", "map")
        ):
            continue
        values = tuple(Atom(py_str(v)) for v in enum.values)
        if a.type.kind == "enum":
            out.append(
                layout.block(
                    Group("Literal[", values, "]"), 0, f"{attribute_type(owner, a)} = "
                )
            )
        out.append(
            layout.block(
                call(
                    "frozenset",
                    Group("(", values, ")")
                    if len(values) > 1
                    else Atom(f"({values[0].text},)"),
                ),
                0,
                f"{values_constant(owner, a)} = ",
            )
        )
    return out


# --- tables ------------------------------------------------------------------------------------


def create_table_node(table: Table) -> Node:
    """CreateTable's parameters (less TableName) as a Python literal."""
    definitions: dict[str, str] = {table.pk.name: table.pk.type}
    key_schema = [_key_element(table.pk.name, "HASH")]
    if table.sk:
        definitions[table.sk.name] = table.sk.type
        key_schema.append(_key_element(table.sk.name, "RANGE"))
    for index in table.indexes:
        definitions[index.pk.name] = index.pk.type
        if index.sk:
            definitions[index.sk.name] = index.sk.type
    entries: list[tuple[str, Node | str]] = [
        ('"KeySchema"', Group("[", tuple(key_schema), "]")),
        (
            '"AttributeDefinitions"',
            Group(
                "[",
                tuple(
                    dict_(
                        [('"AttributeName"', py_str(n)), ('"AttributeType"', py_str(t))]
                    )
                    for n, t in sorted(definitions.items())
                ),
                "]",
            ),
        ),
        ('"BillingMode"', py_str(table.billing)),
    ]
    if table.capacity:
        entries.append(
            (
                '"ProvisionedThroughput"',
                _throughput(table.capacity.read, table.capacity.write),
            )
        )
    for local, label in (
        (False, '"GlobalSecondaryIndexes"'),
        (True, '"LocalSecondaryIndexes"'),
    ):
        indexes = [i for i in table.indexes if i.local == local]
        if indexes:
            entries.append(
                (label, Group("[", tuple(_index_node(i, table) for i in indexes), "]"))
            )
    if table.stream:
        entries.append(
            (
                '"StreamSpecification"',
                dict_(
                    [
                        ('"StreamEnabled"', "True"),
                        ('"StreamViewType"', py_str(table.stream)),
                    ]
                ),
            )
        )
    return dict_(entries)


def _key_element(name: str, kind: str) -> Node:
    return dict_([('"AttributeName"', py_str(name)), ('"KeyType"', py_str(kind))])


def _throughput(read: int, write: int) -> Node:
    return dict_(
        [('"ReadCapacityUnits"', str(read)), ('"WriteCapacityUnits"', str(write))]
    )


def _index_node(index: Index, table: Table) -> Node:
    keys = [_key_element(index.pk.name, "HASH")]
    if index.sk:
        keys.append(_key_element(index.sk.name, "RANGE"))
    projection: list[tuple[str, Node | str]] = [
        ('"ProjectionType"', py_str(index.projection))
    ]
    if index.include:
        projection.append(
            (
                '"NonKeyAttributes"',
                Group("[", tuple(Atom(py_str(n)) for n in index.include), "]"),
            )
        )
    entries: list[tuple[str, Node | str]] = [
        ('"IndexName"', py_str(index.name)),
        ('"KeySchema"', Group("[", tuple(keys), "]")),
        ('"Projection"', dict_(projection)),
    ]
    capacity = index.capacity or table.capacity
    if capacity and not index.local:
        entries.append(
            ('"ProvisionedThroughput"', _throughput(capacity.read, capacity.write))
        )
    return dict_(entries)


def table_definition(table: Table, const: str) -> str:
    key_names = [table.pk.name] + ([table.sk.name] if table.sk else [])
    names: Node = Group("(", tuple(Atom(py_str(n)) for n in key_names), ")")
    if len(key_names) == 1:
        names = Atom(f"({py_str(key_names[0])},)")
    args: list[Node] = [
        Pair("logical_name=", Atom(py_str(table.name))),
        Pair("name_env=", Atom(py_str(table.name_env))),
        Pair("key_names=", names),
        Pair("entity_type_attribute=", Atom(py_str(table.entity_type_attribute))),
        Pair("ttl_attribute=", Atom(py_str(table.ttl) if table.ttl else "None")),
        Pair("create_table=", create_table_node(table)),
    ]
    return layout.block(Group("TableDefinition(", tuple(args), ")"), 0, f"{const} = ")


# --- access patterns ---------------------------------------------------------------------------

_SORT_OPS = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_FILTER_OPS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class QueryCode:
    """A query over one key (table or index) of one or more entities: constant and call."""

    def __init__(
        self,
        table: Table,
        entity: Entity,
        key: EntityKey,
        pattern: AccessPattern | None,
        type_tags: list[str],
    ) -> None:
        self.table = table
        self.entity = entity
        self.key = key
        self.pattern = pattern
        self.type_tags = type_tags

    def params(self) -> list[str]:
        """Keyword parameters of the query method, in order: partition key, sort key, filters."""
        entity = self.entity
        out = [
            f"{n}: {attribute_type(entity.name, entity.attribute(n))}"
            for n in dict.fromkeys(self.key.pk.names)
        ]
        sort = self.pattern.sort if self.pattern else None
        if sort is not None:
            for n in dict.fromkeys(sort.template.names):
                if n in self.key.pk.names:
                    continue  # already a parameter
                t = attribute_type(entity.name, entity.attribute(n))
                out.extend(
                    f"{p}: {t}" for p in model.sort_params(sort.op, sort.template, n)
                )
        for f in self.pattern.filters if self.pattern else ():
            if f.op in ("exists", "not_exists"):
                continue
            attribute = entity.attribute(f.attribute)
            t = _filter_param_type(entity, attribute, f)
            names = (
                [f"{f.param}_from", f"{f.param}_to"] if f.op == "between" else [f.param]
            )
            out.extend(f"{p}: {t}" for p in names)
        return out

    def arguments(self) -> str:
        return ", ".join(f"{p.split(':')[0]}={p.split(':')[0]}" for p in self.params())

    def constant(self, name: str) -> str:
        names: dict[str, str] = {"#pk": self.key.pk_attribute.name}
        condition = "#pk = :pk"
        sort = self.pattern.sort if self.pattern else None
        if sort is not None and self.key.sk_attribute is not None:
            names["#sk"] = self.key.sk_attribute.name
            if sort.op == "begins_with":
                condition += " AND begins_with(#sk, :sk)"
            elif sort.op == "between":
                condition += " AND #sk BETWEEN :sk0 AND :sk1"
            else:
                condition += f" AND #sk {_SORT_OPS[sort.op]} :sk"
        names["#et"] = self.table.entity_type_attribute
        if len(self.type_tags) == 1:
            filters = ["#et = :et"]
        else:
            filters = [
                "#et IN ("
                + ", ".join(f":et{i}" for i in range(len(self.type_tags)))
                + ")"
            ]
        for i, f in enumerate(self.pattern.filters if self.pattern else ()):
            names[f"#f{i}"] = self.entity.attribute(f.attribute).stored_as
            filters.append(_filter_expression(i, f))
        entries: list[tuple[str, Node | str]] = []
        if self.key.index is not None:
            entries.append(('"IndexName"', py_str(self.key.index)))
        entries.append(('"KeyConditionExpression"', py_str(condition)))
        entries.append(('"FilterExpression"', py_str(" AND ".join(filters))))
        if self.pattern and self.pattern.projection:
            for i, attr in enumerate(self.pattern.projection):
                names[f"#p{i}"] = self.entity.attribute(attr).stored_as
            projected = ", ".join(f"#p{i}" for i in range(len(self.pattern.projection)))
            entries.append(('"ProjectionExpression"', py_str(projected)))
        entries.append(
            (
                '"ExpressionAttributeNames"',
                dict_([(py_str(k), py_str(v)) for k, v in names.items()]),
            )
        )
        if self.pattern and self.pattern.descending:
            entries.append(('"ScanIndexForward"', "False"))
        if self.pattern and self.pattern.consistent_read:
            entries.append(('"ConsistentRead"', "True"))
        return layout.block(dict_(entries), 0, f"{name}: dict[str, Any] = ")

    def values_node(self) -> Node:
        entity = self.entity
        entries: list[tuple[str, Node | str]] = []
        entries.append(
            ('":pk"', key_value(self.key.pk, self.key.pk_attribute.type, entity, ""))
        )
        sort = self.pattern.sort if self.pattern else None
        if sort is not None and self.key.sk_attribute is not None:
            sk_type = self.key.sk_attribute.type
            if sort.op == "between":
                # The lower bound takes <last>_from, the upper <last>_to; the placeholders
                # before the last are shared.
                last = sort.template.names[-1]
                for placeholder, suffix in (('":sk0"', "_from"), ('":sk1"', "_to")):
                    exprs = {last: last + suffix}
                    bound = key_value(sort.template, sk_type, entity, "", exprs=exprs)
                    entries.append((placeholder, bound))
            else:
                entries.append(('":sk"', key_value(sort.template, sk_type, entity, "")))
        if len(self.type_tags) == 1:
            entries.append(('":et"', dict_([('"S"', py_str(self.type_tags[0]))])))
        else:
            for i, tag in enumerate(self.type_tags):
                entries.append((f'":et{i}"', dict_([('"S"', py_str(tag))])))
        for i, f in enumerate(self.pattern.filters if self.pattern else ()):
            attribute = entity.attribute(f.attribute)
            if f.op in ("exists", "not_exists"):
                continue
            value_type = _filter_value_type(attribute, f)
            where = f"{entity.name}.{f.attribute}"
            for placeholder, param in _filter_params(i, f):
                entries.append((placeholder, to_wire(value_type, param, where)))
        return dict_(entries)

    def checks(self) -> str:
        """The parameters' checks, before any request: what key parts hold (see
        ``key_use_checks``) and integers in filters.

        A key part is checked against the separators of the template that the stored keys
        it is compared with were built from (the entity's template for this key), not of the
        condition's own template: the stored template decides where the parts of a stored key
        begin and end, so only its separators tell whether a value could reach into another
        item's part. A begins_with template is usually a prefix of the stored one anyway.
        """
        entity = self.entity
        uses: dict[str, KeyUse] = {}

        def use(param: str, name: str, stored: Template | None) -> None:
            known = uses.get(param)
            templates = known.templates if known else ()
            if stored is not None and stored not in templates:
                templates = (*templates, stored)
            uses[param] = KeyUse(param, entity.attribute(name), templates)

        for n in self.key.pk.names:
            use(n, n, self.key.pk)
        sort = self.pattern.sort if self.pattern else None
        if sort is not None and self.key.sk_attribute is not None:
            for n in dict.fromkeys(sort.template.names):
                params = (
                    [n]
                    if n in self.key.pk.names
                    else model.sort_params(sort.op, sort.template, n)
                )
                for param in params:
                    use(param, n, self.key.sk)
        lines = key_use_checks(entity.name, list(uses.values()))
        for i, f in enumerate(self.pattern.filters if self.pattern else ()):
            value_type = _filter_value_type(entity.attribute(f.attribute), f)
            if value_type.kind in INT_KINDS:
                for _, param in _filter_params(i, f):
                    lines += int_checks(f"{entity.name}.{f.attribute}", param)
        return "\n".join(lines)


def _filter_params(i: int, f: FilterCondition) -> list[tuple[str, str]]:
    """The value placeholders of filter ``i`` and the parameters that fill them."""
    if f.op in ("exists", "not_exists"):
        return []
    if f.op == "between":
        return [(f'":f{i}a"', f"{f.param}_from"), (f'":f{i}b"', f"{f.param}_to")]
    return [(f'":f{i}"', f.param)]


def _filter_value_type(attribute: Attribute, f: FilterCondition) -> TypeRef:
    if f.op == "contains" and attribute.type.kind in ("list", "number_set"):
        assert attribute.type.of is not None
        return attribute.type.of
    if f.op == "contains" and attribute.type.kind == "string_set":
        return TypeRef("string")
    if f.op == "contains" and attribute.type.kind == "binary_set":
        return TypeRef("binary")
    if f.op == "begins_with" or (f.op == "contains" and attribute.type.kind == "enum"):
        # A prefix of a date or datetime is a string such as "2026-11", not a full value.
        return TypeRef("string")
    return attribute.type


def _filter_param_type(entity: Entity, attribute: Attribute, f: FilterCondition) -> str:
    value_type = _filter_value_type(attribute, f)
    if value_type is attribute.type:
        return attribute_type(entity.name, attribute)
    return py_type(value_type)


def _filter_expression(i: int, f: FilterCondition) -> str:
    if f.op in _FILTER_OPS:
        return f"#f{i} {_FILTER_OPS[f.op]} :f{i}"
    if f.op == "between":
        return f"#f{i} BETWEEN :f{i}a AND :f{i}b"
    if f.op == "begins_with":
        return f"begins_with(#f{i}, :f{i})"
    if f.op == "contains":
        return f"contains(#f{i}, :f{i})"
    if f.op == "exists":
        return f"attribute_exists(#f{i})"
    assert f.op == "not_exists"
    return f"attribute_not_exists(#f{i})"


def entity_query(table: Table, entity: Entity, pattern: AccessPattern) -> QueryCode:
    return QueryCode(table, entity, pattern.key, pattern, [entity.type_tag])


def collection_query(
    table: Table, collection: Collection, entities: dict[str, Entity]
) -> QueryCode:
    first = entities[collection.entities[0]]
    return QueryCode(
        table,
        first,
        collection.key,
        None,
        [entities[e].type_tag for e in collection.entities],
    )


def object_code(obj: ObjectType) -> RecordCode:
    return RecordCode(obj.name, obj.fields, map_only=True)


def entity_code(entity: Entity) -> RecordCode:
    widths: dict[str, int] = {}
    templates: dict[str, tuple[Template, ...]] = {}
    for key in (entity.key, *entity.index_keys):
        for attribute, template in key_parts(key):
            widths.update(template.widths)
            if attribute.type != "S":
                continue
            for n in template.names:
                if template not in templates.get(n, ()):
                    templates[n] = (*templates.get(n, ()), template)
    return RecordCode(
        entity.name,
        entity.attributes,
        map_only=False,
        key_widths=widths,
        key_templates=templates,
    )


# --- entity and table helpers the templates call ------------------------------------------------


def pattern_const(entity: Entity, pattern: AccessPattern) -> str:
    return f"_{upper(entity.name)}_{pattern.name.upper()}"


def collection_const(collection: Collection) -> str:
    return f"_{collection.name.upper()}_COLLECTION"


def view_name(entity: Entity, pattern: AccessPattern) -> str:
    return f"{entity.name}{pascal(pattern.name)}View"


class ViewCode:
    """A read-only class holding the attributes an access pattern projects."""

    def __init__(self, entity: Entity, pattern: AccessPattern) -> None:
        self.name = view_name(entity, pattern)
        attributes = tuple(entity.attribute(n) for n in pattern.projection)
        self.record = RecordCode(entity.name, attributes, map_only=False)


def view_code(entity: Entity, pattern: AccessPattern) -> ViewCode:
    return ViewCode(entity, pattern)


def _argument_names(params: list[str]) -> list[str]:
    return [p.split(":")[0] for p in params]


def forward(params: list[str]) -> list[str]:
    """``name=name`` arguments passing a method's parameters on."""
    return [f"{n}={n}" for n in _argument_names(params)]


def repr_body(entity: Entity) -> str:
    """repr shows the key attributes only: items hold financial data and reprs reach logs."""
    key = entity.key
    names = list(dict.fromkeys(key.pk.names + (key.sk.names if key.sk else ())))
    inner = ", ".join(f"{n}={{self.{n}!r}}" for n in names)
    return layout.value_statement("return ", f'f"{entity.name}({inner})"', 8)


def _sparse_attributes(entity: Entity, key: EntityKey) -> list[str]:
    names = key.pk.names + (key.sk.names if key.sk else ())
    return [n for n in dict.fromkeys(names) if entity.attribute(n).optional]


def item_lines(entity: Entity, record: RecordCode) -> str:
    """The body of to_item: keys, entity type, attributes; sparse index keys when present.

    A required datetime that a key template uses is formatted once, into a local of its name,
    and reused for the keys and the attribute itself.
    """
    in_keys = key_template_names(entity)
    formatted = {
        a.name: a.name
        for a in entity.attributes
        if a.type.kind == "datetime" and not a.optional and a.name in in_keys
    }
    setup = [
        layout.block(
            call("wire.datetime_to_s", f"self.{n}", py_str(f"{entity.name}.{n}")),
            8,
            f"{n} = ",
        )
        for n in formatted
    ]
    dense: list[tuple[str, Node]] = list(
        key_entries(entity, entity.key, "self.", formatted)
    )
    sparse: list[tuple[tuple[str, ...], list[tuple[str, Node]]]] = []
    for write in index_writes(entity):
        entries = [
            (
                py_str(attribute.name),
                key_value(t, attribute.type, entity, "self.", formatted),
            )
            for attribute, t in write.parts
        ]
        if write.optional:
            sparse.append((write.optional, entries))
        else:
            dense.extend(entries)
    dense.append(
        (py_str(entity.type_attribute), dict_([('"S"', py_str(entity.type_tag))]))
    )
    lines = [*setup, record.encode_lines("item", dense, formatted=formatted)]
    for optional, entries in sparse:
        guards = [f"self.{n} is not None" for n in optional]
        lines.append(layout.and_chain("if ", guards, 8, ":"))
        for name, value in entries:
            lines.extend(layout.lay(value, 12, f"item[{name}] = "))
    return "\n".join(lines)


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def put_doc(entity: Entity) -> str:
    """The docstring of put_<entity>, indented for the method body."""
    version = _version(entity)
    if version is None:
        return (
            f'        """Write {article(entity.name)} {entity.name}, replacing any item with its key.\n\n'
            "        With ``if_not_exists`` the write fails with ConditionFailed instead.\n"
            '        """'
        )
    name = version.name
    return (
        f'        """Write {article(entity.name)} {entity.name}, optimistically locked on ``{name}``.\n\n'
        f"        {name} 0 creates the item; otherwise the stored {name} must match, or\n"
        f"        ConditionFailed is raised. On success ``{name}`` is incremented.\n"
        '        """'
    )


def _version(entity: Entity) -> Attribute | None:
    return next((a for a in entity.attributes if a.type.kind == "version"), None)


def _put_arguments(entity: Entity, call_target: str) -> Node:
    """``<target>(item, ..., if_not_exists=..., version=..., expected_version=expected)``."""
    version = _version(entity)
    args: list[Node | str] = ["item"]
    if call_target.endswith("put_item"):
        args.append(Pair("entity=", Atom(py_str(entity.name))))
    args.append(Pair("if_not_exists=", Atom("if_not_exists")))
    if version is not None:
        args.append(Pair("version=", Atom(py_str(version.stored_as))))
        args.append(Pair("expected_version=", Atom("expected")))
    args.append(Pair("when=", Atom("when")))
    if call_target.endswith("put_item"):
        args.append(Pair("old_on_failure=", Atom("old_on_failure")))
    return call(call_target, *args)


def _item_for_put(entity: Entity, var: str, indent: int) -> list[str]:
    """``item = <var>.to_item()``, with the next version written when the entity has one."""
    pad = " " * indent
    lines = [f"{pad}item = {var}.to_item()"]
    version = _version(entity)
    if version is not None:
        # With if_not_exists the item is new whatever the object says: it starts at 1.
        lines.append(f"{pad}expected = 0 if if_not_exists else {var}.{version.name}")
        lines.append(
            f'{pad}item[{py_str(version.stored_as)}] = {{"N": str(expected + 1)}}'
        )
    return lines


def put_body(table: Table, entity: Entity, var: str) -> str:
    """put_<entity>: refresh ``auto: update`` timestamps, write (conditionally with a version).

    The object changes only when the write succeeds: timestamps are restored on failure and
    the version is incremented after success.
    """
    touched = [a.name for a in entity.attributes if a.auto == "update"]
    indent = 12 if touched else 8
    body = _item_for_put(entity, var, indent)
    body += layout.lay(_put_arguments(entity, "self.handle.put_item"), indent)
    if touched:
        lines = [f"        previous_{n} = {var}.{n}" for n in touched]
        lines += [f"        {var}.{n} = wire.utc_now()" for n in touched]
        lines.append("        try:")
        lines += body
        lines.append("        except BaseException:")
        lines += [f"            {var}.{n} = previous_{n}" for n in touched]
        lines.append("            raise")
    else:
        lines = body
    version = _version(entity)
    if version is not None:
        lines.append(f"        {var}.{version.name} = expected + 1")
    return "\n".join(lines)


def tx_put_body(entity: Entity, var: str) -> str:
    """tx_put_<entity>: the same item and condition as put_<entity>, applied on commit.

    The item carries fresh ``auto: update`` timestamps, but the object itself changes (new
    timestamps, next version) only once the transaction commits.
    """
    touched = [a.name for a in entity.attributes if a.auto == "update"]
    version = _version(entity)
    lines = ["        now = wire.utc_now()"] if touched else []
    for n in touched:
        lines.append(f"        previous_{n} = {var}.{n}")
        lines.append(f"        {var}.{n} = now")
    if touched:
        lines.append("        try:")
        lines += _item_for_put(entity, var, 12)
        lines.append("        finally:")
        lines += [f"            {var}.{n} = previous_{n}" for n in touched]
    else:
        lines += _item_for_put(entity, var, 8)
    lines += layout.lay(
        _put_arguments(entity, "self.handle.put_request"), 8, "request = "
    )
    args: list[Node | str] = [
        "self.handle",
        '"Put"',
        "request",
        Pair("entity=", Atom(py_str(entity.name))),
    ]
    if touched or version is not None:
        lines.append("")
        lines.append("        def committed() -> None:")
        lines += [f"            {var}.{n} = now" for n in touched]
        if version is not None:
            lines.append(f"            {var}.{version.name} = expected + 1")
        lines.append("")
        args.append(Pair("after_commit=", Atom("committed")))
    lines += layout.lay(call("tx.add", *args), 8)
    return "\n".join(lines)


def query_request(query: QueryCode, const: str) -> Node:
    """The precomputed request constant with this call's key and filter values."""
    return Group(
        "{",
        (
            Pair("**", Atom(const)),
            Pair('"ExpressionAttributeValues": ', query.values_node()),
        ),
        "}",
    )


def query_call(query: QueryCode, const: str, pattern_id: str) -> Node:
    return call(
        "self.handle.query",
        query_request(query, const),
        Pair(
            "entity=", Atom(py_str(query.entity.name if query.pattern else pattern_id))
        ),
        Pair("pattern=", Atom(py_str(pattern_id))),
        Pair("limit=", Atom("limit")),
        Pair("cursor=", Atom("cursor")),
    )


def count_call(query: QueryCode, const: str) -> Node:
    return call(
        "self.handle.count",
        query_request(query, const),
        Pair("entity=", Atom(py_str(query.entity.name))),
    )


def scan_const(entity: Entity) -> str:
    return f"_{upper(entity.name)}_SCAN"


def scan_constant(entity: Entity) -> str:
    """A scan's request: only this entity's items (the entity-type filter)."""
    request = dict_(
        [
            ('"FilterExpression"', py_str("#et = :et")),
            (
                '"ExpressionAttributeNames"',
                dict_([('"#et"', py_str(entity.type_attribute))]),
            ),
            (
                '"ExpressionAttributeValues"',
                dict_([('":et"', dict_([('"S"', py_str(entity.type_tag))]))]),
            ),
        ]
    )
    return layout.block(request, 0, f"{scan_const(entity)}: dict[str, Any] = ")


def page_of(result: str) -> Node:
    items = Group(
        "[", (Atom(f"{result}.from_item(item)"), Atom("for item in items")), "]", True
    )
    return call("Page", items, "next_cursor")


def has_version(entity: Entity) -> bool:
    """Versioned entities get no batch_put: a batch write cannot check the version."""
    return _version(entity) is not None


def batch_result(entity: str) -> Node:
    decoded = Atom(f"None if item is None else {entity}.from_item(item)")
    items = Group("[", (decoded, Atom("for item in items")), "]", True)
    return call("BatchGet", items, "unprocessed")


def batch_put_body(entity: Entity) -> str:
    lines = ["        written = list(objects)"]
    touched = [a.name for a in entity.attributes if a.auto == "update"]
    if touched:
        lines.append("        now = wire.utc_now()")
        lines.append("        for obj in written:")
        lines += [f"            obj.{n} = now" for n in touched]
    lines.append("        items = [obj.to_item() for obj in written]")
    lines += layout.lay(
        call(
            "batch.write_many",
            "self.handle",
            "items",
            "[]",
            f"entity={py_str(entity.name)}",
        ),
        8,
        "left, _ = ",
    )
    lines.append(
        "        unwritten = {batch.identity(self.handle, item) for item in left}"
    )
    pairs = Group(
        "[",
        (
            Atom("obj"),
            Atom("for obj, item in zip(written, items, strict=True)"),
            Atom("if batch.identity(self.handle, item) in unwritten"),
        ),
        "]",
        True,
    )
    lines += layout.lay(pairs, 8, "return ")
    return "\n".join(lines)


# --- updates -------------------------------------------------------------------------------------

_NUMBERS = ("integer", "decimal", "float")


def key_template_names(entity: Entity) -> set[str]:
    names: set[str] = set()
    for key in (entity.key, *entity.index_keys):
        for _, template in key_parts(key):
            names.update(template.names)
    return names


def table_key_names(entity: Entity) -> set[str]:
    """The attributes that identify the item: the placeholders of the table key templates."""
    return {n for _, t in key_parts(entity.key) for n in t.names}


def _maintained(a: Attribute) -> bool:
    """Set by the runtime on every write (auto timestamps, the version), never by a builder."""
    return a.auto is not None or a.type.kind == "version"


def updatable(entity: Entity) -> list[Attribute]:
    """Attributes an update may change freely: in no key template, and not maintained by the
    runtime (version, auto timestamps)."""
    in_keys = key_template_names(entity)
    return [
        a for a in entity.attributes if a.name not in in_keys and not _maintained(a)
    ]


def index_updatable(entity: Entity) -> list[Attribute]:
    """Attributes only index key templates use: ``set_`` and ``remove_`` rebuild those keys in
    the same request. Table key attributes identify the item and are never updated."""
    in_table_key = table_key_names(entity)
    in_index_keys = {n for w in index_writes(entity) for n in w.names}
    return [
        a
        for a in entity.attributes
        if a.name in in_index_keys and a.name not in in_table_key and not _maintained(a)
    ]


def has_update_builder(entity: Entity) -> bool:
    """Whether ``<Entity>Update``, ``update_<e>`` and ``tx_update_<e>`` are generated."""
    return bool(updatable(entity) or index_updatable(entity))


def update_class(entity: Entity) -> str:
    return f"{entity.name}Update"


def update_method_name(verb: str, a: Attribute) -> str:
    return f"set_{a.name}_if_absent" if verb == "set_if_absent" else f"{verb}_{a.name}"


def _update_method(
    entity: Entity,
    a: Attribute,
    verb: str,
    param: str,
    doc: str,
    checks: list[str] | None = None,
    value: Node | None = None,
    *,
    keywords: list[str] | None = None,
    keys: list[str] | None = None,
) -> str:
    """One builder method: check the arguments, record the change (the base method of the
    verb, with the stored name, the ``Entity.attribute`` label and the wire value), then
    rebuild the index ``keys`` built from it (``keywords`` are the other attributes they need)."""
    cls = update_class(entity)
    signature = Signature(
        update_method_name(verb, a), keywords or [], cls, first=param or None
    ).render(4)
    arguments: list[Node | str] = [
        py_str(a.stored_as),
        py_str(f"{entity.name}.{a.name}"),
    ]
    if value is not None:
        arguments.append(value)
    change = layout.lay(call(f"self._{verb}", *arguments), 8)
    return "\n".join(
        [
            signature,
            f'        """{doc}"""',
            *(checks or []),
            *change,
            *(keys or []),
            "        return self",
        ]
    )


def update_verbs(entity: Entity) -> list[tuple[Attribute, str]]:
    """Every builder method as (attribute, verb), in the order the builder defines them."""
    free = {a.name for a in updatable(entity)}
    in_index = {a.name for a in index_updatable(entity)}
    out: list[tuple[Attribute, str]] = []
    for a in entity.attributes:
        kind = a.type.kind
        removable = a.optional or kind in model.SET_TYPES
        if a.name in in_index:
            # Only set and remove: an index key can follow a value it is given, not one
            # DynamoDB computes (add) or one that may be kept (if_not_exists).
            out += [(a, "set"), *([(a, "remove")] if removable else [])]
            continue
        if a.name not in free:
            continue
        out += [(a, "set"), (a, "set_if_absent")]
        out += [(a, "remove")] if removable else []
        out += [(a, "add")] if kind in _NUMBERS else []
        out += [(a, "add"), (a, "delete")] if kind in model.SET_TYPES else []
        out += [(a, "append")] if kind == "list" else []
    return out


def update_methods(entity: Entity) -> list[str]:
    """The methods of ``<Entity>Update``: set, and per type remove, add, delete, append; only
    set and remove for attributes of index keys, which also rebuild those keys."""
    in_index = {a.name for a in index_updatable(entity)}
    methods = []
    for a, verb in update_verbs(entity):
        if a.name in in_index:
            methods.append(_index_update_method(entity, a, verb))
        else:
            methods.append(_free_update_method(entity, a, verb))
    return methods


def _free_update_method(entity: Entity, a: Attribute, verb: str) -> str:
    t = attribute_type(entity.name, a)
    where = f"{entity.name}.{a.name}"
    if verb in ("set", "set_if_absent"):
        checks = _rules(entity.name, a, "value", optional=False)
        value = attribute_to_wire(entity.name, a, "value")
        doc = (
            f"Set {a.name}."
            if verb == "set"
            else f"Set {a.name} unless the stored item has it already."
        )
        return _update_method(entity, a, verb, f"value: {t}", doc, checks, value)
    if verb == "remove":
        return _update_method(entity, a, "remove", "", f"Remove {a.name}.")
    if verb in ("add", "delete") and a.type.kind in model.SET_TYPES:
        empty = _raise_if(entity.name, a, ["not values"], "non-empty set")
        members = to_wire(a.type, "values", where)
        what = "Add members to" if verb == "add" else "Remove members from"
        return _update_method(
            entity, a, verb, f"values: {t}", f"{what} {a.name}.", empty, members
        )
    if verb == "add":
        # No constraint applies to a delta (the stored result is not known in advance),
        # but it must be a number DynamoDB takes; decimals and floats: their converters.
        ranged = a.type.kind == "integer"
        checks = int_checks(where, "delta", ranged=True) if ranged else []
        delta = to_wire(a.type, "delta", where)
        doc = f"Add delta to {a.name}, atomically."
        return _update_method(entity, a, "add", f"delta: {t}", doc, checks, delta)
    assert verb == "append"
    check = []
    if a.type.of is not None and a.type.of.kind == "enum":
        allowed = values_constant(entity.name, a)
        check = _raise_if(entity.name, a, [f"not {allowed}.issuperset(values)"], "enum")
    items = attribute_to_wire(entity.name, a, "values")
    doc = f"Append to {a.name}."
    return _update_method(entity, a, "append", f"values: {t}", doc, check, items)


def index_rebuilds(
    entity: Entity, a: Attribute
) -> list[tuple[IndexWrite, tuple[tuple[KeyAttribute, Template], ...]]]:
    """The index keys a change of ``a`` rebuilds, by index. A dense index rebuilds only the
    keys whose template names ``a``; a sparse index all of its keys, because whether it
    holds the item at all depends on every optional attribute of its templates."""
    out = []
    for write in index_writes(entity):
        if a.name not in write.names:
            continue
        parts = (
            write.parts
            if write.optional
            else tuple(p for p in write.parts if a.name in p[1].names)
        )
        out.append((write, parts))
    return out


def _and_list(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _index_update_method(entity: Entity, a: Attribute, verb: str) -> str:
    """``set_<a>(value, *, <co-attributes>)`` or ``remove_<a>()`` for an attribute of index
    keys: the attribute's clause, then the index keys rebuilt exactly as ``to_item`` builds
    them (or removed, where a sparse index stops holding the item)."""
    owner = entity.name
    rebuilds = index_rebuilds(entity, a)
    indexes = _and_list([w.name for w, _ in rebuilds])
    if verb == "remove":
        # ``a`` is optional, so every index that uses it is sparse: the item leaves them.
        removals = [
            line
            for _, parts in rebuilds
            for attribute, _ in parts
            for line in layout.lay(
                call("self._remove_key", py_str(attribute.name), py_str(owner)), 8
            )
        ]
        word = "indexes" if len(rebuilds) > 1 else "index"
        doc = f"Remove {a.name}; the item leaves {word} {indexes}."
        return _update_method(entity, a, "remove", "", doc, keys=removals)
    co_names = list(
        dict.fromkeys(
            n for _, parts in rebuilds for _, t in parts for n in t.names if n != a.name
        )
    )
    param = "value"
    while param in co_names:  # an attribute may itself be called ``value``
        param += "_"
    keywords = []
    for n in co_names:
        co = entity.attribute(n)
        none = " | None" if co.optional else ""
        keywords.append(f"{n}: {attribute_type(owner, co)}{none}")
    # The string keys rebuilt here, by the attributes written into them: a value and each
    # co-attribute is checked once, against the separators of all of them.
    rebuilt = [t for _, parts in rebuilds for key, t in parts if key.type == "S"]

    def templates(name: str) -> tuple[Template, ...]:
        return tuple(dict.fromkeys(t for t in rebuilt if name in t.names))

    checks = []
    if a.type.kind == "string":
        checks += separator_check(f"{owner}.{a.name}", param, templates(a.name))
    checks += _rules(owner, a, param, optional=False)
    width = entity_code(entity).key_widths.get(a.name)
    if width is not None:
        checks += _width_check(owner, a, param, width)
    co_widths = {
        n: w for _, parts in rebuilds for _, t in parts for n, w in t.widths.items()
    }
    for n in co_names:
        co = entity.attribute(n)
        use = KeyUse(n, co, templates(n), optional=co.optional)
        checks += key_use_checks(owner, [use])
        if n in co_widths:
            checks += _width_check(owner, co, n, co_widths[n], optional=co.optional)
    value = attribute_to_wire(owner, a, param)
    exprs = {a.name: param}
    keys: list[str] = []
    any_optional = False
    for write, parts in rebuilds:
        sets = [
            call(
                "self._set_key",
                py_str(attribute.name),
                key_value(t, attribute.type, entity, "", exprs=exprs),
                py_str(owner),
            )
            for attribute, t in parts
        ]
        optional = [n for n in write.optional if n != a.name]
        if not optional:
            for node in sets:
                keys += layout.lay(node, 8)
            continue
        # A None argument means the stored item lacks that attribute, so to_item would not
        # write this sparse index's keys: remove them, and the item leaves the index.
        any_optional = True
        keys.append(
            layout.and_chain("if ", [f"{n} is not None" for n in optional], 8, ":")
        )
        for node in sets:
            keys += layout.lay(node, 12)
        keys.append("        else:")
        for attribute, _ in parts:
            keys += layout.lay(
                call("self._remove_key", py_str(attribute.name), py_str(owner)), 12
            )
    for n in co_names:
        keys += _expectation(entity, entity.attribute(n))
    count = sum(len(parts) for _, parts in rebuilds)
    doc = f"Set {a.name} and rebuild the {indexes} key{'s' if count > 1 else ''} using it."
    notes = []
    if co_names:
        notes.append(
            f"The stored {_and_list(co_names)} must be as given, or ConditionFailed."
        )
    if any_optional:
        notes.append(
            "A None argument removes the keys of a sparse index: the item leaves it."
        )
    if notes:
        doc += "".join(f"\n\n        {note}" for note in notes) + "\n        "
    return _update_method(
        entity,
        a,
        "set",
        f"{param}: {attribute_type(owner, a)}",
        doc,
        checks,
        value,
        keywords=keywords,
        keys=keys,
    )


def _expectation(entity: Entity, co: Attribute) -> list[str]:
    """The condition that the stored item holds the co-attribute as given: a wrong argument
    fails the update (ConditionFailed) instead of writing a wrong index key."""
    stored, owner = py_str(co.stored_as), py_str(entity.name)
    present = layout.lay(
        call(
            "self._expect", stored, attribute_to_wire(entity.name, co, co.name), owner
        ),
        12 if co.optional else 8,
    )
    if not co.optional:
        return present
    absent = layout.lay(call("self._expect", stored, "None", owner), 12)
    return [f"        if {co.name} is None:", *absent, "        else:", *present]


def _width_check(
    owner: str, a: Attribute, expr: str, width: int, *, optional: bool = False
) -> list[str]:
    """The zero-pad width check of ``RecordCode.checks``: padded keys sort as numbers only
    while every value has exactly ``width`` digits."""
    guard = [f"{expr} is not None"] if optional else []
    test = f"not 0 <= {expr} < {10**width}"
    return _raise_if(owner, a, [*guard, test], f"key width {width}")


def touched_keys(entity: Entity) -> list[tuple[KeyAttribute, Template]]:
    """Index keys built from ``auto: update`` attributes: every update rebuilds them with the
    new time. Validation (DG218) ensures their other placeholders are table key attributes,
    which update methods take as parameters, and that their index is not sparse."""
    auto = {a.name for a in entity.attributes if a.auto == "update"}
    return [
        (attribute, t)
        for write in index_writes(entity)
        if not write.optional
        for attribute, t in write.parts
        if auto.intersection(t.names)
    ]


def _key_argument(entity: Entity) -> Node:
    """``<Entity>.make_key(a=a, b=b)`` from a method's own key parameters."""
    return call(f"{entity.name}.make_key", *forward(key_params(entity, entity.key)))


def _version_arguments(entity: Entity) -> list[Node | str]:
    version = _version(entity)
    if version is None:
        return []
    return [
        Pair("version=", Atom(py_str(version.stored_as))),
        Pair("expected_version=", Atom("expected_version")),
    ]


def _update_arguments(entity: Entity) -> list[Node | str]:
    """What update.request and update.apply both take, up to ``when``."""
    touched: list[tuple[str, Node | str]] = [
        (py_str(a.stored_as), dict_([('"S"', "now")]))
        for a in entity.attributes
        if a.auto == "update"
    ]
    # Index keys built from those timestamps move with them; the other placeholders of such
    # keys are table key attributes, the method's own parameters.
    now = {a.name: "now" for a in entity.attributes if a.auto == "update"}
    touched += [
        (py_str(attribute.name), key_value(t, attribute.type, entity, "", now))
        for attribute, t in touched_keys(entity)
    ]
    return [
        "self.handle",
        _key_argument(entity),
        "changes",
        Pair("entity=", Atom(py_str(entity.name))),
        Pair("touched=", dict_(touched) if touched else Atom("{}")),
        *_version_arguments(entity),
    ]


def update_call(table: Table, entity: Entity) -> Node:
    return call(
        "update.apply",
        *_update_arguments(entity),
        Pair("returning=", Atom("returning")),
        Pair("when=", Atom("when")),
        Pair("old_on_failure=", Atom("old_on_failure")),
        Pair("retry_safe=", Atom("retry_safe")),
    )


def update_params(entity: Entity) -> list[str]:
    params = key_params(entity, entity.key)
    if _version(entity) is not None:
        params.append("expected_version: int | None = None")
    params.append('returning: Literal["new", "old", "none"] = "new"')
    return [*params, when_param(entity), OLD_ON_FAILURE, "retry_safe: bool = False"]


def update_doc(entity: Entity) -> str:
    """The docstring of update_<e>, indented for the method body."""
    version = " or expected_version" if has_version(entity) else ""
    risky = []
    verbs = update_verbs(entity)
    if any(v == "add" and a.type.kind in _NUMBERS for a, v in verbs):
        risky.append("an add_ of a number")
    if any(v == "append" for _, v in verbs):
        risky.append("an append_")
    if has_version(entity):
        risky.append("any update without expected_version")
    if risky:
        use = (
            f"Use it for changes that are not safe to repeat ({_or_list(risky)}), which"
            " are otherwise not resent once a request may have reached DynamoDB."
        )
    else:
        use = f"Every change of {update_class(entity)} is safe to repeat, so it is rarely needed."
    retry = (
        "``retry_safe=True`` sends the update as a one-action transaction with a client"
        " request token, so that a resend is never applied twice. "
        + use
        + ' It costs two write units per KB instead of one; "new" is then read back'
        " separately, consistently (another writer may have changed the item since),"
        ' and "old" is refused.'
    )
    pad = " " * 8
    lines = [
        f'{pad}"""Apply ``changes`` to the stored {entity.name} in one request.',
        "",
        f"{pad}NotFound if there is no such item; ConditionFailed if ``when``{version} fails.",
        f'{pad}Returns the item after ("new") or before ("old") the update, or None ("none").',
        "",
        *textwrap.wrap(
            retry,
            width=layout.LINE_LENGTH,
            initial_indent=pad,
            subsequent_indent=pad,
            break_on_hyphens=False,
        ),
        f'{pad}"""',
    ]
    return "\n".join(lines)


def _or_list(words: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def update_setup(entity: Entity) -> str:
    """The first lines of update_<e> and tx_update_<e>: the current time for ``auto: update``
    attributes, after checking what only the index keys built from it hold.

    Those keys take the method's key parameters, which make_key checks against the table key
    templates; a separator that only such an index key template has is checked here.
    """
    auto = [a for a in entity.attributes if a.auto == "update"]
    if not auto:
        return ""
    table = [t for key, t in key_parts(entity.key) if key.type == "S"]
    touched = [t for key, t in touched_keys(entity) if key.type == "S"]
    lines = []
    for n in dict.fromkeys(n for t in touched for n in t.names):
        a = entity.attribute(n)
        if a.auto is not None or a.type.kind != "string":
            continue
        known = {c for t in table if n in t.names for c in t.separators}
        more = [t for t in touched if n in t.names and set(t.separators) - known]
        if more:
            stored = [t for t in table if n in t.names]
            lines += separator_check(f"{entity.name}.{n}", n, [*stored, *more])
    label = py_str(f"{entity.name}.{auto[0].name}")
    lines += layout.lay(
        call("wire.datetime_to_s", "wire.utc_now()", label), 8, "now = "
    )
    return "\n".join(lines)


def delete_params(entity: Entity) -> list[str]:
    params = [*key_params(entity, entity.key), "must_exist: bool = False"]
    if _version(entity) is not None:
        params.append("expected_version: int | None = None")
    return [*params, "return_old: bool = False", when_param(entity), OLD_ON_FAILURE]


def delete_call(entity: Entity) -> Node:
    return call(
        "self.handle.delete_item",
        _key_argument(entity),
        Pair("entity=", Atom(py_str(entity.name))),
        Pair("must_exist=", Atom("must_exist")),
        *_version_arguments(entity),
        Pair("return_old=", Atom("return_old")),
        Pair("when=", Atom("when")),
        Pair("old_on_failure=", Atom("old_on_failure")),
    )


def tx_delete_call(entity: Entity, kind: str) -> Node:
    """tx.add(...) of a Delete or a ConditionCheck (same key and conditions)."""
    request = call(
        "self.handle.key_request",
        _key_argument(entity),
        Pair("must_exist=", Atom("must_exist")),
        *_version_arguments(entity),
        Pair("when=", Atom("when")),
    )
    return call(
        "tx.add", "self.handle", py_str(kind), request, f"entity={py_str(entity.name)}"
    )


def tx_update_call(table: Table, entity: Entity) -> Node:
    request = call(
        "update.request", *_update_arguments(entity), Pair("when=", Atom("when"))
    )
    return call(
        "tx.add", "self.handle", '"Update"', request, f"entity={py_str(entity.name)}"
    )


def tx_key_params(entity: Entity, *, check: bool) -> list[str]:
    params = [*key_params(entity, entity.key)]
    params.append(f"must_exist: bool = {'True' if check else 'False'}")
    if _version(entity) is not None:
        params.append("expected_version: int | None = None")
    return [*params, when_param(entity)]


def tx_update_params(entity: Entity) -> list[str]:
    params = key_params(entity, entity.key)
    if _version(entity) is not None:
        params.append("expected_version: int | None = None")
    return [*params, when_param(entity)]


# --- conditions ----------------------------------------------------------------------------------


def when_class(entity: Entity) -> str:
    return f"{entity.name}When"


def when_methods(entity: Entity) -> list[str]:
    """The methods of ``<Entity>When``, by attribute type; none for encrypted attributes."""
    cls = when_class(entity)
    methods = []

    def method(
        name: str, params: list[str], doc: str, body: Node, checks: list[str]
    ) -> None:
        signature = layout.block(
            Group(
                f"def {name}(",
                tuple(Atom(p) for p in ["self", *params]),
                f") -> {cls}:",
            ),
            4,
        )
        lines = [
            signature,
            f'        """{doc}"""',
            *checks,
            *layout.lay(body, 8),
            "        return self",
        ]
        methods.append("\n".join(lines))

    def checked(where: str, t: TypeRef, *exprs: str) -> list[str]:
        """Integers compared in a condition must be ints (converters check the other types)."""
        if t.kind not in INT_KINDS:
            return []
        return [line for e in exprs for line in int_checks(where, e)]

    for a in entity.attributes:
        if a.encrypted:
            continue
        n, kind = a.name, a.type.kind
        where = f"{entity.name}.{n}"
        t = attribute_type(entity.name, a)
        ref = (py_str(f"#c_{n}"), py_str(a.stored_as))
        if kind in model.ORDERED_TYPES or kind in ("boolean", "binary"):
            ops = "Comparison" if kind in model.ORDERED_TYPES else "Equality"
            body = call("self._compare", *ref, "op", to_wire(a.type, "value", where))
            params = [f"op: {ops}", f"value: {t}"]
            doc = f"Compare {n} with value."
            method(n, params, doc, body, checked(where, a.type, "value"))
        if kind in model.ORDERED_TYPES:
            body = call(
                "self._between",
                *ref,
                to_wire(a.type, "low", where),
                to_wire(a.type, "high", where),
            )
            method(
                f"{n}_between",
                [f"low: {t}", f"high: {t}"],
                f"{n} from low to high.",
                body,
                checked(where, a.type, "low", "high"),
            )
        if kind in ("string", "enum"):
            body = call(
                "self._function",
                '"begins_with"',
                *ref,
                to_wire(TypeRef("string"), "prefix", where),
            )
            doc = f"{n} starts with prefix."
            method(f"{n}_begins_with", ["prefix: str"], doc, body, [])
        member = _member_type(a.type)
        if member is not None:
            value = to_wire(member, "member", where)
            body = call("self._function", '"contains"', *ref, value)
            doc = f"{n} contains member."
            params = [f"member: {py_type(member)}"]
            method(f"{n}_contains", params, doc, body, checked(where, member, "member"))
        if a.optional or kind in model.SET_TYPES:
            body = call("self._presence", '"attribute_exists"', *ref)
            method(f"{n}_exists", [], f"{n} is stored.", body, [])
            body = call("self._presence", '"attribute_not_exists"', *ref)
            method(f"{n}_missing", [], f"{n} is not stored.", body, [])
    return methods


def _member_type(t: TypeRef) -> TypeRef | None:
    """What ``contains`` takes for this type: a substring, a set member or a list element."""
    if t.kind == "string" or t.kind == "string_set":
        return TypeRef("string")
    if t.kind == "binary_set":
        return TypeRef("binary")
    if t.kind in ("number_set", "list") and t.of is not None and t.of.kind != "object":
        return t.of
    return None


# On ConditionFailed, have DynamoDB return the stored item (exc.item), at no extra cost.
OLD_ON_FAILURE = "old_on_failure: bool = False"


def when_param(entity: Entity) -> str:
    return f"when: {when_class(entity)} | None = None"
