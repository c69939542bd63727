"""The request path's records and the rows the sender writes for them."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence

import pytest

from whowhywhen_sdk._event import (
    MAX_ROW_BYTES,
    MAX_UA,
    MAX_URL,
    ROW_COLUMNS,
    AsgiRecord,
    BatchRows,
    Queued,
    Record,
    Row,
    Written,
    check_row,
    encode_rows,
    event_ids,
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


def rows_of(records: Sequence[Queued]) -> list[Row]:
    """The rows of a batch, with user agents given as indexes read back as their texts."""
    written = BatchRows().rows(records)
    assert written.failed == 0
    return resolved(written)


def resolved(written: Written) -> list[Row]:
    agents = written.user_agents
    if agents is None:
        return written.rows
    return [
        row if len(row) < 7 or row[6] is None else (*row[:6], agents[row[6]], *row[7:])
        for row in written.rows
    ]


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


class Endpoint:
    """A route that answered itself (Starlette's Route, APIRoute): it has an endpoint."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.endpoint = object()


class Mounted:
    """A route that handed the request to another app (Starlette's Mount): no endpoint."""

    def __init__(self, path: str) -> None:
        self.path = path


def asgi(**values: object) -> AsgiRecord:
    """A raw ASGI record as the middleware queues it, with the given fields replaced."""
    fields: dict[str, object] = {
        "scheme": "http",
        "host": b"api.test",
        "target": b"/users/7",
        "query": b"",
        "method": "GET",
        "status": 200,
        "duration": 1_500,
        "timestamp": 1_764_899_329_478_540_200,
        "agent": b"curl/8.5",
        "client": ("203.0.113.5", 40000),
        "route": None,
        "mount_root": "",
        "root_path": "",
        "request_size": None,
        "response_size": 12,
        "exception": None,
        "consumer": None,
    }
    assert set(values) <= set(fields)
    fields.update(values)
    return tuple(fields.values())  # type: ignore[return-value]


def padded(row: Row) -> Row:
    """A row with the trailing nulls it may leave out."""
    return (*row, *(None,) * (len(ROW_COLUMNS) - len(row)))


def asgi_row(**values: object) -> Row:
    (row,) = rows_of([asgi(**values)])
    return padded(row)


class TestAsgiRecords:
    def test_a_raw_record_becomes_the_same_row_as_a_record(self) -> None:
        (row,) = rows_of([asgi(query=b"expand=1")])
        assert padded(row)[1:] == (
            "http://api.test/users/7?expand=1",
            "GET",
            200,
            1_500,
            1_764_899_329_478_540_200,
            "curl/8.5",
            "203.0.113.5",
            None,
            None,
            12,
            None,
            None,
            None,
        )

    def test_url_from_scheme_host_raw_path_and_query(self) -> None:
        assert asgi_row(scheme="https", host=b"api.test:8443")[1] == "https://api.test:8443/users/7"
        assert asgi_row(query=b"q=caf%C3%A9&x")[1] == "http://api.test/users/7?q=caf%C3%A9&x"
        # Non-ASCII bytes of a raw path are read as latin-1, one character a byte, as before.
        assert asgi_row(target="/caf\u00e9".encode())[1] == "http://api.test/caf\u00c3\u00a9"

    def test_without_a_host_header_the_server_address_or_localhost(self) -> None:
        assert asgi_row(host=("10.0.0.2", 8000))[1] == "http://10.0.0.2:8000/users/7"
        assert asgi_row(host=None)[1] == "http://localhost/users/7"

    def test_without_a_raw_path_the_path_is_quoted(self) -> None:
        assert asgi_row(target="/api/caf\u00e9 x")[1] == "http://api.test/api/caf%C3%A9%20x"

    def test_the_url_is_cut_to_the_limit(self) -> None:
        url = asgi_row(target=b"/" + b"y" * MAX_URL)[1]
        assert len(url) == MAX_URL
        assert url.startswith("http://api.test/yyy")

    def test_route_templates_with_mounts_and_root_paths(self) -> None:
        route, mount = Endpoint("/items/{id}"), Mounted("/static")
        assert asgi_row(route=route)[8] == "/items/{id}"
        # A router mounted under /api: the prefix the app added to root_path comes first.
        assert asgi_row(route=route, root_path="/api")[8] == "/api/items/{id}"
        # Served under a proxy's root_path: that part is not the app's route.
        assert asgi_row(route=route, mount_root="/proxy", root_path="/proxy/api")[8] == (
            "/api/items/{id}"
        )
        assert asgi_row(route=mount, root_path="/static")[8] == "/static/{path}"
        assert asgi_row(route=mount)[8] == "/static/{path}"
        assert asgi_row(route=object())[8] is None

    def test_cached_values_follow_each_distinct_value(self) -> None:
        first, second = Endpoint("/a/{x}"), Endpoint("/b/{y}")
        items = [
            asgi(route=first, agent=b"one", host=b"a.test"),
            asgi(route=second, agent=b"two", host=b"b.test", scheme="https"),
            asgi(route=first, agent=b"one", host=b"a.test", root_path="/v2"),
            asgi(route=second, agent=b"two", host=b"b.test"),
        ]
        rows = [row[1:] for row in rows_of(items)]
        assert [(r[0], r[5], r[7]) for r in rows] == [
            ("http://a.test/users/7", "one", "/a/{x}"),
            ("https://b.test/users/7", "two", "/b/{y}"),
            ("http://a.test/users/7", "one", "/v2/a/{x}"),
            ("http://b.test/users/7", "two", "/b/{y}"),
        ]

    def test_long_user_agents_are_cut(self) -> None:
        assert asgi_row(agent=b"u" * (MAX_UA + 10))[6] == "u" * MAX_UA
        assert asgi_row(agent=None)[6] is None

    def test_addresses_sizes_statuses_exceptions_and_consumers(self) -> None:
        assert asgi_row(client="198.51.100.9")[7] == "198.51.100.9"  # from X-Forwarded-For
        assert asgi_row(client=None)[7] is None
        assert asgi_row(request_size=b"123")[9] == 123
        assert asgi_row(request_size=b"12x")[9] is None
        assert asgi_row(request_size=77)[9] == 77  # a chunked body, counted
        assert asgi_row(status=0)[3] == 500
        assert asgi_row(exception="E" * 300)[11] == "E" * 256
        assert asgi_row(consumer=("acme", "Acme Inc"))[12:] == ("acme", "Acme Inc")
        assert asgi_row(consumer=("acme", None))[12:] == ("acme", None)

    def test_a_batch_is_written_by_columns_as_item_by_item(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every kind of value a server gives, mixed in one batch: the column path writes the
        rows the careful item-by-item path writes, and it takes such a batch whole."""
        route, other, mount = Endpoint("/a/{x}"), Endpoint("/b"), Mounted("/static")
        variants: list[dict[str, object]] = [
            {},
            {"host": ("10.0.0.2", 8000), "query": b"page=2"},
            {"host": None, "query": None, "agent": None, "client": None},
            {"host": b"", "status": 0, "exception": "E" * 300},
            {"agent": b"u" * (MAX_UA + 5), "client": "198.51.100.9"},
            {"route": route, "root_path": "/api", "request_size": b"42"},
            {"route": route, "mount_root": "/p", "root_path": "/p/api", "request_size": 7},
            {"route": mount, "root_path": "/static", "request_size": b"4x"},
            {"route": other, "consumer": ("acme", None), "scheme": "https"},
            {"route": route, "consumer": ("acme", "Acme Inc"), "query": b"q=" + b"z" * 300},
            {"target": b"/" + b"y" * MAX_URL, "agent": b"\xe9t\xe9"},
        ]
        items = [asgi(**variants[i % len(variants)]) for i in range(3 * len(variants))]
        expected, failed = BatchRows()._each(items)
        assert failed == 0

        def careful(self: BatchRows, items: Sequence[Queued]) -> tuple[list[Row], int]:
            raise AssertionError("the batch was not written by columns")

        monkeypatch.setattr(BatchRows, "_each", careful)
        writer = BatchRows()
        for _ in range(2):  # the second time from the caches
            written = writer.rows(items)
            assert written.failed == 0
            rows = resolved(written)
            assert [padded(row)[1:] for row in rows] == [row[1:] for row in expected]
            assert len({row[0] for row in rows}) == len(items)

    def test_route_templates_stay_right_when_their_cache_is_emptied(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(BatchRows, "_each", None)  # by columns only
        routes = [Endpoint(f"/r{i}/{{x}}") for i in range(1500)]
        writer = BatchRows()
        # The cache holds 1,024: the third batch, half known and half new, empties it.
        for start in (0, 500, 750, 0):
            batch = routes[start : start + 500]
            rows, failed, _ = writer.rows([asgi(route=r) for r in batch])
            assert failed == 0
            assert [row[8] for row in rows] == [r.path for r in batch]

    def test_trailing_nulls_are_left_out_of_a_batch_that_has_none_of_those_values(self) -> None:
        assert [len(row) for row in rows_of([asgi(), asgi()])] == [11, 11]
        exception = rows_of([asgi(), asgi(exception="KeyError")])
        assert [row[11:] for row in exception] == [(None,), ("KeyError",)]
        consumer = rows_of([asgi(consumer=("acme", None)), asgi()])
        assert [row[11:] for row in consumer] == [(None, "acme", None), (None, None, None)]
        for row in exception + consumer:
            check_row(row)

    def test_user_agents_are_listed_once_a_batch_and_rows_give_their_index(self) -> None:
        items = [
            asgi(agent=b"two"),
            asgi(agent=None),
            asgi(agent=b"one"),
            asgi(agent=b"two"),
            asgi(agent=b"u" * (MAX_UA + 1)),
        ]
        rows, failed, agents = BatchRows().rows(items)
        assert failed == 0
        assert agents == ["two", "one", "u" * MAX_UA]
        assert [row[6] for row in rows] == [0, None, 1, 0, 2]
        for row in rows:
            check_row(row)
        assert BatchRows().rows([asgi(agent=None)] * 2).user_agents is None
        # Item by item (here: a path without raw bytes), the texts are in the rows.
        rows, _, agents = BatchRows().rows([asgi(agent=b"one", target="/x"), asgi()])
        assert agents is None
        assert [row[6] for row in rows] == ["one", "curl/8.5"]

    def test_a_path_without_raw_bytes_sends_the_batch_item_by_item(self) -> None:
        rows = rows_of([asgi(), asgi(target="/caf\u00e9"), asgi(query=b"x=1")])
        assert [row[1] for row in rows] == [
            "http://api.test/users/7",
            "http://api.test/caf%C3%A9",
            "http://api.test/users/7?x=1",
        ]

    def test_a_malformed_item_is_counted_and_the_rest_written(self) -> None:
        rows, failed, _ = BatchRows().rows([asgi(query=12345), FULL, asgi()])
        assert failed == 1
        assert [row[1] for row in rows] == [FULL[0], "http://api.test/users/7"]
