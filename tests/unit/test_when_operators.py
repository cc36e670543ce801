"""The condition builders (``<Entity>When``) offer only the operators that fit each
attribute's type and role (facts.when_methods; the table in docs/reference/generated-code.md):
checked on the library's generated module, and by mypy --strict, which refuses the rest."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from dynamorm_gen.runtime import ConditionFailed
from tests.golden.cases.library_loans.expected import library
from tests.golden.cases.library_loans.expected.library import (
    LibraryTable,
    Loan,
    LoanWhen,
)

ROOT = Path(__file__).resolve().parents[2]


def _methods(cls: type) -> set[str]:
    return {n for n in vars(cls) if not n.startswith("_")}


def test_each_attribute_gets_the_operators_of_its_type_and_role() -> None:
    # Loan: library_id, member_id, isbn and loaned_at make its table key: none of theirs.
    assert _methods(LoanWhen) == {"due", "due_between", "returned"}
    # Member: a string, a date, an enum (eq and ne only: enum values compare as text).
    assert _methods(library.MemberWhen) == {
        "name",
        "name_between",
        "name_begins_with",
        "name_contains",
        "joined_on",
        "joined_on_between",
        "status",
    }
    # Book: an integer, a list (its items), a set (members, presence), maps (nothing).
    assert _methods(library.BookWhen) == {
        "title",
        "title_between",
        "title_begins_with",
        "title_contains",
        "copies",
        "copies_between",
        "authors_contains",
        "subjects_contains",
        "subjects_exists",
        "subjects_missing",
    }
    # Library: only key attributes and strings.
    assert "library_id" not in _methods(library.LibraryWhen)


SNIPPET = """
from datetime import date
from tests.golden.cases.library_loans.expected.library import LoanWhen, MemberWhen, BookWhen

LoanWhen().due("lte", date(2024, 3, 10)).returned("eq", False)
MemberWhen().status("ne", "closed").name_begins_with("A")
BookWhen().copies_between(1, 3).subjects_contains("poetry")
LoanWhen().returned("lt", True)  # line 8: no order on booleans
MemberWhen().status("gt", "active")  # line 9: no order on enums
LoanWhen().member_id("eq", "m1")  # line 10: a table key attribute
BookWhen().editions_contains("first")  # line 11: nothing on maps
MemberWhen().status_begins_with("a")  # line 12: no text functions on enums
"""


def test_mypy_strict_refuses_the_operators_that_do_not_fit(tmp_path: Path) -> None:
    snippet = tmp_path / "uses_when.py"
    snippet.write_text(SNIPPET)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    flagged = {
        int(line.split(":")[1])
        for line in result.stdout.splitlines()
        if line.startswith(str(snippet)) and ": error:" in line
    }
    assert flagged == {8, 9, 10, 11, 12}, result.stdout


def test_a_condition_of_the_builder_guards_a_write(library: LibraryTable) -> None:
    loan = Loan(library_id="L1", member_id="m1", isbn="978", due=date(2024, 3, 10))
    library.put_loan(loan)
    loan.returned = True
    library.put_loan(loan, when=LoanWhen().returned("eq", False))
    with pytest.raises(ConditionFailed):
        library.put_loan(loan, when=LoanWhen().returned("eq", False))
    with pytest.raises(ConditionFailed):
        library.put_loan(loan, when=LoanWhen().due("gt", date(2024, 3, 10)))
