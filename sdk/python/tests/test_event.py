"""The request path's records and the JSON the sender writes for them."""

from __future__ import annotations

import json
import math
import re
import uuid

import pytest

from whowhywhen_sdk._event import Record, encode_record, event_ids

KEYS = (
    "url",
    "method",
    "status_code",
    "duration",
    "timestamp",
    "user_agent",
    "ip_address",
    "route",
    "request_size",
    "response_size",
    "exception",
    "consumer",
    "consumer_name",
)


def as_dict(record: Record, event_id: str) -> dict[str, object]:
    event: dict[str, object] = {"id": event_id}
    event.update((k, v) for k, v in zip(KEYS, record, strict=True) if v is not None)
    return event


FULL: Record = (
    'https://api.test/users/7?q=caf\u00e9&x="1"',
    "POST",
    201,
    0.0012345678901234,
    1764899329.4785402,
    'Mozilla/5.0 "quoted" \\ back\tslash \u2603 \U0001f600',
    "2001:db8::1",
    "/users/{id}",
    0,
    123456789012,
    "ValueError",
    "acme-42",
    "Acme \u00c9ditions\n",
)
BARE: Record = ("http://x/", "GET", 200, 0.0, 0.0, *(None,) * 8)
ODD: Record = (
    "http://x/\x00\x1f\x7f",
    "GET",
    599,
    1e-07,
    1e10,
    "\ud800 lone surrogate",
    None,
    None,
    None,
    5,
    None,
    "c",
    None,
)


@pytest.mark.parametrize("record", [FULL, BARE, ODD], ids=["full", "bare", "odd"])
def test_encoding_is_what_json_dumps_writes_but_for_the_times(record: Record) -> None:
    """Every value, escaped as json.dumps escapes it; duration and timestamp in fixed point."""
    event_id = "6f1c2e0a-3b4d-4e5f-8a6b-7c8d9e0f1a2b"
    text = encode_record(record, event_id)
    decoded = json.loads(text)
    expected = as_dict(record, event_id)
    times_read = {"duration": decoded["duration"], "timestamp": decoded["timestamp"]}
    assert decoded == {**expected, **times_read}
    assert decoded["duration"] == pytest.approx(record[3], abs=1e-9)
    assert decoded["timestamp"] == pytest.approx(record[4], abs=1e-6)
    times = re.compile(rb'"duration":[0-9.e-]+,"timestamp":[0-9.e-]+')
    rewritten = json.dumps(decoded, separators=(",", ":")).encode()
    assert times.sub(b"", text) == times.sub(b"", rewritten)


@pytest.mark.parametrize(
    ("duration", "timestamp", "written"),
    [
        (
            0.0012345678901234,
            1764899329.4785402,
            b'"duration":0.001234568,"timestamp":1764899329.478540',
        ),
        (0.0, 0.0, b'"duration":0.000000000,"timestamp":0.000000'),
        (2.5, 1764899329.9999996, b'"duration":2.500000000,"timestamp":1764899330.000000'),
        (1e-10, 1.0, b'"duration":0.000000000,"timestamp":1.000000'),
        (3600, 1764899329, b'"duration":3600.000000000,"timestamp":1764899329.000000'),
    ],
)
def test_times_are_fixed_point_nanoseconds_and_microseconds(
    duration: float, timestamp: float, written: bytes
) -> None:
    record = (*BARE[:3], duration, timestamp, *BARE[5:])
    assert written in encode_record(record, "id")


@pytest.mark.parametrize(
    ("position", "value", "error"),
    [
        (3, math.nan, ValueError),
        (3, math.inf, ValueError),
        (3, -0.5, ValueError),
        (4, "now", ValueError),
        (3, True, ValueError),
        (2, True, TypeError),
        (2, "200", TypeError),
        (8, 1.5j, TypeError),
    ],
)
def test_values_json_cannot_carry_are_refused(position: int, value: object, error: type) -> None:
    record: list[object] = list(FULL)
    record[position] = value
    with pytest.raises(error):
        encode_record(tuple(record), "id")  # type: ignore[arg-type]


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


def test_long_values_are_cut_when_written() -> None:
    record = (
        "http://x/" + "p" * 9000,
        "GET",
        200,
        0.1,
        1.0,
        "u" * 2000,
        None,
        "/" + "r" * 3000,
        None,
        None,
        "E" * 300,
        "c" * 300,
        "n" * 300,
    )
    event = json.loads(encode_record(record, "id"))
    assert len(event["url"]) == 8192
    assert len(event["user_agent"]) == 1024
    assert len(event["route"]) == 2048
    assert [len(event[k]) for k in ("exception", "consumer", "consumer_name")] == [256] * 3
