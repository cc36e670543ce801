"""What the templates need to know about the model, computed once in Python.

The templates write the generated code; these helpers only answer questions about the model:
names, type annotations, the parts and separators of keys, which checks a value gets, what a
query sends, which index keys an update rebuilds. None of them writes a statement or an
expression: the code a user gets is in ``dynamorm_gen/templates``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dynamorm_gen.compiler import model
from dynamorm_gen.compiler.layout import py_str
from dynamorm_gen.compiler.model import (
    AccessPattern,
    Attribute,
    Collection,
    Entity,
    EntityKey,
    FilterCondition,
    KeyAttribute,
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
NUMBER_KINDS = ("integer", "decimal", "float")  # what add_ takes a delta for
SET_TYPES = model.SET_TYPES
COLLECTION_TYPES = model.COLLECTION_TYPES
ORDERED_TYPES = model.ORDERED_TYPES


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


def enum_alias(owner: str, attribute: Attribute) -> str:
    return owner + pascal(attribute.name)


def values_constant(owner: str, a: Attribute) -> str:
    return f"_{upper(owner)}_{a.name.upper()}_VALUES"


def when_class(entity: Entity) -> str:
    return f"{entity.name}When"


def update_class(entity: Entity) -> str:
    return f"{entity.name}Update"


def view_name(entity: Entity, pattern: AccessPattern) -> str:
    return f"{entity.name}{pascal(pattern.name)}View"


def pattern_const(entity: Entity, pattern: AccessPattern) -> str:
    return f"_{upper(entity.name)}_{pattern.name.upper()}"


def collection_const(collection: Collection) -> str:
    return f"_{collection.name.upper()}_COLLECTION"


def scan_const(entity: Entity) -> str:
    return f"_{upper(entity.name)}_SCAN"


def update_method_name(verb: str, a: Attribute) -> str:
    return f"set_{a.name}_if_absent" if verb == "set_if_absent" else f"{verb}_{a.name}"


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def and_list(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def or_list(words: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# --- types -------------------------------------------------------------------------------------

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
    """The annotation of a value of type ``t``; an enum is its alias when it has one."""
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


def attribute_type(owner: str, attribute: Attribute) -> str:
    alias = enum_alias(owner, attribute) if attribute.type.kind == "enum" else None
    return py_type(attribute.type, alias)


def converter(t: TypeRef) -> str:
    """The file of templates/attributes/ that converts values of type ``t``."""
    return {"enum": "string", "ttl": "integer", "version": "integer"}.get(
        t.kind, t.kind
    )


def member_type(t: TypeRef) -> TypeRef | None:
    """What ``contains`` takes for this type: a substring, a set member or a list element."""
    if t.kind == "string" or t.kind == "string_set":
        return TypeRef("string")
    if t.kind == "binary_set":
        return TypeRef("binary")
    if t.kind in ("number_set", "list") and t.of is not None and t.of.kind != "object":
        return t.of
    return None


# --- records: entities, object types and views ------------------------------------------------


def slot_names(attributes: Sequence[Attribute]) -> list[str]:
    """Attribute names in the order ruff's RUF023 keeps ``__slots__``: digits as numbers."""
    return slot_order(a.name for a in attributes)


def slot_order(names: Iterable[str]) -> list[str]:
    """Names in the order ruff's RUF023 keeps ``__slots__``: digits as numbers."""

    def natural(name: str) -> list[Any]:
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]

    return sorted(names, key=natural)


def group_fields(collection: Collection) -> list[str]:
    """The slots of a grouped collection's page class: its fields and the cursor."""
    names = [
        f for f, _ in (*((collection.one,) if collection.one else ()), *collection.many)
    ]
    return slot_order([*names, "cursor"])


def none_by_default(a: Attribute) -> bool:
    """Whether ``__init__`` takes None for ``a`` (and fills in a value or leaves it None):
    a list, map or set with a default takes None and makes a new container of its own, so
    that no two objects ever share one."""
    return bool(
        a.optional
        or a.generate
        or a.auto
        or a.type.kind in SET_TYPES
        or (a.default is not None and a.type.kind in COLLECTION_TYPES)
    )


def set_member_type(t: TypeRef) -> TypeRef:
    """The type of a set's members."""
    if t.kind == "string_set":
        return TypeRef("string")
    if t.kind == "binary_set":
        return TypeRef("binary")
    assert t.of is not None
    return t.of


def written_when_set(a: Attribute) -> bool:
    """Whether ``a`` is written only when it holds a value (optional) or members (sets)."""
    return a.optional or a.type.kind in SET_TYPES


def default_on_read(a: Attribute) -> bool:
    """Whether an item may lack ``a``: it then reads as None, an empty set or its default."""
    return a.optional or a.type.kind in SET_TYPES or a.default is not None


@dataclass(frozen=True)
class RecordKeys:
    """What an entity's key templates ask of its attributes: the string key templates each
    attribute is written into (their separators are refused), and zero-padded widths."""

    templates: dict[str, tuple[Template, ...]]
    widths: dict[str, int]


def record_keys(entity: Entity | None) -> RecordKeys:
    templates: dict[str, tuple[Template, ...]] = {}
    widths: dict[str, int] = {}
    for key in (entity.key, *entity.index_keys) if entity else ():
        for attribute, template in key_parts(key):
            widths.update(template.widths)
            if attribute.type != "S":
                continue
            for n in template.names:
                if template not in templates.get(n, ()):
                    templates[n] = (*templates.get(n, ()), template)
    return RecordKeys(templates, widths)


def formatted_in_item(entity: Entity) -> dict[str, str]:
    """Required datetimes that key templates use, each with its local: to_item formats each
    once, into a local of its name, and reuses the text for the keys and the attribute."""
    in_keys = key_template_names(entity)
    return {
        a.name: a.name
        for a in entity.attributes
        if a.type.kind == "datetime" and not a.optional and a.name in in_keys
    }


def formatted_now(entity: Entity) -> dict[str, str]:
    """The ``auto: update`` timestamps of an update: all the local ``now``."""
    return {n: "now" for n in auto_update_names(entity)}


def repr_names(entity: Entity) -> list[str]:
    """repr shows the key attributes only: items hold financial data and reprs reach logs."""
    return key_names(entity.key)


# --- keys --------------------------------------------------------------------------------------


def key_parts(key: EntityKey) -> list[tuple[KeyAttribute, Template]]:
    """The key attributes of one key (table or index) and the templates that build them."""
    parts = [(key.pk_attribute, key.pk)]
    if key.sk is not None and key.sk_attribute is not None:
        parts.append((key.sk_attribute, key.sk))
    return parts


def key_names(key: EntityKey) -> list[str]:
    """The attributes a key's templates use, each once, in order: make_key's parameters."""
    return list(dict.fromkeys(key.pk.names + (key.sk.names if key.sk else ())))


def key_params(entity: Entity) -> list[tuple[str, str]]:
    """The table key parameters of a method (name, annotation)."""
    return [
        (n, attribute_type(entity.name, entity.attribute(n)))
        for n in key_names(entity.key)
    ]


def key_template_names(entity: Entity) -> set[str]:
    return {
        n
        for key in (entity.key, *entity.index_keys)
        for _, t in key_parts(key)
        for n in t.names
    }


def table_key_names(entity: Entity) -> set[str]:
    """The attributes that identify the item: the placeholders of the table key templates."""
    return {n for _, t in key_parts(entity.key) for n in t.names}


def single_text_placeholder(entity: Entity, template: Template) -> bool:
    """A string key that is exactly one string or enum attribute: written as the value."""
    return template.is_single_placeholder and entity.attribute(
        template.names[0]
    ).type.kind in ("string", "enum")


@dataclass(frozen=True)
class Condition:
    """A value of an index's ``when``: the index holds the item only while ``attribute``
    holds ``value`` (compared with ``is`` for booleans, so that None is not False)."""

    attribute: Attribute
    value: Any

    @property
    def identity(self) -> bool:
        return isinstance(self.value, bool)


@dataclass(frozen=True)
class IndexWrite:
    """The keys ``to_item`` writes for one index of an entity.

    ``optional`` lists the optional attributes of the index's templates and ``conditions``
    the values of its ``when``: when there are any, the index is sparse and its keys are
    written only while all of those are set and all of these hold. ``parts`` leaves out key
    attributes already written for the table or for a dense index before it (a local index
    repeats the table's partition key), so those are never written twice.
    """

    key: EntityKey
    optional: tuple[str, ...]
    parts: tuple[tuple[KeyAttribute, Template], ...]
    conditions: tuple[Condition, ...] = ()

    @property
    def name(self) -> str:
        assert self.key.index is not None
        return self.key.index

    @property
    def names(self) -> tuple[str, ...]:
        """The attribute names the written parts need, in template order."""
        return tuple(dict.fromkeys(n for _, t in self.parts for n in t.names))

    @property
    def sparse(self) -> bool:
        return bool(self.optional or self.conditions)


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
        names = dict.fromkeys(key_names(index_key))
        optional = tuple(n for n in names if entity.attribute(n).optional)
        conditions = tuple(
            Condition(entity.attribute(c.attribute), c.value) for c in index_key.when
        )
        if not (optional or conditions):
            written.update(attribute.name for attribute, _ in parts)
        out.append(IndexWrite(index_key, optional, parts, conditions))
    return out


def dense_index_parts(entity: Entity) -> list[tuple[KeyAttribute, Template]]:
    """Index key parts written into every item (their index is not sparse)."""
    return [part for w in index_writes(entity) if not w.sparse for part in w.parts]


def sparse_index_writes(entity: Entity) -> list[IndexWrite]:
    return [w for w in index_writes(entity) if w.sparse]


def touched_keys(entity: Entity) -> list[tuple[KeyAttribute, Template]]:
    """Index keys built from ``auto: update`` attributes: every update rebuilds them with the
    new time. Validation (DG218) ensures their other placeholders are table key attributes,
    which update methods take as parameters, and that their index is not sparse."""
    auto = {a.name for a in entity.attributes if a.auto == "update"}
    return [
        (attribute, t)
        for attribute, t in dense_index_parts(entity)
        if auto.intersection(t.names)
    ]


def auto_update_names(entity: Entity) -> list[str]:
    return [a.name for a in entity.attributes if a.auto == "update"]


def version(entity: Entity) -> Attribute | None:
    """The version attribute: versioned entities get no batch_put (a batch write cannot check
    the version)."""
    return next((a for a in entity.attributes if a.type.kind == "version"), None)


# --- checks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check of a value before it is written or sent; ``kind`` names the branch of
    templates/macros/checks.py.j2 that writes it.

    ``expr`` is the checked value and ``where`` names it (``Payment.amount``) in errors;
    ``optional`` lets None pass. The other fields serve some kinds only: ``rule`` (the rule a
    violation names), ``low``/``high`` (bounds, ``number`` their kind), ``values`` (the
    allowed-values constant), ``members`` (the checked collection of enum values),
    ``ranged`` (an int check also within DynamoDB's range), ``separators`` and ``templates``
    (of the string keys a value is written into).
    """

    kind: str
    where: str
    expr: str
    optional: bool = False
    rule: str = ""
    low: Any = None
    high: Any = None
    number: str = ""
    values: str = ""
    members: str = ""
    ranged: bool = False
    separators: str = ""
    templates: tuple[str, ...] = ()


def constraint_checks(
    owner: str, a: Attribute, expr: str, *, optional: bool
) -> list[Check]:
    """The checks of ``a``'s type and constraints: straight-line comparisons.

    Bounds are compared with < and <=: a value of another type (a float for an integer, a
    string for a decimal) is refused first, by the cheapest test that lets the usual type
    through; the helper it calls accepts the other types the attribute takes (an int
    subclass, an int for a decimal or a float) and raises for the rest. An unbounded
    decimal or float is checked by its converter.
    """
    c = a.constraints
    kind = a.type.kind
    where = f"{owner}.{a.name}"
    bounded = c.min is not None or c.max is not None

    def check(check_kind: str, **more: Any) -> Check:
        return Check(check_kind, where, expr, optional, **more)

    out: list[Check] = []
    if kind in INT_KINDS and not bounded:
        out.append(check("int", ranged=kind == "integer"))
    elif kind in INT_KINDS:
        out.append(check("int"))
    elif kind == "decimal" and bounded:
        out.append(
            check("decimal")
        )  # NaN cannot be compared: check_decimal says "finite"
    elif kind == "float" and bounded:
        out.append(check("float"))
    if kind == "enum":
        out.append(check("enum", values=values_constant(owner, a)))
    element = a.type.of
    if element is not None and element.kind == "enum" and kind in ("list", "map"):
        members = f"{expr}.values()" if kind == "map" else expr
        out.append(
            check("enum_members", values=values_constant(owner, a), members=members)
        )
    # Both bounds: one chained comparison (half the work of two tests on the happy path).
    if c.min is not None and c.max is not None:
        rule = f"min {c.min}, max {c.max}"
        out.append(check("between", rule=rule, low=c.min, high=c.max, number=kind))
    elif c.min is not None:
        out.append(check("min", rule=f"min {c.min}", low=c.min, number=kind))
    elif c.max is not None:
        out.append(check("max", rule=f"max {c.max}", high=c.max, number=kind))
    low, high = c.min_length, c.max_length
    if low is not None and high is not None:
        rule = f"min_length {low}, max_length {high}"
        out.append(check("length_between", rule=rule, low=low, high=high))
    elif low is not None:
        out.append(check("min_length", rule=f"min_length {low}", low=low))
    elif high is not None:
        out.append(check("max_length", rule=f"max_length {high}", high=high))
    within = (
        c.min is not None
        and c.max is not None
        and -INT_LIMIT < c.min <= c.max < INT_LIMIT
    )
    if kind == "integer" and bounded and not within:
        out.append(check("int_range"))
    if c.pattern is not None:
        # No None guard: wire.fullmatch lets None pass.
        out.append(Check("pattern", where, expr, rule=c.pattern))
    return out


def key_text_check(
    where: str, expr: str, templates: Sequence[Template], *, optional: bool = False
) -> list[Check]:
    """A string written into string keys must hold none of the separators of their
    templates, or it could name another item's key, or widen a begins_with query into other
    items. wire.check_key_text refuses a value that is not a string (a str subclass passes)
    or holds a separator, naming the rule, never the value."""
    separators = "".join(dict.fromkeys(c for t in templates for c in t.separators))
    if not separators:
        return []
    texts = tuple(dict.fromkeys(t.text for t in templates if t.separators))
    return [
        Check("key_text", where, expr, optional, separators=separators, templates=texts)
    ]


def width_check(
    where: str, expr: str, width: int, *, optional: bool = False
) -> list[Check]:
    """Zero-padded keys sort as numbers only while every value has exactly ``width`` digits."""
    return [
        Check(
            "key_width",
            where,
            expr,
            optional,
            rule=f"key width {width}",
            high=10**width,
        )
    ]


def record_checks(
    owner: str, attributes: Sequence[Attribute], keys: RecordKeys
) -> list[Check]:
    """What to_item/to_map check before writing: key separators first (that test also refuses
    a value that is not a string, before its length is taken), then constraints, then key
    widths."""
    out = []
    for a in attributes:
        expr = f"self.{a.name}"
        templates = keys.templates.get(a.name)
        if templates and a.type.kind == "string":
            out += key_text_check(
                f"{owner}.{a.name}", expr, templates, optional=a.optional
            )
        out += constraint_checks(owner, a, expr, optional=a.optional)
        width = keys.widths.get(a.name)
        if width is not None:
            out += width_check(f"{owner}.{a.name}", expr, width, optional=a.optional)
    return out


@dataclass(frozen=True)
class KeyUse:
    """A value a method writes into keys: its expression, its attribute and the templates
    whose separators it must not hold (for a query, those of the stored keys it is compared
    with). ``optional``: None is a valid argument (an optional co-attribute)."""

    expr: str
    attribute: Attribute
    templates: tuple[Template, ...]
    optional: bool = False


def key_use_checks(owner: str, uses: Sequence[KeyUse]) -> list[Check]:
    """Checks of values given as arguments (or read from ``self``) and written into keys,
    each once: strings hold no separator, enums are one of their values (a key cannot be
    forged from a value outside them), integers are ints. Dates and datetimes are checked
    by their converters."""
    out: list[Check] = []
    for use in uses:
        a, expr = use.attribute, use.expr
        where = f"{owner}.{a.name}"
        if a.type.kind == "string":
            out += key_text_check(where, expr, use.templates, optional=use.optional)
        elif a.type.kind == "enum":
            out.append(
                Check(
                    "enum", where, expr, use.optional, values=values_constant(owner, a)
                )
            )
        elif a.type.kind in INT_KINDS:
            out.append(Check("int", where, expr, use.optional))
    return out


def key_checks(entity: Entity, prefix: str) -> list[Check]:
    """The checks of ``key()`` (prefix ``self.``) and ``make_key()`` (no prefix)."""
    templates = [t for _, t in key_parts(entity.key)]
    names = dict.fromkeys(n for t in templates for n in t.names)
    uses = [
        KeyUse(
            prefix + n, entity.attribute(n), tuple(t for t in templates if n in t.names)
        )
        for n in names
    ]
    return key_use_checks(entity.name, uses)


def int_checks(where: str, expr: str, *, ranged: bool = False) -> list[Check]:
    """Integers compared or added must be ints (and stored ones within DynamoDB's range)."""
    return [Check("int", where, expr, ranged=ranged)]


# --- enums -------------------------------------------------------------------------------------


def enum_attributes(attributes: Sequence[Attribute]) -> list[tuple[Attribute, TypeRef]]:
    """Attributes that get an allowed-values set (and an alias, for enums themselves), with
    their enum type: enums, and lists and maps of enum values."""
    out = []
    for a in attributes:
        enum = a.type if a.type.kind == "enum" else a.type.of
        if (
            enum is not None
            and enum.kind == "enum"
            and a.type.kind in ("enum", "list", "map")
        ):
            out.append((a, enum))
    return out


# --- tables ------------------------------------------------------------------------------------


def attribute_definitions(table: Table) -> list[tuple[str, str]]:
    """Every key attribute of the table and its indexes, with its type, sorted by name."""
    definitions: dict[str, str] = {table.pk.name: table.pk.type}
    if table.sk:
        definitions[table.sk.name] = table.sk.type
    for index in table.indexes:
        definitions[index.pk.name] = index.pk.type
        if index.sk:
            definitions[index.sk.name] = index.sk.type
    return sorted(definitions.items())


def entities_of(module: model.Module, table: Table) -> list[Entity]:
    return [e for e in module.entities if e.table == table.name]


def collections_of(module: model.Module, table: Table) -> list[Collection]:
    return [c for c in module.collections if c.table == table.name]


# --- queries -----------------------------------------------------------------------------------

_SORT_OPS = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# What a comparison that stops before the end of the stored keys sends instead (with the
# values of ``Query.sort_values``).
_PREFIX_OPS = {"eq": "begins_with", "lte": "lt", "gt": "gte"}
_FILTER_OPS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


@dataclass(frozen=True)
class FilterValue:
    """A value placeholder of a query's filter and the parameter that fills it, or the
    literal value of the schema (``literal``: the DynamoDB type and what it holds)."""

    placeholder: str
    param: str
    type: TypeRef
    where: str
    literal: tuple[str, Any] | None = None


class Query:
    """A query over one key (table or index) of one or more entities: what its request
    constant holds, which parameters the methods take, what values a call sends."""

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
        self.sort = pattern.sort if pattern and key.sk_attribute is not None else None
        self.filters = pattern.filters if pattern else ()
        # The stored sort key templates the sort key parameters are checked against: the
        # entity's (a collection's: those of every entity the condition is compared with).
        self.sort_templates: tuple[Template, ...] = (key.sk,) if key.sk else ()
        # Where a comparison's template stops in the stored sort key template: None when it
        # is the whole template (or begins_with, which compares text), else the template
        # of what every stored key at the compared value starts with (model.part_prefix).
        self.at_bound: Template | None = None
        sort, stored = self.sort, key.sk
        if (
            sort is not None
            and sort.op != "begins_with"
            and stored is not None
            and key.sk_attribute is not None
            and key.sk_attribute.type == "S"
        ):
            self.at_bound = model.part_prefix(sort.template, stored)

    def params(self) -> list[tuple[str, str]]:
        """Keyword parameters (name, annotation): partition key, sort key, filters."""
        entity = self.entity
        out = [
            (n, attribute_type(entity.name, entity.attribute(n)))
            for n in dict.fromkeys(self.key.pk.names)
        ]
        sort = self.pattern.sort if self.pattern else None
        if sort is not None:
            for n in dict.fromkeys(sort.template.names):
                if n in self.key.pk.names:
                    continue  # already a parameter
                t = attribute_type(entity.name, entity.attribute(n))
                out.extend((p, t) for p in model.sort_params(sort.op, sort.template, n))
        for f in self.filters:
            if f.op in ("exists", "not_exists") or f.values:
                continue  # no value, or the schema's own
            attribute = entity.attribute(f.attribute)
            value_type = model.filter_value_type(attribute.type, f.op)
            t = (
                attribute_type(entity.name, attribute)
                if value_type is attribute.type
                else py_type(value_type)
            )
            names = (
                [f"{f.param}_from", f"{f.param}_to"] if f.op == "between" else [f.param]
            )
            out.extend((p, t) for p in names)
        return out

    def expression_names(self) -> list[tuple[str, str]]:
        names = [("#pk", self.key.pk_attribute.name)]
        if self.sort is not None and self.key.sk_attribute is not None:
            names.append(("#sk", self.key.sk_attribute.name))
        names.append(("#et", self.table.entity_type_attribute))
        for i, f in enumerate(self.filters):
            names.append((f"#f{i}", self.entity.attribute(f.attribute).stored_as))
        for i, stored in enumerate(self.projected_names()):
            names.append((f"#p{i}", stored))
        return names

    def key_condition(self) -> str:
        """The key condition. A comparison whose template stops before the end of the
        stored sort keys compares the parts it names: the items at its value (whose keys
        start with ``at_bound``) are above ``lt`` and below ``lte``. So ``eq`` is a
        ``begins_with``, ``lte`` a ``<`` and ``gt`` a ``>=`` of the text after them (see
        ``sort_values``)."""
        condition = "#pk = :pk"
        sort = self.sort
        if sort is None:
            return condition
        op: str = sort.op
        if self.at_bound is not None:
            op = _PREFIX_OPS.get(op, op)
        if op == "begins_with":
            return condition + " AND begins_with(#sk, :sk)"
        if op == "between":
            return condition + " AND #sk BETWEEN :sk0 AND :sk1"
        return condition + f" AND #sk {_SORT_OPS[op]} :sk"

    def filter_expression(self) -> str:
        if len(self.type_tags) == 1:
            filters = ["#et = :et"]
        else:
            tags = ", ".join(f":et{i}" for i in range(len(self.type_tags)))
            filters = [f"#et IN ({tags})"]
        filters += [_filter_expression(i, f) for i, f in enumerate(self.filters)]
        return " AND ".join(filters)

    def projected_names(self) -> list[str]:
        """The stored names a projection reads: the view's attributes and, when one is
        encrypted, the table's key attributes its envelope is bound to."""
        projection = self.pattern.projection if self.pattern else ()
        projected = [self.entity.attribute(n) for n in projection]
        names = [a.stored_as for a in projected]
        if any(a.encrypted for a in projected):
            names += [n for n in primary_key_names(self.table) if n not in names]
        return names

    def projection_expression(self) -> str:
        return ", ".join(f"#p{i}" for i in range(len(self.projected_names())))

    def bound_note(self) -> str:
        """For the docstring of a comparison that stops before the end of the stored keys:
        what it does with the items at the value it compares."""
        if self.at_bound is None or self.sort is None:
            return ""
        which = {
            "eq": "are the ones it finds",
            "lt": "are left out",
            "gt": "are left out",
            "between": "are included at both ends",
        }.get(self.sort.op, "are included")
        return (
            f"Sort keys are compared by their parts up to '{self.at_bound.text}': the"
            f" items whose keys start with it {which}."
        )

    def sort_values(self) -> list[tuple[str, Template, dict[str, str]]]:
        """The sort key placeholders, each with the template of its value and the
        parameters the template's placeholders take (between: the last one from
        ``<last>_from`` and ``<last>_to``).

        A comparison that stops before the end of the stored keys sends the text that the
        keys at its value start with (``at_bound``) where those keys are to be above the
        value sent (eq, lt, gte, the low end of between), and the text right after all of
        them (``model.after_prefix``) where they are to be below it (lte, gt, the high end
        of between). No stored key of the entity equals the latter (its last character
        replaces a separator, and every key holds all of its template's separators), so
        between's inclusive high end takes exactly the keys below it."""
        sort = self.sort
        if sort is None:
            return []
        low = high = sort.template
        if self.at_bound is not None:
            low, high = self.at_bound, model.after_prefix(self.at_bound)
        if sort.op == "between":
            last = sort.template.names[-1]
            return [
                (":sk0", low, {last: last + "_from"}),
                (":sk1", high, {last: last + "_to"}),
            ]
        return [(":sk", high if sort.op in ("lte", "gt") else low, {})]

    def type_tag_values(self) -> list[tuple[str, str]]:
        if len(self.type_tags) == 1:
            return [(":et", self.type_tags[0])]
        return [(f":et{i}", tag) for i, tag in enumerate(self.type_tags)]

    def filter_values(self) -> list[FilterValue]:
        out = []
        for i, f in enumerate(self.filters):
            attribute = self.entity.attribute(f.attribute)
            value_type = model.filter_value_type(attribute.type, f.op)
            where = f"{self.entity.name}.{f.attribute}"
            placeholders = _filter_params(i, f)
            if f.values:
                out += [
                    FilterValue(
                        p, "", value_type, where, model.literal_value(value_type, v)
                    )
                    for (p, _), v in zip(placeholders, f.values, strict=True)
                ]
                continue
            out += [
                FilterValue(p, param, value_type, where) for p, param in placeholders
            ]
        return out

    def checks(self) -> list[Check]:
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
        if self.sort is not None:
            sort = self.sort
            for n in dict.fromkeys(sort.template.names):
                params = (
                    [n]
                    if n in self.key.pk.names
                    else model.sort_params(sort.op, sort.template, n)
                )
                for param in params:
                    for stored in self.sort_templates or (None,):
                        use(param, n, stored)
        out = key_use_checks(entity.name, list(uses.values()))
        for value in self.filter_values():
            if value.type.kind in INT_KINDS and value.literal is None:
                out += int_checks(value.where, value.param)
        return out


def _filter_params(i: int, f: FilterCondition) -> list[tuple[str, str]]:
    """The value placeholders of filter ``i`` and the parameters that fill them."""
    if f.op in ("exists", "not_exists"):
        return []
    if f.op == "between":
        return [(f":f{i}a", f"{f.param}_from"), (f":f{i}b", f"{f.param}_to")]
    return [(f":f{i}", f.param)]


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


def entity_query(table: Table, entity: Entity, pattern: AccessPattern) -> Query:
    return Query(table, entity, pattern.key, pattern, [entity.type_tag])


def collection_query(
    table: Table, collection: Collection, entities: dict[str, Entity]
) -> Query:
    """The query of a collection: its key, sort key condition and order, reading the items
    of all its entities. Parameters are typed after the entity whose key the collection
    uses (the first ``many`` one, or the first listed); a sort key parameter is checked
    against the sort key templates of every entity it is compared with."""
    compared = [e for _, e in collection.many] or list(collection.entities)
    first = entities[compared[0]]
    pattern = AccessPattern(
        name=collection.name,
        key=collection.key,
        sort=collection.sort,
        descending=collection.descending,
        projection=(),
        filters=(),
        consistent_read=False,
        doc=collection.doc,
    )
    tags = [entities[e].type_tag for e in collection.entities]
    query = Query(table, first, collection.key, pattern, tags)
    query.sort_templates = tuple(
        dict.fromkeys(
            t
            for e in compared
            if (t := _collection_key(entities[e], collection).sk) is not None
        )
    )
    return query


def _collection_key(entity: Entity, collection: Collection) -> EntityKey:
    """The key templates ``entity`` writes for the key a collection reads."""
    if collection.key.index is None:
        return entity.key
    return next(k for k in entity.index_keys if k.index == collection.key.index)


def group_class(collection: Collection) -> str:
    """The class of a grouped collection's pages: ``member_loans`` -> ``MemberLoans``."""
    return pascal(collection.name)


def one_const(collection: Collection) -> str:
    return f"_{collection.name.upper()}_ONE"


@dataclass(frozen=True)
class OneRead:
    """How a grouped collection reads its ``one`` item by its own key: the entity, its key
    templates for the collection's key (the partition key fixes its sort key)."""

    entity: Entity
    key: EntityKey

    def key_condition(self) -> str:
        return "#pk = :pk AND #sk = :sk" if self.key.sk is not None else "#pk = :pk"

    def expression_names(self) -> list[tuple[str, str]]:
        names = [("#pk", self.key.pk_attribute.name)]
        if self.key.sk is not None and self.key.sk_attribute is not None:
            names.append(("#sk", self.key.sk_attribute.name))
        return [*names, ("#et", self.entity.type_attribute)]


def one_read(collection: Collection, entities: dict[str, Entity]) -> OneRead | None:
    """The ``one`` item's own read; None when there is no ``one``, or when the key has no
    sort key (a partition then holds one item, which the collection's query reads)."""
    if collection.one is None or collection.key.sk_attribute is None:
        return None
    entity = entities[collection.one[1]]
    return OneRead(entity, _collection_key(entity, collection))


def cursor_key_names(table: Table, key: EntityKey) -> list[str]:
    """The key attributes of an item that a query of ``key`` continues after: the table's
    and, for an index, the index's (a local index repeats the table's partition key)."""
    names = [table.pk.name, *([table.sk.name] if table.sk else [])]
    if key.index is not None:
        names += [key.pk_attribute.name]
        names += [key.sk_attribute.name] if key.sk_attribute is not None else []
    return list(dict.fromkeys(names))


# --- updates -----------------------------------------------------------------------------------


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
    """Attributes only index key templates (or the ``when`` of indexes) use: ``set_`` and
    ``remove_`` rebuild (or remove) those keys in the same request. Table key attributes
    identify the item and are never updated."""
    in_table_key = table_key_names(entity)
    in_index_keys = {n for w in index_writes(entity) for n in w.names}
    in_index_keys |= {
        c.attribute.name for w in index_writes(entity) for c in w.conditions
    }
    return [
        a
        for a in entity.attributes
        if a.name in in_index_keys and a.name not in in_table_key and not _maintained(a)
    ]


def has_update_builder(entity: Entity) -> bool:
    """Whether ``<Entity>Update``, ``update_<e>`` and ``tx_update_<e>`` are generated."""
    return bool(updatable(entity) or index_updatable(entity))


def update_verbs(entity: Entity) -> list[tuple[Attribute, str]]:
    """Every builder method as (attribute, verb), in the order the builder defines them."""
    free = {a.name for a in updatable(entity)}
    in_index = {a.name for a in index_updatable(entity)}
    out: list[tuple[Attribute, str]] = []
    for a in entity.attributes:
        kind = a.type.kind
        removable = a.optional or kind in SET_TYPES
        if a.name in in_index:
            # Only set and remove: an index key can follow a value it is given, not one
            # DynamoDB computes (add) or one that may be kept (if_not_exists).
            out += [(a, "set"), *([(a, "remove")] if removable else [])]
            continue
        if a.name not in free:
            continue
        out += [(a, "set"), (a, "set_if_absent")]
        out += [(a, "remove")] if removable else []
        out += [(a, "add")] if kind in NUMBER_KINDS else []
        out += [(a, "add"), (a, "delete")] if kind in SET_TYPES else []
        out += [(a, "append")] if kind == "list" else []
    return out


def rebuilds_index_keys(entity: Entity, a: Attribute) -> bool:
    return a.name in {b.name for b in index_updatable(entity)}


def update_risks(entity: Entity) -> list[str]:
    """The changes update_<e> would not resend once they may have reached DynamoDB."""
    risky = []
    verbs = update_verbs(entity)
    if any(v == "add" and a.type.kind in NUMBER_KINDS for a, v in verbs):
        risky.append("an add_ of a number")
    if any(v == "append" for _, v in verbs):
        risky.append("an append_")
    if version(entity) is not None:
        risky.append("any update without expected_version")
    return risky


@dataclass(frozen=True)
class IndexRebuild:
    """One index whose keys a change of an attribute rebuilds (or removes, when a None
    co-attribute or a value its ``when`` does not name takes the item out of a sparse
    index)."""

    write: IndexWrite
    parts: tuple[tuple[KeyAttribute, Template], ...]
    optional: tuple[
        str, ...
    ]  # co-attributes that must all be set for the keys to exist
    conditions: tuple[Condition, ...] = ()  # and the values that must all hold


@dataclass(frozen=True)
class IndexUpdate:
    """What ``set_<a>``/``remove_<a>`` of an attribute of index keys need: the indexes it
    rebuilds, the co-attributes those keys also use (keyword parameters, checked and
    expected as given), the name of the value parameter and the checks of all of them."""

    rebuilds: list[IndexRebuild]
    co_attributes: list[Attribute]
    param: str
    checks: list[Check]

    @property
    def indexes(self) -> str:
        return and_list([r.write.name for r in self.rebuilds])

    @property
    def key_count(self) -> int:
        return sum(len(r.parts) for r in self.rebuilds)

    @property
    def sparse(self) -> bool:
        return any(r.optional or r.conditions for r in self.rebuilds)

    @property
    def sparse_note(self) -> str:
        """For the docstring: how the arguments take the item into or out of indexes."""
        notes = []
        if any(r.optional for r in self.rebuilds):
            notes.append(
                "A None argument removes the keys of a sparse index: the item leaves it."
            )
        for r in self.rebuilds:
            if r.conditions:
                held = and_list(
                    [f"{c.attribute.name} is {c.value!r}" for c in r.conditions]
                )
                notes.append(
                    f"The {r.write.name} keys are written while {held}, and removed"
                    " otherwise."
                )
        return " ".join(notes)


def index_update(entity: Entity, a: Attribute) -> IndexUpdate:
    """A dense index rebuilds only the keys whose template names ``a``; a sparse index all
    of its keys, because whether it holds the item at all depends on every optional
    attribute of its templates and every value of its ``when``."""
    owner = entity.name
    rebuilds = []
    for write in index_writes(entity):
        conditioned = {c.attribute.name for c in write.conditions}
        if a.name not in write.names and a.name not in conditioned:
            continue
        parts = (
            write.parts
            if write.sparse
            else tuple(p for p in write.parts if a.name in p[1].names)
        )
        optional = tuple(n for n in write.optional if n != a.name)
        rebuilds.append(IndexRebuild(write, parts, optional, write.conditions))
    co_names = list(
        dict.fromkeys(
            [n for r in rebuilds for _, t in r.parts for n in t.names if n != a.name]
            + [
                c.attribute.name
                for r in rebuilds
                for c in r.conditions
                if c.attribute.name != a.name
            ]
        )
    )
    param = "value"
    while param in co_names:  # an attribute may itself be called ``value``
        param += "_"
    # The string keys rebuilt here, by the attributes written into them: the value and each
    # co-attribute is checked once, against the separators of all of them.
    rebuilt = [t for r in rebuilds for key, t in r.parts if key.type == "S"]

    def templates(name: str) -> tuple[Template, ...]:
        return tuple(dict.fromkeys(t for t in rebuilt if name in t.names))

    checks = []
    if a.type.kind == "string":
        checks += key_text_check(f"{owner}.{a.name}", param, templates(a.name))
    checks += constraint_checks(owner, a, param, optional=False)
    width = record_keys(entity).widths.get(a.name)
    if width is not None:
        checks += width_check(f"{owner}.{a.name}", param, width)
    co_widths = {
        n: w for r in rebuilds for _, t in r.parts for n, w in t.widths.items()
    }
    co_attributes = [entity.attribute(n) for n in co_names]
    for co in co_attributes:
        checks += key_use_checks(
            owner, [KeyUse(co.name, co, templates(co.name), co.optional)]
        )
        if co.name in co_widths:
            checks += width_check(
                f"{owner}.{co.name}", co.name, co_widths[co.name], optional=co.optional
            )
    return IndexUpdate(rebuilds, co_attributes, param, checks)


def update_setup_checks(entity: Entity) -> list[Check]:
    """update_<e> and tx_update_<e> rebuild the index keys built from ``auto: update``
    timestamps with the method's key parameters, which make_key checks against the table key
    templates; a separator that only such an index key template has is checked here."""
    table = [t for key, t in key_parts(entity.key) if key.type == "S"]
    touched = [t for key, t in touched_keys(entity) if key.type == "S"]
    out = []
    for n in dict.fromkeys(n for t in touched for n in t.names):
        a = entity.attribute(n)
        if a.auto is not None or a.type.kind != "string":
            continue
        known = {c for t in table if n in t.names for c in t.separators}
        more = [t for t in touched if n in t.names and set(t.separators) - known]
        if more:
            stored = [t for t in table if n in t.names]
            out += key_text_check(f"{entity.name}.{n}", n, [*stored, *more])
    return out


# --- tenants -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantPrefix:
    """What the partition key of every table key of the bound tenant's items is, or starts
    with: the entity's partition key template up to its tenant (which leads it, DG220) and
    the character after it, which no tenant id holds. ``whole``: the template ends with the
    tenant, so a key's partition key must equal it."""

    template: Template
    whole: bool


def tenant_prefix(entity: Entity) -> TenantPrefix:
    segments = entity.key.pk.segments
    end = next(
        i + 1
        for i, s in enumerate(segments)
        if isinstance(s, model.Placeholder) and s.name == entity.tenant
    )
    if end == len(segments):
        return TenantPrefix(entity.key.pk, True)
    after = segments[end]
    assert isinstance(after, str)  # the tenant is followed by a separator (DG220)
    head = (*segments[:end], after[0])
    text = "".join(
        f"{{{s.name}}}" if isinstance(s, model.Placeholder) else _braced(s)
        for s in head
    )
    return TenantPrefix(Template(text, head), False)


def _braced(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def untenanted_prefix(module: model.Module, entity: Entity) -> str | None:
    """For an entity without a tenant on a table with tenant entities, or with the audit
    records of one: the literal text its partition keys start with, which starts no tenant's
    key (DG220), so its batch methods refuse a raw key that does not start with it. None for
    any other entity."""
    tenants_here = any(
        e.tenant is not None
        and (e.table == entity.table or (e.audit and e.audit.table == entity.table))
        for e in module.entities
    )
    if entity.tenant is not None or not tenants_here:
        return None
    first = entity.key.pk.segments[0] if entity.key.pk.segments else ""
    return first if isinstance(first, str) else ""


def tenant_in_updates(entity: Entity) -> bool:
    """Whether a method of the update builder takes the tenant, to rebuild an index key that
    holds it: update_<e> and tx_update_<e> then check it is the bound tenant."""
    return entity.tenant is not None and any(
        entity.tenant in {co.name for co in index_update(entity, a).co_attributes}
        for a in index_updatable(entity)
    )


def scans(entity: Entity) -> bool:
    """Whether the entity gets scan_ and iter_scan_: a scan reads every tenant's items, so
    a tenant entity gets none (the tenant's items are read by queries of its partitions)."""
    return entity.tenant is None


# --- conditions --------------------------------------------------------------------------------


# Types whose stored values order as their values do: comparisons and between apply.
# (An enum's values compare as text, not in the order the schema lists them, so an enum
# gets eq and ne only, as booleans and binary values do.)
WHEN_ORDERED = ("string", "integer", "decimal", "float", "datetime", "date", "ttl")
WHEN_EQUALITY = ("enum", "boolean", "binary")


def when_methods(entity: Entity) -> list[tuple[Attribute, str]]:
    """The methods of ``<Entity>When`` as (attribute, kind), by the attribute's type and
    role (the table is in docs/reference/generated-code.md). Kinds: compare (eq, ne, lt,
    lte, gt, gte), equal (eq, ne), between, begins_with, contains, exists (with missing).

    None for the attributes of the table key templates (the key of the write fixes them, so
    a condition on them could only restate the key), the version (``expected_version``
    checks it) and encrypted attributes (their stored values are ciphertext)."""
    fixed = table_key_names(entity)
    out = []
    for a in entity.attributes:
        kind = a.type.kind
        if a.encrypted or a.name in fixed or kind == "version":
            continue
        if kind in WHEN_ORDERED:
            out += [(a, "compare"), (a, "between")]
        elif kind in WHEN_EQUALITY:
            out.append((a, "equal"))
        if kind == "string":
            out.append((a, "begins_with"))
        if member_type(a.type) is not None:
            out.append((a, "contains"))
        if a.optional or kind in SET_TYPES:
            out.append((a, "exists"))
    return out


def when_operators(entity: Entity) -> set[str]:
    """Which operator types (``Comparison``, ``Equality``) the entity's builder uses."""
    kinds = {kind for _, kind in when_methods(entity)}
    wanted = (("Comparison", "compare"), ("Equality", "equal"))
    return {name for name, kind in wanted if kind in kinds}


def projected(entity: Entity, pattern: AccessPattern) -> list[Attribute]:
    """The attributes an access pattern's view holds."""
    return [entity.attribute(n) for n in pattern.projection]


# --- audit -------------------------------------------------------------------------------------


def audit_slot(table_name: str) -> str:
    """The attribute of a table class holding the handle of another table that audit
    records of its entities go to."""
    return upper(table_name).lower() + "_handle"


def audit_handle(entity: Entity) -> str:
    """The table handle an audited entity's records are written to and read from."""
    assert entity.audit is not None
    if entity.audit.table == entity.table:
        return "self.handle"
    return "self." + audit_slot(entity.audit.table)


def audit_tables(module: model.Module, table: Table) -> list[Table]:
    """The other tables that audit records of this table's entities go to, by name."""
    names = {
        e.audit.table
        for e in entities_of(module, table)
        if e.audit is not None and e.audit.table != table.name
    }
    return [t for t in module.tables if t.name in names]


# --- encryption --------------------------------------------------------------------------------


def encrypted_const(owner: str, a: Attribute) -> str:
    """The module constant describing encrypted attribute ``a`` (an EncryptedField)."""
    return f"_ENCRYPTED_{upper(owner)}_{a.name.upper()}"


def encrypted(attributes: Sequence[Attribute]) -> list[Attribute]:
    return [a for a in attributes if a.encrypted]


def encrypts(entity: Entity) -> bool:
    """Whether ``entity`` has encrypted attributes: its to_item and from_item then take the
    connection whose KMS seals and opens them."""
    return any(a.encrypted for a in entity.attributes)


def view_encrypts(entity: Entity, pattern: AccessPattern) -> bool:
    return any(a.encrypted for a in projected(entity, pattern))


def primary_key_names(table: Table) -> list[str]:
    """The table's key attribute names: what an encrypted value is bound to."""
    return [table.pk.name] + ([table.sk.name] if table.sk is not None else [])


def kms_key(entity: Entity, table: Table) -> model.KmsKey | None:
    """The schema's KMS key of ``entity``'s encrypted attributes: its own, else its table's."""
    return entity.encryption or table.encryption
