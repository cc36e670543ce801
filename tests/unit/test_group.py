"""Grouped collections (dynamorm_gen.runtime.group) on moto in-process: for data and page
sizes drawn at random, the pages hold exactly ``limit`` items of the ``many`` entities each
(the last fewer), in key order, every one once, and the ``one`` item on the first page only;
a deadline restarts the page. The same collections run on moto's server and dynalite in
tests/integration/test_collections.py.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm_gen.compiler import facts, model
from dynamorm_gen.runtime import DeadlineExceeded, ValidationFailed
from dynamorm_gen.runtime.deadline import Deadline, bind
from tests.clock import step_clock
from tests.golden.cases.library_loans.expected.library import (
    Book,
    Library,
    LibraryTable,
    Loan,
    Member,
)

START = datetime(2024, 3, 1, tzinfo=UTC)
_branches = itertools.count()


def _seed(library: LibraryTable, branch: str, books: int, loans: int) -> None:
    library.put_library(Library(library_id=branch, name="B", city="C"))
    library.put_member(
        Member(library_id=branch, member_id="m", name="M", joined_on=date(2024, 1, 1))
    )
    for n in range(books):
        library.put_book(Book(library_id=branch, isbn=f"{n:03d}", title="T"))
    for n in range(loans):
        library.put_loan(
            Loan(
                library_id=branch,
                member_id="m",
                isbn=f"{n:03d}",
                loaned_at=START + timedelta(minutes=n),
                due=date(2024, 4, 1),
            )
        )


def test_pages_hold_exactly_limit_items_for_any_data(library: LibraryTable) -> None:
    @settings(max_examples=25, deadline=None)
    @given(
        books=st.integers(0, 9),
        loans=st.integers(0, 9),
        limit=st.integers(1, 6),
        since=st.integers(0, 10),
    )
    def check(books: int, loans: int, limit: int, since: int) -> None:
        branch = f"B{next(_branches)}"
        _seed(library, branch, books, loans)
        # The branch: its books and member between its loans ("BOOK" < "LOAN" <
        # "MEMBER" < "PROFILE"), the profile last.
        pages, cursor = [], None
        while True:
            page = library.query_branch(library_id=branch, limit=limit, cursor=cursor)
            pages.append(page)
            cursor = page.cursor
            if cursor is None:
                break
        assert pages[0].library is not None
        assert all(p.library is None for p in pages[1:])
        assert [b.isbn for p in pages for b in p.books] == [
            f"{n:03d}" for n in range(books)
        ]
        assert [m.member_id for p in pages for m in p.members] == ["m"]
        sizes = [len(p.books) + len(p.members) for p in pages]
        assert all(size == limit for size in sizes[:-1]) and sizes[-1] <= limit
        # The member's loans from a time on, oldest first; the member sorts after them.
        found = list(
            library.iter_member_loans_since(
                library_id=branch,
                member_id="m",
                loaned_at=START + timedelta(minutes=since),
                page_size=limit,
            )
        )
        assert isinstance(found[0], Member)
        assert [x.isbn for x in found[1:] if isinstance(x, Loan)] == [
            f"{n:03d}" for n in range(since, loans)
        ]
        assert len(found) == 1 + max(0, loans - since)

    check()


def test_a_page_size_below_one_is_refused(library: LibraryTable) -> None:
    with pytest.raises(ValidationFailed, match="limit must be at least 1"):
        library.query_member_loans(library_id="L1", member_id="m", limit=0)


def test_a_deadline_during_a_page_gives_the_cursor_of_that_page(
    library: LibraryTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first page of the branch reads past its loans, which it does not return, request
    after request; when the deadline falls in between, its cursor is the page's start (None),
    and the page is read again from there."""
    _seed(library, "B", books=0, loans=8)
    with step_clock(monkeypatch) as clock:
        clock.requests.clear()
        with bind(Deadline(clock.now + 2.5)), pytest.raises(DeadlineExceeded) as info:
            library.query_branch(library_id="B", limit=1)
        assert clock.requests[:2] == ["Query", "Query"]
    assert info.value.cursor is None
    page = library.query_branch(library_id="B", limit=1, cursor=info.value.cursor)
    assert [m.member_id for m in page.members] == ["m"] and page.library is not None


def test_a_cursor_continues_after_the_keys_of_the_table_and_of_the_index() -> None:
    root = Path(__file__).resolve().parents[2]
    path = root / "tests/golden/cases/numeric_keys/schemas/ledger.yaml"
    module = model.build_module(
        path.name, "0" * 64, "ledger", yaml.safe_load(path.read_text())
    )
    table, entry = module.tables[0], module.entities[0]
    by_index = {k.index: k for k in entry.index_keys}
    assert facts.cursor_key_names(table, entry.key) == ["account", "seq"]
    # A local index repeats the table's partition key.
    assert facts.cursor_key_names(table, by_index["by_day"]) == [
        "account",
        "seq",
        "day_key",
    ]
    assert facts.cursor_key_names(table, by_index["open_items"]) == [
        "account",
        "seq",
        "open_pk",
        "open_sk",
    ]
