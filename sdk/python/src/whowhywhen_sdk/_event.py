"""One captured request, as the request path stores it and as the sender writes it.

The request path only builds a plain tuple (a :data:`Record`) and appends it to the buffer:
no dictionary, no id, no date formatting. The sender thread turns whole batches of records into
JSON, so the host's request threads pay for none of it (formatting the timestamp and making a
UUID per request were 40 % of the middleware's own time on uvicorn's event loop).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

#: ``(url, method, status_code, duration, timestamp, user_agent, ip_address, route,
#: request_size, response_size, exception, consumer, consumer_name)``: duration in seconds,
#: timestamp in Unix seconds, the rest ``None`` when unknown.
Record = tuple[
    str,
    str,
    int,
    float,
    float,
    "str | None",
    "str | None",
    "str | None",
    "int | None",
    "int | None",
    "str | None",
    "str | None",
    "str | None",
]

_quote = json.encoder.encode_basestring_ascii
_UUID_CLEAR = ~(0xF000 << 64) & ~(0xC << 60)
_UUID_SET = (0x4000 << 64) | (0x8 << 60)


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


#: Longest values sent (characters); longer ones are cut by the sender.
MAX_URL, MAX_UA, MAX_ROUTE, MAX_NAME = 8192, 1024, 2048, 256
#: Durations and timestamps beyond this many seconds are refused (about 31,700 years).
_MAX_SECONDS = 1e12
_HEAD = '{"id":"%s","url":%s,"method":%s,"status_code":%d,"duration":%d.%09d,"timestamp":%d.%06d'


def _seconds_ok(value: Any) -> bool:
    kind = type(value)
    return (kind is float or kind is int) and 0 <= value < _MAX_SECONDS


def encode_record(record: Record, event_id: str) -> bytes:
    """One event as compact JSON: what ``json.dumps(event, separators=(",", ":"))`` writes for
    the equivalent dictionary (fields that are ``None`` are left out), except that duration and
    timestamp are written in fixed point, nanoseconds and microseconds. Integer arithmetic and
    one format: ``repr`` of a float runs the shortest-round-trip algorithm, which cost more than
    the rest of an event's encoding put together."""
    fields: tuple[Any, ...] = record
    url, method, status, duration, timestamp = fields[:5]
    if type(status) is not int:
        raise TypeError(f"status code is not an integer: {status!r}")
    if not (_seconds_ok(duration) and _seconds_ok(timestamp)):
        raise ValueError(f"duration {duration!r} or timestamp {timestamp!r} is out of range")
    ns = int(duration * 1e9 + 0.5)
    us = int(timestamp * 1e6 + 0.5)
    text = _HEAD % (
        event_id,
        _quote(url if len(url) <= MAX_URL else url[:MAX_URL]),
        _quote(method),
        status,
        ns // 1_000_000_000,
        ns % 1_000_000_000,
        us // 1_000_000,
        us % 1_000_000,
    )
    for index, key, limit in _TEXT_FIELDS:
        value = fields[index]
        if value is not None:
            text += key + _quote(value[:limit])
    for index, key in _INT_FIELDS:
        value = fields[index]
        if value is not None:
            if type(value) is not int:
                raise TypeError(f"{key[2:-2]} is not an integer: {value!r}")
            text += key + int.__repr__(value)
    return (text + "}").encode()


#: The optional fields: (record index, JSON key, longest value) for text, then integers.
_TEXT_FIELDS: tuple[tuple[int, str, int], ...] = (
    (5, ',"user_agent":', MAX_UA),
    (6, ',"ip_address":', MAX_NAME),
    (7, ',"route":', MAX_ROUTE),
    (10, ',"exception":', MAX_NAME),
    (11, ',"consumer":', MAX_NAME),
    (12, ',"consumer_name":', MAX_NAME),
)
_INT_FIELDS: tuple[tuple[int, str], ...] = ((8, ',"request_size":'), (9, ',"response_size":'))
