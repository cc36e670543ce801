"""Values written in the schema, on every engine (moto's server and dynalite) and both
transports: filters with a literal ``value`` (no parameter), and an index written only while
its ``when`` holds (a sparse index by condition), kept in step by puts and updates.

The library (tests/golden/cases/library_loans): ``Book.on_shelf`` filters ``copies > 0``,
``Member.joined_in_2024`` a range of dates and a status, ``Loan.open_due_by`` filters
``returned = false``, and ``Loan.overdue`` reads GSI3, which holds a loan only while it is not
returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from dynamorm_gen.runtime import ConditionFailed
from dynamorm_gen.runtime.table import Connection
from tests.golden.cases.library_loans.expected.library import (
    Book,
    LibraryTable,
    Loan,
    LoanUpdate,
    Member,
)

pytestmark = pytest.mark.integration

DUE = date(2024, 3, 10)


@pytest.fixture
def library(engine: str) -> Iterator[LibraryTable]:
    table = LibraryTable(Connection(region="us-east-1"), name="library")
    table.handle.create(ttl=False)
    yield table


def test_filters_with_values_of_the_schema(library: LibraryTable) -> None:
    for isbn, copies in (("1", 0), ("2", 1), ("3", 4)):
        library.put_book(Book(library_id="L1", isbn=isbn, title=isbn, copies=copies))
    assert sorted(b.isbn for b in library.iter_book_on_shelf(library_id="L1")) == [
        "2",
        "3",
    ]
    assert library.count_book_on_shelf(library_id="L1") == 2
    members = [
        ("before", date(2023, 12, 31), "active"),
        ("first", date(2024, 1, 1), "active"),
        ("last", date(2024, 12, 31), "suspended"),
        ("closed", date(2024, 6, 1), "closed"),
        ("after", date(2025, 1, 1), "active"),
    ]
    for member_id, joined_on, status in members:
        library.put_member(
            Member(
                library_id="L1",
                member_id=member_id,
                name=member_id,
                joined_on=joined_on,
                status=status,  # type: ignore[arg-type]
            )
        )
    found = library.iter_member_joined_in_2024(library_id="L1")
    assert sorted(m.member_id for m in found) == ["first", "last"]


def _loan(member_id: str, due: date, *, returned: bool = False) -> Loan:
    return Loan(
        library_id="L1", member_id=member_id, isbn="978", due=due, returned=returned
    )


def test_a_filter_value_and_an_index_written_only_while_it_holds(
    library: LibraryTable,
) -> None:
    open_loan = _loan("m1", DUE)
    returned = _loan("m2", DUE, returned=True)
    later = _loan("m3", date(2024, 3, 20))
    for loan in (open_loan, returned, later):
        library.put_loan(loan)
    stored = library.handle.get_item(returned.key(), entity="Loan", consistent=True)
    assert stored is not None and "GSI3PK" not in stored and "GSI3SK" not in stored
    open_by = library.iter_loan_open_due_by(library_id="L1", due=DUE)
    assert [loan.member_id for loan in open_by] == ["m1"]
    assert library.count_loan_open_due_by(library_id="L1", due=DUE) == 1
    overdue = library.iter_loan_overdue(library_id="L1", due=date(2024, 3, 21))
    assert sorted(loan.member_id for loan in overdue) == ["m1", "m3"]


def test_updates_take_the_item_into_and_out_of_the_conditional_index(
    library: LibraryTable,
) -> None:
    loan = _loan("m1", DUE)
    library.put_loan(loan)
    key = {"library_id": "L1", "member_id": "m1", "isbn": "978"}
    co = {"library_id": "L1", "due": DUE, "member_id": "m1", "isbn": "978"}

    def overdue() -> list[str]:
        found = library.iter_loan_overdue(library_id="L1", due=date(2024, 12, 31))
        return [f"{x.member_id}:{x.due.isoformat()}" for x in found]

    assert overdue() == ["m1:2024-03-10"]
    after = library.update_loan(
        LoanUpdate().set_returned(True, **co), loaned_at=loan.loaned_at, **key
    )
    assert after is not None and after.returned
    assert overdue() == []
    # A new due date of a returned loan moves its GSI2 keys and leaves it out of GSI3.
    moved = LoanUpdate().set_due(
        date(2024, 4, 1), member_id="m1", isbn="978", library_id="L1", returned=True
    )
    library.update_loan(moved, loaned_at=loan.loaned_at, **key)
    assert overdue() == []
    due_now = library.iter_loan_due_on(library_id="L1", due=date(2024, 4, 1))
    assert [x.member_id for x in due_now] == ["m1"]
    reopened = LoanUpdate().set_returned(False, **{**co, "due": date(2024, 4, 1)})
    library.update_loan(reopened, loaned_at=loan.loaned_at, **key)
    assert overdue() == ["m1:2024-04-01"]
    stored = library.handle.get_item(loan.key(), entity="Loan", consistent=True)
    assert stored is not None
    rebuilt = Loan.from_item(stored).to_item()
    assert {k: stored[k] for k in ("GSI3PK", "GSI3SK")} == {
        k: rebuilt[k] for k in ("GSI3PK", "GSI3SK")
    }
    # The index keys follow what the caller says the item holds: a wrong claim fails the
    # update instead of writing a wrong key.
    wrong = LoanUpdate().set_due(
        date(2024, 5, 1), member_id="m1", isbn="978", library_id="L1", returned=True
    )
    with pytest.raises(ConditionFailed):
        library.update_loan(wrong, loaned_at=loan.loaned_at, **key)
    assert overdue() == ["m1:2024-04-01"]
