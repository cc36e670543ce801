"""The ``dynamorm-gen`` command: build [--check], validate, init.

Exit status: 0 success, 1 generated code is stale (``build --check``), 2 bad input, usage or
an output that cannot be written, 3 an internal error (a bug; the traceback is printed).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from dynamorm_gen.compiler import write
from dynamorm_gen.compiler.errors import CompileError, format_report
from dynamorm_gen.compiler.project import (
    CONFIG_NAME,
    Project,
    compile_project,
    load_project,
)
from dynamorm_gen.compiler.scaffold import EXAMPLE_CONFIG, EXAMPLE_SCHEMA

EXIT_DRIFT = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 3

_config = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Project config file (default: ./{CONFIG_NAME} if present).",
)
_schemas = click.option(
    "--schemas",
    "-s",
    multiple=True,
    help="Schema file or folder (repeatable); overrides the config.",
)
_output = click.option(
    "--output", "-o", default=None, help="Output folder; overrides the config."
)


def _fail(exc: CompileError) -> None:
    click.echo(format_report(exc.diagnostics), err=True)
    sys.exit(EXIT_BAD_INPUT)


def _project(
    config: Path | None, schemas: tuple[str, ...], output: str | None
) -> Project:
    try:
        return load_project(config, schemas, output)
    except CompileError as exc:
        _fail(exc)
        raise  # unreachable: _fail exits


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dynamorm-gen")
def main() -> None:
    """Compile DynamoDB schemas (YAML) into fast, typed, reflection-free Python modules."""


@main.command()
@_config
@_schemas
@_output
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 if the output is stale."
)
@click.option(
    "--diff/--no-diff", default=True, help="With --check, show unified diffs."
)
def build(
    config: Path | None,
    schemas: tuple[str, ...],
    output: str | None,
    check: bool,
    diff: bool,
) -> None:
    """Validate the schemas and generate Python modules."""
    project = _project(config, schemas, output)
    try:
        modules, outputs = compile_project(project)
    except CompileError as exc:
        _fail(exc)
        return
    shown_out = project.shown(project.output)
    if check:
        drift = write.check(project.output, outputs, shown_out)
        for item in drift:
            click.echo(item.format() if diff else f"{item.kind} {item.path}")
        if drift:
            click.echo(
                f"{len(drift)} generated file(s) out of date; run `dynamorm-gen build`",
                err=True,
            )
            sys.exit(EXIT_DRIFT)
        click.echo(f"up to date: {len(outputs)} files in {shown_out}")
        return
    try:
        written, removed = write.write(project.output, outputs)
    except write.WriteError as exc:
        done = (
            f"already written: {', '.join(f'{shown_out}/{p}' for p in exc.written)}"
            if exc.written
            else "nothing changed"
        )
        click.echo(
            f"error: cannot write {project.shown(exc.path)}: {exc.reason}; {done}",
            err=True,
        )
        sys.exit(EXIT_BAD_INPUT)
    for path in written:
        click.echo(f"wrote {shown_out}/{path}")
    for path in removed:
        click.echo(f"removed {shown_out}/{path}")
    click.echo(
        f"built {len(modules)} module(s) into {shown_out}: {len(written)} written,"
        f" {len(removed)} removed, {len(outputs) - len(written)} unchanged"
    )


@main.command()
@_config
@_schemas
def validate(config: Path | None, schemas: tuple[str, ...]) -> None:
    """Validate the schemas without generating anything."""
    project = _project(config, schemas, None)
    try:
        modules, _ = compile_project(project)
    except CompileError as exc:
        _fail(exc)
        return
    entities = sum(len(m.entities) for m in modules)
    click.echo(f"ok: {len(modules)} schema file(s), {entities} entities")


@main.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Where to create the project (default: here).",
)
def init(directory: Path) -> None:
    """Create dynamorm.yaml and a commented example schema."""
    config = directory / CONFIG_NAME
    schema = directory / "schemas" / "example.yaml"
    existing = [p for p in (config, schema) if p.exists()]
    if existing:
        click.echo(f"not overwriting {', '.join(str(p) for p in existing)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    schema.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    schema.write_text(EXAMPLE_SCHEMA, encoding="utf-8")
    click.echo(f"created {config} and {schema}; next: dynamorm-gen build")


@main.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("build/lambda.zip"),
    show_default=True,
    help="The zip to write.",
)
@click.option(
    "--no-byte-code",
    is_flag=True,
    help="Leave out the __pycache__ byte code (then every cold start compiles).",
)
@click.argument(
    "includes",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
def bundle(output: Path, no_byte_code: bool, includes: tuple[Path, ...]) -> None:
    """Make a Lambda deployment zip: INCLUDES (handler files, folders of generated
    modules) and the runtime, which needs only the standard library."""
    from dynamorm_gen import bundle as bundling

    try:
        made = bundling.build(output, includes, byte_code=not no_byte_code)
    except bundling.BundleError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    sources = sum(1 for name in made.entries if name.endswith(".py"))
    code = "" if no_byte_code else f", byte code for Python {bundling.python_tag()}"
    click.echo(f"wrote {output}: {sources} modules{code}, {made.size / 1024:.0f} KiB")


def run() -> None:
    """The console entry point: an unexpected failure is a bug, told apart from bad input."""
    try:
        main()
    except Exception:
        traceback.print_exc()
        click.echo(
            "internal error in dynamorm-gen (a bug, not your schema): please report it with"
            " the traceback above",
            err=True,
        )
        sys.exit(EXIT_INTERNAL_ERROR)
