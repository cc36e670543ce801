"""Bad input: every file in cases/ must fail `dynamorm-gen validate` with exactly its .stderr.

Each case ``cases/eNN_name.yaml`` is validated with the working directory set to ``cases/``
(so messages name just the file) and must exit 2 with the report in ``cases/eNN_name.stderr``.
Refresh the expected reports with ``python -m pytest tests/errors --update-golden``, then read
the diff: every message must stay clear, located and hinted.
"""

from __future__ import annotations

import difflib
import re
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dynamorm_gen.cli import main
from tests.conftest import UPDATE_HINT

CASES = Path(__file__).resolve().parent / "cases"
CASE_FILES = sorted(CASES.glob("*.yaml"))
MIN_CASES = 40
EXIT_BAD_INPUT = 2

# The multi-error case and the independent problems it holds, as (line, code).
MULTI_ERROR_CASE = "e69_multiple_errors.yaml"
MULTI_ERROR_EXPECTED = {
    (12, "DG213"),  # local index with its own pk
    (26, "DG203"),  # min greater than max
    (31, "DG201"),  # attribute named after a Python keyword
    (36, "DG210"),  # filter on an encrypted attribute
    (41, "DG212"),  # collection naming an unknown entity
}

_DIAGNOSTIC = re.compile(
    r"(?P<file>[^\s:]+):(?P<line>\d+):(?P<column>\d+): error\[(?P<code>DG\d+)\] "
)
_COUNT = re.compile(r"(?P<errors>\d+) errors? in (?P<files>\d+) files?\Z")


def _validate(case: Path, monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.chdir(CASES)
    return CliRunner().invoke(main, ["validate", "--schemas", case.name])


def _check_clean_failure(case: Path, result: Result) -> None:
    """Exit 2 with a report only: no crash, no traceback, no Python object reprs."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"{case.name}: the compiler crashed instead of reporting:\n{crash}")
    output = result.stdout + result.stderr
    assert "Traceback" not in output, f"{case.name}: traceback in output:\n{output}"
    assert "<" + "object at" not in output, (
        f"{case.name}: object repr in output:\n{output}"
    )
    assert result.exit_code == EXIT_BAD_INPUT, (
        f"{case.name}: exit code {result.exit_code}, expected {EXIT_BAD_INPUT}\n{output}"
    )
    assert result.stdout == "", f"{case.name}: unexpected stdout:\n{result.stdout}"


@pytest.mark.parametrize("case", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_bad_input_report(
    case: Path, monkeypatch: pytest.MonkeyPatch, update_golden: bool
) -> None:
    result = _validate(case, monkeypatch)
    _check_clean_failure(case, result)
    golden = case.with_suffix(".stderr")
    if update_golden:
        golden.write_text(result.stderr, encoding="utf-8", newline="\n")
        return
    if not golden.exists():
        pytest.fail(
            f"{golden.name} is missing; current stderr:\n{result.stderr}\n{UPDATE_HINT}"
        )
    expected = golden.read_text(encoding="utf-8")
    if result.stderr != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                result.stderr.splitlines(keepends=True),
                f"{golden.name} (expected)",
                f"{golden.name} (actual)",
            )
        )
        pytest.fail(
            f"stderr of {case.name} differs from {golden.name}:\n{diff}\n{UPDATE_HINT}"
        )


def test_enough_cases() -> None:
    assert len(CASE_FILES) >= MIN_CASES, (
        f"only {len(CASE_FILES)} bad-input cases in {CASES}"
    )


def test_every_golden_has_a_case() -> None:
    cases = {p.stem for p in CASE_FILES}
    orphans = sorted(p.name for p in CASES.glob("*.stderr") if p.stem not in cases)
    assert not orphans, f"expected reports without a case file: {orphans}"


def test_case_names_are_numbered_and_unique() -> None:
    numbers = [p.name.split("_", 1)[0] for p in CASE_FILES]
    # A letter first: a file name starting with a digit is itself an error (not a module name).
    assert all(re.fullmatch(r"e\d{2,3}", n) for n in numbers), numbers
    assert len(set(numbers)) == len(numbers), f"duplicate case numbers: {numbers}"


def test_several_independent_errors_are_all_reported_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = CASES / MULTI_ERROR_CASE
    result = _validate(case, monkeypatch)
    _check_clean_failure(case, result)
    lines = result.stderr.rstrip("\n").split("\n")
    found = [m for m in map(_DIAGNOSTIC.match, lines) if m]
    assert all(m["file"] == case.name for m in found), result.stderr
    positions = [(int(m["line"]), int(m["column"])) for m in found]
    assert positions == sorted(positions), (
        f"diagnostics not sorted by line:\n{result.stderr}"
    )
    reported = {(int(m["line"]), m["code"]) for m in found}
    missing = MULTI_ERROR_EXPECTED - reported
    assert not missing, f"errors not reported {sorted(missing)}:\n{result.stderr}"
    count = _COUNT.match(lines[-1])
    assert count, f"last line is not the count line:\n{result.stderr}"
    assert int(count["errors"]) == len(found), result.stderr
    assert int(count["files"]) == 1, result.stderr
    # Each diagnostic is its message line, optionally followed by one indented hint line.
    assert all(
        _DIAGNOSTIC.match(line) or line.startswith("  hint: ") for line in lines[:-1]
    )
