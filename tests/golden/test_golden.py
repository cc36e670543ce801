"""Golden cases: each tests/golden/cases/<name>/schemas compiles to exactly <name>/expected.

Also pinned here: the committed generated_examples/ are up to date, builds are deterministic
across hash seeds, and every generated file is clean under ruff and mypy --strict.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dynamorm_gen.compiler import write
from dynamorm_gen.compiler.project import Project, compile_project
from tests.conftest import ROOT, UPDATE_HINT

CASES = ROOT / "tests" / "golden" / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "schemas").is_dir())


def _project(case: Path) -> Project:
    return Project(root=ROOT, schemas=(case / "schemas",), output=case / "expected")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_golden_case(name: str, update_golden: bool) -> None:
    project = _project(CASES / name)
    _, outputs = compile_project(project)
    if update_golden:
        write.write(project.output, outputs)
    drift = write.check(project.output, outputs, project.shown(project.output))
    report = "\n".join(d.format() for d in drift)
    assert not drift, f"golden case {name} differs:\n{report}\n{UPDATE_HINT}"


def test_generated_examples_are_up_to_date() -> None:
    project = Project(
        root=ROOT, schemas=(ROOT / "schemas",), output=ROOT / "generated_examples"
    )
    _, outputs = compile_project(project)
    drift = write.check(project.output, outputs, "generated_examples")
    report = "\n".join(d.format() for d in drift)
    assert not drift, (
        f"generated_examples/ is stale:\n{report}\nrun: dynamorm-gen build"
    )


def _build(out: Path, seed: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dynamorm_gen",
            "build",
            "-s",
            "schemas",
            "-o",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.py"))
    }


def test_build_is_deterministic_across_hash_seeds(tmp_path: Path) -> None:
    first = _build(tmp_path / "a", "1")
    second = _build(tmp_path / "b", "2")
    assert first == second
    assert len(first) >= 3
    committed = {
        p.relative_to(ROOT / "generated_examples").as_posix(): p.read_bytes()
        for p in sorted((ROOT / "generated_examples").rglob("*.py"))
    }
    assert first == committed


def _generated_dirs() -> list[str]:
    dirs = [str(ROOT / "generated_examples")]
    dirs += [str(CASES / n / "expected") for n in CASE_NAMES]
    return dirs


def test_generated_code_is_ruff_clean() -> None:
    dirs = _generated_dirs()
    fmt = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--check",
            "--diff",
            "--isolated",
            *dirs,
        ],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", *dirs],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    strict = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *dirs],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert strict.returncode == 0, strict.stdout + strict.stderr


@pytest.mark.parametrize(
    "directory", _generated_dirs(), ids=lambda d: Path(d).parent.name
)
def test_generated_code_is_mypy_strict_clean(directory: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", directory],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
