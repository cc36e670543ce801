"""Defaults of list, map and set attributes (tests/golden/cases/library_loans: Book has
``authors: []``, ``subjects: [fiction]``, ``editions: {first: 1}`` and a free-form ``notes:
{}``): every object gets containers of its own, and a stored item read back is the object
written."""

from __future__ import annotations

from tests.golden.cases.library_loans.expected.library import Book, LibraryTable


def _book(isbn: str = "1") -> Book:
    return Book(library_id="L1", isbn=isbn, title="T")


def test_defaults_fill_in_what_is_not_given() -> None:
    book = _book()
    assert book.authors == [] and book.subjects == {"fiction"}
    assert book.editions == {"first": 1} and book.notes == {}
    given = Book(library_id="L1", isbn="2", title="T", authors=["A"], subjects=set())
    assert given.authors == ["A"] and given.subjects == set()


def test_no_two_objects_share_a_default_container() -> None:
    first, second = _book("1"), _book("2")
    first.authors.append("Austen")
    first.subjects.add("poetry")
    first.editions["second"] = 2
    first.notes["shelf"] = "A1"
    assert second.authors == [] and second.subjects == {"fiction"}
    assert second.editions == {"first": 1} and second.notes == {}
    assert _book("3").authors == []


def test_an_item_without_the_attribute_reads_the_default_but_a_set_reads_empty() -> (
    None
):
    """A list or map is always stored (an empty one too), so an item without it was written
    before it existed: it reads as the default. DynamoDB stores no empty set, so an item
    without a set holds an empty one, whatever the default."""
    item = _book().to_item()
    assert item["authors"] == {"L": []} and item["notes"] == {"M": {}}
    for name in ("authors", "subjects", "editions", "notes"):
        del item[name]
    first, second = Book.from_item(item), Book.from_item(item)
    assert first.authors == [] and first.editions == {"first": 1} and first.notes == {}
    assert first.subjects == set()
    first.editions["x"] = 2
    assert second.editions == {"first": 1}


def test_defaults_round_trip_through_dynamodb(library: LibraryTable) -> None:
    book = _book()
    library.put_book(book)
    assert library.get_book(library_id="L1", isbn="1") == book
    emptied = Book(library_id="L1", isbn="2", title="T", subjects=set())
    library.put_book(emptied)
    stored = library.get_book(library_id="L1", isbn="2")
    assert stored is not None and stored.subjects == set()
