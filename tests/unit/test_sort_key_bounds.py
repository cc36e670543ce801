"""Sort key conditions that stop before the end of the stored keys: what the compiler makes
of them (model.part_prefix, facts.Query) and, on moto in-process, that every comparison
finds exactly the items whose compared part is on its side, for bounds drawn at random.

The same comparisons run on moto's server and dynalite in
tests/integration/test_sort_key_bounds.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dynamorm_gen.compiler import facts, model
from tests.golden.cases.library_loans.expected.library import LibraryTable, Loan

ROOT = Path(__file__).resolve().parents[2]
T = model.parse_template


@pytest.mark.parametrize(
    ("condition", "stored", "at_bound"),
    [
        ("DUE#{due}", "DUE#{due}#{member_id}#{isbn}", "DUE#{due}#"),
        ("DUE#{due}#", "DUE#{due}#{member_id}", "DUE#{due}#"),
        (
            "DUE#{due}#{member_id}",
            "DUE#{due}#{member_id}#{isbn}",
            "DUE#{due}#{member_id}#",
        ),
        ("DUE", "DUE#{due}", "DUE#"),
        ("A#{a}", "A#{a}#X#{b}", "A#{a}#X#"),
        ("A#{a}", "A#{a}#XY{b}", "A#{a}#"),
        ("A#{a}#X", "A#{a}#XY#{b}", "A#{a}#XY#"),
        ("A|{a}", "A|{a}|{b}", "A|{a}|"),
        ("A#{a}", "A#{a}", None),
        ("PROFILE", "PROFILE", None),
        ("{n:6}", "{n:6}#{m}", "{n:6}#"),
    ],
)
def test_where_a_condition_stops_in_the_stored_template(
    condition: str, stored: str, at_bound: str | None
) -> None:
    found = model.part_prefix(T(condition), T(stored))
    assert (found.text if found else None) == at_bound


@pytest.mark.parametrize(
    ("condition", "stored", "trouble"),
    [
        ("DUE#{member_id}", "DUE#{due}#{member_id}", "has '{member_id}' where"),
        ("DUE-{due}", "DUE#{due}#{member_id}", "has 'DUE-' where"),
        ("{n:4}", "{n:6}#{m}", "has '{n:4}' where"),
        ("A#{a}#{b}#{c}", "A#{a}#{b}", "goes past the end"),
        ("A#{a}", "A#{a}{b}", "stops after '{a}'"),
        ("A#{a}", "A#{a}X{b}", "stops after '{a}'"),
        ("A#{a}#X", "A#{a}#XY{b}", "stops after '#X'"),
        ("A#{a}#Z", "A#{a}#XY{b}", "has '#Z' where"),
    ],
)
def test_a_condition_that_is_not_a_leading_part_of_the_stored_keys_is_refused(
    condition: str, stored: str, trouble: str
) -> None:
    with pytest.raises(
        ValueError, match=trouble.replace("{", r"\{").replace("|", r"\|")
    ):
        model.part_prefix(T(condition), T(stored))


def test_the_text_after_a_prefix_replaces_its_last_character_with_the_next_one() -> (
    None
):
    assert model.after_prefix(T("DUE#{due}#")).text == "DUE#{due}$"
    assert model.after_prefix(T("A|{a}|")).text == "A|{a}}}"  # '}' doubled in the text
    assert model.after_prefix(T("A\ud7ff")).segments == ("A\ue000",)


LIBRARY = ROOT / "tests/golden/cases/library_loans/schemas/library.yaml"


def _query(pattern: str) -> facts.Query:
    data = yaml.safe_load(LIBRARY.read_text())
    module = model.build_module(LIBRARY.name, "0" * 64, "library", data)
    loan = next(e for e in module.entities if e.name == "Loan")
    found = next(p for p in loan.access_patterns if p.name == pattern)
    return facts.entity_query(module.tables[0], loan, found)


@pytest.mark.parametrize(
    ("pattern", "condition", "sent"),
    [
        ("due_on", "begins_with(#sk, :sk)", [(":sk", "DUE#{due}#")]),
        ("due_before", "#sk < :sk", [(":sk", "DUE#{due}#")]),
        ("due_by", "#sk < :sk", [(":sk", "DUE#{due}$")]),
        ("due_after", "#sk >= :sk", [(":sk", "DUE#{due}$")]),
        ("due_from", "#sk >= :sk", [(":sk", "DUE#{due}#")]),
        (
            "due_between",
            "#sk BETWEEN :sk0 AND :sk1",
            [(":sk0", "DUE#{due}#"), (":sk1", "DUE#{due}$")],
        ),
    ],
)
def test_what_each_comparison_sends(
    pattern: str, condition: str, sent: list[tuple[str, str]]
) -> None:
    query = _query(pattern)
    assert query.key_condition() == "#pk = :pk AND " + condition
    assert [(p, t.text) for p, t, _ in query.sort_values()] == sent
    assert "DUE#{due}#" in query.bound_note()


def test_begins_with_compares_text_as_written() -> None:
    query = _query("of_member")
    assert query.at_bound is None and query.bound_note() == ""
    assert query.key_condition() == "#pk = :pk AND begins_with(#sk, :sk)"


# --- on moto in-process: bounds drawn at random ---------------------------------------------

FIRST = date(2024, 2, 27)
DAYS = [FIRST + timedelta(days=n) for n in range(8)]  # across the end of February
MEMBERS = ["!", "$", "m", "\U0010ffff"]
OPS: dict[str, Callable[[date, date, date], bool]] = {
    "on": lambda due, low, _: due == low,
    "before": lambda due, low, _: due < low,
    "by": lambda due, low, _: due <= low,
    "after": lambda due, low, _: due > low,
    "from": lambda due, low, _: due >= low,
    "between": lambda due, low, high: low <= due <= high,
}


@pytest.fixture
def loans(library: LibraryTable) -> LibraryTable:
    for day in DAYS:
        for member in MEMBERS:
            library.put_loan(Loan(library_id="L1", member_id=member, isbn="1", due=day))
    return library


def _found(table: LibraryTable, op: str, low: date, high: date) -> list[Loan]:
    if op == "between":
        return list(
            table.iter_loan_due_between(library_id="L1", due_from=low, due_to=high)
        )
    method = getattr(table, f"iter_loan_due_{op}")
    return list(method(library_id="L1", due=low))


def test_every_comparison_finds_exactly_the_days_on_its_side(
    loans: LibraryTable,
) -> None:
    days = st.sampled_from(
        [FIRST - timedelta(days=1), *DAYS, DAYS[-1] + timedelta(days=1)]
    )

    @settings(max_examples=60, deadline=None)
    @given(op=st.sampled_from(sorted(OPS)), low=days, high=days)
    def check(op: str, low: date, high: date) -> None:
        # DynamoDB refuses a range whose ends are the wrong way round.
        assume(op != "between" or low <= high)
        found = sorted(
            (loan.due, loan.member_id) for loan in _found(loans, op, low, high)
        )
        wanted = sorted((d, m) for d in DAYS for m in MEMBERS if OPS[op](d, low, high))
        assert found == wanted

    check()
