"""Grouped collections: the items of several entities in one partition, read page by page.

A grouped collection (``one``/``many`` in the schema) returns, on each page, up to ``limit``
items of its ``many`` entities, in key order, and on the first page the partition's ``one``
item (its parent, such as a member with their loans). Two things make this more than a
query with a ``Limit``:

- DynamoDB's ``Limit`` counts the items a request reads, before the filter that keeps the
  collection's entities, and the ``one`` item counts too. So a page is read with as many
  requests as it takes to find ``limit`` items; when a response holds more, the page ends at
  the last one kept, and its cursor is made from that item's key (the table's and the
  index's key attributes, which is what ``ExclusiveStartKey`` takes), so that the next page
  starts right after it.
- The ``one`` item may sort anywhere among the others, or outside the range of a sort key
  condition. The first page returns it wherever it was read; when the first page did not
  read it (the key design puts it after the page, or the condition leaves it out), it is read
  by its own key, one more request. Later pages never return it, so it comes exactly once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dynamorm_gen.runtime.errors import DeadlineExceeded, ValidationFailed
from dynamorm_gen.runtime.table import TableHandle
from dynamorm_gen.runtime.types import Item


class GroupRead(NamedTuple):
    """One page of a grouped collection: the ``one`` item (first page only, when there is
    one), the ``many`` items in key order, and the cursor of the next page."""

    one: Item | None
    items: list[Item]
    cursor: str | None


def read_page(
    handle: TableHandle,
    request: dict[str, Any],
    *,
    pattern: str,
    type_attribute: str,
    key_names: tuple[str, ...],
    one_tag: str | None = None,
    one_request: dict[str, Any] | None = None,
    whole_partition: bool = True,
    limit: int | None = None,
    cursor: str | None = None,
) -> GroupRead:
    """One page of the collection ``request`` reads (a Query whose filter keeps the
    collection's entities): up to ``limit`` items that are not the ``one`` (tagged
    ``one_tag`` in ``type_attribute``), or one response's worth without a limit.

    ``one_request`` reads the ``one`` item by its key when the first page did not; it is not
    sent when the page read the whole partition (``whole_partition``: no sort key condition,
    and no more pages), which would have held it. ``key_names`` are the key attributes of
    the table and of the index read, the key a cursor continues after.
    """
    if limit is not None and limit < 1:
        raise ValidationFailed(
            "limit must be at least 1", operation="Query", entity=pattern
        )
    first = cursor is None
    one: Item | None = None
    items: list[Item] = []
    start = cursor
    try:
        while True:
            wanted = None
            if limit is not None:
                wanted = limit - len(items) + (1 if first and one is None else 0)
            read, next_cursor = handle.query(
                dict(request),
                entity=pattern,
                pattern=pattern,
                limit=wanted,
                cursor=start,
            )
            past_the_page = False
            for item in read:
                if one_tag is not None and item[type_attribute]["S"] == one_tag:
                    if first and one is None:
                        one = item  # later pages read it again: it was returned once
                elif limit is not None and len(items) == limit:
                    past_the_page = True  # read again by the next page
                else:
                    items.append(item)
            if past_the_page:
                next_cursor = handle.cursor_after(
                    request, items[-1], key_names, pattern
                )
            if past_the_page or next_cursor is None or limit is None:
                break
            if len(items) == limit:
                break
            start = next_cursor
        read_all = whole_partition and next_cursor is None
        if first and one is None and one_request is not None and not read_all:
            found, _ = handle.query(
                dict(one_request), entity=pattern, pattern=pattern + ".one"
            )
            one = found[0] if found else None
    except DeadlineExceeded as exc:
        exc.cursor = cursor  # nothing was returned: the same page again
        raise
    return GroupRead(one, items, next_cursor)
