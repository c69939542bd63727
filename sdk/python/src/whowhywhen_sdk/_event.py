"""One captured request, as the request path stores it and as the sender writes it.

The request path only builds a plain tuple (a :data:`Record`) and appends it to the buffer:
no dictionary, no id, no date formatting, no float. The sender thread writes a whole batch as
rows (the collector's ``columns`` + ``rows`` form) with one call of the standard library's C
JSON encoder, so the host's CPU pays for almost no per-event Python.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from typing import Any

#: ``(url, method, status_code, duration_ns, timestamp_ns, user_agent, ip_address, route,
#: request_size, response_size, exception, consumer, consumer_name)``: the duration and the
#: start time (Unix epoch) in integer nanoseconds, the rest ``None`` when unknown. Text values
#: are already cut to the limits below.
Record = tuple[
    str,
    str,
    int,
    int,
    int,
    "str | None",
    "str | None",
    "str | None",
    "int | None",
    "int | None",
    "str | None",
    "str | None",
    "str | None",
]

#: The collector's row layout (``POST /api/log/bulk``): an event id, then a record's fields.
ROW_COLUMNS = (
    "id",
    "url",
    "method",
    "status_code",
    "duration_ns",
    "timestamp_ns",
    "user_agent",
    "ip_address",
    "route",
    "request_size",
    "response_size",
    "exception",
    "consumer",
    "consumer_name",
)
#: Longest values sent (characters); the adapters cut longer ones before queueing.
MAX_URL, MAX_UA, MAX_ROUTE, MAX_NAME = 8192, 1024, 2048, 256
#: The largest a row can encode to (every character escaped as ``\uXXXX``), so a per-event
#: size limit at or above it needs no per-event check.
MAX_ROW_BYTES = 6 * (MAX_URL + MAX_UA + MAX_ROUTE + 5 * MAX_NAME) + 512
_MAX_NS = 10**21  # about 31,700 years

_UUID_CLEAR = ~(0xF000 << 64) & ~(0xC << 60)
_UUID_SET = (0x4000 << 64) | (0x8 << 60)
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def event_ids(count: int) -> Iterator[str]:
    """``count`` distinct version-4 UUIDs from one random draw: 96 random bits shared by the
    batch and a 32-bit counter that starts at a random point. No system call per id (the
    ``random`` module is seeded from the OS, and reseeded in forked children)."""
    base = random.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    h = f"{base:032x}"
    prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:24]}"
    low = base & 0xFFFFFFFF
    for i in range(count):
        yield f"{prefix}{(low + i) & 0xFFFFFFFF:08x}"


Row = tuple[Any, ...]


def rows_of(records: Sequence[Record]) -> list[Row]:
    """Each record with its new event id in front: the rows of one batch."""
    return [(event_id, *record) for event_id, record in zip(event_ids(len(records)), records)]


def encode_rows(rows: Sequence[Row]) -> bytes:
    """The rows as one JSON array, in one call of the C encoder. Raises ``TypeError`` or
    ``ValueError`` when a value cannot be sent (:func:`check_row` finds which)."""
    return _encode(rows).encode()


def check_row(row: Row) -> bytes:
    """The row's JSON if every value has the type the collector reads, else ``ValueError``: the
    slow path, used only for a batch that :func:`encode_rows` refused (or a per-event size
    limit)."""
    if len(row) != len(ROW_COLUMNS):
        raise ValueError(f"a row has {len(row)} values, not {len(ROW_COLUMNS)}")
    for name, value in zip(ROW_COLUMNS, row):
        if value is None and name not in _REQUIRED:
            continue
        if name in _INTEGERS:
            if type(value) is not int:
                raise ValueError(f"{name} is a {type(value).__name__}, not int")
            if not 0 <= value < _MAX_NS:
                raise ValueError(f"{name} is out of range: {value!r}")
        elif type(value) is not str:
            raise ValueError(f"{name} is a {type(value).__name__}, not str")
    return _encode(row).encode()


_INTEGERS = frozenset(
    ("status_code", "duration_ns", "timestamp_ns", "request_size", "response_size")
)
_REQUIRED = frozenset(("id", "url", "method", "status_code", "duration_ns", "timestamp_ns"))
