"""Grouped collections on every engine (moto's server and dynalite) and both transports.

The library (tests/golden/cases/library_loans): ``member_loans`` reads a member and their
loans from GSI1 newest first, where the member's ``PROFILE`` sorts before the loans;
``member_loans_since`` reads them oldest first from a time on, where the member sorts after
every loan; ``branch`` reads a branch's profile, books and members from the table, whose
partition also holds loans that are not in the collection. Every page must hold exactly
``limit`` items of the ``many`` entities (the last one fewer), in key order, and the ``one``
item on the first page only, wherever it sorts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, TypeVar

import pytest

from dynamorm_gen.runtime import InvalidCursor
from dynamorm_gen.runtime.table import Connection
from tests.golden.cases.library_loans.expected.library import (
    Book,
    Library,
    LibraryTable,
    Loan,
    Member,
)
from tests.tenancy import Sent, sent

__all__ = ["sent"]  # the fixture, for the tests below

pytestmark = pytest.mark.integration

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
LOANS = 23


@pytest.fixture
def library(engine: str) -> Iterator[LibraryTable]:
    table = LibraryTable(Connection(region="us-east-1"), name="library")
    table.handle.create(ttl=False)
    table.put_library(Library(library_id="L1", name="Central", city="Leeds"))
    for member_id in ("m1", "m2"):
        table.put_member(
            Member(
                library_id="L1",
                member_id=member_id,
                name=member_id,
                joined_on=date(2024, 1, 1),
            )
        )
    for n in range(LOANS):
        for member_id in ("m1", "m2"):
            table.put_loan(
                Loan(
                    library_id="L1",
                    member_id=member_id,
                    isbn=f"978-{n:02d}",
                    loaned_at=START + timedelta(hours=n),
                    due=date(2024, 4, 1),
                )
            )
    for n in range(5):
        table.put_book(Book(library_id="L1", isbn=f"978-{n:02d}", title=f"T{n}"))
    yield table


class Paged(Protocol):
    @property
    def cursor(self) -> str | None: ...


P = TypeVar("P", bound=Paged)


def _pages(read: Callable[[str | None], P]) -> list[P]:
    """Every page of a grouped collection: ``read(cursor)``, until no cursor is left."""
    pages = [read(None)]
    while pages[-1].cursor is not None:
        pages.append(read(pages[-1].cursor))
    return pages


def _times(loans: list[Loan]) -> list[int]:
    return [int((loan.loaned_at - START).total_seconds() // 3600) for loan in loans]


def test_a_member_with_their_newest_loans_page_after_page(
    library: LibraryTable, sent: Sent
) -> None:
    before = len(sent)
    first = library.query_member_loans(library_id="L1", member_id="m1")
    # The member sorts first in this order: one request reads it and the 10 newest loans.
    assert len(sent) - before == 1
    assert first.member is not None and first.member.member_id == "m1"
    assert _times(first.loans) == list(range(LOANS - 1, LOANS - 11, -1))
    assert {loan.member_id for loan in first.loans} == {"m1"}
    assert first.cursor is not None
    second = library.query_member_loans(
        library_id="L1", member_id="m1", cursor=first.cursor
    )
    assert second.member is None
    assert _times(second.loans) == list(range(LOANS - 11, LOANS - 21, -1))
    third = library.query_member_loans(
        library_id="L1", member_id="m1", cursor=second.cursor
    )
    assert _times(third.loans) == [2, 1, 0] and third.cursor is None
    with pytest.raises(InvalidCursor):
        library.query_member_loans(library_id="L1", member_id="m2", cursor=first.cursor)


def test_a_parent_that_sorts_after_its_children_still_comes_first(
    library: LibraryTable,
) -> None:
    since = START + timedelta(hours=5)
    pages = _pages(
        lambda cursor: library.query_member_loans_since(
            library_id="L1", member_id="m2", loaned_at=since, limit=4, cursor=cursor
        )
    )
    assert pages[0].member is not None and pages[0].member.member_id == "m2"
    assert all(page.member is None for page in pages[1:])
    loans = [loan for page in pages for loan in page.loans]
    assert _times(loans) == list(range(5, LOANS))  # the loan at `since` included
    assert [len(page.loans) for page in pages[:-1]] == [4] * (len(pages) - 1)
    items = list(
        library.iter_member_loans_since(
            library_id="L1", member_id="m2", loaned_at=since, page_size=3
        )
    )
    assert isinstance(items[0], Member)
    assert sum(isinstance(item, Member) for item in items) == 1
    assert len(items) == 1 + LOANS - 5


def test_a_member_without_loans_and_a_missing_member(library: LibraryTable) -> None:
    library.put_member(
        Member(library_id="L1", member_id="m3", name="m3", joined_on=date(2024, 2, 1))
    )
    alone = library.query_member_loans(library_id="L1", member_id="m3")
    assert alone.member is not None and alone.loans == [] and alone.cursor is None
    since = library.query_member_loans_since(
        library_id="L1", member_id="m3", loaned_at=START
    )
    assert since.member is not None and since.loans == []
    nobody = library.query_member_loans(library_id="L1", member_id="m9")
    assert nobody.member is None and nobody.loans == [] and nobody.cursor is None


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_pages_of_several_entities_skip_the_items_of_others(
    library: LibraryTable, limit: int
) -> None:
    """The branch's partition holds its profile, books, members and loans; the collection
    reads all but the loans, which DynamoDB's Limit still counts."""
    pages = _pages(
        lambda cursor: library.query_branch(library_id="L1", limit=limit, cursor=cursor)
    )
    assert pages[0].library is not None and pages[0].library.name == "Central"
    assert all(page.library is None for page in pages[1:])
    books = [b.isbn for page in pages for b in page.books]
    members = [m.member_id for page in pages for m in page.members]
    assert books == [f"978-{n:02d}" for n in range(5)] and members == ["m1", "m2"]
    sizes = [len(page.books) + len(page.members) for page in pages]
    assert all(size == limit for size in sizes[:-1]) and 0 <= sizes[-1] <= limit
    assert sum(sizes) == 7


def test_a_flat_collection_in_descending_order(library: LibraryTable) -> None:
    items = list(library.iter_branch_items(library_id="L1", page_size=4))
    keys = [item.key()["SK"]["S"] for item in items]
    assert keys == sorted(keys, reverse=True)
    assert len(items) == 7
