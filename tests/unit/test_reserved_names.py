"""Schema names never break the generated code they become part of.

An attribute becomes a class-level name of its class, a parameter of ``__init__`` and, when it
is written into a key or filtered on, a parameter of table and update-builder methods; an
entity's snake_case name is a parameter of ``put_``. Named like a builtin or a name those use
(``str``, ``type``, ``wire``, ``when``), it hides or repeats it. The compiler refuses exactly
those names (``validate.CLASS_SCOPE_NAMES`` and ``METHOD_NAMES``): the guard below reads the
generated code and fails when the templates start using a name the lists lack, and a schema
that uses the accepted risky names everywhere builds, passes mypy --strict and works.
"""

from __future__ import annotations

import ast
import re
import subprocess
import symtable
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

from dynamorm_gen.compiler import facts
from dynamorm_gen.compiler.errors import CompileError
from dynamorm_gen.compiler.model import Module
from dynamorm_gen.compiler.project import Project, compile_project
from dynamorm_gen.compiler.validate import (
    CLASS_SCOPE_NAMES,
    ENTITY_PARAMETER_NAMES,
    METHOD_NAME_PREFIXES,
    METHOD_NAMES,
    RESERVED_CLASS_NAMES,
    RESERVED_MEMBERS,
)
from dynamorm_gen.runtime import TransactWrite
from dynamorm_gen.runtime.table import Connection, reset_clients
from tests.conftest import ROOT
from tests.unit.test_gen_keys import compile_module

SNAKE = re.compile(r"[a-z][a-z0-9_]*\Z")

# Builtins, soft keywords and generated code's own names that are safe where they stand here:
# every one is an attribute, most are written into keys or filtered on.
RISKY = """\
version: 1
types:
  Box:
    fields:
      id: {type: string}
      format: {type: string, optional: true}
      match: {type: integer, default: 0}
tables:
  app:
    keys: {pk: PK, sk: SK}
    indexes:
      GSI1: {keys: {pk: GSI1PK, sk: GSI1SK}}
    ttl: expires
entities:
  Thing:
    table: app
    key: {pk: "T#{id}#{hash}", sk: "S#{range:6}"}
    indexes:
      GSI1: {pk: "G#{filter}", sk: "{id}|{updated_at}"}
    attributes:
      id: {type: string}
      hash: {type: string}
      range: {type: integer}
      filter: {type: string}
      input: {type: enum, values: [a, b], default: a}
      max: {type: integer, optional: true}
      min: {type: decimal, optional: true}
      sum: {type: float, optional: true}
      next: {type: boolean, default: false}
      iter: {type: binary, optional: true}
      open: {type: date, optional: true}
      all: {type: list, of: string, optional: true}
      any: {type: map, optional: true}
      vars: {type: string_set}
      round: {type: number_set}
      property: {type: Box, optional: true}
      super: {type: list, of: Box, optional: true}
      print: {type: version}
      case: {type: string, optional: true}
      match: {type: integer, optional: true}
      value: {type: integer, optional: true}
      values: {type: string, optional: true}
      obj: {type: string, optional: true}
      keys: {type: string, optional: true}
      name: {type: string, optional: true}
      exc: {type: string, optional: true}
      k0: {type: string, optional: true}
      v0: {type: string, optional: true}
      other: {type: string, optional: true}
      op: {type: string, optional: true}
      prefix: {type: string, optional: true}
      member: {type: string, optional: true}
      low: {type: integer, optional: true}
      high: {type: integer, optional: true}
      fields: {type: string, optional: true}
      left: {type: string, optional: true}
      written: {type: string, optional: true}
      batch: {type: string, optional: true}
      condition: {type: string, optional: true}
      isinstance: {type: string, optional: true}
      zip: {type: string, optional: true}
      segment: {type: string, optional: true}
      delta: {type: integer, optional: true}
      expires: {type: ttl, optional: true}
      created_at: {type: datetime, auto: create}
      updated_at: {type: datetime, auto: update}
    access_patterns:
      by_id: {sk: {begins_with: "S#"}}
      in_range: {sk: {between: "S#{range:6}"}}
      by_filter: {index: GSI1}
      filtered:
        sk: {begins_with: "S#"}
        filter:
          - {attribute: max, op: gt}
          - {attribute: next, op: eq}
          - {attribute: sum, op: between}
          - {attribute: open, op: lt}
          - {attribute: low, op: eq}
          - {attribute: vars, op: contains}
  Format:
    table: app
    key: {pk: "T#{id}#{hash}", sk: "F#{zip}"}
    attributes:
      id: {type: string}
      hash: {type: string}
      zip: {type: string}
      print: {type: version}
collections:
  everything: {entities: [Thing, Format]}
"""


def _schema_names(module: Module) -> set[str]:
    """The snake_case names a module's schema put into its generated code."""
    names = {f.name for o in module.object_types for f in o.fields}
    for entity in module.entities:
        names.add(facts.snake(entity.name))
        for name in (a.name for a in entity.attributes):
            names |= {name, f"{name}_from", f"{name}_to"}
        for pattern in entity.access_patterns:
            names.add(pattern.name)
            for f in pattern.filters:
                names |= {f.param, f"{f.param}_from", f"{f.param}_to"}
    names |= {c.name for c in module.collections}
    return names


def _function_names(table: symtable.SymbolTable) -> set[str]:
    """What a function binds or refers to, including what its comprehensions and nested
    functions refer to outside themselves (their own variables cannot clash)."""
    names = set(table.get_identifiers())
    for child in table.get_children():
        names |= {
            s.get_name()
            for s in child.get_symbols()
            if not (s.is_local() or s.is_parameter()) or s.is_free()
        }
    return names


def _functions(
    table: symtable.SymbolTable, owner: str = ""
) -> Iterator[tuple[str, str, symtable.Function]]:
    for child in table.get_children():
        if child.get_type() == "class":
            yield from _functions(child, child.get_name())
        elif isinstance(child, symtable.Function) and not child.get_name().startswith(
            "<"
        ):
            yield owner, child.get_name(), child


def _class_level_names(source: str) -> set[str]:
    """Names evaluated in class bodies: annotations (read in the class scope by mypy and
    typing.get_type_hints), decorators and class-level values."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            parts: list[ast.AST] = []
            if isinstance(item, ast.AnnAssign):
                parts = [item.annotation, *([item.value] if item.value else [])]
            elif isinstance(item, ast.Assign):
                parts = [item.value]
            elif isinstance(item, ast.FunctionDef):
                arguments = item.args
                every = [*arguments.args, *arguments.kwonlyargs, *arguments.posonlyargs]
                parts = [a.annotation for a in every if a.annotation]
                parts += [
                    *item.decorator_list,
                    *([item.returns] if item.returns else []),
                ]
                parts += [d for d in arguments.defaults + arguments.kw_defaults if d]
            for part in parts:
                names |= {n.id for n in ast.walk(part) if isinstance(n, ast.Name)}
    return names


def _compiled() -> list[tuple[Module, str]]:
    folders = [ROOT / "schemas", ROOT / "tests" / "unit" / "schemas"]
    folders += sorted((ROOT / "tests" / "golden" / "cases").glob("*/schemas"))
    found = []
    for folder in folders:
        project = Project(root=ROOT, schemas=(folder,), output=ROOT / "unused")
        modules, outputs = compile_project(project)
        sources = {o.path: o.content for o in outputs}
        found += [(m, sources[f"{m.module_name}.py"]) for m in modules]
    return found


def test_the_reserved_lists_cover_every_name_generated_code_uses() -> None:
    """A name a template starts to use where schema names go must join the lists.

    Functions that take schema names are found by their parameters, so the schemas read here
    avoid names of generated code's own (RISKY would confuse ``batch_get_(keys)``)."""
    missing: dict[str, set[str]] = {}
    for module, source in _compiled():
        schema = _schema_names(module)
        classes = {e.name for e in module.entities} | {
            o.name for o in module.object_types
        }
        entities = {facts.snake(e.name) for e in module.entities}
        for owner, name, function in _functions(symtable.symtable(source, "m", "exec")):
            if not set(function.get_parameters()) & schema:
                continue
            if name == "__init__" and owner not in classes:
                continue  # a table class: connection and name=, no schema names
            if name == "__init__":
                allowed = CLASS_SCOPE_NAMES | RESERVED_MEMBERS
            elif set(function.get_parameters()) & (schema - entities):
                allowed = METHOD_NAMES
            else:  # put_<entity>(self, <entity>: Entity, ...)
                allowed = ENTITY_PARAMETER_NAMES
            used = {n for n in _function_names(function) - schema if SNAKE.match(n)}
            extra = {
                n
                for n in used - allowed
                if not n.startswith(METHOD_NAME_PREFIXES) or name == "__init__"
            }
            if extra:
                missing.setdefault(f"{owner}.{name}", set()).update(extra)
        class_level = {n for n in _class_level_names(source) - schema if SNAKE.match(n)}
        if class_level - CLASS_SCOPE_NAMES:
            missing.setdefault("class level", set()).update(
                class_level - CLASS_SCOPE_NAMES
            )
        imported = {
            alias.asname or alias.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.module != "__future__"
            for alias in node.names
        }
        pascal = {n for n in imported if n[:1].isupper()}
        if pascal - RESERVED_CLASS_NAMES:
            missing.setdefault("imports", set()).update(pascal - RESERVED_CLASS_NAMES)
    assert not missing, (
        f"names generated code uses that schemas may still use: {missing}"
    )


@pytest.mark.parametrize(
    ("attribute", "role", "message"),
    [
        ("str", "plain", "attribute name 'str' is reserved by generated code"),
        ("wire", "plain", "attribute name 'wire' is reserved by generated code"),
        ("date", "plain", "attribute name 'date' is reserved by generated code"),
        ("type", "key", "attribute name 'type' is reserved by generated code"),
        ("when", "key", "attribute name 'when' is reserved by generated code"),
        ("update", "key", "attribute name 'update' is reserved by generated code"),
        ("value", "key", "attribute name 'value' is reserved by generated code"),
        ("type", "filter", "parameter 'type' is already used (reserved)"),
    ],
)
def test_names_that_break_generated_code_are_refused(
    tmp_path: Path, attribute: str, role: str, message: str
) -> None:
    key = f"{{{attribute}}}" if role == "key" else "{thing_id}"
    filters = f"\n    access_patterns: {{f: {{filter: [{{attribute: {attribute}, op: eq}}]}}}}"
    schema = f"""\
version: 1
tables:
  app: {{keys: {{pk: PK}}}}
entities:
  Thing:
    table: app
    key: {{pk: "T#{key}"}}
    attributes:
      thing_id: {{type: string}}
      {attribute}: {{type: {"date" if attribute == "date" else "string"}}}\
{filters if role == "filter" else ""}
"""
    path = tmp_path / "names.yaml"
    path.write_text(schema, encoding="utf-8")
    with pytest.raises(CompileError) as failure:
        compile_project(Project(root=tmp_path, schemas=(path,), output=tmp_path))
    (diagnostic,) = failure.value.diagnostics
    assert message in diagnostic.format()


def test_names_generated_code_uses_at_module_level_are_refused(tmp_path: Path) -> None:
    schema = """\
version: 1
tables:
  app: {keys: {pk: PK}}
entities:
  Table:
    table: app
    key: {pk: "T#{table_id}"}
    attributes:
      table_id: {type: string}
      handle: {type: enum, values: [a, b]}
  When:
    table: app
    key: {pk: "W#{when_id}"}
    attributes:
      when_id: {type: string}
  ValueError:
    table: app
    key: {pk: "V#{value_id}"}
    attributes:
      value_id: {type: string}
"""
    path = tmp_path / "names.yaml"
    path.write_text(schema, encoding="utf-8")
    with pytest.raises(CompileError) as failure:
        compile_project(Project(root=tmp_path, schemas=(path,), output=tmp_path))
    lines = [d.format().splitlines()[0] for d in failure.value.diagnostics]
    assert lines == [
        "names.yaml:16:3: error[DG201] entity name 'ValueError' is a Python builtin"
    ]
    path.write_text(schema.split("  ValueError:")[0], encoding="utf-8")
    with pytest.raises(CompileError) as failure:
        compile_project(Project(root=tmp_path, schemas=(path,), output=tmp_path))
    lines = [d.format().splitlines()[0] for d in failure.value.diagnostics]
    assert lines == [
        "names.yaml:10:7: error[DG217] attribute Table.handle generates TableHandle,"
        " a name generated code already uses (module level)",
        "names.yaml:11:3: error[DG217] entity 'When' generates the parameter 'when' of"
        " put_when, a name generated code already uses",
    ]


@pytest.fixture(scope="module")
def risky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    module = compile_module(tmp_path_factory.mktemp("risky"), "risky", RISKY)
    yield module
    sys.modules.pop(module.__name__, None)


def test_accepted_risky_names_give_mypy_strict_clean_code(risky: ModuleType) -> None:
    assert risky.__file__ is not None
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", risky.__file__],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_accepted_risky_names_work_against_dynamodb(risky: ModuleType) -> None:
    with mock_aws():
        reset_clients()
        table = risky.AppTable(Connection(region="us-east-1"), name="app")
        table.handle.create()
        keys: dict[str, Any] = {"id": "i1", "hash": "h1", "range": 7}
        thing = risky.Thing(
            **keys,
            filter="f1",
            max=5,
            min=Decimal("1.5"),
            sum=2.5,
            open=date(2025, 1, 2),
            vars={"x"},
            round={1, 2},
            property=risky.Box(id="b", format="fmt"),
            super=[risky.Box(id="c", match=3)],
            value=1,
            low=3,
            obj="o",
            k0="k",
            v0="v",
        )
        table.put_thing(thing)
        assert table.get_thing(**keys) == thing
        assert table.query_thing_by_id(id="i1", hash="h1").items == [thing]
        assert list(
            table.iter_thing_in_range(id="i1", hash="h1", range_from=1, range_to=9)
        ) == [thing]
        assert table.count_thing_by_filter(filter="f1") == 1
        found = table.query_thing_filtered(
            id="i1",
            hash="h1",
            max=4,
            next=False,
            sum_from=2.0,
            sum_to=3.0,
            open=date(2026, 1, 1),
            low=3,
            vars="x",
        )
        assert found.items == [thing]
        changes = risky.ThingUpdate().set_max(6).set_filter("f2").add_value(2)
        updated = table.update_thing(
            changes, **keys, when=risky.ThingWhen().max("eq", 5)
        )
        assert updated is not None and (updated.max, updated.value) == (6, 3)
        assert table.query_thing_by_filter(filter="f2").items == [updated]
        other = risky.Format(id="i1", hash="h1", zip="z")
        tx = TransactWrite()
        table.tx_put_format(tx, other)
        table.tx_update_thing(tx, risky.ThingUpdate().remove_obj(), **keys)
        tx.commit()
        assert table.get_format(id="i1", hash="h1", zip="z") == other
        assert len(table.query_everything(id="i1", hash="h1").items) == 2
        assert (
            table.batch_get_thing([risky.Thing.make_key(**keys)]).items[0] is not None
        )
        table.delete_thing(**keys)
        assert table.get_thing(**keys) is None
        reset_clients()


def test_names_dynamodb_would_refuse_are_refused(tmp_path: Path) -> None:
    long_key, long_include, huge = "k" * 256, "i" * 256, "h" * 65_536
    schema = f"""\
version: 1
tables:
  app:
    keys: {{pk: PK}}
    entity_type_attribute: {huge}
    indexes:
      GSI1:
        keys: {{pk: {{name: {long_key}, type: S}}}}
        projection: {{include: [{long_include}]}}
  {"t" * 256}: {{keys: {{pk: PK}}}}
entities:
  Thing:
    table: app
    key: {{pk: "T#{{thing_id}}"}}
    attributes:
      thing_id: {{type: string}}
      note: {{type: string, stored_as: {"s" * 65_536}}}
"""
    path = tmp_path / "limits.yaml"
    path.write_text(schema, encoding="utf-8")
    with pytest.raises(CompileError) as failure:
        compile_project(Project(root=tmp_path, schemas=(path,), output=tmp_path))
    lines = [d.format().splitlines()[0] for d in failure.value.diagnostics]
    assert lines == [
        "limits.yaml:5:28: error[DG201] entity_type_attribute: name"
        " 'hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh...' (65,536 characters) is over 65,535 bytes"
        " in UTF-8",
        "limits.yaml:8:27: error[DG201] key attribute name"
        " 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...' (256 characters) is over 255 characters",
        "limits.yaml:9:32: error[DG201] projected attribute name"
        " 'iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii...' (256 characters) is over 255 characters",
        "limits.yaml:10:3: error[DG201] table name 'tttttttttttttttttttttttttttttttt...'"
        " (256 characters) must be 3 to 255 characters",
        "limits.yaml:17:39: error[DG201] stored name 'ssssssssssssssssssssssssssssssss...'"
        " (65,536 characters) is over 65,535 bytes in UTF-8",
    ]
