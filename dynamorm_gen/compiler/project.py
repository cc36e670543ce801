"""The project: its config file and the pipeline load -> validate -> model -> render."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynamorm_gen.compiler import model, validate
from dynamorm_gen.compiler.errors import CompileError, Diagnostic, did_you_mean
from dynamorm_gen.compiler.load import SchemaFile, load_file
from dynamorm_gen.compiler.names import check_generated_names
from dynamorm_gen.compiler.render import render_module, render_package_init
from dynamorm_gen.compiler.write import OutputFile

CONFIG_NAME = "dynamorm.yaml"
_CONFIG_KEYS = {"schemas", "output"}


# A place in a file for diagnostics: (file as shown, line, column).
Place = tuple[str, int, int]
_INIT_HINT = "`dynamorm-gen init` creates dynamorm.yaml and an example schema"


@dataclass(frozen=True)
class Project:
    root: Path  # paths in messages and headers are relative to this
    schemas: tuple[Path, ...]  # folders or files
    output: Path
    # Where the config file names each entry of ``schemas`` (for the default, the file's
    # start), so that an error about an entry points there; empty for the command line's.
    named_at: tuple[Place, ...] = ()
    # The config file's ``schemas`` value; None when the entries do not come from a config.
    schemas_at: Place | None = None
    # No config file, and no --schemas: only `init` can help with a missing folder.
    bare: bool = False

    def shown(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()


def load_project(
    config: Path | None, schemas: tuple[str, ...] = (), output: str | None = None
) -> Project:
    """The project from ``dynamorm.yaml`` (if present) with command-line overrides."""
    path = config or Path(CONFIG_NAME)
    data: dict[str, Any] = {}
    root = path.parent if config else Path.cwd()
    sf: SchemaFile | None = None
    if path.exists() and path.stat().st_size == 0:
        pass  # an empty config file marks the project root and keeps the defaults
    elif path.exists():
        sf = load_file(path, path.as_posix(), config=True)
        data = sf.data
        problems = []
        for key in data:
            if key not in _CONFIG_KEYS:
                problems.append(
                    sf.diagnostic(
                        (key,),
                        "DG010",
                        f"unknown setting '{key}'",
                        did_you_mean(key, _CONFIG_KEYS) or "settings: schemas, output",
                        key=True,
                    )
                )
        s = data.get("schemas", "schemas")
        if not (
            isinstance(s, str)
            or (isinstance(s, list) and all(isinstance(i, str) for i in s))
        ):
            problems.append(
                sf.diagnostic(
                    ("schemas",), "DG010", "schemas: expected a path or a list of paths"
                )
            )
        if not isinstance(data.get("output", ""), str):
            problems.append(
                sf.diagnostic(("output",), "DG010", "output: expected a path")
            )
        if problems:
            raise CompileError(problems)
    elif config is not None:
        raise CompileError(
            [
                Diagnostic(
                    path.as_posix(), 1, 1, "DG001", "config file not found", _INIT_HINT
                )
            ]
        )
    # Paths from the command line are relative to where it runs; those in the config file are
    # relative to the config file.
    configured = data.get("schemas", "schemas")
    entries = [configured] if isinstance(configured, str) else configured
    named_at: tuple[Place, ...] = ()
    schemas_at: Place | None = None
    if schemas:
        schema_paths = tuple(Path(s) for s in schemas)
    else:
        schema_paths = tuple(root / s for s in entries)
        if path.exists():
            shown = path.as_posix()
            schemas_at = (shown, 1, 1)  # the default, named nowhere in the file
            if sf is not None and "schemas" in data:
                schemas_at = (shown, *sf.position(("schemas",)))
            named_at = tuple(
                (shown, *sf.position(("schemas", i)))
                if sf is not None and isinstance(configured, list)
                else schemas_at
                for i in range(len(entries))
            )
    return Project(
        root=root,
        schemas=schema_paths,
        output=Path(output) if output else root / data.get("output", "generated"),
        named_at=named_at,
        schemas_at=schemas_at,
        bare=not schemas and not path.exists(),
    )


def schema_files(project: Project) -> tuple[list[Path], list[Diagnostic]]:
    """The schema files of the project in order, and one diagnostic per entry of
    ``schemas`` that is missing or cannot be listed, at the place that names it."""
    files: set[Path] = set()
    diagnostics = []
    for i, entry in enumerate(project.schemas):
        place = project.named_at[i] if project.named_at else None
        try:
            if entry.is_dir():
                files.update(
                    p for p in entry.iterdir() if p.suffix in (".yaml", ".yml")
                )
                continue
            if entry.exists():
                files.add(entry)
                continue
            problem = "no such file or folder"
        except OSError as exc:
            problem = f"cannot read folder: {exc.strerror or type(exc).__name__}"
        shown = project.shown(entry)
        if place is not None:
            diagnostics.append(
                Diagnostic(*place, "DG001", f"schemas: {problem}: {shown}")
            )
        else:
            hint = (
                f"there is no {CONFIG_NAME} here; {_INIT_HINT}" if project.bare else ""
            )
            diagnostics.append(Diagnostic(shown, 1, 1, "DG001", problem, hint))
    return sorted(files, key=lambda p: project.shown(p)), diagnostics


def compile_project(project: Project) -> tuple[list[model.Module], list[OutputFile]]:
    """Every schema file compiled in memory; CompileError with all diagnostics if any fail."""
    files: list[SchemaFile] = []
    paths, diagnostics = schema_files(project)
    if not paths and not diagnostics:
        shown = ", ".join(project.shown(s) for s in project.schemas)
        if project.schemas_at is not None:
            diagnostics.append(
                Diagnostic(
                    *project.schemas_at,
                    "DG001",
                    f"schemas: no schema files (*.yaml, *.yml) in {shown}",
                    "run `dynamorm-gen init`",
                )
            )
        else:
            diagnostics.append(
                Diagnostic(
                    shown,
                    1,
                    1,
                    "DG001",
                    "no schema files (*.yaml, *.yml) found",
                    "run `dynamorm-gen init`",
                )
            )
    for path in paths:
        try:
            files.append(load_file(path, project.shown(path)))
        except CompileError as exc:
            diagnostics.extend(exc.diagnostics)
    diagnostics.extend(validate.check_files(files))
    diagnostics.extend(_check_across_files(files))
    if diagnostics:
        raise CompileError(diagnostics)
    modules = [
        model.build_module(
            sf.path, sf.sha256, model.module_name_for(Path(sf.path).stem), sf.data
        )
        for sf in files
    ]
    for sf, module in zip(files, modules, strict=True):
        diagnostics.extend(check_generated_names(sf, module))
    if diagnostics:
        raise CompileError(diagnostics)
    outputs = [OutputFile(f"{m.module_name}.py", render_module(m)) for m in modules]
    outputs.append(OutputFile("__init__.py", render_package_init(modules)))
    return modules, sorted(outputs, key=lambda o: o.path)


def _check_across_files(files: list[SchemaFile]) -> list[Diagnostic]:
    diagnostics = []
    modules: dict[str, str] = {}
    tables: dict[str, str] = {}
    for sf in files:
        name = model.module_name_for(Path(sf.path).stem)
        if not name.isidentifier() or name == "__init__":
            diagnostics.append(
                Diagnostic(
                    sf.path,
                    1,
                    1,
                    "DG216",
                    f"file name gives module '{name}', not a Python name",
                    "rename the file",
                )
            )
        elif name in modules:
            diagnostics.append(
                Diagnostic(
                    sf.path,
                    1,
                    1,
                    "DG216",
                    f"module '{name}' would also come from {modules[name]}",
                    "rename one file",
                )
            )
        modules.setdefault(name, sf.path)
        for table in (
            sf.data.get("tables", {}) if isinstance(sf.data.get("tables"), dict) else ()
        ):
            if table in tables:
                diagnostics.append(
                    sf.diagnostic(
                        ("tables", table),
                        "DG216",
                        f"table '{table}' is also declared in {tables[table]}",
                        "declare a table in one file and put all its entities there",
                        key=True,
                    )
                )
            tables.setdefault(table, sf.path)
    return diagnostics
