"""The check that generated names never collide.

Distinct schema names can generate the same Python name (entities ``AB`` and ``Ab`` both give
``put_ab``; attribute ``kind`` of ``AB`` gives the alias ``ABKind``, which may be an entity's
name; attributes ``a`` and ``a_if_absent`` both give the builder method ``set_a_if_absent``).
The names come from the same facts functions the templates call. A collision would silently
replace one definition with another, so it is an error, located at the schema element that
generated the second name. So is a generated name that generated code itself uses: an import
(``TableHandle`` from entity ``Table`` and its enum attribute ``handle``), one of Python's
builtins (``TypeError``), or a parameter of the methods an entity's snake_case name is a
parameter of (entity ``When`` gives ``put_when(self, when: When, *, when=...)``).
"""

from __future__ import annotations

from dynamorm_gen.compiler import facts
from dynamorm_gen.compiler.errors import Diagnostic
from dynamorm_gen.compiler.load import PathKey, SchemaFile
from dynamorm_gen.compiler.model import Module
from dynamorm_gen.compiler.validate import (
    BUILTINS,
    ENTITY_PARAMETER_NAMES,
    METHOD_NAME_PREFIXES,
    RESERVED_CLASS_NAMES,
)

# The origin of the names generated code itself uses (imports, Python's builtins).
GENERATED = "generated code"


class _Names:
    """Names defined in one scope; a second definition of a name is a collision."""

    def __init__(self, sf: SchemaFile, scope: str) -> None:
        self.sf = sf
        self.scope = scope
        self.seen: dict[str, str] = {}
        self.collisions: dict[tuple[PathKey, str, str], list[str]] = {}

    def add(self, name: str, origin: str, path: PathKey) -> None:
        first = self.seen.setdefault(name, origin)
        if first != origin:
            self.collisions.setdefault((path, origin, first), []).append(name)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [
            self.sf.diagnostic(
                path,
                "DG217",
                f"{origin} generates {', '.join(names)}, a name generated code already"
                f" uses ({self.scope})"
                if first == GENERATED
                else f"{origin} and {first} both generate {', '.join(names)}"
                f" ({self.scope})",
                "rename it" if first == GENERATED else "rename one of them",
                key=True,
            )
            for (path, origin, first), names in self.collisions.items()
        ]


def check_generated_names(sf: SchemaFile, module: Module) -> list[Diagnostic]:
    """Module-level names, table-class methods and update-builder methods, each defined
    once."""
    top = _Names(sf, "module level")
    for name in sorted(RESERVED_CLASS_NAMES | BUILTINS):
        top.add(name, GENERATED, ())
    for obj in module.object_types:
        top.add(obj.name, f"type '{obj.name}'", ("types", obj.name))
        for a in obj.fields:
            if a.type.kind == "enum" or (a.type.of and a.type.of.kind == "enum"):
                path: PathKey = ("types", obj.name, "fields", a.name)
                top.add(
                    facts.values_constant(obj.name, a),
                    f"field {obj.name}.{a.name}",
                    path,
                )
    for entity in module.entities:
        top.add(entity.name, f"entity '{entity.name}'", ("entities", entity.name))
        top.add(
            facts.when_class(entity),
            f"entity '{entity.name}'",
            ("entities", entity.name),
        )
        if facts.has_update_builder(entity):
            top.add(
                facts.update_class(entity),
                f"entity '{entity.name}'",
                ("entities", entity.name),
            )
        for a in entity.attributes:
            path = ("entities", entity.name, "attributes", a.name)
            origin = f"attribute {entity.name}.{a.name}"
            if a.type.kind == "enum":
                top.add(facts.enum_alias(entity.name, a), origin, path)
            if a.type.kind == "enum" or (a.type.of and a.type.of.kind == "enum"):
                top.add(facts.values_constant(entity.name, a), origin, path)
        for p in entity.access_patterns:
            path = ("entities", entity.name, "access_patterns", p.name)
            origin = f"access pattern {entity.name}.{p.name}"
            top.add(facts.pattern_const(entity, p), origin, path)
            if p.projection:
                top.add(facts.view_name(entity, p), origin, path)
    for collection in module.collections:
        origin = f"collection '{collection.name}'"
        path = ("collections", collection.name)
        top.add(facts.collection_const(collection), origin, path)
        if collection.grouped:
            top.add(facts.group_class(collection), origin, path)
            top.add(facts.one_const(collection), origin, path)
    diagnostics: list[Diagnostic] = []
    for entity in module.entities:
        # The builder's methods, from the list update.py.j2 renders: attributes ``a`` and
        # ``a_if_absent`` would both give ``set_a_if_absent``.
        builder = _Names(sf, f"methods of {facts.update_class(entity)}")
        for a, verb in facts.update_verbs(entity):
            builder.add(
                facts.update_method_name(verb, a),
                f"attribute {entity.name}.{a.name}",
                ("entities", entity.name, "attributes", a.name),
            )
        diagnostics += builder.diagnostics
    for table in module.tables:
        origin = f"table '{table.name}'"
        top.add(facts.upper(table.name), origin, ("tables", table.name))
        top.add(facts.table_class(table), origin, ("tables", table.name))
        methods = _Names(sf, f"methods of {facts.table_class(table)}")
        for entity in (e for e in module.entities if e.table == table.name):
            var = facts.snake(entity.name)
            path = ("entities", entity.name)
            if var in ENTITY_PARAMETER_NAMES or var.startswith(METHOD_NAME_PREFIXES):
                # put_<var>(self, <var>: Entity, ...) would hide or repeat a name it uses.
                diagnostics.append(
                    sf.diagnostic(
                        path,
                        "DG217",
                        f"entity '{entity.name}' generates the parameter '{var}' of"
                        f" put_{var}, a name generated code already uses",
                        "rename it",
                        key=True,
                    )
                )
            # The per-entity methods table_entity.py.j2 writes, under the same conditions.
            verbs = [
                "put",
                "get",
                "delete",
                "batch_get",
                "batch_delete",
                "scan",
                "iter_scan",
            ]
            verbs += ["tx_put", "tx_delete", "tx_check", "tx_get"]
            verbs += [] if facts.version(entity) is not None else ["batch_put"]
            verbs += ["update", "tx_update"] if facts.has_update_builder(entity) else []
            for verb in verbs:
                methods.add(f"{verb}_{var}", f"entity '{entity.name}'", path)
            for p in entity.access_patterns:
                ppath: PathKey = (*path, "access_patterns", p.name)
                for verb in ("query", "iter", "count"):
                    methods.add(
                        f"{verb}_{var}_{p.name}",
                        f"access pattern {entity.name}.{p.name}",
                        ppath,
                    )
        for collection in (c for c in module.collections if c.table == table.name):
            for verb in ("query", "iter"):
                methods.add(
                    f"{verb}_{collection.name}",
                    f"collection '{collection.name}'",
                    ("collections", collection.name),
                )
        diagnostics += methods.diagnostics
    if module.idempotency is not None:
        record = module.idempotency.record
        origin = "the idempotency records"
        top.add(record.name, origin, ("idempotency",))
        for a in record.attributes:
            if a.type.kind == "enum":
                top.add(facts.enum_alias(record.name, a), origin, ("idempotency",))
                top.add(facts.values_constant(record.name, a), origin, ("idempotency",))
        for op in module.idempotency.operations:
            path = ("idempotency", "operations", op.name)
            top.add(facts.upper(op.name), f"operation '{op.name}'", path)
    return top.diagnostics + diagnostics
