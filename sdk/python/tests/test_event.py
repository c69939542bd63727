"""The request path's records and the rows the sender writes for them."""

from __future__ import annotations

import json
import math
import uuid

import pytest

from whowhywhen_sdk._event import (
    MAX_ROW_BYTES,
    MAX_UA,
    MAX_URL,
    ROW_COLUMNS,
    Record,
    check_row,
    encode_rows,
    event_ids,
    rows_of,
)

FULL: Record = (
    'https://api.test/users/7?q=caf\u00e9&x="1"',
    "POST",
    201,
    1_234_568,
    1_764_899_329_478_540_200,
    'Mozilla/5.0 "quoted" \\ back\tslash \u2603 \U0001f600',
    "2001:db8::1",
    "/users/{id}",
    0,
    123456789012,
    "ValueError",
    "acme-42",
    "Acme \u00c9ditions\n",
)
BARE: Record = ("http://x/", "GET", 200, 0, 0, *(None,) * 8)
ODD: Record = (
    "http://x/\x00\x1f\x7f",
    "GET",
    599,
    100,
    10**19,
    "\ud800 lone surrogate",
    None,
    None,
    None,
    5,
    None,
    "c",
    None,
)


def test_a_row_is_an_id_and_a_record() -> None:
    """The layout itself is checked against the real collector by the integration tests."""
    assert ROW_COLUMNS[0] == "id"
    assert len(ROW_COLUMNS) == len(FULL) + 1


@pytest.mark.parametrize("record", [FULL, BARE, ODD], ids=["full", "bare", "odd"])
def test_rows_are_the_records_with_an_id_in_front(record: Record) -> None:
    """Every value as json.dumps writes it, integers exact (nanoseconds stay integers)."""
    rows = rows_of([record, record])
    decoded = json.loads(encode_rows(rows))
    assert [row[1:] for row in decoded] == [list(record)] * 2
    assert decoded[0][0] != decoded[1][0]
    assert encode_rows(rows) == json.dumps(rows, separators=(",", ":")).encode()
    assert check_row(rows[0]) == json.dumps(rows[0], separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("position", "value"),
    [
        (3, math.nan),
        (3, 0.5),
        (3, -1),
        (4, "now"),
        (3, True),
        (2, True),
        (2, "200"),
        (8, 1.5j),
        (0, None),
        (4, None),
    ],
)
def test_values_the_collector_cannot_read_are_refused(position: int, value: object) -> None:
    record: list[object] = list(FULL)
    record[position] = value
    (row,) = rows_of([tuple(record)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"^\w+ is (a|out of range)"):
        check_row(row)


def test_a_value_json_cannot_carry_fails_the_batch_encoding() -> None:
    """The fast path raises, so the sender knows to check row by row."""
    for value in (math.nan, 1.5j, object()):
        record = (*FULL[:8], value, *FULL[9:])
        with pytest.raises((TypeError, ValueError)):
            encode_rows(rows_of([FULL, record]))  # type: ignore[list-item]


def test_the_largest_row_fits_the_bound() -> None:
    escaped = "\x01"  # written as \u0001: six bytes a character
    record = (
        escaped * MAX_URL,
        "OPTIONS",
        599,
        10**18,
        10**19,
        escaped * MAX_UA,
        escaped * 256,
        escaped * 2048,
        2**53,
        2**53,
        escaped * 256,
        escaped * 256,
        escaped * 256,
    )
    assert len(encode_rows(rows_of([record]))) - 2 <= MAX_ROW_BYTES


def test_event_ids_are_distinct_version_4_uuids() -> None:
    seen: set[str] = set()
    for _ in range(50):
        batch = list(event_ids(500))
        assert len(set(batch)) == 500
        for text in batch[:3] + batch[-3:]:
            parsed = uuid.UUID(text)
            assert parsed.version == 4
            assert str(parsed) == text
        seen.update(batch)
    assert len(seen) == 50 * 500
