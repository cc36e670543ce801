"""A Lambda deployment zip: your handlers and generated modules, and dynamorm-gen's runtime.

The zip holds what a function imports and nothing else: ``dynamorm_gen/__init__.py`` and
``dynamorm_gen/runtime/`` (standard library only), never the compiler, its templates, the test
plugin or the CLI, and none of their dependencies. Each ``include`` (a handler file, a folder
of generated modules, a package of your own) is stored at the root of the zip under its own
name, so ``handler.py`` becomes the handler ``handler.handler``.

Every ``.py`` file is stored next to its byte code (``__pycache__/*.pyc``, not checked against
the source at import: a deployed zip never changes): Lambda's ``/var/task`` is read-only, so a
package without byte code compiles every module again at each cold start. Byte code is specific to the
Python version that wrote it; a function on another version ignores it and compiles the
sources, so build with the version of the function's runtime.

The zip is reproducible: entries sorted, dated 1980-01-01, mode 0644; the same inputs give
the same bytes.
"""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# What a function imports of dynamorm-gen: the package's marker files and the runtime.
RUNTIME_FILES = ("__init__.py", "py.typed")
RUNTIME_FOLDER = "runtime"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIPPED_FOLDERS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


class BundleError(Exception):
    """An include that cannot be bundled: missing, outside a folder, or named twice."""


@dataclass(frozen=True)
class Bundle:
    """What was written: the zip's path, its entries (sorted) and its size in bytes."""

    path: Path
    entries: tuple[str, ...]
    size: int


def build(output: Path, includes: Iterable[Path], *, byte_code: bool = True) -> Bundle:
    """Write the zip ``output`` holding the runtime and ``includes`` (files or folders)."""
    sources = dict(_runtime_sources())
    for include in includes:
        for name, path in _include_sources(include):
            if name in sources:
                raise BundleError(f"{name} would be in the zip twice (from {include})")
            sources[name] = path
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        entries = dict(sources)
        if byte_code:
            entries.update(_byte_code(sources, Path(scratch)))
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, _EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, entries[name].read_bytes())
    return Bundle(output, tuple(sorted(entries)), output.stat().st_size)


def _runtime_sources() -> Iterator[tuple[str, Path]]:
    for name in RUNTIME_FILES:
        yield f"dynamorm_gen/{name}", PACKAGE / name
    yield from _folder_sources(
        PACKAGE / RUNTIME_FOLDER, f"dynamorm_gen/{RUNTIME_FOLDER}"
    )


def _include_sources(include: Path) -> Iterator[tuple[str, Path]]:
    if include.is_file():
        yield include.name, include
    elif include.is_dir():
        yield from _folder_sources(include, include.resolve().name)
    else:
        raise BundleError(f"{include} is neither a file nor a folder")


def _folder_sources(folder: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    """The files of ``folder`` a function may need (sources and data, not caches)."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or _SKIPPED_FOLDERS.intersection(relative.parts):
            continue
        if path.suffix in (".pyc", ".pyo"):
            continue
        yield f"{prefix}/{relative.as_posix()}", path


def _byte_code(sources: dict[str, Path], scratch: Path) -> Iterator[tuple[str, Path]]:
    """``__pycache__`` entries for every ``.py`` source, as the running Python writes them."""
    for name, path in sources.items():
        if not name.endswith(".py"):
            continue
        cached = importlib.util.cache_from_source(name)
        target = scratch / cached
        py_compile.compile(
            str(path),
            cfile=str(target),
            dfile=name,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        yield cached, target


def python_tag() -> str:
    """The Python version the byte code is for (``3.11``), for messages."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"
