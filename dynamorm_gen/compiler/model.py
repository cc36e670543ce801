"""Stage 3, model: the small immutable intermediate representation that templates render.

Built only from data that passed validation, so nothing here reports errors; the few parsing
helpers (key templates, type names) are shared with validation, which does report them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from dynamorm_gen.runtime import wire
from dynamorm_gen.runtime.errors import ConstraintViolation

KeyType = Literal["S", "N", "B"]

SCALAR_TYPES = (
    "string",
    "integer",
    "decimal",
    "float",
    "boolean",
    "binary",
    "datetime",
    "date",
    "ttl",
    "enum",
    "version",
)
COLLECTION_TYPES = ("list", "map", "string_set", "number_set", "binary_set")
BUILTIN_TYPES = SCALAR_TYPES + COLLECTION_TYPES
NUMBER_TYPES = ("integer", "decimal", "float", "ttl", "version")
SET_TYPES = ("string_set", "number_set", "binary_set")
# Types whose values have an order: comparisons and between apply to them.
ORDERED_TYPES = (
    "string",
    "integer",
    "decimal",
    "float",
    "datetime",
    "date",
    "ttl",
    "enum",
    "version",
)
# Types whose values can be written into a string key template.
TEMPLATE_TYPES = ("string", "enum", "integer", "date", "datetime")
DEFAULT_ENTITY_TYPE_ATTRIBUTE = "_et"

MAX_KEY_WIDTH = 38  # digits of DynamoDB's number type
# What a tenant id may hold besides ASCII letters and digits (the runtime refuses to bind any
# other id, ``runtime/context.py``): so the separator that follows the tenant in a partition
# key template must be none of these, and ends the tenant's part of every key.
TENANT_ID_PUNCTUATION = "_.-"

# Idempotency records (the ``idempotency`` section): an entity the compiler declares itself,
# generated like any other, whose shape the runtime (``runtime/idempotency.py``) relies on.
RECORD_CLASS = "IdempotencyRecord"
RECORD_STATUSES = ("IN_PROGRESS", "COMPLETED", "FAILED")
# The placeholders of a record's key templates: the operation's name and the SHA-256 of the
# request's idempotency key (hex), never the key itself.
RECORD_KEY_NAMES = ("operation", "key_hash")
RECORD_KEY_PK = "IDEMPOTENCY#{operation}#{key_hash}"
RECORD_KEY_SK = "IDEMPOTENCY"
DEFAULT_EXPIRES_AFTER = 3600  # seconds a completed call replays its response
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class Placeholder:
    name: str
    width: int | None = None  # zero-padded digits for integers: "{seq:6}" writes 000042


Segment = str | Placeholder


@dataclass(frozen=True)
class Template:
    """A key template such as ``MERCHANT#{merchant_id}``: literals and attribute placeholders."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.segments if isinstance(s, Placeholder))

    @property
    def widths(self) -> dict[str, int]:
        """Zero-padding widths of integer placeholders, by attribute."""
        return {
            s.name: s.width
            for s in self.segments
            if isinstance(s, Placeholder) and s.width is not None
        }

    @property
    def separators(self) -> str:
        """The characters of the literal text that are not ASCII letters or digits, in order
        of first appearance: they separate the parts of the keys built from this template, so
        a value written into it must not hold them (``LOAN#{member}#{isbn}``: ``#``)."""
        literal = "".join(s for s in self.segments if isinstance(s, str))
        return "".join(
            dict.fromkeys(c for c in literal if not (c.isascii() and c.isalnum()))
        )

    @property
    def is_single_placeholder(self) -> bool:
        return len(self.segments) == 1 and isinstance(self.segments[0], Placeholder)


def parse_template(text: str) -> Template:
    """Parse a key template; ``{{`` and ``}}`` stand for literal braces. ValueError if malformed."""
    segments: list[Segment] = []
    literal = ""
    pos = 0
    for match in _PLACEHOLDER.finditer(text):
        literal += text[pos : match.start()]
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal += token[0]
            continue
        name = match.group(1)
        if name is None:
            raise ValueError(f"unmatched '{token}' at offset {match.start()}")
        name, colon, width = name.partition(":")
        if not name.isidentifier():
            raise ValueError(f"'{{{name}}}' is not an attribute placeholder")
        if colon and not (width.isdigit() and 1 <= int(width) <= MAX_KEY_WIDTH):
            raise ValueError(
                f"width '{width}' of '{{{name}}}' is not 1 to {MAX_KEY_WIDTH}"
            )
        if literal:
            segments.append(literal)
            literal = ""
        segments.append(Placeholder(name, int(width) if colon else None))
    literal += text[pos:]
    if literal:
        segments.append(literal)
    return Template(text, tuple(segments))


def template_text(segments: tuple[Segment, ...]) -> str:
    """The template text of ``segments``: placeholders in braces, literal braces doubled."""
    return "".join(
        f"{{{s.name}{'' if s.width is None else f':{s.width}'}}}"
        if isinstance(s, Placeholder)
        else s.replace("{", "{{").replace("}", "}}")
        for s in segments
    )


def is_separator(char: str) -> bool:
    """Whether a character of a template's literal text separates key parts: anything but
    an ASCII letter or digit (as ``Template.separators``)."""
    return not (char.isascii() and char.isalnum())


def part_prefix(condition: Template, stored: Template) -> Template | None:
    """Where a sort key condition stops in the stored sort key template it is compared with.

    None when the condition is the whole stored template: its values make whole keys.
    Otherwise the template of the text that every stored key at the condition's value starts
    with: the condition, then what the stored template writes right after it up to and
    including its last separator (``DUE#{due}`` in ``DUE#{due}#{member_id}`` gives
    ``DUE#{due}#``). That text ends with a separator, which no value written into the key
    holds. ValueError, naming the trouble, when the condition does not follow the stored
    template (another literal or placeholder), goes past its end, or stops where no
    separator ends a part (the keys at its value could not be told from the keys after it).
    """
    stored_segments = stored.segments
    rest = (
        ""  # what the stored template writes after the condition, before a placeholder
    )
    for k, segment in enumerate(condition.segments):
        if k >= len(stored_segments):
            raise ValueError("goes past the end of the stored key template")
        there = stored_segments[k]
        if segment == there:
            continue
        last = k == len(condition.segments) - 1
        if (
            last
            and isinstance(segment, str)
            and isinstance(there, str)
            and there.startswith(segment)
        ):
            rest = there[len(segment) :]
            break
        raise ValueError(
            f"has '{template_text((segment,))}' where the stored key template has"
            f" '{template_text((there,))}'"
        )
    else:
        if len(condition.segments) == len(stored_segments):
            return None
        after = stored_segments[len(condition.segments)]
        rest = after if isinstance(after, str) else ""
    cut = max((i + 1 for i, c in enumerate(rest) if is_separator(c)), default=0)
    segments = condition.segments
    if cut:
        tail = rest[:cut]
        last_segment = segments[-1] if segments else None
        if isinstance(last_segment, str):
            segments = (*segments[:-1], last_segment + tail)
        else:
            segments = (*segments, tail)
    ending = segments[-1] if segments else ""
    if not (isinstance(ending, str) and is_separator(ending[-1])):
        shown = template_text(condition.segments[-1:])
        raise ValueError(
            f"stops after '{shown}', where no separator ends a part of the stored keys"
        )
    if ending[-1] == "\U0010ffff":
        raise ValueError("stops at U+10FFFF, after which no character sorts")
    return Template(template_text(segments), segments)


def after_prefix(prefix: Template) -> Template:
    """The least text after every text that starts with ``prefix`` (whose last segment is a
    literal): its last character made the next one (``DUE#{due}#`` -> ``DUE#{due}$``).
    DynamoDB orders strings by their UTF-8 bytes, which is the order of their code points,
    so a string starting with ``prefix`` sorts below this and any other string above
    ``prefix`` at or above it."""
    *head, literal = prefix.segments
    assert isinstance(literal, str) and literal
    code = ord(literal[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:  # surrogates are no characters of UTF-8 text
        code = 0xE000
    segments = (*head, literal[:-1] + chr(code))
    return Template(template_text(segments), segments)


def filter_value_type(t: TypeRef, op: str) -> TypeRef:
    """The type of a filter's value on an attribute of type ``t``: the attribute's, except
    an element for ``contains`` on a list or set, and text for ``begins_with`` and for
    ``contains`` on an enum (a prefix of a date is a string such as "2026-11")."""
    if op == "contains" and t.kind in ("list", "number_set"):
        assert t.of is not None
        return t.of
    if op == "contains" and t.kind == "string_set":
        return TypeRef("string")
    if op == "contains" and t.kind == "binary_set":
        return TypeRef("binary")
    if op == "begins_with" or (op == "contains" and t.kind == "enum"):
        return TypeRef("string")
    return t


# The types a literal of the schema (a filter's or an index condition's value) may have.
LITERAL_TYPES = (
    "string",
    "enum",
    "integer",
    "ttl",
    "version",
    "decimal",
    "float",
    "boolean",
    "date",
    "datetime",
)


def literal_value(t: TypeRef, value: Any) -> tuple[str, Any]:
    """The DynamoDB value (its type and what it holds) of a literal of the schema given for
    a value of type ``t``, written exactly as the runtime writes values of that type
    (``wire``). ValueError saying what is wrong with the literal ("is not a date: ...")."""
    kind = t.kind
    named = {"ttl": "integer", "version": "integer"}.get(kind, kind)
    wrong = ValueError(f"is not {'an' if named[0] in 'aeiou' else 'a'} {named}")
    where = "the value"
    if kind not in LITERAL_TYPES:
        raise ValueError(
            f"cannot be written in the schema: {kind} values are parameters"
        )
    if isinstance(value, bool) != (kind == "boolean"):
        raise wrong
    try:
        if kind in ("string", "enum"):
            if not isinstance(value, str):
                raise wrong
            if kind == "enum" and t.values and value not in t.values:
                raise ValueError(f"is not one of {', '.join(t.values)}")
            return "S", value
        if kind == "boolean":
            return "BOOL", value
        if kind in ("integer", "ttl", "version"):
            if not isinstance(value, int):
                raise wrong
            return "N", wire.int_to_n(value, where)
        if kind == "decimal":
            if not isinstance(value, (int, float, str)) or not _is_number(value):
                raise wrong
            return "N", wire.decimal_to_n(Decimal(str(value)), where)
        if kind == "float":
            if not isinstance(value, (int, float)):
                raise wrong
            return "N", wire.float_to_n(float(value), where)
        if not isinstance(value, str):
            raise wrong
        if kind == "date":
            return "S", wire.date_to_s(_iso(date.fromisoformat, value, wrong), where)
        moment = _iso(datetime.fromisoformat, value, wrong)
        if moment.tzinfo is None:
            raise ValueError(
                "has no time zone: end it with Z or an offset such as +01:00"
            )
        return "S", wire.datetime_to_s(moment.astimezone(UTC), where)
    except ConstraintViolation:
        raise ValueError("is beyond what DynamoDB numbers hold") from None
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


def _is_number(value: int | float | str) -> bool:
    try:
        Decimal(str(value))
    except InvalidOperation:
        return False
    return True


def _iso(parse: Any, text: str, wrong: ValueError) -> Any:
    """A date or datetime in ISO 8601 (``2024-03-10``, ``2024-03-10T09:30:00Z``)."""
    try:
        return parse(text)
    except ValueError:
        raise ValueError(
            f"{wrong}: write it in ISO 8601, such as '2024-03-10'"
        ) from None


def sort_params(op: str, template: Template, name: str) -> list[str]:
    """Parameters a sort-key placeholder becomes. With between, the last placeholder is the
    range (``x_from``, ``x_to``); the ones before it are shared by both ends."""
    if op == "between" and name == template.names[-1]:
        return [f"{name}_from", f"{name}_to"]
    return [name]


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: KeyType


@dataclass(frozen=True)
class Capacity:
    read: int
    write: int


@dataclass(frozen=True)
class Index:
    name: str
    local: bool
    pk: KeyAttribute
    sk: KeyAttribute | None
    projection: Literal["ALL", "KEYS_ONLY", "INCLUDE"]
    include: tuple[str, ...]  # stored attribute names, entity-type attribute included
    capacity: Capacity | None


@dataclass(frozen=True)
class KmsKey:
    """The schema's KMS key for encrypted attributes: a key id, ARN or alias, and the
    environment variable that overrides it when set; either may be None."""

    kms_key: str | None
    kms_key_env: str | None


@dataclass(frozen=True)
class Table:
    name: str  # logical name, as written in the schema
    name_env: str  # environment variable that may hold the physical name
    pk: KeyAttribute
    sk: KeyAttribute | None
    indexes: tuple[Index, ...]
    ttl: str | None
    billing: Literal["PAY_PER_REQUEST", "PROVISIONED"]
    capacity: Capacity | None
    stream: str | None  # StreamViewType, or None for no stream
    entity_type_attribute: str
    description: str
    encryption: KmsKey | None = None

    def index(self, name: str | None) -> Index | None:
        return next((i for i in self.indexes if i.name == name), None)


@dataclass(frozen=True)
class TypeRef:
    """An attribute's type: a builtin name, or 'object' with the object type's name."""

    kind: str
    object_name: str | None = None
    of: TypeRef | None = None  # list items, typed map values, number_set elements
    values: tuple[str, ...] = ()  # enum values


@dataclass(frozen=True)
class Constraints:
    min: int | float | None = None
    max: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in vars(self).values())


@dataclass(frozen=True)
class Attribute:
    name: str  # the Python name
    stored_as: str  # the DynamoDB attribute name
    type: TypeRef
    optional: bool
    default: Any
    generate: str | None  # "ulid" or "uuid4"
    auto: str | None  # "create" or "update"
    encrypted: bool
    constraints: Constraints
    doc: str
    # An encrypted attribute in TableTheory's format (``encrypted: tabletheory``).
    tabletheory: bool = False


@dataclass(frozen=True)
class ObjectType:
    name: str
    fields: tuple[Attribute, ...]
    description: str


@dataclass(frozen=True)
class EntityKey:
    """The key templates an entity writes for the table (index None) or for one index."""

    index: str | None
    pk_attribute: KeyAttribute
    sk_attribute: KeyAttribute | None
    pk: Template
    sk: Template | None
    # An index's keys are written only while these hold (and its optional attributes are
    # set): a sparse index by condition. Always empty for the table key.
    when: tuple[IndexCondition, ...] = ()


@dataclass(frozen=True)
class SortCondition:
    op: Literal["eq", "begins_with", "between", "lt", "lte", "gt", "gte"]
    template: Template


@dataclass(frozen=True)
class FilterCondition:
    attribute: str
    op: str
    param: str  # the method parameter, when the filter takes its values from the caller
    # The literal values written in the schema (``value``), as written: then the filter
    # takes no parameter. Two for between, one for the other operators.
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class IndexCondition:
    """``when: {attribute: value}`` of an entity's index: its keys are written only while
    the attribute holds this value (a literal of the schema, as written)."""

    attribute: str
    value: Any


@dataclass(frozen=True)
class AccessPattern:
    name: str
    key: EntityKey  # the table's or the index's key templates this pattern queries
    sort: SortCondition | None
    descending: bool
    projection: tuple[str, ...]  # attribute names; empty means the whole entity
    filters: tuple[FilterCondition, ...]
    consistent_read: bool
    doc: str


@dataclass(frozen=True)
class Audit:
    """``audit:`` of an entity: where its audit records live, and for how long."""

    table: str  # the logical table the records are written to (the entity's by default)
    retention_days: (
        int | None
    )  # None: kept until deleted; else expire by the table's TTL


@dataclass(frozen=True)
class Entity:
    name: str
    table: str
    type_attribute: str  # the table's entity-type attribute, written on every item
    type_tag: str
    key: EntityKey
    index_keys: tuple[EntityKey, ...]
    attributes: tuple[Attribute, ...]
    access_patterns: tuple[AccessPattern, ...]
    description: str
    # The attribute naming the tenant that owns each item (``tenant:``), or None: generated
    # methods then read and write only the items of the tenant bound to the context.
    tenant: str | None = None
    # Whether, and where, each write through the generated methods adds an audit record.
    audit: Audit | None = None
    # The KMS key of its encrypted attributes, when the entity declares its own.
    encryption: KmsKey | None = None

    def attribute(self, name: str) -> Attribute:
        return next(a for a in self.attributes if a.name == name)


@dataclass(frozen=True)
class Collection:
    """Entities that share a partition key, read by one query.

    The flat form (``entities``) returns a page of all of their items; the grouped form
    (``one``, ``many``) returns the ``one`` item of the partition (an entity with one item
    per partition: its sort key is fixed by the partition key) and lists of the ``many``
    items, by field name. ``key`` is the key templates of the first entity that is not the
    ``one`` (the partition key template is the same for all of them; its sort key template
    is the one a sort key condition is compared with).
    """

    name: str
    table: str
    key: EntityKey
    entities: tuple[str, ...]  # every entity; the ``one`` first
    doc: str
    sort: SortCondition | None = None
    descending: bool = False
    limit: int | None = None  # the default of the methods' ``limit``
    one: tuple[str, str] | None = None  # (field, entity)
    many: tuple[tuple[str, str], ...] = ()  # (field, entity); empty in the flat form

    @property
    def grouped(self) -> bool:
        return bool(self.many)


@dataclass(frozen=True)
class IdempotentOperation:
    """An operation declared under ``idempotency.operations``: where its idempotency key and
    the payload that must match are read from (paths into the event or the arguments)."""

    name: str
    key: tuple[str, ...]
    payload: tuple[str, ...]  # empty: the whole event, or every argument
    expires_after: int
    doc: str


@dataclass(frozen=True)
class Idempotency:
    """Where idempotency records live (the ``idempotency`` section): a table of the file,
    its TTL attribute, how long a completed call replays, and the declared operations."""

    table: str
    record: Entity  # generated like any entity: converters, key, checks
    expires_after: int
    operations: tuple[IdempotentOperation, ...]
    description: str


@dataclass(frozen=True)
class Module:
    """Everything one schema file compiles into one Python module."""

    source: str
    sha256: str
    module_name: str
    description: str
    tables: tuple[Table, ...]
    object_types: tuple[ObjectType, ...]
    entities: tuple[Entity, ...]
    collections: tuple[Collection, ...]
    idempotency: Idempotency | None = None


# --- building the model from validated data -------------------------------------------------


def module_name_for(stem: str) -> str:
    """The Python module name for a schema file stem: ``multi-tenant`` -> ``multi_tenant``."""
    return re.sub(r"\W", "_", stem).lower()


def default_name_env(table_name: str) -> str:
    return re.sub(r"\W", "_", table_name).upper() + "_TABLE"


def kms_key(spec: Any) -> KmsKey | None:
    if spec is None:
        return None
    return KmsKey(spec.get("kms_key"), spec.get("kms_key_env"))


def key_attribute(spec: Any) -> KeyAttribute:
    if isinstance(spec, str):
        return KeyAttribute(spec, "S")
    return KeyAttribute(spec["name"], spec.get("type", "S"))


def type_ref(spec: Any, object_types: set[str]) -> TypeRef:
    """The TypeRef for an attribute or element spec (a type name or a mapping)."""
    if isinstance(spec, str):
        spec = {"type": spec}
    kind = spec["type"]
    if kind in object_types:
        return TypeRef("object", object_name=kind)
    of = spec.get("of")
    if kind == "number_set" and of is None:
        of = "integer"
    return TypeRef(
        kind,
        of=type_ref(of, object_types) if of is not None else None,
        values=tuple(spec.get("values", ())),
    )


def build_table(name: str, spec: dict[str, Any]) -> Table:
    et_attr = spec.get("entity_type_attribute", DEFAULT_ENTITY_TYPE_ATTRIBUTE)
    pk = key_attribute(spec["keys"]["pk"])
    indexes = []
    for index_name in sorted(spec.get("indexes", {})):
        ispec = spec["indexes"][index_name]
        local = ispec.get("type", "global") == "local"
        projection = ispec.get("projection", "all")
        include: tuple[str, ...] = ()
        if isinstance(projection, dict):
            include = tuple(sorted({*projection["include"], et_attr}))
            kind: Literal["ALL", "KEYS_ONLY", "INCLUDE"] = "INCLUDE"
        else:
            kind = "ALL" if projection == "all" else "KEYS_ONLY"
        keys = ispec["keys"]
        capacity = ispec.get("capacity")
        indexes.append(
            Index(
                name=index_name,
                local=local,
                pk=pk if local else key_attribute(keys["pk"]),
                sk=key_attribute(keys["sk"]) if "sk" in keys else None,
                projection=kind,
                include=include,
                capacity=Capacity(capacity["read"], capacity["write"])
                if capacity
                else None,
            )
        )
    capacity = spec.get("capacity")
    stream = spec.get("stream", "none")
    return Table(
        name=name,
        name_env=spec.get("name_env", default_name_env(name)),
        pk=pk,
        sk=key_attribute(spec["keys"]["sk"]) if "sk" in spec["keys"] else None,
        indexes=tuple(indexes),
        ttl=spec.get("ttl"),
        billing="PROVISIONED"
        if spec.get("billing") == "provisioned"
        else "PAY_PER_REQUEST",
        capacity=Capacity(capacity["read"], capacity["write"]) if capacity else None,
        stream=None if stream == "none" else stream.upper(),
        entity_type_attribute=et_attr,
        description=spec.get("description", ""),
        encryption=kms_key(spec.get("encryption")),
    )


def build_attribute(
    name: str, spec: dict[str, Any], object_types: set[str]
) -> Attribute:
    return Attribute(
        name=name,
        stored_as=spec.get("stored_as", name),
        type=type_ref(spec, object_types),
        optional=bool(spec.get("optional", False)),
        default=spec.get("default"),
        generate=spec.get("generate"),
        auto=spec.get("auto"),
        encrypted=bool(spec.get("encrypted", False)),
        tabletheory=spec.get("encrypted") == "tabletheory",
        constraints=Constraints(
            min=spec.get("min"),
            max=spec.get("max"),
            min_length=spec.get("min_length"),
            max_length=spec.get("max_length"),
            pattern=spec.get("pattern"),
        ),
        doc=spec.get("doc", ""),
    )


def build_entity_key(
    table: Table, index_name: str | None, spec: dict[str, Any]
) -> EntityKey:
    index = table.index(index_name)
    pk_attribute = table.pk if index is None else index.pk
    sk_attribute = table.sk if index is None else index.sk
    pk_text = spec.get("pk")
    if index is not None and index.local:
        # A local index shares the table's partition key; entities declare only its sort key.
        pk_text = None
    return EntityKey(
        index=index_name,
        pk_attribute=pk_attribute,
        sk_attribute=sk_attribute,
        pk=parse_template(pk_text) if pk_text is not None else Template("", ()),
        sk=parse_template(spec["sk"]) if "sk" in spec else None,
        when=tuple(IndexCondition(n, v) for n, v in spec.get("when", {}).items()),
    )


def build_module(
    source: str, sha256: str, module_name: str, data: dict[str, Any]
) -> Module:
    """The Module for one validated schema file. Mapping order is kept: it is the author's."""
    tables = {
        name: build_table(name, spec) for name, spec in data.get("tables", {}).items()
    }
    object_type_names = set(data.get("types", {}))
    object_types = tuple(
        ObjectType(
            name=name,
            fields=tuple(
                build_attribute(fname, fspec, object_type_names)
                for fname, fspec in spec["fields"].items()
            ),
            description=spec.get("description", ""),
        )
        for name, spec in data.get("types", {}).items()
    )
    entities = [
        build_entity(name, spec, tables, object_type_names)
        for name, spec in data.get("entities", {}).items()
    ]
    by_name = {e.name: e for e in entities}
    collections = []
    for cname, cspec in data.get("collections", {}).items():
        one = next(iter(cspec.get("one", {}).items()), None)
        many = tuple(cspec.get("many", {}).items())
        names = (
            [*(one[1:] if one else ()), *(e for _, e in many)]
            if many
            else list(cspec["entities"])
        )
        first = by_name[many[0][1] if many else names[0]]
        index_name = cspec.get("index")
        ckey = (
            first.key
            if index_name is None
            else next(k for k in first.index_keys if k.index == index_name)
        )
        sort = None
        if "sk" in cspec:
            op, text = next(iter(cspec["sk"].items()))
            sort = SortCondition(op, parse_template(text))
        collections.append(
            Collection(
                name=cname,
                table=first.table,
                key=ckey,
                entities=tuple(names),
                doc=cspec.get("doc", ""),
                sort=sort,
                descending=cspec.get("order", "asc") == "desc",
                limit=cspec.get("limit"),
                one=one,
                many=many,
            )
        )
    return Module(
        source=source,
        sha256=sha256,
        module_name=module_name,
        description=data.get("description", ""),
        tables=tuple(tables.values()),
        object_types=object_types,
        entities=tuple(entities),
        collections=tuple(collections),
        idempotency=build_idempotency(data["idempotency"], tables)
        if "idempotency" in data
        else None,
    )


def record_key_spec(spec: dict[str, Any], table: Table) -> dict[str, str]:
    """The key templates of idempotency records: as written, else the defaults (a sort key
    only when the table has one)."""
    written = spec.get("key", {})
    if written:
        return dict(written)
    key = {"pk": RECORD_KEY_PK}
    if table.sk is not None:
        key["sk"] = RECORD_KEY_SK
    return key


def record_attributes_spec(table: Table) -> dict[str, dict[str, Any]]:
    """The attributes of an idempotency record, written as a schema would write them. Their
    Python and stored names are what the runtime reads and writes (``runtime/idempotency.py``);
    the expiry is stored under the table's TTL attribute."""
    return {
        "operation": {"type": "string"},
        "key_hash": {"type": "string"},
        "status": {"type": "enum", "values": list(RECORD_STATUSES)},
        "expires_at": {"type": "ttl", "stored_as": table.ttl or "expires_at"},
        "in_progress_until": {
            "type": "integer",
            "doc": "Milliseconds since the epoch.",
        },
        "payload_hash": {"type": "string"},
        "owner": {
            "type": "string",
            "doc": "The call holding the key, while in progress.",
        },
        "response": {"type": "string", "optional": True, "doc": "JSON."},
        "failure": {
            "type": "string",
            "optional": True,
            "doc": "An exception's type name.",
        },
    }


def record_entity_spec(spec: dict[str, Any], table: Table) -> dict[str, Any]:
    """An idempotency record as an entity of its table, written as a schema would write it."""
    return {
        "table": table.name,
        "description": "An idempotency record: one per operation and idempotency key.",
        "key": record_key_spec(spec, table),
        "attributes": record_attributes_spec(table),
    }


def build_idempotency(spec: dict[str, Any], tables: dict[str, Table]) -> Idempotency:
    table = tables[spec["table"]]
    expires_after = spec.get("expires_after", DEFAULT_EXPIRES_AFTER)
    return Idempotency(
        table=table.name,
        record=build_entity(
            RECORD_CLASS, record_entity_spec(spec, table), tables, set()
        ),
        expires_after=expires_after,
        operations=tuple(
            IdempotentOperation(
                name=name,
                key=_paths(ospec["key"]),
                payload=_paths(ospec.get("payload", [])),
                expires_after=ospec.get("expires_after", expires_after),
                doc=ospec.get("doc", ""),
            )
            for name, ospec in spec.get("operations", {}).items()
        ),
        description=spec.get("description", ""),
    )


def _paths(spec: str | list[str]) -> tuple[str, ...]:
    return (spec,) if isinstance(spec, str) else tuple(spec)


def build_entity(
    name: str,
    spec: dict[str, Any],
    tables: dict[str, Table],
    object_type_names: set[str],
) -> Entity:
    table = tables[spec["table"]]
    key = build_entity_key(table, None, spec["key"])
    index_keys = tuple(
        _with_local_pk(build_entity_key(table, iname, ispec), key, table)
        for iname, ispec in sorted(spec.get("indexes", {}).items())
    )
    patterns = []
    for pname, pspec in spec.get("access_patterns", {}).items():
        index_name = pspec.get("index")
        pattern_key = (
            key
            if index_name is None
            else next(k for k in index_keys if k.index == index_name)
        )
        sort = None
        if "sk" in pspec:
            op, text = next(iter(pspec["sk"].items()))
            sort = SortCondition(op, parse_template(text))
        patterns.append(
            AccessPattern(
                name=pname,
                key=pattern_key,
                sort=sort,
                descending=pspec.get("order", "asc") == "desc",
                projection=tuple(pspec.get("projection", ())),
                filters=tuple(
                    FilterCondition(
                        f["attribute"],
                        f["op"],
                        f.get("param", f["attribute"]),
                        _literals(f),
                    )
                    for f in pspec.get("filter", ())
                ),
                consistent_read=bool(pspec.get("consistent_read", False)),
                doc=pspec.get("doc", ""),
            )
        )
    return Entity(
        name=name,
        table=table.name,
        type_attribute=table.entity_type_attribute,
        type_tag=spec.get("type_tag", name),
        key=key,
        index_keys=index_keys,
        attributes=tuple(
            build_attribute(aname, aspec, object_type_names)
            for aname, aspec in spec["attributes"].items()
        ),
        access_patterns=tuple(patterns),
        description=spec.get("description", ""),
        tenant=spec.get("tenant"),
        audit=build_audit(spec.get("audit"), table.name),
        encryption=kms_key(spec.get("encryption")),
    )


def build_audit(spec: Any, entity_table: str) -> Audit | None:
    """``audit: true`` (records in the entity's table) or ``audit: {table, retention_days}``."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return Audit(entity_table, None)
    return Audit(spec.get("table", entity_table), spec.get("retention_days"))


def _literals(spec: dict[str, Any]) -> tuple[Any, ...]:
    """A filter's literal values: ``value`` (a list of two for between), or none."""
    if "value" not in spec:
        return ()
    value = spec["value"]
    return tuple(value) if isinstance(value, list) else (value,)


def _with_local_pk(
    index_key: EntityKey, table_key: EntityKey, table: Table
) -> EntityKey:
    index = table.index(index_key.index)
    if index is not None and index.local:
        return EntityKey(
            index_key.index,
            index_key.pk_attribute,
            index_key.sk_attribute,
            table_key.pk,
            index_key.sk,
            index_key.when,
        )
    return index_key
