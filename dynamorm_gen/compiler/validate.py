"""Stage 2, validate: the JSON Schema of the format, then the semantic checks it cannot express.

Every problem becomes a located Diagnostic; nothing raises for bad input. Semantic checks run on a
file only once its structure is valid, so they can trust the shapes they read.
"""

from __future__ import annotations

import bisect
import builtins
import json
import keyword
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from dynamorm_gen.compiler import model
from dynamorm_gen.compiler.errors import Diagnostic, did_you_mean
from dynamorm_gen.compiler.load import PathKey, SchemaFile
from dynamorm_gen.runtime import event_paths

SNAKE = re.compile(r"[a-z][a-z0-9_]*\Z")
PASCAL = re.compile(r"[A-Z][A-Za-z0-9]*\Z")
TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
# Names generated code uses, which a schema name must not hide or repeat. Which ones a name must
# avoid depends on where it ends up in the generated module; tests/unit/test_reserved_names.py
# checks these lists against what the templates write.
#
# Members of entity and object classes.
RESERVED_MEMBERS = frozenset(
    {"to_item", "from_item", "key", "make_key", "to_map", "from_map", "self", "cls"}
)
# Parameters and locals of generated methods that take attributes as parameters; refused for
# every attribute and field since the first versions of the format.
RESERVED_PARAMETERS = frozenset(
    {"self", "cls", "limit", "cursor", "consistent", "if_not_exists", "page", "items"}
    | {"next_cursor", "result", "item", "tag"}
)
# Every attribute and field is a class-level name of its class and a parameter of its
# __init__. Named like a builtin or module the class uses there, it hides it: after
# `str: str` the class's other annotations name the attribute (mypy and get_type_hints fail),
# and `wire` breaks __init__'s `wire.new_ulid()`.
CLASS_SCOPE_NAMES = frozenset(
    {"bool", "bytes", "dict", "float", "int", "list", "object", "set", "str"}
    | {"staticmethod", "date", "datetime", "wire"}
)
# An attribute written into a key template or a sort key condition, and a filter parameter,
# are parameters of table and update-builder methods too, which use these names besides: a
# parameter `type` breaks their `type(value) is not str`, one named `when` repeats theirs (a
# SyntaxError).
METHOD_NAMES = frozenset(
    CLASS_SCOPE_NAMES
    | RESERVED_PARAMETERS
    | {"type", "len", "update", "value", "changes", "committed", "expected", "now"}
    | {"expected_version", "must_exist", "old_on_failure", "page_size", "request"}
    | {"retry_safe", "return_old", "returning", "tx", "txg", "when"}
    | {"tenants", "audit", "key", "group"}
)
# put_ methods save the old value of each `auto: update` attribute in a local `previous_<name>`.
METHOD_NAME_PREFIXES = ("previous_",)
# put_<entity> and tx_put_<entity> take the entity as a parameter named by its snake_case name
# (entity `When` would give `put_when(self, when: When, *, when=...)`), and use these besides.
ENTITY_PARAMETER_NAMES = frozenset(
    {"self", "item", "expected", "now", "committed", "request", "str", "wire"}
    | {"if_not_exists", "when", "old_on_failure", "tx", "tenants", "audit"}
)
# Names a generated module imports or defines at the top level: an entity or object type
# class named like one would replace it. (Python's builtins are refused as well.)
RESERVED_CLASS_NAMES = frozenset(
    {"Any", "AttributeValue", "AuditRecord", "BatchGet", "Comparison", "Connection"}
    | {"Decimal"}
    | {"Equality", "Item", "Iterable", "Iterator", "Key", "Literal", "Page"}
    | {"Sequence", "TableDefinition", "TableHandle", "TransactGet", "TransactWrite"}
    | {"IdempotentOperation"}
)
BUILTINS = frozenset(dir(builtins))
# DynamoDB's naming rules: table and index names, key attribute names (and the names an index
# projects), and every other attribute name.
MAX_TABLE_NAME = 255
MIN_TABLE_NAME = 3
MAX_KEY_ATTRIBUTE_NAME = 255  # characters
MAX_ATTRIBUTE_NAME_BYTES = 65535  # UTF-8 bytes: "less than 64 KB"
# The attribute types an index condition (``when``) may compare: their values are written
# in the schema and compared in Python by equality.
INDEX_CONDITION_TYPES = ("boolean", "string", "enum", "integer")
# The element types a default list, typed map or set may list members of (literals).
COLLECTION_DEFAULT_ELEMENTS = (
    "string",
    "enum",
    "integer",
    "decimal",
    "float",
    "boolean",
)
MAX_GLOBAL_INDEXES = 20
MAX_LOCAL_INDEXES = 5

_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_LENGTH_TYPES = (
    "string",
    "binary",
    "list",
    "map",
    "string_set",
    "number_set",
    "binary_set",
)


@cache
def format_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of schema files, shipped in the package."""
    text = (
        resources.files("dynamorm_gen.compiler")
        .joinpath("schema-v1.json")
        .read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def _dotted(path: PathKey) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def _suggest_choice(value: str, choices: list[str]) -> str:
    """did_you_mean, or the one choice that the value shortens or spells out.

    The ratio did_you_mean uses misses a longer or shorter spelling of a choice ('descending'
    for 'desc', 'prov' for 'provisioned', 'equals' for 'eq'); requiring a single such choice
    keeps it quiet when the value is unrelated.
    """
    hint = did_you_mean(value, choices)
    if hint or len(value) < 3:
        return hint
    related = [c for c in choices if c.startswith(value[:3]) or value.startswith(c)]
    return f"did you mean '{related[0]}'?" if len(related) == 1 else ""


def check_structure(schema_file: SchemaFile) -> list[Diagnostic]:
    """Apply the JSON Schema; one diagnostic per problem, in the words of the format."""
    validator = jsonschema.Draft202012Validator(format_schema())
    diagnostics: list[Diagnostic] = []
    for error in validator.iter_errors(schema_file.data):
        diagnostics.extend(_from_schema_error(schema_file, error))
    return diagnostics


def _from_schema_error(sf: SchemaFile, error: ValidationError) -> Iterator[Diagnostic]:
    if error.validator in ("anyOf", "oneOf") and error.context:
        # Report the errors of the alternative whose type fits the value (the mapping form of
        # a key attribute given a mapping), not "expected a string"; when no alternative
        # fits, the one that came closest.
        fitting = [
            sub
            for sub in error.context
            if sub.relative_path or sub.validator not in ("type", "enum")
        ]
        for sub in fitting or [best_match(error.context)]:
            yield from _from_schema_error(sf, sub)
        return
    path: PathKey = tuple(error.absolute_path)
    where = _dotted(path)
    kind = error.validator
    if kind == "additionalProperties":
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = schema.get("properties", {})
        for extra in sorted(set(error.instance) - set(allowed)):  # type: ignore[arg-type]
            yield sf.diagnostic(
                (*path, extra),
                "DG101",
                f"{where}: unknown field '{extra}'",
                did_you_mean(extra, allowed)
                or f"allowed here: {', '.join(sorted(allowed))}",
                key=True,
            )
    elif kind == "required":
        missing = re.search(r"'([^']*)' is a required property", error.message)
        name = missing.group(1) if missing else "?"
        yield sf.diagnostic(
            path, "DG103", f"{where}: missing required field '{name}'", key=True
        )
    elif kind == "type":
        expected: Any = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_JSON_TYPES.get(n, n) for n in names)
        yield sf.diagnostic(
            path,
            "DG102",
            f"{where}: expected {wanted}, got {_describe(error.instance)}",
        )
    elif kind == "enum":
        values: Any = error.validator_value
        # As YAML writes them: true and false, not Python's True and False.
        choices = [json.dumps(c) if isinstance(c, bool) else str(c) for c in values]
        yield sf.diagnostic(
            path,
            "DG104",
            f"{where}: {_describe(error.instance)} is not one of {', '.join(choices)}",
            _suggest_choice(str(error.instance), choices),
        )
    elif kind == "const":
        yield sf.diagnostic(
            path,
            "DG104",
            f"{where}: must be {error.validator_value}, got {_describe(error.instance)}",
        )
    elif kind in ("minItems", "minProperties", "minLength"):
        yield sf.diagnostic(path, "DG105", f"{where}: must not be empty")
    elif kind == "maxProperties":
        yield sf.diagnostic(path, "DG105", f"{where}: give exactly one condition")
    elif kind == "uniqueItems":
        items: list[Any] = error.instance if isinstance(error.instance, list) else []
        repeats = _repeats(items)
        for i in repeats:
            yield sf.diagnostic(
                (*path, i),
                "DG105",
                f"{where}: {_describe(items[i])} is listed more than once",
                "remove the repeat",
            )
        if not repeats:  # equal only by JSON Schema's rules (1 and 1.0)
            yield sf.diagnostic(path, "DG105", f"{where}: items must be unique")
    elif kind == "minimum":
        yield sf.diagnostic(
            path, "DG105", f"{where}: must be at least {error.validator_value}"
        )
    elif kind == "maximum":
        yield sf.diagnostic(
            path, "DG105", f"{where}: must be at most {error.validator_value:,}"
        )
    elif kind == "pattern":
        # A field that says what it holds (its description) is named so; names otherwise.
        schema = error.schema if isinstance(error.schema, dict) else {}
        holds = schema.get("description", "a valid name here")
        yield sf.diagnostic(
            path, "DG105", f"{where}: {_describe(error.instance)} is not {holds}"
        )
    else:  # a keyword the format does not use today; still located and readable
        yield sf.diagnostic(path, "DG100", f"{where}: {error.message}")


def _repeats(items: list[Any]) -> list[int]:
    """Indexes of the items equal to an earlier one (as JSON: true is not 1)."""
    seen: set[str] = set()
    repeats = []
    for i, item in enumerate(items):
        text = json.dumps(item, sort_keys=True)
        if text in seen:
            repeats.append(i)
        seen.add(text)
    return repeats


class _FileChecker:
    """Semantic checks for one structurally valid schema file."""

    def __init__(self, sf: SchemaFile) -> None:
        self.sf = sf
        self.data = sf.data
        self.diagnostics: list[Diagnostic] = []
        # A type named like a builtin is reported once as shadowing it; `type: string` still
        # means the builtin everywhere else.
        self.object_types: set[str] = set(self.data.get("types", {})) - set(
            model.BUILTIN_TYPES
        )

    def error(
        self,
        path: PathKey,
        code: str,
        message: str,
        hint: str = "",
        *,
        key: bool = False,
    ) -> None:
        self.diagnostics.append(self.sf.diagnostic(path, code, message, hint, key=key))

    def run(self) -> list[Diagnostic]:
        for name, spec in self.data.get("tables", {}).items():
            self.check_table(name, spec)
        for name, spec in self.data.get("types", {}).items():
            self.check_object_type(name, spec)
        self.check_object_recursion()
        tables = {
            n: model.build_table(n, s) for n, s in self.data.get("tables", {}).items()
        }
        for name, spec in self.data.get("entities", {}).items():
            self.check_entity(name, spec, tables)
        self.check_shared_tables(tables)
        self.check_tenant_prefixes(tables)
        self.check_untenanted_neighbours(tables)
        for name, spec in self.data.get("collections", {}).items():
            self.check_collection(name, spec, tables)
        if "idempotency" in self.data:
            self.check_idempotency(self.data["idempotency"], tables)
        return self.diagnostics

    # --- names -------------------------------------------------------------------------------

    def check_name(
        self, path: PathKey, name: str, pattern: re.Pattern[str], what: str
    ) -> bool:
        style = "snake_case" if pattern is SNAKE else "PascalCase"
        if pattern is TABLE_NAME:
            style = "letters, digits, '_', '-' or '.', starting with a letter"
        if not pattern.match(name):
            self.error(path, "DG201", f"{what} name '{name}' must be {style}", key=True)
            return False
        if keyword.iskeyword(name):
            self.error(
                path, "DG201", f"{what} name '{name}' is a Python keyword", key=True
            )
            return False
        return True

    def check_class_name(self, path: PathKey, name: str, what: str) -> None:
        """Entities and object types are classes of the generated module."""
        if name in RESERVED_CLASS_NAMES:
            self.error(
                path,
                "DG201",
                f"{what} name '{name}' is used by generated code",
                key=True,
            )
        elif name in BUILTINS:
            # A module-level class would hide the builtin from all of the module's code.
            self.error(
                path,
                "DG201",
                f"{what} name '{name}' is a Python builtin",
                "generated code uses Python's builtins; rename it",
                key=True,
            )

    # --- tables ------------------------------------------------------------------------------

    def check_table(self, name: str, spec: dict[str, Any]) -> None:
        path: PathKey = ("tables", name)
        if self.check_name(path, name, TABLE_NAME, "table") and not (
            MIN_TABLE_NAME <= len(name) <= MAX_TABLE_NAME
        ):
            # The logical name is the physical one unless a prefix or name_env says otherwise.
            self.error(
                path,
                "DG201",
                f"table name {_long_name(name)} must be {MIN_TABLE_NAME} to"
                f" {MAX_TABLE_NAME} characters",
                key=True,
            )
        table = model.build_table(name, spec)
        self.check_key_names(path, spec)
        key_types: dict[str, str] = {table.pk.name: table.pk.type}
        if table.sk is not None:
            if table.sk.name == table.pk.name:
                self.error(
                    (*path, "keys", "sk"),
                    "DG213",
                    "sort key must differ from the partition key",
                )
            key_types[table.sk.name] = table.sk.type
        globals_ = [i for i in table.indexes if not i.local]
        locals_ = [i for i in table.indexes if i.local]
        if len(globals_) > MAX_GLOBAL_INDEXES:
            self.error(
                (*path, "indexes"),
                "DG213",
                f"at most {MAX_GLOBAL_INDEXES} global indexes",
            )
        if len(locals_) > MAX_LOCAL_INDEXES:
            self.error(
                (*path, "indexes"),
                "DG213",
                f"at most {MAX_LOCAL_INDEXES} local indexes",
            )
        for iname, ispec in spec.get("indexes", {}).items():
            ipath: PathKey = (*path, "indexes", iname)
            if not re.match(r"[A-Za-z0-9_.-]{3,255}\Z", iname):
                self.error(
                    ipath,
                    "DG201",
                    f"index name '{iname}' must be 3-255 of A-Z a-z 0-9 _ - .",
                    key=True,
                )
            local = ispec.get("type", "global") == "local"
            keys = ispec["keys"]
            if local:
                if "pk" in keys:
                    self.error(
                        (*ipath, "keys", "pk"),
                        "DG213",
                        f"local index '{iname}' shares the table's partition key; remove 'pk'",
                    )
                if "sk" not in keys:
                    self.error(
                        (*ipath, "keys"),
                        "DG213",
                        f"local index '{iname}' needs an 'sk'",
                    )
                if table.sk is None:
                    self.error(
                        (*ipath, "type"),
                        "DG213",
                        f"local index '{iname}' needs a table with a sort key",
                    )
                if "capacity" in ispec:
                    self.error(
                        (*ipath, "capacity"),
                        "DG213",
                        "local indexes use the table's capacity",
                    )
            elif "pk" not in keys:
                self.error(
                    (*ipath, "keys"), "DG103", f"global index '{iname}' needs a 'pk'"
                )
            for role in ("pk", "sk"):
                if role not in keys or (local and role == "pk"):
                    continue
                attr = model.key_attribute(keys[role])
                known = key_types.setdefault(attr.name, attr.type)
                if known != attr.type:
                    self.error(
                        (*ipath, "keys", role),
                        "DG213",
                        f"key attribute '{attr.name}' is {attr.type} here but {known} elsewhere",
                    )
            if "capacity" in ispec and table.billing != "PROVISIONED":
                self.error(
                    (*ipath, "capacity"),
                    "DG213",
                    "capacity is only for billing: provisioned",
                )
        if table.billing == "PROVISIONED" and table.capacity is None:
            self.error(
                (*path, "billing"),
                "DG213",
                "billing: provisioned needs capacity: {read: N, write: N}",
            )
        if table.billing != "PROVISIONED" and table.capacity is not None:
            self.error(
                (*path, "capacity"),
                "DG213",
                "capacity is only for billing: provisioned",
                "add 'billing: provisioned' or remove 'capacity'",
            )
        reserved = set(key_types)
        if table.entity_type_attribute in reserved:
            self.error(
                (*path, "entity_type_attribute"),
                "DG213",
                f"entity type attribute '{table.entity_type_attribute}' is a key attribute",
            )
        if table.ttl is not None and (
            table.ttl in reserved or table.ttl == table.entity_type_attribute
        ):
            self.error(
                (*path, "ttl"),
                "DG213",
                f"ttl attribute '{table.ttl}' is a key attribute",
            )
        for index in table.indexes:
            for inc in index.include:
                if inc in reserved:
                    self.error(
                        (*path, "indexes", index.name, "projection"),
                        "DG213",
                        f"'{inc}' is a key attribute and is always projected; remove it",
                    )

    def check_key_names(self, path: PathKey, spec: dict[str, Any]) -> None:
        """DynamoDB's limits on the attribute names a table definition holds."""
        names: list[tuple[PathKey, Any, str]] = [
            ((*path, "keys", r), spec["keys"].get(r), "key") for r in ("pk", "sk")
        ]
        for iname, ispec in spec.get("indexes", {}).items():
            ipath: PathKey = (*path, "indexes", iname)
            names += [
                ((*ipath, "keys", r), ispec["keys"].get(r), "key") for r in ("pk", "sk")
            ]
            projection = ispec.get("projection")
            if isinstance(projection, dict):
                includes = enumerate(projection["include"])
                names += [
                    ((*ipath, "projection", "include", i), n, "projected")
                    for i, n in includes
                ]
        for npath, spec_or_name, what in names:
            if spec_or_name is None:
                continue
            name = model.key_attribute(spec_or_name).name
            if len(name) > MAX_KEY_ATTRIBUTE_NAME:
                self.error(
                    npath if isinstance(spec_or_name, str) else (*npath, "name"),
                    "DG201",
                    f"{what} attribute name {_long_name(name)} is over"
                    f" {MAX_KEY_ATTRIBUTE_NAME} characters",
                    "DynamoDB allows 255 characters for the names of key and projected"
                    " attributes",
                )
        for option in ("ttl", "entity_type_attribute"):
            value = spec.get(option, "")
            if len(value.encode("utf-8")) > MAX_ATTRIBUTE_NAME_BYTES:
                self.error(
                    (*path, option),
                    "DG201",
                    f"{option}: name {_long_name(value)} is over"
                    f" {MAX_ATTRIBUTE_NAME_BYTES:,} bytes in UTF-8",
                    "DynamoDB attribute names are less than 64 KB",
                )

    # --- attributes and object types ---------------------------------------------------------

    def check_object_type(self, name: str, spec: dict[str, Any]) -> None:
        path: PathKey = ("types", name)
        if name in model.BUILTIN_TYPES:
            # Builtin names are all snake_case: "must be PascalCase" would only repeat this.
            self.error(
                path, "DG201", f"type name '{name}' shadows a builtin type", key=True
            )
        elif self.check_name(path, name, PASCAL, "type"):
            self.check_class_name(path, name, "type")
        stored: dict[str, str] = {}
        for fname, fspec in spec["fields"].items():
            fpath: PathKey = (*path, "fields", fname)
            self.check_attribute(fpath, fname, fspec, in_object=True)
            self.check_stored_name(fpath, fname, fspec, stored)

    def check_object_recursion(self) -> None:
        graph: dict[str, set[str]] = {}
        for name, spec in self.data.get("types", {}).items():
            graph[name] = set()
            for fspec in spec["fields"].values():
                graph[name] |= self.referenced_objects(fspec)
        for name in graph:
            seen: set[str] = set()
            stack = list(graph[name])
            while stack:
                current = stack.pop()
                if current == name:
                    self.error(
                        ("types", name),
                        "DG214",
                        f"type '{name}' contains itself; recursive types are not supported",
                        "use a free-form 'map' for recursive data",
                        key=True,
                    )
                    break
                if current not in seen:
                    seen.add(current)
                    stack.extend(graph.get(current, ()))

    def referenced_objects(self, spec: Any) -> set[str]:
        if isinstance(spec, str):
            return {spec} if spec in self.object_types else set()
        found = {spec["type"]} if spec["type"] in self.object_types else set()
        if "of" in spec:
            found |= self.referenced_objects(spec["of"])
        return found

    def check_stored_name(
        self, path: PathKey, name: str, spec: dict[str, Any], stored: dict[str, str]
    ) -> None:
        stored_as = spec.get("stored_as", name)
        if stored_as in stored:
            self.error(
                (*path, "stored_as") if "stored_as" in spec else path,
                "DG204",
                f"'{name}' and '{stored[stored_as]}' are both stored as '{stored_as}'",
                key="stored_as" not in spec,
            )
        stored[stored_as] = name

    def is_type(self, type_name: str) -> bool:
        return type_name in model.BUILTIN_TYPES or type_name in self.object_types

    def a_type(self, kind: str) -> str:
        """A type with its article, for messages: 'an integer', 'an object (Address)'."""
        if kind in self.object_types:
            return f"an object ({kind})"
        return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"

    def check_type_name(self, path: PathKey, type_name: str) -> bool:
        if type_name in model.BUILTIN_TYPES or type_name in self.object_types:
            return True
        choices = [*model.BUILTIN_TYPES, *self.object_types]
        # Name the attribute for `type: x`, but the `of` itself for `of: x`.
        owner = path[:-1] if path[-1] == "type" else path
        self.error(
            path,
            "DG202",
            f"{_dotted(owner)}: '{type_name}' is not a type",
            did_you_mean(type_name, choices) or f"types: {', '.join(choices)}",
        )
        return False

    def check_element(self, path: PathKey, spec: Any, container: str) -> None:
        """List items, typed map values and number_set elements."""
        if isinstance(spec, str):
            spec = {"type": spec}
            tpath: PathKey = path
        else:
            tpath = (*path, "type")
        kind = spec["type"]
        if not self.check_type_name(tpath, kind):
            return
        if container == "number_set":
            if kind not in ("integer", "decimal"):
                self.error(tpath, "DG203", "number_set elements are integer or decimal")
            return
        if kind in ("version", "ttl"):
            self.error(tpath, "DG203", f"'{kind}' is only for top-level attributes")
            return
        self.check_type_options(path, kind, spec)

    def check_attribute(
        self, path: PathKey, name: str, spec: dict[str, Any], *, in_object: bool = False
    ) -> None:
        what = "field" if in_object else "attribute"
        if self.check_name(path, name, SNAKE, what):
            if name in RESERVED_MEMBERS | RESERVED_PARAMETERS:
                self.error(
                    path,
                    "DG201",
                    f"{what} name '{name}' is reserved by generated code",
                    key=True,
                )
            elif name in CLASS_SCOPE_NAMES:
                self.error(
                    path,
                    "DG201",
                    f"{what} name '{name}' is reserved by generated code",
                    f"generated classes use {_used_as(name)}; {_rename(name)}",
                    key=True,
                )
        stored_as = spec.get("stored_as", name)
        if len(stored_as.encode("utf-8")) > MAX_ATTRIBUTE_NAME_BYTES:
            renamed = "stored_as" in spec
            self.error(
                (*path, "stored_as") if renamed else path,
                "DG201",
                f"{'stored' if renamed else what} name {_long_name(stored_as)} is over"
                f" {MAX_ATTRIBUTE_NAME_BYTES:,} bytes in UTF-8",
                "DynamoDB attribute names are less than 64 KB",
                key=not renamed,
            )
        kind = spec["type"]
        if not self.check_type_name((*path, "type"), kind):
            return
        self.check_type_options(path, kind, spec)
        optional = spec.get("optional", False)
        if in_object:
            for option in ("generate", "auto", "encrypted"):
                if option in spec:
                    self.error(
                        (*path, option),
                        "DG203",
                        f"'{option}' is for entity attributes, not fields",
                    )
            if kind in ("version", "ttl"):
                self.error(
                    (*path, "type"), "DG203", f"'{kind}' is for entity attributes only"
                )
        if kind in model.SET_TYPES and optional:
            self.error(
                (*path, "optional"),
                "DG203",
                f"{self.a_type(kind)} is never null: an empty set is simply not stored",
                "remove 'optional'",
            )
        if "default" in spec:
            self.check_default((*path, "default"), kind, spec)
            if optional:
                self.error(
                    (*path, "default"),
                    "DG203",
                    "an attribute with a default is not optional",
                )
        if "generate" in spec:
            if kind != "string":
                self.error(
                    (*path, "generate"), "DG203", "'generate' is for string attributes"
                )
            if "default" in spec:
                self.error(
                    (*path, "generate"), "DG203", "give either 'default' or 'generate'"
                )
        if "auto" in spec:
            if kind != "datetime":
                self.error(
                    (*path, "auto"), "DG203", "'auto' is for datetime attributes"
                )
            if optional or "default" in spec:
                self.error(
                    (*path, "auto"),
                    "DG203",
                    "an 'auto' attribute is always set; drop 'optional'/'default'",
                )
        if spec.get("encrypted") and kind not in ("string", "binary"):
            self.error(
                (*path, "encrypted"),
                "DG203",
                "only string and binary attributes can be encrypted",
            )
        if kind == "version" and optional:
            self.error(
                (*path, "optional"), "DG203", "a version attribute is never optional"
            )

    def check_type_options(
        self, path: PathKey, kind: str, spec: dict[str, Any]
    ) -> None:
        # Errors about the whole spec point at its type: the mapping's own place is its first
        # key, which may be any option.
        tpath: PathKey = (*path, "type")
        if kind == "enum" and "values" not in spec:
            self.error(tpath, "DG203", "an enum needs 'values'", "values: [A, B, C]")
        if kind != "enum" and "values" in spec:
            self.error(
                (*path, "values"), "DG203", "'values' is only for enum attributes"
            )
        if kind == "list" and "of" not in spec:
            self.error(
                tpath, "DG203", "a list needs 'of', the type of its items", "of: string"
            )
        if "of" in spec:
            if kind in ("list", "map", "number_set"):
                self.check_element((*path, "of"), spec["of"], kind)
            else:
                self.error(
                    (*path, "of"), "DG203", "'of' is only for list, map and number_set"
                )
        numeric = kind in ("integer", "decimal", "float", "ttl")
        for option in ("min", "max"):
            if option in spec and not numeric:
                self.error((*path, option), "DG203", f"'{option}' is for numbers")
        if "min" in spec and "max" in spec and spec["min"] > spec["max"]:
            self.error((*path, "min"), "DG203", "'min' is greater than 'max'")
        if kind == "integer":
            for option in ("min", "max"):
                if isinstance(spec.get(option), float):
                    self.error(
                        (*path, option),
                        "DG203",
                        f"'{option}' of an integer must be whole",
                    )
        for option in ("min_length", "max_length"):
            if option in spec and kind not in _LENGTH_TYPES:
                self.error(
                    (*path, option),
                    "DG203",
                    f"'{option}' is for strings, binary and collections",
                )
        if spec.get("min_length", 0) > spec.get("max_length", float("inf")):
            self.error(
                (*path, "min_length"),
                "DG203",
                "'min_length' is greater than 'max_length'",
            )
        if "pattern" in spec:
            if kind != "string":
                self.error((*path, "pattern"), "DG203", "'pattern' is for strings")
            try:
                re.compile(spec["pattern"])
            except re.error as exc:
                self.error(
                    (*path, "pattern"), "DG203", f"invalid regular expression: {exc}"
                )

    def check_default(self, path: PathKey, kind: str, spec: dict[str, Any]) -> None:
        value = spec["default"]
        if kind in model.COLLECTION_TYPES:
            self.check_collection_default(path, kind, spec)
            return
        if isinstance(value, (list, dict)):
            self.error(
                path,
                "DG203",
                f"default {_describe(value)} is not a valid {kind}",
            )
            return
        valid = {
            "string": isinstance(value, str),
            "enum": isinstance(value, str) and value in spec.get("values", ()),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "decimal": isinstance(value, (int, float, str))
            and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
        }
        if kind == "enum" and not valid[kind]:
            allowed = [str(v) for v in spec.get("values", ())]
            suggestion = did_you_mean(str(value), allowed)
            self.error(
                path,
                "DG203",
                f"default {_describe(value)} is not one of the enum's values",
                f"{suggestion} values: {', '.join(allowed)}".lstrip(),
            )
        elif kind not in valid:
            self.error(
                path, "DG203", f"{self.a_type(kind)} attribute cannot have a default"
            )
        elif not valid[kind]:
            self.error(
                path, "DG203", f"default {_describe(value)} is not a valid {kind}"
            )
        elif kind in ("decimal", "float"):
            try:
                finite = math.isfinite(float(value))
            except ValueError:
                finite = False
            if not finite:
                self.error(
                    path, "DG203", f"default {_describe(value)} is not a finite {kind}"
                )

    def check_collection_default(
        self, path: PathKey, kind: str, spec: dict[str, Any]
    ) -> None:
        """A default list, map or set: a list (a mapping for maps) of literals of its
        element type, which generated code writes out as a new container for each object.
        Elements without a literal form (objects, dates, nested lists...) allow only an
        empty default; a free-form map holds strings, integers, booleans, lists and maps."""
        value = spec["default"]
        shape = dict if kind == "map" else list
        if not isinstance(value, shape):
            example = "{}" if kind == "map" else "[]"
            self.error(
                path,
                "DG203",
                f"the default of {self.a_type(kind)} is a"
                f" {'mapping' if kind == 'map' else 'list'}, such as {example}, not"
                f" {_describe(value)}",
            )
            return
        if kind == "map" and "of" not in spec:
            found = _free_form_problem(value)
            if found is not None:
                where, what = found
                self.error(
                    (*path, *where),
                    "DG203",
                    f"a free-form map's default holds strings, integers, booleans, lists"
                    f" and maps, not {what}",
                    "write a decimal number as a string, or declare the map's type with 'of'",
                )
            return
        element = _element_type(model.type_ref(spec, self.object_types))
        members = list(value.items() if isinstance(value, dict) else enumerate(value))
        if members and element.kind not in COLLECTION_DEFAULT_ELEMENTS:
            self.error(
                path,
                "DG203",
                f"the default of {self.a_type(kind)} of"
                f" {element.object_name or element.kind} values must be empty",
                f"defaults hold {', '.join(COLLECTION_DEFAULT_ELEMENTS)} values",
            )
            return
        seen: set[Any] = set()
        for where, member in members:
            try:
                wire_type, text = model.literal_value(element, member)
            except ValueError as exc:
                self.error(
                    (*path, where), "DG203", f"default member {_describe(member)} {exc}"
                )
                continue
            same = Decimal(text) if wire_type == "N" else text
            if kind in model.SET_TYPES and same in seen:
                self.error(
                    (*path, where),
                    "DG203",
                    f"default member {_describe(member)} is listed twice: a set holds"
                    " each member once",
                )
            seen.add(same)

    # --- entities ----------------------------------------------------------------------------

    def check_entity(
        self, name: str, spec: dict[str, Any], tables: dict[str, model.Table]
    ) -> None:
        path: PathKey = ("entities", name)
        if self.check_name(path, name, PASCAL, "entity"):
            self.check_class_name(path, name, "entity")
        if name in self.object_types:
            self.error(
                path, "DG201", f"entity '{name}' has the name of a type", key=True
            )
        stored: dict[str, str] = {}
        versions = []
        for aname, aspec in spec["attributes"].items():
            apath: PathKey = (*path, "attributes", aname)
            self.check_attribute(apath, aname, aspec)
            self.check_stored_name(apath, aname, aspec, stored)
            if aspec["type"] == "version":
                versions.append(aname)
        if len(versions) > 1:
            self.error(
                (*path, "attributes", versions[1], "type"),
                "DG203",
                "an entity has at most one version attribute",
            )
        self.check_parameter_names(path, spec)
        table = tables.get(spec["table"])
        if table is None:
            self.error(
                (*path, "table"),
                "DG205",
                f"entity '{name}': no table '{spec['table']}' in this file",
                did_you_mean(spec["table"], tables),
            )
            return
        attributes = spec["attributes"]
        physical = _physical_names(table)
        for stored_as, aname in stored.items():
            if stored_as in physical:
                what = (
                    "entity type attribute"
                    if stored_as == table.entity_type_attribute
                    else "key attribute"
                )
                apath = (*path, "attributes", aname)
                renamed = "stored_as" in attributes[aname]
                self.error(
                    (*apath, "stored_as") if renamed else apath,
                    "DG204",
                    f"attribute '{aname}' would be stored as {what} '{stored_as}'",
                    "choose another stored_as"
                    if renamed
                    else "give it another name or 'stored_as'",
                    key=not renamed,
                )
        for aname, aspec in attributes.items():
            if aspec["type"] == "ttl" and aspec.get("stored_as", aname) != table.ttl:
                self.error(
                    (*path, "attributes", aname, "type"),
                    "DG215",
                    f"a ttl attribute must be the table's ttl attribute"
                    f" ({table.ttl or 'none set'})",
                    f"set 'ttl: {aspec.get('stored_as', aname)}' on table '{table.name}'"
                    if table.ttl is None
                    else f"use stored_as: {table.ttl}",
                )
            elif (
                table.ttl is not None
                and aspec.get("stored_as", aname) == table.ttl
                and aspec["type"] not in ("ttl", "integer")
                and self.is_type(aspec["type"])  # an unknown one is DG202
            ):
                # DynamoDB ignores a ttl attribute that is not a number: items never expire.
                kind = aspec["type"]
                whole = kind in ("decimal", "float", "version")
                self.error(
                    (*path, "attributes", aname, "type"),
                    "DG215",
                    f"'{aname}' is the table's ttl attribute, so it holds seconds since"
                    f" the epoch: type ttl or integer, not {kind}",
                    "a ttl is whole seconds; use type: ttl"
                    if whole
                    else "DynamoDB expires only items whose ttl attribute is a number;"
                    " use type: ttl",
                )
        self.check_entity_key(
            path, ("key",), spec["key"], table, None, attributes, table_key=True
        )
        for iname, ispec in spec.get("indexes", {}).items():
            entity_index = table.index(iname)
            if entity_index is None:
                self.error(
                    (*path, "indexes", iname),
                    "DG207",
                    f"table '{table.name}' has no index '{iname}'",
                    did_you_mean(iname, [i.name for i in table.indexes]),
                    key=True,
                )
                continue
            self.check_entity_key(
                path,
                ("indexes", iname),
                ispec,
                table,
                entity_index,
                attributes,
                table_key=False,
            )
            if "when" in ispec:
                self.check_index_conditions(
                    (*path, "indexes", iname), iname, ispec["when"], attributes
                )
        for pname, pspec in spec.get("access_patterns", {}).items():
            self.check_access_pattern(path, name, pname, pspec, spec, table, attributes)
        self.check_touched_index_keys(path, name, spec, table)
        if "tenant" in spec:
            self.check_tenant(path, name, spec, table)
        if spec.get("audit", False) is not False:
            self.check_audit(path, name, spec, tables, versions)

    def check_audit(
        self,
        path: PathKey,
        entity: str,
        spec: dict[str, Any],
        tables: dict[str, model.Table],
        versions: list[str],
    ) -> None:
        """An audited entity's writes are optimistically locked, so that N writers leave N
        records with consecutive versions: it needs a version attribute. Its records go to
        a table with string partition and sort keys (the partition names the item, the sort
        key orders its history), and a retention needs that table's TTL attribute."""
        audit = spec["audit"]
        apath: PathKey = (*path, "audit")
        if not versions:
            self.error(
                apath,
                "DG221",
                f"audited entity '{entity}' has no version attribute: its audit records"
                " give old and new versions, and only optimistically locked writes make"
                " them consecutive",
                "add an attribute of type: version (such as 'version: {type: version}')",
            )
        settings = audit if isinstance(audit, dict) else {}
        name = settings.get("table", spec["table"])
        where: PathKey = (*apath, "table") if "table" in settings else apath
        table = tables.get(name)
        if table is None:
            self.error(
                where,
                "DG221",
                f"entity '{entity}': no audit table '{name}' in this file",
                did_you_mean(name, tables),
            )
            return
        if table.pk.type != "S" or table.sk is None or table.sk.type != "S":
            self.error(
                where,
                "DG221",
                f"audit records of '{entity}' need a table whose partition and sort keys"
                f" are strings, and table '{name}' has "
                + (
                    "no sort key"
                    if table.sk is None
                    else f"keys of types {table.pk.type} and {table.sk.type}"
                ),
                "give the table string keys (pk and sk of type S), or declare another"
                " audit table: 'audit: {table: <name>}'",
            )
        if "retention_days" in settings and table.ttl is None:
            self.error(
                (*apath, "retention_days"),
                "DG221",
                f"retention_days of '{entity}' needs a ttl attribute on table '{name}':"
                " records expire by DynamoDB's TTL",
                f"declare 'ttl: expires_at' on table '{name}'",
            )

    def check_parameter_names(self, path: PathKey, spec: dict[str, Any]) -> None:
        """Attributes written into keys are parameters of generated methods (get_, query_,
        update builders...), which use more names than classes do."""
        templates = [spec["key"].get(r) for r in ("pk", "sk")]
        templates += [
            i.get(r) for i in spec.get("indexes", {}).values() for r in ("pk", "sk")
        ]
        templates += [
            text
            for pattern in spec.get("access_patterns", {}).values()
            for text in pattern.get("sk", {}).values()
        ]
        parameters = {n for t in map(_parsed, templates) if t for n in t.names}
        for name in spec["attributes"]:
            if name not in parameters or not _is_method_name(name):
                continue
            if name in RESERVED_MEMBERS | RESERVED_PARAMETERS | CLASS_SCOPE_NAMES:
                continue  # reported for every attribute
            self.error(
                (*path, "attributes", name),
                "DG201",
                f"attribute name '{name}' is reserved by generated code",
                f"written into a key, it is a parameter of generated methods, which use"
                f" {_used_as(name)}; {_rename(name)}",
                key=True,
            )

    def check_touched_index_keys(
        self, path: PathKey, entity: str, spec: dict[str, Any], table: model.Table
    ) -> None:
        """update_<entity> sets ``auto: update`` attributes to the current time, so it must
        rebuild the index keys built from them, and can only from what it has: the table key
        attributes (its parameters). A sparse index is out of reach as well: the update does
        not know whether the item is in it."""
        attributes = spec["attributes"]
        touched = [n for n, a in attributes.items() if a.get("auto") == "update"]
        if not touched:
            return
        table_key: set[str] = set()
        for role in ("pk", "sk"):
            parsed = _parsed(spec["key"].get(role))
            table_key.update(parsed.names if parsed else ())
        for iname, ispec in spec.get("indexes", {}).items():
            index = table.index(iname)
            if index is None:
                continue  # reported as DG207
            roles = ("sk",) if index.local else ("pk", "sk")
            templates = {r: _parsed(ispec.get(r)) for r in roles}
            names = [n for t in templates.values() if t for n in t.names]
            if any(n not in attributes for n in names):
                continue  # reported as DG206
            optional = [
                n for n in dict.fromkeys(names) if attributes[n].get("optional")
            ]
            sparse = (
                f"optional '{optional[0]}'"
                if optional
                else f"when '{next(iter(ispec['when']))}'"
                if ispec.get("when")
                else ""
            )
            for role, template in templates.items():
                used = [n for n in touched if template and n in template.names]
                if not used or template is None:
                    continue
                where = f"index '{iname}' key '{template.text}'"
                others = [
                    n for n in dict.fromkeys(template.names) if n not in table_key
                ]
                others = [n for n in others if n not in touched]
                if others:
                    self.error(
                        (*path, "indexes", iname, role),
                        "DG218",
                        f"{where} uses auto: update attribute '{used[0]}' with"
                        f" '{others[0]}', which is not in the table key: updates of"
                        f" '{entity}' could not rebuild it",
                        f"build this key from '{used[0]}' and table key attributes only,"
                        " or from an attribute that is not auto: update",
                    )
                elif sparse:
                    self.error(
                        (*path, "indexes", iname, role),
                        "DG218",
                        f"{where} uses auto: update attribute '{used[0]}', but index"
                        f" '{iname}' is sparse ({sparse}): updates of"
                        f" '{entity}' could not tell whether to write it",
                        (
                            f"make '{optional[0]}' required"
                            if optional
                            else f"write index '{iname}' always (no 'when')"
                        )
                        + ", or build this key from an attribute that is not auto: update",
                    )

    def check_tenant(
        self, path: PathKey, entity: str, spec: dict[str, Any], table: model.Table
    ) -> None:
        """A tenant entity's items belong to the tenant its ``tenant`` attribute holds: a
        required string that no default or generator fills in, leading every partition key
        the entity writes (the table's, and each global index's; a local index shares the
        table's). Generated methods build keys from the tenant bound to the context, and check
        raw keys by the text they must start with, so no value can reach another tenant's
        partitions."""
        tenant = spec["tenant"]
        attributes = spec["attributes"]
        aspec = attributes.get(tenant)
        if aspec is None:
            self.error(
                (*path, "tenant"),
                "DG220",
                f"tenant '{tenant}' is not an attribute of '{entity}'",
                did_you_mean(tenant, attributes),
            )
            return
        apath: PathKey = (*path, "attributes", tenant)
        kind = aspec["type"]
        if kind != "string" and self.is_type(kind):
            self.error(
                (*apath, "type"),
                "DG220",
                f"tenant '{tenant}' must be a string attribute, not {self.a_type(kind)}",
            )
        for option, why in (
            ("optional", "an item without a tenant would belong to no tenant"),
            ("default", "an item's tenant is the bound tenant, never a default"),
            ("generate", "an item's tenant is the bound tenant, never a new value"),
        ):
            if option in aspec and (option != "optional" or aspec[option]):
                self.error(
                    (*apath, option),
                    "DG220",
                    f"tenant '{tenant}' cannot be {_TENANT_OPTIONS[option]}: {why}",
                )
        table_template = _parsed(spec["key"].get("pk"))
        leading = ""
        if table_template is not None and not _tenant_place(table_template, tenant):
            leading = _leading_literal(table_template)
        for iname, key_spec in _partition_keys(spec, table):
            rel: PathKey = ("indexes", iname) if iname else ("key",)
            template = _parsed(key_spec.get("pk"))
            if template is None:
                continue  # missing or malformed: DG206
            place = _tenant_place(template, tenant)
            if not place:
                continue
            where = f"partition key template '{template.text}'"
            where += f" of index '{iname}'" if iname else ""
            if place == "missing":
                risk = (
                    f"a query of index '{iname}' would read every tenant's items"
                    if iname
                    else "every tenant's items would share its partitions"
                )
                # An index key: after the table key's own text before the tenant; the
                # table key: after its own text before its first placeholder.
                head = leading if iname else _leading_literal(template)
                tail = template.segments[0 if iname or not head else 1 :]
                rest = f"#{model.template_text(tail)}" if tail else ""
                example = f"{model.template_text((head,))}{{{tenant}}}{rest}"
                self.error(
                    (*path, *rel, "pk"),
                    "DG220",
                    f"{where} does not hold tenant '{{{tenant}}}': {risk}",
                    f"start it with the tenant: '{example}'",
                )
            elif place == "late":
                self.error(
                    (*path, *rel, "pk"),
                    "DG220",
                    f"tenant '{{{tenant}}}' must be the first placeholder of {where}: a"
                    " tenant's keys must begin with its tenant",
                    "put the tenant right after the literal text the template starts with",
                )
            else:
                self.error(
                    (*path, *rel, "pk"),
                    "DG220",
                    f"tenant '{{{tenant}}}' must end {where} or be followed by a character"
                    " that tenant ids never hold (not a letter, a digit, '_', '.' or"
                    " '-'): otherwise one tenant's keys could be another's",
                    f"follow it with '#': '{_tenant_followed(template, tenant)}'",
                )

    def check_tenant_prefixes(self, tables: dict[str, model.Table]) -> None:
        """A raw key (batch methods take keys) is the bound tenant's when its partition key
        starts with the literal text of its entity's template, the tenant and the character
        after it. That holds across the tenant entities of a table only if the literal texts
        before their tenants are equal, or differ at some character: were one to begin the
        other ('M' and 'MX#'), the tenant 'X' of one would start the keys of the other."""
        entities = self.data.get("entities", {})
        # (table, entity, the text before the tenant, where to report), the audit records
        # of tenant entities included: they start with TENANT_AUDIT# and the tenant.
        candidates: list[tuple[str, str, str, PathKey]] = []
        for name, spec in entities.items():
            tenant = spec.get("tenant")
            template = _parsed(spec["key"].get("pk"))
            if spec["table"] not in tables or tenant is None or template is None:
                continue
            if _tenant_place(template, tenant):
                continue  # reported by check_tenant
            path: PathKey = ("entities", name, "key", "pk")
            label = f"'{name}'"
            candidates.append((spec["table"], label, _leading_literal(template), path))
        for name, table, tenant, prefix in _audit_partitions(entities, tables):
            if tenant is not None:
                path = ("entities", name, "audit")
                label = f"the audit records of '{name}'"
                candidates.append((table, label, prefix, path))
        seen: dict[str, list[tuple[str, str]]] = {}
        for table, name, prefix, path in candidates:
            for other, other_prefix in seen.get(table, []):
                if prefix != other_prefix and (
                    prefix.startswith(other_prefix) or other_prefix.startswith(prefix)
                ):
                    (short, a), (long, b) = sorted(
                        [(other_prefix, other), (prefix, name)], key=lambda p: len(p[0])
                    )
                    self.error(
                        path,
                        "DG220",
                        f"tenant entities on table '{table}': '{short}', before"
                        f" the tenant in the partition keys of {a}, begins '{long}',"
                        f" before it in those of {b}, so a key of {a} for one tenant"
                        f" could be a key of {b} for another",
                        "start both with the same text before the tenant, or with texts"
                        " that differ (such as 'CHARGE#' and 'REFUND#')",
                    )
                    break
            seen.setdefault(table, []).append((name, prefix))

    def check_untenanted_neighbours(self, tables: dict[str, model.Table]) -> None:
        """An entity without a tenant on a table (or global index) holding tenant entities
        must keep out of their partitions: its partition key templates start with literal
        text that neither begins nor is begun by the text tenant entities put before their
        tenant there. Its keys then never name a tenant's partition, and a raw key given to
        its batch methods is checked by that text (were it 'MERCHANT#{merchant_id}' beside
        Charge's, get_ and batch_delete_ of it would reach every merchant's charges)."""
        tenanted = self.tenant_partitions(tables)
        self.check_untenanted_audits(tables, tenanted)
        for name, spec in self.data.get("entities", {}).items():
            if spec["table"] in tables and "tenant" not in spec:
                self.check_out_of_tenant_partitions(
                    ("entities", name),
                    name,
                    spec,
                    tables[spec["table"]],
                    tenanted,
                    f"declare 'tenant: {{tenant}}' on '{name}', or start the template"
                    f" with a text of its own (such as '{_upper_snake(name)}#')",
                )

    def tenant_partitions(
        self, tables: dict[str, model.Table]
    ) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
        """(table, index or "") -> (what, tenant, literal text before the tenant) of each
        tenant entity whose partition keys are there, and of each tenant entity's audit
        records; ``what`` names them for messages ("tenant entity 'Charge'")."""
        entities = self.data.get("entities", {})
        tenanted: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        for name, spec in entities.items():
            tenant = spec.get("tenant")
            if spec["table"] not in tables or tenant is None:
                continue
            for where, key_spec in _partition_keys(spec, tables[spec["table"]]):
                template = _parsed(key_spec.get("pk"))
                if template is not None and not _tenant_place(template, tenant):
                    found = tenanted.setdefault((spec["table"], where), [])
                    label = f"tenant entity '{name}'"
                    found.append((label, tenant, _leading_literal(template)))
        for name, table, tenant, prefix in _audit_partitions(entities, tables):
            if tenant is not None:
                found = tenanted.setdefault((table, ""), [])
                label = f"the audit records of tenant entity '{name}'"
                found.append((label, tenant, prefix))
        return tenanted

    def check_untenanted_audits(
        self,
        tables: dict[str, model.Table],
        tenanted: dict[tuple[str, str], list[tuple[str, str, str]]],
    ) -> None:
        """The records of audited entities without a tenant are neighbours too: their
        history query must never name a tenant's partition."""
        entities = self.data.get("entities", {})
        for name, table, tenant, prefix in _audit_partitions(entities, tables):
            if tenant is not None:
                continue
            for other, _, other_prefix in tenanted.get((table, ""), []):
                if prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
                    self.error(
                        ("entities", name, "audit"),
                        "DG220",
                        f"the audit records of '{name}', whose partition keys start"
                        f" with '{prefix}', could be items of {other} on table"
                        f" '{table}' ('{other_prefix}' before the tenant)",
                        "start the tenant's keys with a text of their own, or declare"
                        " another audit table",
                    )
                    break

    def check_out_of_tenant_partitions(
        self,
        path: PathKey,
        name: str,
        spec: dict[str, Any],
        table: model.Table,
        tenanted: dict[tuple[str, str], list[tuple[str, str, str]]],
        hint: str,
    ) -> None:
        """What check_untenanted_neighbours asks of one entity without a tenant (or of the
        idempotency records); ``hint`` may name the tenant as ``{tenant}``."""
        for where, key_spec in _partition_keys(spec, table):
            template = _parsed(key_spec.get("pk"))
            if template is None:
                continue
            prefix = _leading_literal(template)
            for other, tenant, other_prefix in tenanted.get((table.name, where), []):
                if prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
                    rel = ("key",) if not where else ("indexes", where)
                    of = f" of index '{where}'" if where else ""
                    starts = (
                        f"starts like those of {other}"
                        f" ('{other_prefix}' before the tenant)"
                        if prefix
                        else f"starts with a placeholder, so it could be one of {other}"
                    )
                    self.error(
                        (*path, *rel, "pk"),
                        "DG220",
                        f"'{name}' has no tenant, but its partition key template"
                        f" '{template.text}'{of} {starts}: its methods could reach a"
                        " tenant's items",
                        hint.replace("{tenant}", tenant),
                    )
                    break

    def check_entity_key(
        self,
        entity_path: PathKey,
        rel: PathKey,
        spec: dict[str, Any],
        table: model.Table,
        index: model.Index | None,
        attributes: dict[str, Any],
        *,
        table_key: bool,
    ) -> None:
        path = (*entity_path, *rel)
        where = "the table key" if index is None else f"index '{index.name}'"
        pk_attr = table.pk if index is None else index.pk
        sk_attr = table.sk if index is None else index.sk
        local = index is not None and index.local
        if local and "pk" in spec:
            self.error(
                (*path, "pk"),
                "DG207",
                f"{where} is local: it uses the table's pk template",
            )
        if not local and "pk" not in spec:
            self.error(path, "DG206", f"{where} needs a 'pk' template", key=True)
        if sk_attr is None and "sk" in spec:
            self.error((*path, "sk"), "DG206", f"{where} has no sort key; remove 'sk'")
        if sk_attr is not None and "sk" not in spec:
            self.error(
                path,
                "DG206",
                f"{where} has a sort key '{sk_attr.name}'; add an 'sk' template",
                key=True,
            )
        for role, attr in (("pk", pk_attr), ("sk", sk_attr)):
            if role not in spec or attr is None or (local and role == "pk"):
                continue
            self.check_template(
                (*path, role), spec[role], attr.type, attributes, required=table_key
            )

    def check_template(
        self,
        path: PathKey,
        text: str,
        key_type: str,
        attributes: dict[str, Any],
        *,
        required: bool,
    ) -> model.Template | None:
        try:
            template = model.parse_template(text)
        except ValueError as exc:
            unclosed = str(exc).startswith("unmatched '{'")
            self.error(
                path,
                "DG206",
                f"bad key template '{text}': {exc}",
                "close the placeholder with '}' (literal braces are written '{{' and '}}')"
                if unclosed
                else "write literal braces as '{{' and '}}'",
            )
            return None
        ok = True
        for name in template.names:
            spec = attributes.get(name)
            if spec is None:
                self.error(
                    path,
                    "DG206",
                    f"template '{text}' names '{name}', which is not an attribute",
                    did_you_mean(name, attributes),
                )
                ok = False
                continue
            if spec.get("encrypted"):
                self.error(
                    path,
                    "DG210",
                    f"encrypted attribute '{name}' cannot be part of a key",
                )
                ok = False
            if required and spec.get("optional"):
                self.error(
                    path,
                    "DG206",
                    f"table key template uses optional attribute '{name}'",
                    "key attributes must be required; optional ones suit index keys (sparse index)",
                )
                ok = False
            kind = spec["type"]
            if not self.is_type(kind):
                continue  # already reported as an unknown type
            if name in template.widths and kind != "integer":
                self.error(
                    path,
                    "DG206",
                    f"'{{{name}:{template.widths[name]}}}' pads with zeros, which is for"
                    f" integer attributes, not {kind}",
                )
                ok = False
            if key_type == "S" and kind not in model.TEMPLATE_TYPES:
                self.error(
                    path,
                    "DG206",
                    f"{self.a_type(kind)} attribute ('{name}') cannot be written into a"
                    " string key",
                    f"key templates take: {', '.join(model.TEMPLATE_TYPES)}",
                )
                ok = False
        if key_type == "S":
            self.check_separators(path, template, attributes)
        if key_type in ("N", "B") and template.names:
            wanted = ("integer", "decimal") if key_type == "N" else ("binary",)
            kind = attributes.get(template.names[0], {}).get("type")
            if not template.is_single_placeholder or kind not in wanted:
                self.error(
                    path,
                    "DG206",
                    f"a key of type {key_type} takes exactly one {' or '.join(wanted)} attribute",
                    "write the template as '{attribute}'",
                )
                ok = False
        elif key_type in ("N", "B"):
            self.error(
                path,
                "DG206",
                f"a key of type {key_type} takes exactly one attribute",
                "write the template as '{attribute}'",
            )
            ok = False
        return template if ok else None

    def check_separators(
        self, path: PathKey, template: model.Template, attributes: dict[str, Any]
    ) -> None:
        """Values the generated code formats itself must not contain the template's
        separators: a key built from them could not be told apart from another item's, and
        no runtime check could refuse them (string values are checked when written)."""
        where = f"key template '{template.text}'"
        for name in dict.fromkeys(template.names):
            spec = attributes.get(name, {})
            kind = spec.get("type")
            if kind == "enum":
                values = [str(v) for v in spec.get("values", ())]
                for value in values:
                    held = [c for c in template.separators if c in value]
                    if held:
                        spare = next(
                            (c for c in "#|~/" if not any(c in v for v in values)), "#"
                        )
                        self.error(
                            path,
                            "DG219",
                            f"enum value '{value}' of '{{{name}}}' contains '{held[0]}',"
                            f" which separates the parts of {where}",
                            "use a separator that no value contains:"
                            f" '{_with_separator(template, set(held), spare)}'",
                        )
                        break
                continue
            if kind == "integer" and name not in template.widths:
                written = {"-"}
                what = "a negative integer"
            elif kind == "date":
                written, what = {"-"}, "a date"
            elif kind == "datetime":
                written, what = {"-", ":", "."}, "a datetime"
            else:
                continue
            clash = [c for c in template.separators if c in written]
            if not clash:
                continue
            chars = _and_quoted(clash)
            verb = "separates" if len(clash) == 1 else "separate"
            example = _with_separator(template, set(clash), "#")
            hint = f"use '#' as the separator: '{example}'"
            if kind == "integer":
                hint += f", or a width if it is never negative: '{{{name}:6}}'"
            self.error(
                path,
                "DG219",
                f"'{{{name}}}' writes {what} with {chars}, which {verb} the parts of"
                f" {where}",
                hint,
            )

    def check_access_pattern(
        self,
        entity_path: PathKey,
        entity: str,
        name: str,
        spec: dict[str, Any],
        entity_spec: dict[str, Any],
        table: model.Table,
        attributes: dict[str, Any],
    ) -> None:
        path: PathKey = (*entity_path, "access_patterns", name)
        self.check_name(path, name, SNAKE, "access pattern")
        index_name = spec.get("index")
        index = None
        if index_name is not None:
            index = table.index(index_name)
            if index is None:
                self.error(
                    (*path, "index"),
                    "DG211",
                    f"table '{table.name}' has no index '{index_name}'",
                    did_you_mean(index_name, [i.name for i in table.indexes]),
                )
                return
            if index_name not in entity_spec.get("indexes", {}):
                self.error(
                    (*path, "index"),
                    "DG211",
                    f"entity '{entity}' writes no keys for index '{index_name}'",
                    f"add indexes: {{{index_name}: {{pk: ..., sk: ...}}}} to the entity",
                )
                return
            if not index.local and spec.get("consistent_read"):
                self.error(
                    (*path, "consistent_read"),
                    "DG211",
                    "global indexes cannot be read consistently",
                )
        key_spec = (
            entity_spec["key"] if index is None else entity_spec["indexes"][index_name]
        )
        params: dict[str, str] = {}
        pk_text = (
            entity_spec["key"].get("pk", "")
            if index is not None and index.local
            else key_spec.get("pk", "")
        )
        try:
            for pname in model.parse_template(pk_text).names:
                params[pname] = "partition key"
        except ValueError:
            pass  # reported on the key itself
        sk_attr = table.sk if index is None else index.sk
        where_key = "the table key" if index is None else f"index '{index.name}'"
        if "sk" in spec:
            if sk_attr is None:
                owner = (
                    f"table '{table.name}'"
                    if index is None
                    else f"index '{index.name}'"
                )
                self.error(
                    (*path, "sk"),
                    "DG211",
                    f"{owner} has no sort key to condition on",
                )
            else:
                self.check_sort_condition(
                    (*path, "sk"),
                    "DG211",
                    spec["sk"],
                    sk_attr.type,
                    [(entity, attributes, key_spec.get("sk"))],
                    params,
                    where_key,
                )
        projection = spec.get("projection", [])
        for i, attr in enumerate(projection):
            if attr not in attributes:
                self.error(
                    (*path, "projection", i),
                    "DG211",
                    f"projection names '{attr}', which is not an attribute",
                    did_you_mean(attr, attributes),
                )
        if index is not None and index.projection != "ALL":
            included = set(index.include)
            if not projection:
                self.error(
                    path,
                    "DG211",
                    f"index '{index.name}' does not project every attribute of '{entity}'",
                    "list the projected attributes in 'projection: [...]'",
                    key=True,
                )
            for i, attr in enumerate(projection):
                stored_as = attributes.get(attr, {}).get("stored_as", attr)
                if attr in attributes and stored_as not in included:
                    self.error(
                        (*path, "projection", i),
                        "DG211",
                        f"index '{index.name}' does not project '{stored_as}'",
                        "add it to the index's projection: {include: [...]}",
                    )
        for i, fspec in enumerate(spec.get("filter", [])):
            fpath: PathKey = (*path, "filter", i)
            attr = fspec["attribute"]
            aspec = attributes.get(attr)
            if aspec is None:
                self.error(
                    (*fpath, "attribute"),
                    "DG211",
                    f"filter names '{attr}', which is not an attribute",
                    did_you_mean(attr, attributes),
                )
                continue
            if aspec.get("encrypted"):
                self.error(
                    (*fpath, "attribute"),
                    "DG210",
                    f"encrypted attribute '{attr}' cannot be filtered on",
                )
                continue
            op = fspec["op"]
            kind = aspec["type"]
            if not self.is_type(kind):
                continue  # already reported as an unknown type
            unordered = ("map", "list", *model.SET_TYPES)
            applies = not (
                (
                    op in ("lt", "lte", "gt", "gte", "between")
                    and kind not in model.ORDERED_TYPES
                )
                or (
                    op == "begins_with"
                    and kind not in ("string", "enum", "datetime", "date")
                )
                or (
                    op == "contains"
                    and kind
                    not in ("string", "list", "string_set", "number_set", "binary_set")
                )
                or (op in ("eq", "ne") and kind in unordered)
                or (kind in self.object_types and op not in ("exists", "not_exists"))
            )
            if not applies:
                self.error(
                    (*fpath, "op"),
                    "DG211",
                    f"'{op}' does not apply to {self.a_type(kind)} attribute",
                )
            if op in ("exists", "not_exists"):
                for option in ("param", "value"):
                    if option in fspec:
                        self.error(
                            (*fpath, option), "DG211", f"'{op}' takes no {option}"
                        )
                continue
            if "value" in fspec:
                if "param" in fspec:
                    self.error(
                        (*fpath, "param"),
                        "DG211",
                        "give either 'param' (the caller's value) or 'value' (the schema's)",
                    )
                if applies:
                    self.check_filter_value(fpath, attr, op, aspec, fspec["value"])
                continue
            param = fspec.get("param", attr)
            ppath = (*fpath, "param") if "param" in fspec else fpath
            if not SNAKE.match(param) or keyword.iskeyword(param):
                self.error(
                    ppath, "DG201", f"parameter name '{param}' must be snake_case"
                )
            names = [f"{param}_from", f"{param}_to"] if op == "between" else [param]
            for pname in names:
                if pname in params or _is_method_name(pname):
                    self.error(
                        ppath,
                        "DG211",
                        f"parameter '{pname}' is already used ({params.get(pname, 'reserved')})",
                        "name it with 'param: ...'",
                    )
                params[pname] = "a filter"

    def check_sort_condition(
        self,
        path: PathKey,
        code: str,
        condition: dict[str, str],
        sk_type: str,
        entities: list[tuple[str, dict[str, Any], Any]],
        params: dict[str, str],
        where: str,
    ) -> None:
        """A sort key condition of an access pattern (``code`` DG211) or of a collection
        (DG212), compared with the stored keys of ``entities`` (name, attributes, stored
        sort key template text): its template (checked against the first entity's
        attributes; the others must have its attributes, with the same types), the
        parameters it adds to ``params``, and how it meets each entity's stored keys
        (DG223)."""
        op, text = next(iter(condition.items()))
        cpath: PathKey = (*path, op)
        first, attributes, _ = entities[0]
        template = self.check_template(cpath, text, sk_type, attributes, required=False)
        if template is None:
            return
        for other, other_attributes, _ in entities[1:]:
            for name in dict.fromkeys(template.names):
                kind = attributes[name]["type"]
                found = other_attributes.get(name, {}).get("type")
                if found != kind:
                    self.error(
                        cpath,
                        code,
                        f"sort key condition '{text}' names '{name}', {self.a_type(kind)}"
                        f" of '{first}', but '{other}' "
                        + (
                            "has no such attribute"
                            if found is None
                            else f"has {self.a_type(found)}"
                        ),
                    )
                    return
        if sk_type != "S" and op == "begins_with":
            self.error(cpath, code, "begins_with needs a string sort key")
        if op == "between" and template.names and template.names[-1] in params:
            self.error(
                cpath,
                code,
                f"between ranges over '{template.names[-1]}', which the partition key"
                " already fixes",
            )
        for pname in dict.fromkeys(template.names):
            if pname in params:
                continue  # a partition key attribute, shared
            for param in model.sort_params(op, template, pname):
                if param in params:
                    self.error(
                        cpath,
                        code,
                        f"parameter '{param}' is already the {params[param]}",
                    )
                params[param] = "sort key condition"
        if op == "between" and not template.names:
            self.error(
                cpath,
                code,
                "between needs a template with an attribute, e.g. 'DAY#{day}'",
            )
        elif op in ("lt", "lte", "gt", "gte") and not template.names:
            self.error(
                cpath,
                code,
                f"'{op}' compares the sort key with fixed text: every '{first}' item is"
                " on the same side of it",
                "name an attribute in the template, or use begins_with to read only the"
                f" keys starting with '{text}'",
            )
        elif sk_type == "S" and op != "begins_with":
            prefixes = {
                name: self.check_part_prefix(cpath, template, stored, where)
                for name, _, stored in entities
            }
            found = {p.text if p else None for p in prefixes.values() if p is not False}
            if len(found) > 1:
                listing = ", ".join(
                    f"{name}: '{p.text if p else 'the whole key'}'"
                    for name, p in prefixes.items()
                    if p is not False
                )
                self.error(
                    cpath,
                    "DG223",
                    f"sort key condition '{text}' stops at different places in the stored"
                    f" keys of the entities ({listing}), so no one value sent could keep or"
                    " leave out the items at its value in all of them",
                    "give the entities sort key templates that start alike",
                )

    def check_filter_value(
        self, path: PathKey, attr: str, op: str, spec: dict[str, Any], value: Any
    ) -> None:
        """A filter's literal value: one (two for between, [low, high]) that fits what the
        operator compares with the attribute, written as its values are."""
        if (op == "between") != isinstance(value, list) or (
            isinstance(value, list) and len(value) != 2
        ):
            wanted = "two values, [low, high]" if op == "between" else "one value"
            self.error((*path, "value"), "DG211", f"'{op}' takes {wanted}")
            return
        values = value if isinstance(value, list) else [value]
        wanted_type = model.filter_value_type(
            model.type_ref(spec, self.object_types), op
        )
        for i, literal in enumerate(values):
            vpath = (*path, "value", i) if isinstance(value, list) else (*path, "value")
            self.check_literal(vpath, f"for '{attr}'", wanted_type, literal)

    def check_literal(
        self, path: PathKey, what: str, wanted: model.TypeRef, literal: Any
    ) -> None:
        try:
            model.literal_value(wanted, literal)
        except ValueError as exc:
            self.error(path, "DG224", f"value {_describe(literal)} {what} {exc}")

    def check_index_conditions(
        self,
        path: PathKey,
        index: str,
        conditions: dict[str, Any],
        attributes: dict[str, Any],
    ) -> None:
        """``when: {attribute: value}``: the index holds the item only while each attribute
        holds its value, which generated code compares with ``==`` (``is`` for booleans)."""
        for name, literal in conditions.items():
            cpath: PathKey = (*path, "when", name)
            spec = attributes.get(name)
            if spec is None:
                self.error(
                    cpath,
                    "DG207",
                    f"index '{index}' is written when '{name}' holds a value, but '{name}'"
                    " is not an attribute",
                    did_you_mean(name, attributes),
                    key=True,
                )
                continue
            kind = spec["type"]
            if spec.get("encrypted"):
                self.error(
                    cpath,
                    "DG210",
                    f"encrypted attribute '{name}' cannot decide whether index '{index}'"
                    " holds the item",
                    key=True,
                )
            elif kind in INDEX_CONDITION_TYPES:
                self.check_literal(
                    cpath,
                    f"for '{name}' in the 'when' of index '{index}'",
                    model.type_ref(spec, self.object_types),
                    literal,
                )
            elif self.is_type(kind):
                self.error(
                    cpath,
                    "DG207",
                    "the 'when' of an index compares booleans, strings, enums and"
                    f" integers, and '{name}' is {self.a_type(kind)}",
                    key=True,
                )

    def check_part_prefix(
        self, path: PathKey, condition: model.Template, stored_text: Any, where: str
    ) -> model.Template | Literal[False] | None:
        """A comparison's template is the stored sort key template, or stops at one of its
        separators: the compared value is then a leading part of the stored keys, and the
        items at that value can be kept or left out as the operator says. Anything else
        compares text that is not a part of the stored keys (a silent wrong answer).
        Returns what ``model.part_prefix`` does, or False when it was refused."""
        stored = _parsed(stored_text)
        if stored is None:
            return False  # reported on the key itself
        try:
            return model.part_prefix(condition, stored)
        except ValueError as exc:
            hint = (
                "separate that part from the next in the stored key template with '#'"
                if str(exc).startswith("stops")
                else "write the stored key template, or its start up to a separator, such"
                f" as '{_leading_part(stored)}'"
            )
            self.error(
                path,
                "DG223",
                f"sort key condition '{condition.text}' {exc}"
                f" ('{stored.text}', {where}): it would not compare the parts of the stored"
                " keys",
                hint,
            )
            return False

    # --- across entities ---------------------------------------------------------------------

    def check_shared_tables(self, tables: dict[str, model.Table]) -> None:
        """Entity tags unique per table; entity keys on one table must never collide."""
        entities = self.data.get("entities", {})
        by_table: dict[str, list[str]] = {}
        for name, spec in entities.items():
            if spec["table"] in tables:
                by_table.setdefault(spec["table"], []).append(name)
        for names in by_table.values():
            tags: dict[str, str] = {}
            for name in names:
                tag = entities[name].get("type_tag", name)
                if tag in tags:
                    # Names differ, so at least one of the two wrote this tag as its type_tag.
                    owner = name if "type_tag" in entities[name] else tags[tag]
                    self.error(
                        ("entities", owner, "type_tag"),
                        "DG208",
                        f"entities '{tags[tag]}' and '{name}' share the entity type tag '{tag}'",
                        "give one a distinct 'type_tag'",
                    )
                tags[tag] = name
            self.check_key_collisions(names, entities)
        # Audit records are items of their table too: '<prefix><anything>' and any sort key.
        for audited, table, _, prefix in _audit_partitions(entities, tables):
            records = {
                "key": {"pk": prefix + "{key}", "sk": "{at}"},
                "attributes": {"key": {"type": "string"}, "at": {"type": "string"}},
            }
            for name in by_table.get(table, []):
                if _keys_may_collide(records, entities[name]):
                    self.error(
                        ("entities", name, "key"),
                        "DG209",
                        f"keys of '{name}' can equal those of the audit records of"
                        f" '{audited}' on table '{table}' (partition keys starting"
                        f" '{prefix}'), so one could overwrite the other",
                        "start its pk template with a literal of its own, such as"
                        f" '{_upper_snake(name)}#'",
                    )

    def check_key_collisions(self, names: list[str], entities: dict[str, Any]) -> None:
        """DG209: the keys of two entities on one table must never be equal. Each entity is
        reported once, with the first entity before it whose keys its keys can equal.

        Comparing every pair would take hours for the thousands of entities a 1 MiB schema
        can hold. Two keys can only be equal when, for the partition key and the sort key
        alike, the literal text one template starts with begins the other's (or is begun by
        it); sorted, those texts give each entity these candidates directly, for whichever
        key part has fewer of them, and only candidates are compared in full."""
        keys = [(name, _key_shape(entities[name])) for name in names]
        shapes = [(name, shape) for name, shape in keys if shape is not None]
        indexes = [_LiteralIndex([s[role][0] for _, s in shapes]) for role in (0, 1)]
        budget = MAX_KEY_COMPARISONS
        for j, (name, shape) in enumerate(shapes):
            counts = [indexes[r].count(shape[r][0]) for r in (0, 1)]
            role = 0 if counts[0] <= counts[1] else 1
            other = 1 - role
            for i in sorted(indexes[role].compatible(shape[role][0])):
                earlier, candidate = shapes[i] if i < j else (None, None)
                if candidate is None or not _literals_meet(
                    candidate[other][0], shape[other][0]
                ):
                    continue
                budget -= 1
                if budget < 0:
                    self.error(
                        ("entities", name, "key"),
                        "DG209",
                        f"too many entities on table '{entities[name]['table']}' have keys"
                        " that start alike: telling them apart would compare more than"
                        f" {MAX_KEY_COMPARISONS:,} pairs of key templates",
                        "start the pk or sk templates with distinct literals, e.g. 'ORDER#' vs 'ITEM#'",
                    )
                    return
                if all(
                    templates_intersect(candidate[r][1], shape[r][1]) for r in (0, 1)
                ):
                    self.error(
                        ("entities", name, "key"),
                        "DG209",
                        f"keys of '{name}' can equal keys of '{earlier}' on table"
                        f" '{entities[name]['table']}', so one could overwrite the other",
                        "start the pk or sk templates with distinct literals, e.g. 'ORDER#' vs 'ITEM#'",
                    )
                    break

    def check_collection(
        self, name: str, spec: dict[str, Any], tables: dict[str, model.Table]
    ) -> None:
        path: PathKey = ("collections", name)
        self.check_name(path, name, SNAKE, "collection")
        entities = self.data.get("entities", {})
        members = self.collection_members(path, spec)
        if members is None:
            return
        where_listed: PathKey = (*path, "many" if "many" in spec else "entities")
        index_name = spec.get("index")
        # An unknown index is one mistake, reported once rather than once per entity.
        missing_index = False
        if index_name is not None:
            listed = [entities[e]["table"] for _, e, _ in members if e in entities]
            for tname in dict.fromkeys(t for t in listed if t in tables):
                table = tables[tname]
                index = table.index(index_name)
                if index is None:
                    missing_index = True
                    self.error(
                        (*path, "index"),
                        "DG212",
                        f"table '{tname}' has no index '{index_name}'",
                        did_you_mean(index_name, [i.name for i in table.indexes]),
                    )
                elif index.projection != "ALL":
                    # A collection decodes whole entities, so the index must carry them.
                    self.error(
                        (*path, "index"),
                        "DG212",
                        f"index '{index_name}' does not project every attribute",
                        "a collection needs an index with projection: all",
                    )
        templates: dict[str, str] = {}
        key_specs: dict[str, dict[str, Any]] = {}
        table_names = set()
        for mpath, ename, _ in members:
            espec = entities.get(ename)
            if espec is None:
                self.error(
                    mpath,
                    "DG212",
                    f"collection names '{ename}', which is not an entity",
                    did_you_mean(ename, entities),
                )
                continue
            table_names.add(espec["table"])
            key_spec = (
                espec["key"]
                if index_name is None
                else espec.get("indexes", {}).get(index_name)
            )
            if key_spec is None:
                if not missing_index:
                    self.error(
                        mpath,
                        "DG212",
                        f"entity '{ename}' writes no keys for index '{index_name}'",
                    )
                continue
            key_specs[ename] = key_spec
            templates[ename] = key_spec.get("pk", espec["key"].get("pk", ""))
        if len(table_names) > 1:
            self.error(
                where_listed,
                "DG212",
                "entities of a collection must share one table",
            )
        if len(set(templates.values())) > 1:
            listing = ", ".join(f"{e}: '{t}'" for e, t in templates.items())
            self.error(
                where_listed,
                "DG212",
                f"entities of a collection must share one partition key template ({listing})",
            )
        tenants = {e: entities[e].get("tenant") for _, e, _ in members if e in entities}
        if len(set(tenants.values())) > 1:
            listing = ", ".join(f"{e}: {t or 'none'}" for e, t in tenants.items())
            missing = next(e for e, t in tenants.items() if t is None)
            known = next(t for t in tenants.values() if t is not None)
            self.error(
                where_listed,
                "DG220",
                "entities of a collection must have the same tenant, or none: a query"
                f" would read some entities' items of every tenant ({listing})",
                f"declare 'tenant: {known}' on '{missing}'",
            )
        resolved = len(key_specs) == len(members) and len(table_names) == 1
        if not resolved or len(set(templates.values())) > 1:
            return
        collection_table = tables.get(next(iter(table_names)))
        if collection_table is None:
            return  # reported on the entities
        index = collection_table.index(index_name)
        sk_attr = collection_table.sk if index is None else index.sk
        pk_template = _parsed(next(iter(templates.values())))
        pk_names = set(pk_template.names if pk_template else ())
        for mpath, ename, role in members:
            sk_text = key_specs[ename].get("sk")
            sk = _parsed(sk_text)
            if role == "one" and sk is not None and not set(sk.names) <= pk_names:
                self.error(
                    mpath,
                    "DG212",
                    f"'{ename}' is the one item of a partition only if its partition key"
                    f" fixes its sort key, but '{sk.text}' also names"
                    f" '{next(n for n in sk.names if n not in pk_names)}'",
                    "make it a 'many' entity, or give it a sort key built from the"
                    " partition key's attributes (such as 'PROFILE')",
                )
        if "sk" in spec:
            where = "the table key" if index is None else f"index '{index.name}'"
            if sk_attr is None:
                self.error(
                    (*path, "sk"),
                    "DG212",
                    f"{where} has no sort key to condition on",
                )
                return
            compared = [
                (ename, entities[ename]["attributes"], key_specs[ename].get("sk"))
                for _, ename, role in members
                if role != "one"
            ]
            params = {n: "partition key" for n in pk_names}
            self.check_sort_condition(
                (*path, "sk"),
                "DG212",
                spec["sk"],
                sk_attr.type,
                compared,
                params,
                where,
            )

    def collection_members(
        self, path: PathKey, spec: dict[str, Any]
    ) -> list[tuple[PathKey, str, str]] | None:
        """The entities of a collection: (where it is named, entity, role), role "one",
        "many" or "entity" (the flat form); None when the forms are mixed up (reported)."""
        if "many" not in spec:
            if "one" in spec:
                self.error(
                    (*path, "one"),
                    "DG212",
                    "'one' goes with 'many': the items of the other entities",
                    key=True,
                )
                return None
            if "entities" not in spec:
                self.error(
                    path,
                    "DG103",
                    f"{_dotted(path)}: missing required field 'entities' (or 'many')",
                    key=True,
                )
                return None
            return [
                ((*path, "entities", i), e, "entity")
                for i, e in enumerate(spec["entities"])
            ]
        if "entities" in spec:
            self.error(
                (*path, "entities"),
                "DG212",
                "give either 'entities' (a page of all their items) or 'one' and 'many'"
                " (the items grouped by entity)",
                key=True,
            )
            return None
        groups = [("one", f, e) for f, e in spec.get("one", {}).items()]
        groups += [("many", f, e) for f, e in spec["many"].items()]
        members: list[tuple[PathKey, str, str]] = []
        fields: set[str] = set()
        for role, field, ename in groups:
            fpath: PathKey = (*path, role, field)
            if role == "one" and len(spec["one"]) > 1:
                self.error(
                    fpath, "DG212", "a collection has one 'one' entity", key=True
                )
                return None
            named = self.check_name(fpath, field, SNAKE, "collection field")
            if named and (field in ("cursor", "self") or field in fields):
                self.error(
                    fpath,
                    "DG212",
                    f"field '{field}' is already a field of the result",
                    key=True,
                )
            fields.add(field)
            if ename in {e for _, e, _ in members}:
                self.error(fpath, "DG212", f"'{ename}' is listed twice")
                return None
            members.append((fpath, ename, role))
        if len(members) < 2:
            self.error(
                (*path, "many"),
                "DG212",
                "a collection reads at least two entities: add a 'one' or another 'many'",
                key=True,
            )
            return None
        return members

    # --- idempotency records -------------------------------------------------------------------

    def check_idempotency(
        self, spec: dict[str, Any], tables: dict[str, model.Table]
    ) -> None:
        """Where idempotency records live: a table of this file with a TTL attribute and
        string keys, key templates that hold the operation and the key's hash, and keys that
        no entity of the table (nor a tenant's partition) can have."""
        path: PathKey = ("idempotency",)
        for name, ospec in spec.get("operations", {}).items():
            self.check_idempotent_operation((*path, "operations", name), name, ospec)
        table = tables.get(spec["table"])
        if table is None:
            self.error(
                (*path, "table"),
                "DG205",
                f"idempotency: no table '{spec['table']}' in this file",
                did_you_mean(spec["table"], tables),
            )
            return
        if table.ttl is None:
            self.error(
                (*path, "table"),
                "DG222",
                f"idempotency records expire by TTL, and table '{table.name}' has no ttl"
                " attribute",
                f"add 'ttl: expires_at' to table '{table.name}'",
            )
        keys = [table.pk, *([table.sk] if table.sk else [])]
        for key in keys:
            if key.type != "S":
                self.error(
                    (*path, "table"),
                    "DG222",
                    f"idempotency records need string keys, and key attribute"
                    f" '{key.name}' of table '{table.name}' is {key.type}",
                    "keep the records in a table with string keys (a table of their own"
                    " may have just 'keys: {pk: id}')",
                )
        if any(key.type != "S" for key in keys):
            return
        record = model.record_entity_spec(spec, table)
        attributes = record["attributes"]
        self.check_entity_key(
            path, ("key",), record["key"], table, None, attributes, table_key=True
        )
        self.check_record_key(record["key"])
        physical = _physical_names(table)
        for aname, aspec in attributes.items():
            stored_as = aspec.get("stored_as", aname)
            if stored_as in physical:
                self.error(
                    (*path, "table"),
                    "DG204",
                    f"idempotency records store '{aname}' as '{stored_as}', a key attribute"
                    f" of table '{table.name}'",
                    "keep the records in another table, or rename the key attribute",
                )
        entities = self.data.get("entities", {})
        for name, espec in entities.items():
            if espec["table"] != table.name:
                continue
            if espec.get("type_tag", name) == model.RECORD_CLASS:
                self.error(
                    ("entities", name, "type_tag")
                    if "type_tag" in espec
                    else ("entities", name),
                    "DG208",
                    f"entity '{name}' writes the type tag '{model.RECORD_CLASS}' of the"
                    f" idempotency records of table '{table.name}'",
                    "give it another 'type_tag'",
                    key="type_tag" not in espec,
                )
            if _keys_may_collide(record, espec):
                self.error(
                    (*path, "key"),
                    "DG209",
                    f"keys of idempotency records can equal keys of '{name}' on table"
                    f" '{table.name}', so one could overwrite the other",
                    "start the record's pk template with a literal of its own, such as"
                    " the default 'IDEMPOTENCY#'",
                )
        self.check_out_of_tenant_partitions(
            path,
            model.RECORD_CLASS,
            record,
            table,
            self.tenant_partitions(tables),
            "start the records' pk template with a text of its own (such as the default"
            " 'IDEMPOTENCY#')",
        )

    def check_record_key(self, key: dict[str, str]) -> None:
        """Record keys are built from the operation's name and the key's hash only; the
        partition key holds the hash (records spread over partitions), and a separator is
        never a character operation names hold."""
        names: list[str] = []
        for role in ("pk", "sk"):
            template = _parsed(key.get(role))
            if template is None:
                continue
            rpath: PathKey = ("idempotency", "key", role)
            for name in dict.fromkeys(template.names):
                if name not in model.RECORD_KEY_NAMES:
                    self.error(
                        rpath,
                        "DG206",
                        f"the key templates of idempotency records take '{{operation}}'"
                        f" and '{{key_hash}}', not '{{{name}}}'",
                    )
            names += template.names
            if role == "pk" and "key_hash" not in template.names:
                self.error(
                    rpath,
                    "DG206",
                    f"the partition key template '{template.text}' of idempotency records"
                    " must hold '{key_hash}': each key's record in a partition of its own",
                    f"for example '{model.RECORD_KEY_PK}'",
                )
            if "operation" in template.names and "_" in template.separators:
                self.error(
                    rpath,
                    "DG219",
                    f"'{{operation}}' writes operation names, which hold '_', and '_'"
                    f" separates the parts of key template '{template.text}'",
                    f"use '#' as the separator: '{_with_separator(template, {'_'}, '#')}'",
                )
        if names and "operation" not in names:
            self.error(
                ("idempotency", "key"),
                "DG206",
                "the key templates of idempotency records must hold '{operation}': the"
                " same key in two operations is two records",
                f"for example '{model.RECORD_KEY_PK}'",
                key=True,
            )

    def check_idempotent_operation(
        self, path: PathKey, name: str, spec: dict[str, Any]
    ) -> None:
        if self.check_name(path, name, SNAKE, "operation") and len(name) > 64:
            # The runtime refuses longer ones (``IdempotentOperation``): they are key parts.
            self.error(
                path,
                "DG201",
                f"operation name {_long_name(name)} is over 64 characters",
                key=True,
            )
        for field in ("key", "payload"):
            if field not in spec:
                continue
            texts = spec[field]
            places = (
                [((*path, field), texts)]
                if isinstance(texts, str)
                else [((*path, field, i), t) for i, t in enumerate(texts)]
            )
            for place, text in places:
                try:
                    event_paths.parse(text)
                except event_paths.PathSyntaxError as exc:
                    self.error(
                        place,
                        "DG222",
                        f"bad path '{text}': {exc}",
                        "paths are names joined by '.', with [index] for list items,"
                        ' "quoted names" and json(path) for JSON text',
                    )


def _physical_names(table: model.Table) -> set[str]:
    """The attribute names a table's items hold for it: key attributes of the table and its
    indexes, and the entity-type attribute."""
    names = {table.pk.name, table.entity_type_attribute}
    names |= {table.sk.name} if table.sk else set()
    for index in table.indexes:
        names |= {index.pk.name} | ({index.sk.name} if index.sk else set())
    return names


def _is_method_name(name: str) -> bool:
    return name in METHOD_NAMES or name.startswith(METHOD_NAME_PREFIXES)


def _used_as(name: str) -> str:
    """How generated code uses a reserved name, for hints."""
    if name in BUILTINS:
        return f"Python's builtin '{name}'"
    if name in ("date", "datetime"):
        return f"the class datetime.{name}"
    if name in ("wire", "update", "tenants"):
        return f"the runtime module '{name}'"
    return f"'{name}' for a parameter or variable of their own"


_TENANT_OPTIONS = {
    "optional": "optional",
    "default": "given a default",
    "generate": "generated",
}


def _tenant_place(template: model.Template, tenant: str) -> str:
    """Where ``{tenant}`` stands in a partition key template: "" when it leads it (the first
    placeholder, at the end or followed by a character tenant ids never hold), else
    "missing", "late" (another placeholder comes first) or "joined" (what follows could be
    part of a tenant id)."""
    if tenant not in template.names:
        return "missing"
    segments = template.segments
    first = next(i for i, s in enumerate(segments) if isinstance(s, model.Placeholder))
    placeholder = segments[first]
    assert isinstance(placeholder, model.Placeholder)
    if placeholder.name != tenant:
        return "late"
    after = segments[first + 1] if first + 1 < len(segments) else None
    if after is None:
        return ""
    if isinstance(after, model.Placeholder) or _in_tenant_ids(after[0]):
        return "joined"
    return ""


def _in_tenant_ids(char: str) -> bool:
    """Whether tenant ids may hold ``char``: ASCII letters, digits and a little punctuation."""
    return (char.isascii() and char.isalnum()) or char in model.TENANT_ID_PUNCTUATION


def _tenant_followed(template: model.Template, tenant: str) -> str:
    """The template's text with '#' right after the tenant: instead of the '_', '.' or '-'
    that follows it, or before the letter, digit or placeholder that does."""
    segments = list(template.segments)
    at = 1 + next(
        i
        for i, s in enumerate(segments)
        if isinstance(s, model.Placeholder) and s.name == tenant
    )
    after = segments[at]
    if isinstance(after, str) and after[0] in model.TENANT_ID_PUNCTUATION:
        segments[at] = "#" + after[1:]
    else:
        segments.insert(at, "#")
    return model.template_text(tuple(segments))


def _audit_partitions(
    entities: dict[str, Any], tables: dict[str, model.Table]
) -> Iterator[tuple[str, str, str | None, str]]:
    """(entity, audit table, tenant attribute or None, the text its records' partition keys
    start with before the tenant, or at all) for each audited entity whose table is known."""
    for name, spec in entities.items():
        audit = model.build_audit(spec.get("audit"), spec["table"])
        if audit is None or audit.table not in tables:
            continue
        tenant = spec.get("tenant")
        prefix = "TENANT_AUDIT#" if tenant is not None else "AUDIT#"
        yield name, audit.table, tenant, prefix


def _partition_keys(
    spec: dict[str, Any], table: model.Table
) -> list[tuple[str, dict[str, Any]]]:
    """The key templates of an entity with a partition key of their own: the table key's
    (as "") and each global index's, by index name (a local index shares the table's)."""
    keys: list[tuple[str, dict[str, Any]]] = [("", spec["key"])]
    for iname, ispec in spec.get("indexes", {}).items():
        index = table.index(iname)
        if index is not None and not index.local and isinstance(ispec, dict):
            keys.append((iname, ispec))
    return keys


def _element_type(t: model.TypeRef) -> model.TypeRef:
    """The type of the members of a list, typed map or set."""
    if t.kind == "string_set":
        return model.TypeRef("string")
    if t.kind == "binary_set":
        return model.TypeRef("binary")
    assert t.of is not None
    return t.of


def _free_form_problem(value: Any, where: PathKey = ()) -> tuple[PathKey, str] | None:
    """Where a free-form map's default holds a value other than a string, an integer, a
    boolean, a list or a map of them, and what it is; None when it holds none."""
    if isinstance(value, dict):
        members: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        members = list(enumerate(value))
    elif isinstance(value, (str, int)):  # a bool is an int
        return None
    else:
        return where, _describe(value)
    for key, member in members:
        found = _free_form_problem(member, (*where, key))
        if found is not None:
            return found
    return None


def _leading_part(template: model.Template) -> str:
    """The stored key template up to its first placeholder, for hints: ``DUE#{due}``."""
    segments = template.segments
    first = next(
        (i for i, s in enumerate(segments) if isinstance(s, model.Placeholder)),
        len(segments) - 1,
    )
    return model.template_text(segments[: first + 1])


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _leading_literal(template: model.Template) -> str:
    """The literal text a template starts with, before its first placeholder."""
    first = template.segments[0] if template.segments else ""
    return first if isinstance(first, str) else ""


def _rename(name: str) -> str:
    return f"rename it, and keep its DynamoDB name with stored_as: {name}"


def _long_name(name: str) -> str:
    """A name for a message: whole if short, else its start and its length."""
    if len(name) <= 40:
        return f"'{name}'"
    return f"'{name[:32]}...' ({len(name):,} characters)"


def _and_quoted(chars: list[str]) -> str:
    """``'-'``, ``'-' and ':'``, ``'-', ':' and '.'``."""
    quoted = [f"'{c}'" for c in chars]
    return (
        quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    )


def _with_separator(template: model.Template, clash: set[str], spare: str) -> str:
    """The template's text with the clashing separators of its literal text made ``spare``."""
    parts = []
    for segment in template.segments:
        if isinstance(segment, model.Placeholder):
            width = f":{segment.width}" if segment.width is not None else ""
            parts.append(f"{{{segment.name}{width}}}")
        else:
            literal = "".join(spare if c in clash else c for c in segment)
            parts.append(literal.replace("{", "{{").replace("}", "}}"))
    return "".join(parts)


# --- key collision analysis --------------------------------------------------------------------

_ANY: frozenset[str] | None = None
_DIGITS = frozenset("0123456789-")
_DATETIME = frozenset("0123456789-:.TZ")
_ENUM_LIMIT = 64

# A template as a sequence of single characters and "runs" (one or more characters from a set,
# None meaning any character), after expanding enum placeholders into their literal values.
_Item = tuple[
    str, frozenset[str] | None
]  # ("c", None) literal char c; ("*", chars) a run
_Pattern = tuple[_Item, ...]


def _parsed(text: Any) -> model.Template | None:
    """A key template, or None when absent or malformed (reported as DG206 elsewhere)."""
    if not isinstance(text, str):
        return None
    try:
        return model.parse_template(text)
    except ValueError:
        return None


def _pattern(template: model.Template, attributes: dict[str, Any]) -> list[_Pattern]:
    patterns: list[list[_Item]] = [[]]
    for segment in template.segments:
        if isinstance(segment, str):
            for p in patterns:
                p.extend((c, None) for c in segment)
            continue
        spec = attributes.get(segment.name, {})
        kind = spec.get("type")
        if (
            kind == "enum"
            and len(patterns) * len(spec.get("values", [])) <= _ENUM_LIMIT
        ):
            patterns = [
                [*p, *((c, None) for c in v)] for p in patterns for v in spec["values"]
            ]
            continue
        chars = {"integer": _DIGITS, "date": _DIGITS, "datetime": _DATETIME}.get(
            kind or "", _ANY
        )
        for p in patterns:
            p.append(("*", chars))
    return [tuple(p) for p in patterns]


# DG209 compares in full only entities whose keys start alike (_LiteralIndex); a schema in
# which thousands do is refused rather than compared pair by pair for minutes.
MAX_KEY_COMPARISONS = 10_000

# A key part as the collision check sees it: the literal text its template starts with, and
# its patterns (_pattern). A part the table does not have is ("", [()] ) : any text.
_Part = tuple[str, list[_Pattern]]


def _key_shape(spec: dict[str, Any]) -> tuple[_Part, _Part] | None:
    """The partition and sort key parts of an entity's table key; None when a template does
    not parse (reported elsewhere)."""
    parts: list[_Part] = []
    for role in ("pk", "sk"):
        text = spec["key"].get(role)
        if text is None:
            parts.append(("", [(("*", None),)]))
            continue
        try:
            template = model.parse_template(text)
        except ValueError:
            return None
        first = template.segments[0] if template.segments else ""
        literal = first if isinstance(first, str) else ""
        parts.append((literal, _pattern(template, spec["attributes"])))
    return parts[0], parts[1]


def _keys_may_collide(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether some table key of ``first`` can equal one of ``second`` (entity specs, or
    the like: ``key`` templates and ``attributes``)."""
    a, b = _key_shape(first), _key_shape(second)
    return (
        a is not None
        and b is not None
        and all(
            _literals_meet(a[r][0], b[r][0]) and templates_intersect(a[r][1], b[r][1])
            for r in (0, 1)
        )
    )


def _literals_meet(a: str, b: str) -> bool:
    """Whether texts starting with ``a`` and with ``b`` can be equal: one begins the other."""
    return a.startswith(b) or b.startswith(a)


class _LiteralIndex:
    """Positions of texts, to find those that meet a text (``_literals_meet``) without
    looking at the others: the texts it begins are a run of the sorted texts, and the texts
    that begin it are its prefixes."""

    def __init__(self, texts: list[str]) -> None:
        self.sorted = sorted(texts)
        self.positions: dict[str, list[int]] = {}
        for position, text in enumerate(texts):
            self.positions.setdefault(text, []).append(position)

    def _run(self, text: str) -> tuple[int, int]:
        """Where the sorted texts that start with ``text`` are (``text`` itself included):
        from ``text`` up to the least text above all of them."""
        low = bisect.bisect_left(self.sorted, text)
        if not text:
            return low, len(self.sorted)
        if text[-1] == "\U0010ffff":  # no character follows: look at the run itself
            high = low
            while high < len(self.sorted) and self.sorted[high].startswith(text):
                high += 1
            return low, high
        return low, bisect.bisect_left(self.sorted, text[:-1] + chr(ord(text[-1]) + 1))

    def _prefixes(self, text: str) -> list[str]:
        return [text[:n] for n in range(len(text)) if text[:n] in self.positions]

    def count(self, text: str) -> int:
        low, high = self._run(text)
        return high - low + sum(len(self.positions[p]) for p in self._prefixes(text))

    def compatible(self, text: str) -> Iterator[int]:
        low, high = self._run(text)
        for found in dict.fromkeys(self.sorted[low:high]):
            yield from self.positions[found]
        for prefix in self._prefixes(text):
            yield from self.positions[prefix]


def templates_intersect(first: list[_Pattern], second: list[_Pattern]) -> bool:
    """True if some string matches a pattern of ``first`` and one of ``second``."""
    return any(_intersect(a, b) for a in first for b in second)


def _intersect(a: _Pattern, b: _Pattern) -> bool:
    """Breadth-first search of the product of the two patterns' automata."""
    # Characters outside every literal and character set behave alike: "\uffff" stands for them.
    alphabet = sorted(
        {c for c, _ in a + b if c != "*"} | _DIGITS | _DATETIME | {"\uffff"}
    )
    start = (frozenset({0}), frozenset({0}))
    seen = {start}
    frontier = [start]
    while frontier:
        states_a, states_b = frontier.pop()
        if len(a) in states_a and len(b) in states_b:
            return True
        for ch in alphabet:
            pair = (_step(a, states_a, ch), _step(b, states_b, ch))
            if pair[0] and pair[1] and pair not in seen:
                seen.add(pair)
                frontier.append(pair)
    return False


def _step(pattern: _Pattern, states: frozenset[int], ch: str) -> frozenset[int]:
    """States are counts of items consumed; a run just consumed may take more characters."""
    out = set()
    for k in states:
        if k > 0 and pattern[k - 1][0] == "*" and _accepts(pattern[k - 1], ch):
            out.add(k)
        if k < len(pattern) and _accepts(pattern[k], ch):
            out.add(k + 1)
    return frozenset(out)


def _accepts(item: _Item, ch: str) -> bool:
    c, chars = item
    if c != "*":
        return c == ch
    return chars is None or ch in chars


def check_files(files: list[SchemaFile]) -> list[Diagnostic]:
    """Structure, then semantics, for every file; then the checks that span files."""
    diagnostics: list[Diagnostic] = []
    for sf in files:
        structural = check_structure(sf)
        diagnostics.extend(structural)
        if not structural:
            diagnostics.extend(_FileChecker(sf).run())
    return diagnostics
