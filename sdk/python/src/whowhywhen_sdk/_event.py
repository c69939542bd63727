"""One captured request, as the request path stores it and as the sender writes it.

The request path only builds a plain tuple (a :data:`Record`, or the ASGI middleware's
:data:`AsgiRecord` of raw request pieces) and appends it to the buffer: no dictionary, no id, no
date formatting, no float. The sender thread turns each batch into rows (:class:`BatchRows`, the
collector's ``columns`` + ``rows`` form) and writes them with one call of the standard library's
C JSON encoder, so the host's CPU pays for almost no per-event Python.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, Union, cast
from urllib.parse import quote

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
#: Rows are flat tuples of texts and numbers, so the encoder's cycle check (a dict insert and
#: delete per row) can never fire: off, ≈ 10 % less time per row.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False).encode


def event_ids(count: int) -> list[str]:
    """``count`` distinct version-4 UUIDs from one random draw: 96 random bits shared by the
    batch and a 32-bit counter that starts at a random point. No system call per id (the
    ``random`` module is seeded from the OS, and reseeded in forked children)."""
    base = random.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    h = f"{base:032x}"
    prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:24]}"
    low = base & 0xFFFFFFFF
    return [f"{prefix}{(low + i) & 0xFFFFFFFF:08x}" for i in range(count)]


#: What the ASGI middleware queues: ``(scheme, host, target, query_string, method, status,
#: duration_ns, timestamp_ns, user_agent, client, route, mount_root, root_path, request_size,
#: response_size, exception, consumer)``, as the scope and the headers hold them: ``host`` the
#: ``Host`` header's bytes, else the scope's ``server``; ``target`` the ``raw_path`` bytes, else
#: the unquoted path (str); ``user_agent`` bytes; ``client`` the scope's ``(host, port)``, or the
#: address already read from ``X-Forwarded-For`` (str); ``route`` the scope's route object,
#: ``mount_root`` the ``root_path`` the middleware was called with and ``root_path`` the one the
#: app left; ``request_size`` the ``Content-Length`` bytes or the count of a chunked body;
#: ``status`` 0 when no response started; ``consumer`` an ``(id, name)`` pair or None.
AsgiRecord = tuple[
    str,
    Any,
    "bytes | str",
    "bytes | None",
    str,
    int,
    int,
    int,
    "bytes | None",
    Any,
    Any,
    str,
    Any,
    "int | bytes | None",
    int,
    "str | None",
    "tuple[str | None, str | None] | None",
]
Row = tuple[Any, ...]
#: What the buffer holds; the two kinds are told apart by their length.
Queued = Union[Record, AsgiRecord]
ASGI_RECORD_LENGTH = 17
_SAFE = "/%:@!$&'()*+,;=~-._"
_CACHE_SIZE = 1024


def route_template(route: Any, mount_root: str, root_path: Any) -> str | None:
    """The template of the route that answered, with the prefixes of the mounts above it."""
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    prefix = str(root_path)[len(mount_root) :]
    if not hasattr(route, "endpoint"):
        # The route that answered is a Mount of another app: its path is already in root_path.
        return ((prefix or path) + "/{path}")[:MAX_ROUTE]
    return (prefix + path)[:MAX_ROUTE]


K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """``compute(key)`` per key, computed once and then one dict lookup; emptied when it holds
    ``size`` keys, so a stream of distinct keys cannot grow it without bound."""

    def __init__(self, compute: Callable[[K], V], size: int) -> None:
        super().__init__()
        self._compute = compute
        self._size = size

    def __missing__(self, key: K) -> V:
        if len(self) >= self._size:
            self.clear()
        value = self[key] = self._compute(key)
        return value


def _origin(key: tuple[str, bytes]) -> str:
    return f"{key[0]}://{key[1].decode('latin-1')}"


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def content_length(value: Any) -> int | None:
    """A Content-Length as the adapters read it (``str``, ``bytes`` or absent): an int, or None
    when absent or not a number."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class BatchRows:
    """Writes queued items as rows, on the sender thread. An ASGI middleware's raw pieces become
    a record's values here; those that repeat (URL origins, route templates, user agents) are
    worked out once per distinct value, not once per request on the host's event loop."""

    def __init__(self) -> None:
        self._origins: Memo[tuple[str, bytes], str] = Memo(_origin, _CACHE_SIZE)
        self._routes: dict[tuple[int, str, str], tuple[Any, str | None]] = {}
        self._agents: Memo[bytes, str] = Memo(_text, _CACHE_SIZE)

    def rows(self, items: Sequence[Queued]) -> tuple[list[Row], int]:
        """Each item as a row with a new event id in front, and how many items could not be
        read (a malformed scope)."""
        out: list[Row] = []
        failed = 0
        origins, routes, agents = self._origins, self._routes, self._agents
        for event_id, item in zip(event_ids(len(items)), items):
            if len(item) != ASGI_RECORD_LENGTH:
                out.append((event_id, *item))
                continue
            try:
                (
                    scheme,
                    host,
                    target,
                    query,
                    method,
                    status,
                    duration,
                    timestamp,
                    agent,
                    client,
                    route,
                    mount_root,
                    root_path,
                    request_size,
                    response_size,
                    exception,
                    consumer,
                ) = cast(AsgiRecord, item)
                if type(host) is bytes and host:
                    origin = origins[scheme, host]
                elif host:
                    origin = f"{scheme}://{host[0]}:{host[1]}"
                else:
                    origin = f"{scheme}://localhost"
                if type(target) is bytes:
                    url = origin + target.decode("latin-1")
                else:
                    url = origin + quote(str(target), safe=_SAFE)
                if query:
                    url += "?" + query.decode("latin-1")
                if len(url) > MAX_URL:
                    url = url[:MAX_URL]
                user_agent = None
                if agent is not None:
                    # Longer ones are not kept, so the cache stays small.
                    user_agent = (
                        agents[agent] if len(agent) <= MAX_UA else agent[:MAX_UA].decode("latin-1")
                    )
                template = None
                if route is not None:
                    if type(root_path) is str:
                        key = (id(route), mount_root, root_path)
                        cached = routes.get(key)
                        if cached is not None and cached[0] is route:
                            template = cached[1]
                        else:
                            template = route_template(route, mount_root, root_path)
                            if len(routes) >= _CACHE_SIZE:
                                routes.clear()
                            routes[key] = (route, template)
                    else:
                        template = route_template(route, mount_root, root_path)
                ident, name = consumer if consumer is not None else (None, None)
                out.append(
                    (
                        event_id,
                        url,
                        method,
                        status if status else 500,
                        duration,
                        timestamp,
                        user_agent,
                        client if client is None or type(client) is str else client[0],
                        template,
                        request_size
                        if request_size is None or type(request_size) is int
                        else content_length(request_size),
                        response_size,
                        None if exception is None else exception[:MAX_NAME],
                        ident,
                        name,
                    )
                )
            except Exception:
                failed += 1
        return out, failed


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
