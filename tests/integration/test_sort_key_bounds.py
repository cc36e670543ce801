"""Comparisons on a sort key template that stops before the end of the stored keys, on every
engine (moto's server and dynalite) and both transports.

The library's loans are in GSI2 under ``DUE#{due}#{member_id}#{isbn}``; the access patterns
compare ``DUE#{due}`` only. Each day below holds loans whose keys sort at the very start and
the very end of that day's keys (member ids and ISBNs with characters just above and below
the separator ``#`` and its successor ``$``, and the greatest code point), so a bound sent as
the bare ``DUE#<day>`` (which sorts before all of that day's keys) or as ``DUE#<day>#`` with
``<=`` would lose some of them; the days around the bounds must stay out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from dynamorm_gen.runtime.table import Connection
from tests.golden.cases.library_loans.expected.library import LibraryTable, Loan

pytestmark = pytest.mark.integration

DAYS = [date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 5), date(2024, 3, 10)]
DAYS += [date(2024, 3, 11)]
# Members and ISBNs hold no '#' (the separator) but sort on both sides of it and of '$'.
MEMBERS = ["!", "$", "m1", "~", "\u00e9", "\U0001f600", "\U0010ffff"]
ISBNS = ["0", "\U0010ffff\U0010ffff"]


@pytest.fixture
def library(engine: str) -> Iterator[LibraryTable]:
    table = LibraryTable(Connection(region="us-east-1"), name="library")
    table.handle.create(ttl=False)
    for day in DAYS:
        for member in MEMBERS:
            for isbn in ISBNS:
                table.put_loan(
                    Loan(library_id="L1", member_id=member, isbn=isbn, due=day)
                )
    yield table


def _days(loans: Iterator[Loan] | list[Loan]) -> list[date]:
    return sorted(loan.due for loan in loans)


def _expected(*days: date) -> list[date]:
    return sorted(d for d in days for _ in MEMBERS for _ in ISBNS)


def test_each_comparison_keeps_or_leaves_out_every_item_at_its_day(
    library: LibraryTable,
) -> None:
    first, low, middle, high, after = DAYS
    on = library.iter_loan_due_on(library_id="L1", due=high)
    assert _days(on) == _expected(high)
    before = library.iter_loan_due_before(library_id="L1", due=high)
    assert _days(before) == _expected(first, low, middle)
    by = library.iter_loan_due_by(library_id="L1", due=high)
    assert _days(by) == _expected(first, low, middle, high)
    later = library.iter_loan_due_after(library_id="L1", due=high)
    assert _days(later) == _expected(after)
    since = library.iter_loan_due_from(library_id="L1", due=high)
    assert _days(since) == _expected(high, after)
    between = library.iter_loan_due_between(library_id="L1", due_from=low, due_to=high)
    assert _days(between) == _expected(low, middle, high)
    assert library.count_loan_due_between(
        library_id="L1", due_from=low, due_to=high
    ) == len(_expected(low, middle, high))
    assert library.count_loan_due_on(library_id="L1", due=low) == len(_expected(low))


def test_a_range_of_one_day_and_an_empty_range(library: LibraryTable) -> None:
    middle = DAYS[2]
    one = library.iter_loan_due_between(library_id="L1", due_from=middle, due_to=middle)
    assert _days(one) == _expected(middle)
    gap = library.iter_loan_due_between(
        library_id="L1", due_from=date(2024, 3, 2), due_to=date(2024, 3, 4)
    )
    assert list(gap) == []
    assert list(library.iter_loan_due_on(library_id="L1", due=date(2024, 3, 2))) == []


def test_the_bare_prefix_as_an_upper_bound_misses_the_day_it_names(
    library: LibraryTable,
) -> None:
    """What the access pattern used to send: BETWEEN 'DUE#<from>' AND 'DUE#<to>'. Every key
    of the day 'to' sorts after 'DUE#<to>', so the engine leaves them all out: the reason
    the generated query sends the text after them instead."""
    _, low, middle, high, _ = DAYS
    items, _ = library.handle.query(
        {
            "IndexName": "GSI2",
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :sk0 AND :sk1",
            "ExpressionAttributeNames": {"#pk": "GSI2PK", "#sk": "GSI2SK"},
            "ExpressionAttributeValues": {
                ":pk": {"S": "LIBRARY#L1#DUE"},
                ":sk0": {"S": f"DUE#{low.isoformat()}"},
                ":sk1": {"S": f"DUE#{high.isoformat()}"},
            },
        },
        entity="Loan",
        pattern="test",
    )
    assert _days(Loan.from_item(item) for item in items) == _expected(low, middle)
