"""Stage 3, model: the small immutable intermediate representation that templates render.

Built only from data that passed validation, so nothing here reports errors; the few parsing
helpers (key templates, type names) are shared with validation, which does report them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

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


@dataclass(frozen=True)
class SortCondition:
    op: Literal["eq", "begins_with", "between", "lt", "lte", "gt", "gte"]
    template: Template


@dataclass(frozen=True)
class FilterCondition:
    attribute: str
    op: str
    param: str


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
    # The KMS key of its encrypted attributes, when the entity declares its own.
    encryption: KmsKey | None = None

    def attribute(self, name: str) -> Attribute:
        return next(a for a in self.attributes if a.name == name)


@dataclass(frozen=True)
class Collection:
    name: str
    table: str
    key: EntityKey  # the shared partition key template (from the first entity)
    entities: tuple[str, ...]
    doc: str


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
    entities = []
    for name, spec in data.get("entities", {}).items():
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
                            f["attribute"], f["op"], f.get("param", f["attribute"])
                        )
                        for f in pspec.get("filter", ())
                    ),
                    consistent_read=bool(pspec.get("consistent_read", False)),
                    doc=pspec.get("doc", ""),
                )
            )
        entities.append(
            Entity(
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
                encryption=kms_key(spec.get("encryption")),
            )
        )
    by_name = {e.name: e for e in entities}
    collections = []
    for cname, cspec in data.get("collections", {}).items():
        first = by_name[cspec["entities"][0]]
        index_name = cspec.get("index")
        ckey = (
            first.key
            if index_name is None
            else next(k for k in first.index_keys if k.index == index_name)
        )
        collections.append(
            Collection(
                name=cname,
                table=first.table,
                key=ckey,
                entities=tuple(cspec["entities"]),
                doc=cspec.get("doc", ""),
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
    )


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
        )
    return index_key
