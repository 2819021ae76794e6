"""Cursor pages as DRF's CursorPagination makes them, on rows held in memory."""

import base64

import pytest

from sandbox.pagination import (
    Cursor,
    InvalidCursor,
    OrderedRows,
    cursor_page,
    decode_cursor,
    encode_cursor,
)


def rows_with_keys(keys):
    rows = [(n, key) for n, key in enumerate(keys)]
    return OrderedRows(rows, keys, lambda row: str(row[1]), int)


def walk(ordered, size):
    seen, cursor = [], None
    while True:
        page = cursor_page(ordered, cursor, size)
        seen += page.rows
        if page.next is None:
            return seen
        cursor = page.next


def test_a_cursor_is_base64_of_offset_reverse_and_position():
    """DRF pagination.py CursorPagination.encode_cursor."""
    text = encode_cursor(Cursor(offset=2, reverse=True, position="17"))

    assert base64.b64decode(text).decode() == "o=2&r=1&p=17"
    assert decode_cursor(text) == Cursor(2, True, "17")


@pytest.mark.parametrize("text", ["not-a-cursor", base64.b64encode(b"o=-1").decode(), "é"])
def test_a_cursor_that_does_not_decode_is_invalid(text):
    with pytest.raises(InvalidCursor):
        decode_cursor(text)


def test_the_offset_is_capped_at_1000():
    """CursorPagination.offset_cutoff."""
    assert decode_cursor(base64.b64encode(b"o=5000").decode()).offset == 1000


def test_unique_positions_page_through_every_row_once():
    ordered = rows_with_keys(list(range(10)))

    assert walk(ordered, 3) == ordered.rows


def test_runs_of_equal_positions_are_stepped_over_with_an_offset():
    """CursorPagination.get_next_link: no item of the page with its own position."""
    ordered = rows_with_keys([1, 1, 1, 1, 1, 2, 2, 3])

    assert walk(ordered, 2) == ordered.rows


def test_previous_of_the_second_page_is_the_first():
    ordered = rows_with_keys(list(range(10)))
    second = cursor_page(ordered, cursor_page(ordered, None, 4).next, 4)

    back = cursor_page(ordered, second.previous, 4)

    assert back.rows == ordered.rows[:4]
    assert back.previous is None


def test_a_position_of_the_wrong_type_is_a_value_error():
    with pytest.raises(ValueError):
        cursor_page(rows_with_keys([1, 2]), Cursor(position="x"), 1)
