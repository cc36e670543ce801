"""The CLI: build, build --check (CHANGED/MISSING/EXTRA, exit codes), validate, init."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dynamorm_gen.cli import main
from dynamorm_gen.compiler.render import HEADER
from tests.conftest import ROOT


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project (config + schemas) in a temporary folder, as cwd."""
    shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
    (tmp_path / "dynamorm.yaml").write_text("schemas: schemas\noutput: out\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_build_writes_then_check_is_clean(project: Path) -> None:
    code, out, _ = run("build")
    assert code == 0
    assert "wrote out/payment.py" in out
    assert sorted(p.name for p in (project / "out").iterdir()) == [
        "__init__.py",
        "basic.py",
        "payment.py",
    ]
    code, out, _ = run("build", "--check")
    assert (code, out.strip()) == (0, "up to date: 3 files in out")
    code, out, _ = run("build")
    assert code == 0 and "0 written, 0 removed, 3 unchanged" in out


def test_check_reports_changed_missing_and_extra_sorted(project: Path) -> None:
    run("build")
    out_dir = project / "out"
    payment = out_dir / "payment.py"
    payment.write_text(payment.read_text().replace("A card payment", "A card paymnet"))
    (out_dir / "basic.py").unlink()
    (out_dir / "old.py").write_text(HEADER + "\n# from a schema that was deleted\n")
    (out_dir / "handwritten.py").write_text("# mine, not generated\n")
    code, out, err = run("build", "--check")
    assert code == 1
    kinds = [
        line
        for line in out.splitlines()
        if line.split(" ")[0] in {"CHANGED", "MISSING", "EXTRA"}
    ]
    assert kinds == [
        "MISSING out/basic.py",
        "EXTRA out/old.py",
        "CHANGED out/payment.py",
    ]
    assert '-    """A card paymnet taken for a merchant."""' in out
    assert '+    """A card payment taken for a merchant."""' in out
    assert "out of date" in err
    # --check wrote nothing
    assert not (out_dir / "basic.py").exists()
    code, out, _ = run("build", "--check", "--no-diff")
    assert code == 1 and "@@" not in out


def test_build_removes_only_stale_generated_files(project: Path) -> None:
    run("build")
    out_dir = project / "out"
    (out_dir / "old.py").write_text(HEADER + "\n")
    (out_dir / "handwritten.py").write_text("# mine\n")
    code, out, _ = run("build")
    assert code == 0 and "removed out/old.py" in out
    assert not (out_dir / "old.py").exists()
    assert (out_dir / "handwritten.py").read_text() == "# mine\n"


def test_bad_input_writes_nothing_and_exits_2(project: Path) -> None:
    run("build")
    before = {p.name: p.read_bytes() for p in (project / "out").iterdir()}
    schema = project / "schemas" / "payment.yaml"
    schema.write_text(
        schema.read_text().replace("type: integer, min: 0", "type: integr, min: 0", 1)
    )
    code, _out, err = run("build")
    assert code == 2
    assert "schemas/payment.yaml:43:" in err and "did you mean 'integer'?" in err
    assert err.strip().endswith("1 error in 1 file")
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (project / "out").iterdir()} == before
    code, _, err = run("build", "--check")
    assert code == 2


def test_failed_write_leaves_previous_output_intact(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("build")
    out_dir = project / "out"
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    for schema in (project / "schemas").iterdir():
        schema.write_text(
            schema.read_text().replace("description:", "description: New.", 1)
        )
    real_fdopen = os.fdopen
    calls = {"n": 0}

    def failing_fdopen(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_fdopen(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("dynamorm_gen.compiler.write.os.fdopen", failing_fdopen)
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code != 0
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert not [p for p in out_dir.iterdir() if p.name.endswith(".tmp")]


def test_validate_and_unknown_config_key(project: Path) -> None:
    code, out, _ = run("validate")
    assert code == 0 and out.strip() == "ok: 2 schema file(s), 6 entities"
    (project / "dynamorm.yaml").write_text("schemas: schemas\noutptu: out\n")
    code, _, err = run("validate")
    assert code == 2
    assert "dynamorm.yaml:2:1: error[DG010] unknown setting 'outptu'" in err
    assert "did you mean 'output'?" in err


def test_missing_schema_folder(project: Path) -> None:
    code, _, err = run("build", "-s", "nowhere")
    assert code == 2 and "nowhere:1:1: error[DG001] no such file or folder" in err


def test_init_scaffolds_a_project_that_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("init")
    assert code == 0 and "created" in out
    code, out, _ = run("build")
    assert code == 0, out
    assert (tmp_path / "generated" / "example.py").exists()
    code, _, err = run("init")
    assert code == 2 and "not overwriting" in err


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dynamorm_gen", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for command in ("build", "validate", "init"):
        assert command in result.stdout


def test_command_line_paths_are_relative_to_cwd_config_paths_to_the_config(
    project: Path,
) -> None:
    sub = project / "sub"
    sub.mkdir()
    (sub / "dynamorm.yaml").write_text("schemas: ../schemas\noutput: gen\n")
    code, out, _ = run("build", "--config", "sub/dynamorm.yaml")
    assert code == 0, out
    assert (sub / "gen" / "payment.py").exists()
    code, out, _ = run(
        "build",
        "--config",
        "sub/dynamorm.yaml",
        "-s",
        "schemas/basic.yaml",
        "-o",
        "cli-out",
    )
    assert code == 0, out
    assert sorted(p.name for p in (project / "cli-out").iterdir()) == [
        "__init__.py",
        "basic.py",
    ]


def test_internal_errors_exit_3_not_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from dynamorm_gen import cli

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "main", broken)
    with pytest.raises(SystemExit) as exit_info:
        cli.run()
    assert exit_info.value.code == cli.EXIT_INTERNAL_ERROR


def test_config_file_problems(project: Path) -> None:
    (project / "dynamorm.yaml").write_text("- schemas\n")
    code, _, err = run("validate")
    assert code == 2
    assert "dynamorm.yaml:1:1: error[DG006] a config file must be a mapping" in err
    assert "hint: settings: schemas, output" in err
    (project / "dynamorm.yaml").write_text(
        ""
    )  # empty: the defaults (schemas/, generated/)
    code, out, _ = run("build")
    assert code == 0 and "into generated" in out


def test_missing_schema_folder_is_one_error_at_the_config_line(project: Path) -> None:
    (project / "dynamorm.yaml").write_text("output: out\nschemas: no_such_dir\n")
    code, _, err = run("build")
    assert code == 2
    assert err == (
        "dynamorm.yaml:2:10: error[DG001] schemas: no such file or folder: no_such_dir\n"
        "1 error in 1 file\n"
    )
    (project / "dynamorm.yaml").write_text("schemas:\n  - schemas\n  - nowhere\n")
    code, _, err = run("validate")
    assert code == 2
    assert err.splitlines() == [
        "dynamorm.yaml:3:5: error[DG001] schemas: no such file or folder: nowhere",
        "1 error in 1 file",
    ]


def test_build_without_a_project_points_to_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("build")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "schemas:1:1: error[DG001] no such file or folder",
        "  hint: there is no dynamorm.yaml here; `dynamorm-gen init` creates"
        " dynamorm.yaml and an example schema",
        "1 error in 1 file",
    ]
    code, _, err = run("build", "--config", "elsewhere/dynamorm.yaml")
    assert code == 2 and "`dynamorm-gen init`" in err


def test_output_files_get_the_modes_of_new_files_and_keep_theirs(
    project: Path,
) -> None:
    previous = os.umask(0o027)
    try:
        run("build")
        out_dir = project / "out"
        assert {p.name: p.stat().st_mode & 0o777 for p in out_dir.iterdir()} == {
            "__init__.py": 0o640,
            "basic.py": 0o640,
            "payment.py": 0o640,
        }
        os.umask(0o022)
        (out_dir / "payment.py").chmod(0o664)
        (out_dir / "basic.py").unlink()
        schema = project / "schemas" / "payment.yaml"
        schema.write_text(schema.read_text() + "# changed\n")
        code, out, _ = run("build")
        assert code == 0 and "wrote out/payment.py" in out
        assert (out_dir / "payment.py").stat().st_mode & 0o777 == 0o664  # kept
        assert (out_dir / "basic.py").stat().st_mode & 0o777 == 0o644  # new
    finally:
        os.umask(previous)


def test_write_errors_show_paths_relative_to_the_project(project: Path) -> None:
    (project / "out" / "payment.py").mkdir(parents=True)
    code, out, err = run("build")
    assert (code, out) == (2, "")
    assert (
        err == "error: cannot write out/payment.py: Is a directory; nothing changed\n"
    )
    assert not (project / "out" / "basic.py").exists()
    code, out, _ = run("build", "--check", "--no-diff")
    assert code == 1 and "CHANGED out/payment.py" in out


def test_a_file_over_the_size_limit_is_refused_before_parsing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dynamorm_gen.compiler import load

    line = "- a value that is not a schema\n"
    big = project / "schemas" / "big.yaml"
    big.write_text(line * (5 * 1024 * 1024 // len(line)))

    parser = load._Loader

    def small_only(text: str, display: str) -> object:
        assert len(text) <= load.MAX_FILE_BYTES, f"{display} was parsed"
        return parser(text, display)

    monkeypatch.setattr(load, "_Loader", small_only)
    code, _, err = run("validate", "-s", "schemas/big.yaml")
    assert code == 2
    assert err == (
        "schemas/big.yaml:1:1: error[DG008] file is 5,242,875 bytes; the limit is"
        " 1,048,576 bytes (1 MiB)\n"
        "  hint: split the schema into several files\n"
        "1 error in 1 file\n"
    )
