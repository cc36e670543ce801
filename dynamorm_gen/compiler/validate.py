"""Stage 2, validate: the JSON Schema of the format, then the semantic checks it cannot express.

Every problem becomes a located Diagnostic; nothing raises for bad input. Semantic checks run on a
file only once its structure is valid, so they can trust the shapes they read.
"""

from __future__ import annotations

import builtins
import json
import keyword
import math
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from dynamorm_gen.compiler import model
from dynamorm_gen.compiler.errors import Diagnostic, did_you_mean
from dynamorm_gen.compiler.load import PathKey, SchemaFile

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
    | {"tenants"}
)
# put_ methods save the old value of each `auto: update` attribute in a local `previous_<name>`.
METHOD_NAME_PREFIXES = ("previous_",)
# put_<entity> and tx_put_<entity> take the entity as a parameter named by its snake_case name
# (entity `When` would give `put_when(self, when: When, *, when=...)`), and use these besides.
ENTITY_PARAMETER_NAMES = frozenset(
    {"self", "item", "expected", "now", "committed", "request", "str", "wire"}
    | {"if_not_exists", "when", "old_on_failure", "tx", "tenants"}
)
# Names a generated module imports or defines at the top level: an entity or object type
# class named like one would replace it. (Python's builtins are refused as well.)
RESERVED_CLASS_NAMES = frozenset(
    {"Any", "AttributeValue", "BatchGet", "Comparison", "Connection", "Decimal"}
    | {"Equality", "Item", "Iterable", "Iterator", "Key", "Literal", "Page"}
    | {"Sequence", "TableDefinition", "TableHandle", "TransactGet", "TransactWrite"}
)
BUILTINS = frozenset(dir(builtins))
# DynamoDB's naming rules: table and index names, key attribute names (and the names an index
# projects), and every other attribute name.
MAX_TABLE_NAME = 255
MIN_TABLE_NAME = 3
MAX_KEY_ATTRIBUTE_NAME = 255  # characters
MAX_ATTRIBUTE_NAME_BYTES = 65535  # UTF-8 bytes: "less than 64 KB"
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
        if kind in model.SET_TYPES and (optional or "default" in spec):
            self.error(
                (*path, "optional" if optional else "default"),
                "DG203",
                f"{self.a_type(kind)} is never null: an empty set is simply not stored",
                "remove 'optional'/'default'",
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
        physical = {table.pk.name, table.entity_type_attribute}
        physical |= {table.sk.name} if table.sk else set()
        for index in table.indexes:
            physical |= {index.pk.name} | ({index.sk.name} if index.sk else set())
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
        for pname, pspec in spec.get("access_patterns", {}).items():
            self.check_access_pattern(path, name, pname, pspec, spec, table, attributes)
        self.check_touched_index_keys(path, name, spec, table)
        if "tenant" in spec:
            self.check_tenant(path, name, spec, table)

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
                elif optional:
                    self.error(
                        (*path, "indexes", iname, role),
                        "DG218",
                        f"{where} uses auto: update attribute '{used[0]}', but index"
                        f" '{iname}' is sparse (optional '{optional[0]}'): updates of"
                        f" '{entity}' could not tell whether to write it",
                        f"make '{optional[0]}' required, or build this key from an"
                        " attribute that is not auto: update",
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
                rest = f"#{_template_text(tail)}" if tail else ""
                example = f"{_template_text((head,))}{{{tenant}}}{rest}"
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
        seen: dict[str, list[tuple[str, str]]] = {}
        for name, spec in entities.items():
            tenant = spec.get("tenant")
            template = _parsed(spec["key"].get("pk"))
            if spec["table"] not in tables or tenant is None or template is None:
                continue
            if _tenant_place(template, tenant):
                continue  # reported by check_tenant
            prefix = _leading_literal(template)
            for other, other_prefix in seen.get(spec["table"], []):
                if prefix != other_prefix and (
                    prefix.startswith(other_prefix) or other_prefix.startswith(prefix)
                ):
                    (short, a), (long, b) = sorted(
                        [(other_prefix, other), (prefix, name)], key=lambda p: len(p[0])
                    )
                    self.error(
                        ("entities", name, "key", "pk"),
                        "DG220",
                        f"tenant entities on table '{spec['table']}': '{short}', before"
                        f" the tenant in the partition keys of '{a}', begins '{long}',"
                        f" before it in those of '{b}', so a key of '{a}' for one tenant"
                        f" could be a key of '{b}' for another",
                        "start both with the same text before the tenant, or with texts"
                        " that differ (such as 'CHARGE#' and 'REFUND#')",
                    )
                    break
            seen.setdefault(spec["table"], []).append((name, prefix))

    def check_untenanted_neighbours(self, tables: dict[str, model.Table]) -> None:
        """An entity without a tenant on a table (or global index) holding tenant entities
        must keep out of their partitions: its partition key templates start with literal
        text that neither begins nor is begun by the text tenant entities put before their
        tenant there. Its keys then never name a tenant's partition, and a raw key given to
        its batch methods is checked by that text (were it 'MERCHANT#{merchant_id}' beside
        Charge's, get_ and batch_delete_ of it would reach every merchant's charges)."""
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
                    found.append((name, tenant, _leading_literal(template)))
        for name, spec in entities.items():
            if spec["table"] not in tables or "tenant" in spec:
                continue
            for where, key_spec in _partition_keys(spec, tables[spec["table"]]):
                template = _parsed(key_spec.get("pk"))
                if template is None:
                    continue
                prefix = _leading_literal(template)
                for other, tenant, other_prefix in tenanted.get(
                    (spec["table"], where), []
                ):
                    if prefix.startswith(other_prefix) or other_prefix.startswith(
                        prefix
                    ):
                        rel = ("key",) if not where else ("indexes", where)
                        of = f" of index '{where}'" if where else ""
                        starts = (
                            f"starts like those of tenant entity '{other}'"
                            f" ('{other_prefix}' before the tenant)"
                            if prefix
                            else "starts with a placeholder, so it could be one of"
                            f" tenant entity '{other}'"
                        )
                        self.error(
                            ("entities", name, *rel, "pk"),
                            "DG220",
                            f"'{name}' has no tenant, but its partition key template"
                            f" '{template.text}'{of} {starts}: its methods could reach a"
                            " tenant's items",
                            f"declare 'tenant: {tenant}' on '{name}', or start the template"
                            " with a text of its own (such as"
                            f" '{_upper_snake(name)}#')",
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
        if "sk" in spec:
            op, text = next(iter(spec["sk"].items()))
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
                template = self.check_template(
                    (*path, "sk", op), text, sk_attr.type, attributes, required=False
                )
                if template is not None:
                    if sk_attr.type != "S" and op == "begins_with":
                        self.error(
                            (*path, "sk", op),
                            "DG211",
                            "begins_with needs a string sort key",
                        )
                    if (
                        op == "between"
                        and template.names
                        and template.names[-1] in params
                    ):
                        self.error(
                            (*path, "sk", op),
                            "DG211",
                            f"between ranges over '{template.names[-1]}', which the"
                            " partition key already fixes",
                        )
                    for pname in dict.fromkeys(template.names):
                        if pname in params:
                            continue  # a partition key attribute, shared
                        names = model.sort_params(op, template, pname)
                        for param in names:
                            if param in params:
                                self.error(
                                    (*path, "sk", op),
                                    "DG211",
                                    f"parameter '{param}' is already the {params[param]}",
                                )
                            params[param] = "sort key condition"
                    if op == "between" and not template.names:
                        self.error(
                            (*path, "sk", op),
                            "DG211",
                            "between needs a template with an attribute, e.g. 'DAY#{day}'",
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
            if (
                op in ("lt", "lte", "gt", "gte", "between")
                and kind not in model.ORDERED_TYPES
            ):
                self.error(
                    (*fpath, "op"),
                    "DG211",
                    f"'{op}' does not apply to {self.a_type(kind)} attribute",
                )
            if op == "begins_with" and kind not in (
                "string",
                "enum",
                "datetime",
                "date",
            ):
                self.error(
                    (*fpath, "op"),
                    "DG211",
                    f"'begins_with' does not apply to {self.a_type(kind)} attribute",
                )
            if op == "contains" and kind not in (
                "string",
                "list",
                "string_set",
                "number_set",
                "binary_set",
            ):
                self.error(
                    (*fpath, "op"),
                    "DG211",
                    f"'contains' does not apply to {self.a_type(kind)} attribute",
                )
            unordered = ("map", "list", *model.SET_TYPES)
            if (op in ("eq", "ne") and kind in unordered) or (
                kind in self.object_types and op not in ("exists", "not_exists")
            ):
                self.error(
                    (*fpath, "op"),
                    "DG211",
                    f"'{op}' does not apply to {self.a_type(kind)} attribute",
                )
            if op in ("exists", "not_exists"):
                if "param" in fspec:
                    self.error((*fpath, "param"), "DG211", f"'{op}' takes no parameter")
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
            for i, first in enumerate(names):
                for second in names[i + 1 :]:
                    if self.keys_may_collide(entities[first], entities[second]):
                        self.error(
                            ("entities", second, "key"),
                            "DG209",
                            f"keys of '{second}' can equal keys of '{first}' on table"
                            f" '{entities[first]['table']}', so one could overwrite the other",
                            "start the pk or sk templates with distinct literals, e.g. 'ORDER#' vs 'ITEM#'",
                        )

    def keys_may_collide(self, first: dict[str, Any], second: dict[str, Any]) -> bool:
        for role in ("pk", "sk"):
            texts = first["key"].get(role), second["key"].get(role)
            if texts[0] is None or texts[1] is None:
                continue
            try:
                a, b = model.parse_template(texts[0]), model.parse_template(texts[1])
            except ValueError:
                return False  # reported elsewhere
            if not templates_intersect(
                _pattern(a, first["attributes"]), _pattern(b, second["attributes"])
            ):
                return False
        return True

    def check_collection(
        self, name: str, spec: dict[str, Any], tables: dict[str, model.Table]
    ) -> None:
        path: PathKey = ("collections", name)
        self.check_name(path, name, SNAKE, "collection")
        entities = self.data.get("entities", {})
        index_name = spec.get("index")
        # An unknown index is one mistake, reported once rather than once per entity.
        missing_index = False
        if index_name is not None:
            listed = [entities[e]["table"] for e in spec["entities"] if e in entities]
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
        table_names = set()
        for i, ename in enumerate(spec["entities"]):
            espec = entities.get(ename)
            if espec is None:
                self.error(
                    (*path, "entities", i),
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
                        (*path, "entities", i),
                        "DG212",
                        f"entity '{ename}' writes no keys for index '{index_name}'",
                    )
                continue
            templates[ename] = key_spec.get("pk", espec["key"].get("pk", ""))
        if len(table_names) > 1:
            self.error(
                (*path, "entities"),
                "DG212",
                "entities of a collection must share one table",
            )
        if len(set(templates.values())) > 1:
            listing = ", ".join(f"{e}: '{t}'" for e, t in templates.items())
            self.error(
                (*path, "entities"),
                "DG212",
                f"entities of a collection must share one partition key template ({listing})",
            )
        tenants = {
            e: entities[e].get("tenant") for e in spec["entities"] if e in entities
        }
        if len(set(tenants.values())) > 1:
            listing = ", ".join(f"{e}: {t or 'none'}" for e, t in tenants.items())
            missing = next(e for e, t in tenants.items() if t is None)
            known = next(t for t in tenants.values() if t is not None)
            self.error(
                (*path, "entities"),
                "DG220",
                "entities of a collection must have the same tenant, or none: a query"
                f" would read some entities' items of every tenant ({listing})",
                f"declare 'tenant: {known}' on '{missing}'",
            )


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
    return _template_text(tuple(segments))


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


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _leading_literal(template: model.Template) -> str:
    """The literal text a template starts with, before its first placeholder."""
    first = template.segments[0] if template.segments else ""
    return first if isinstance(first, str) else ""


def _template_text(segments: tuple[model.Segment, ...]) -> str:
    """Template text for the given segments (braces of literals doubled)."""
    return _with_separator(model.Template("", segments), set(), "#")


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
