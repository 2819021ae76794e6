"""Cursor pages with the semantics of DRF's CursorPagination, which edX's listings use.

A cursor is base64 of `o=<offset>&r=<reverse>&p=<position>`: the position is the ordering
field of the last item seen, so an item added meanwhile neither repeats nor skips a row,
and the offset steps over items sharing one position. The rows are held sorted by a
numeric key (ascending in list order), so finding a position is a bisection.
"""

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from yarl import URL

OFFSET_CUTOFF = 1000  # CursorPagination.offset_cutoff


class InvalidCursor(ValueError):
    """A cursor that does not decode: DRF answers 404 "Invalid cursor"."""


@dataclass(frozen=True)
class Cursor:
    offset: int = 0
    reverse: bool = False
    position: str | None = None


@dataclass(frozen=True)
class OrderedRows:
    """Rows in the listing's order, with each row's key (ascending) and position text."""

    rows: Sequence
    keys: Sequence[float]
    position_of: Callable[[object], str]
    key_of: Callable[[str], float]  # raises ValueError for a position of the wrong type


@dataclass(frozen=True)
class Page:
    rows: list
    next: Cursor | None
    previous: Cursor | None


def decode_cursor(text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        tokens = parse_qs(
            base64.b64decode(text.encode("ascii")).decode("ascii"), keep_blank_values=True
        )
        offset = int(tokens.get("o", ["0"])[0])
        if offset < 0:
            raise ValueError(offset)
        reverse = bool(int(tokens.get("r", ["0"])[0]))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidCursor(text) from None
    return Cursor(min(offset, OFFSET_CUTOFF), reverse, tokens.get("p", [None])[0])


def encode_cursor(cursor: Cursor) -> str:
    tokens = {}
    if cursor.offset:
        tokens["o"] = str(cursor.offset)
    if cursor.reverse:
        tokens["r"] = "1"
    if cursor.position is not None:
        tokens["p"] = cursor.position
    return base64.b64encode(urlencode(tokens).encode("ascii")).decode("ascii")


def link(url: URL, cursor: Cursor | None) -> str | None:
    """The page's URL with its cursor replaced, query sorted (DRF's replace_query_param)."""
    if cursor is None:
        return None
    query = dict(url.query)
    query["cursor"] = encode_cursor(cursor)
    return str(url.with_query(sorted(query.items())))


def cursor_page(ordered: OrderedRows, cursor: Cursor | None, size: int) -> Page:
    """One page after (or, reversed, before) the cursor's position, and the cursors of the
    pages around it; raises ValueError for a position that is not of the ordering's type."""
    cursor = cursor or Cursor()
    rows, keys = ordered.rows, ordered.keys
    known = cursor.position is not None
    stop = cursor.offset + size + 1
    if cursor.reverse:
        end = bisect_left(keys, ordered.key_of(cursor.position)) if known else len(rows)
        found = rows[max(end - stop, 0) : max(end - cursor.offset, 0)][::-1]
    else:
        start = bisect_right(keys, ordered.key_of(cursor.position)) if known else 0
        found = list(rows[start + cursor.offset : start + stop]) if stop >= 0 else []
    page = found[:size] if size > 0 else []
    following = ordered.position_of(found[-1]) if len(found) > len(page) else None
    if cursor.reverse:
        page.reverse()
        has_next, has_previous = known or cursor.offset > 0, following is not None
        next_position, previous_position = cursor.position, following
    else:
        has_next, has_previous = following is not None, known or cursor.offset > 0
        next_position, previous_position = following, cursor.position
    return Page(
        page,
        _next(
            ordered, cursor, page, size, has_next, has_previous, next_position, previous_position
        ),
        _previous(
            ordered, cursor, page, size, has_next, has_previous, next_position, previous_position
        ),
    )


def _next(ordered, cursor, page, size, has_next, has_previous, next_position, previous_position):
    """CursorPagination.get_next_link: step past the last page item with its own position."""
    if not has_next:
        return None
    if page and cursor.reverse and cursor.offset:
        compare = ordered.position_of(page[-1])
    else:
        compare = next_position
    offset, position = 0, None
    for item in reversed(page):
        position = ordered.position_of(item)
        if position != compare:
            break
        compare = position
        offset += 1
    else:
        if page:  # every item shares one position: keep counting from the previous one
            if not has_previous:
                offset, position = size, None
            elif cursor.reverse:
                offset, position = 0, previous_position
            else:
                offset, position = cursor.offset + size, previous_position
    if not page:
        position = next_position
    return Cursor(offset, False, position)


def _previous(
    ordered, cursor, page, size, has_next, has_previous, next_position, previous_position
):
    """CursorPagination.get_previous_link: the mirror image of `_next`."""
    if not has_previous:
        return None
    if page and not cursor.reverse and cursor.offset:
        compare = ordered.position_of(page[0])
    else:
        compare = previous_position
    offset, position = 0, None
    for item in page:
        position = ordered.position_of(item)
        if position != compare:
            break
        compare = position
        offset += 1
    else:
        if page:
            if not has_next:
                offset, position = size, None
            elif cursor.reverse:
                offset, position = cursor.offset + size, next_position
            else:
                offset, position = 0, next_position
    if not page:
        position = previous_position
    return Cursor(offset, True, position)
