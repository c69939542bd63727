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
import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar, Union, cast
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
    batch and a 32-bit counter that starts at a random point low enough not to wrap. No system
    call per id (the ``random`` module is seeded from the OS, and reseeded in forked children),
    and no Python code per id: the counters' hex digits are written by one call, the shared
    part put before each by one ``replace`` and the ids cut apart by one ``split``."""
    base = random.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    h = f"{base:032x}"
    prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:24]}"
    if count <= 0:
        return []
    if count >= 0x100000000:
        raise ValueError("at most 2**32 - 1 ids a call")
    low = (base & 0xFFFFFFFF) % (0x100000000 - count)
    counters = array(_UINT32, range(low, low + count))
    if _SWAP:
        counters.byteswap()  # big-endian, so that the hex digits read as the number
    digits = counters.tobytes().hex(" ", 4)
    return (prefix + digits.replace(" ", " " + prefix)).split(" ")


#: A typecode of 4-byte array items (``I`` on every platform CPython supports), and whether the
#: machine stores them little-endian.
_UINT32 = "I" if array("I").itemsize == 4 else "L"
_SWAP = sys.byteorder == "little"


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
#: Query strings longer than this are decoded each time, not kept.
_LONGEST_QUERY = 256
_first = itemgetter(0)
#: Items a ``zip(*items)`` at a time (:func:`_transposed`).
_SLICE = 100
_NONE = frozenset((type(None),))
_TUPLE = frozenset((tuple,))
_TEXT_OR_NONE = frozenset((str, type(None)))
_INT_OR_NONE = frozenset((int, type(None)))
_NO_TEMPLATES: dict[int, str | None] = {}


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
    ``size`` keys, so a stream of distinct keys cannot grow it without bound. With ``longest``,
    a key longer than that is computed every time and not kept (None counts as short)."""

    def __init__(self, compute: Callable[[K], V], size: int, longest: int | None = None) -> None:
        super().__init__()
        self._compute = compute
        self._size = size
        self._longest = longest

    def __missing__(self, key: K) -> V:
        value = self._compute(key)
        longest = self._longest
        if longest is None or key is None or len(key) <= longest:  # type: ignore[arg-type]
            if len(self) >= self._size:
                self.clear()
            self[key] = value
        return value


def _origin(key: tuple[str, Any]) -> str:
    """``scheme://host`` from the Host header's bytes, else the server's address, else
    localhost."""
    scheme, host = key
    if type(host) is bytes and host:
        return f"{scheme}://{host.decode('latin-1')}"
    if host:
        return f"{scheme}://{host[0]}:{host[1]}"
    return f"{scheme}://localhost"


def _agent(raw: bytes | None) -> str | None:
    return None if raw is None else raw[:MAX_UA].decode("latin-1")


def _query(raw: bytes | None) -> str:
    return "?" + raw.decode("latin-1") if raw else ""


def _transposed(items: Sequence[AsgiRecord]) -> list[tuple[Any, ...]]:
    """The items' columns. ``zip(*items)`` makes an iterator for each item, a GC-tracked object
    each: the items go through it in slices, so that a batch never adds enough of them at once
    to start a collection of the host's young objects (700 by default; 500 of them did, once a
    batch, on a FastAPI host)."""
    if len(items) <= _SLICE:
        return list(zip(*items))
    parts = [list(zip(*items[start : start + _SLICE])) for start in range(0, len(items), _SLICE)]
    return [tuple(chain.from_iterable(column)) for column in zip(*parts)]


def _indexed(
    values: Sequence[Any], text: Callable[[Any], str | None]
) -> tuple[list[Any], list[Any]]:
    """Each value's index among the distinct values (None stays None), and ``text`` of each
    distinct value: one dict pass in C per event, Python only per distinct value."""
    distinct = dict.fromkeys(values)
    distinct.pop(None, None)
    position: dict[Any, int | None] = dict(zip(distinct, range(len(distinct))))
    position[None] = None
    return list(map(position.__getitem__, values)), list(map(text, distinct))


def _address(client: Any) -> str | None:
    """The client's address: the scope's ``(host, port)``, or one read from X-Forwarded-For."""
    return client if client is None or type(client) is str else client[0]


def _exception(name: str | None) -> str | None:
    return None if name is None else name[:MAX_NAME]


def _request_size(value: Any) -> int | None:
    """A queued request size: a count (int), the Content-Length bytes, or None."""
    return value if value is None or type(value) is int else content_length(value)


def content_length(value: Any) -> int | None:
    """A Content-Length as the adapters read it (``str``, ``bytes`` or absent): an int, or None
    when absent or not a number."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class Written(NamedTuple):
    """A batch as rows: how many items could not be read, and with ``user_agents`` set, each
    row's ``user_agent`` is an index into it (the collector's ``user_agents`` field)."""

    rows: list[Row]
    failed: int
    user_agents: list[str] | None = None


class BatchRows:
    """Writes queued items as rows, on the sender thread. An ASGI middleware's raw pieces become
    a record's values here; those that repeat (URL origins, queries, route templates, user
    agents) are worked out once per distinct value, not once per request on the host's event
    loop.

    A batch of ASGI records is turned around column by column (:meth:`_columns`): each column is
    one pass of a built-in (``zip``, ``map`` over a cache's lookup), so the per-event work runs
    in C and Python code runs only per distinct value. Anything unusual in a batch (a record of
    another kind, a value of an unexpected type) sends the whole batch item by item instead.
    """

    def __init__(self) -> None:
        self._origins: Memo[tuple[str, Any], str] = Memo(_origin, _CACHE_SIZE)
        self._queries: Memo[bytes | None, str] = Memo(_query, _CACHE_SIZE, _LONGEST_QUERY)
        # Longer ones are cut and not kept, so the cache stays small.
        self._agents: Memo[bytes | None, str | None] = Memo(_agent, _CACHE_SIZE, MAX_UA)
        self._lengths: Memo[Any, int | None] = Memo(_request_size, _CACHE_SIZE)
        # Route templates by (mount_root, root_path), then by id(route); the routes are kept
        # alive beside them, so an id cannot be reused by another object while its entry lasts.
        self._templates: dict[tuple[str, Any], dict[int, str | None]] = {}
        self._kept: dict[int, Any] = {}

    def rows(self, items: Sequence[Queued]) -> Written:
        """Each item as a row with a new event id in front, and how many items could not be
        read (a malformed scope)."""
        if items and set(map(len, items)) == {ASGI_RECORD_LENGTH}:
            try:
                rows, user_agents = self._columns(cast(Sequence[AsgiRecord], items))
                return Written(rows, 0, user_agents)
            except Exception:  # noqa: S110 - an odd value: the careful path below finds which
                pass
        return Written(*self._each(items))

    def _columns(self, items: Sequence[AsgiRecord]) -> tuple[list[Row], list[str] | None]:
        """The rows, their user agents given as indexes into the list returned beside them
        (None when no request had one)."""
        count = len(items)
        (
            schemes,
            hosts,
            targets,
            queries,
            methods,
            statuses,
            durations,
            timestamps,
            agents,
            clients,
            routes,
            mount_roots,
            root_paths,
            request_sizes,
            response_sizes,
            exceptions,
            consumers,
        ) = _transposed(items)
        # Raises TypeError for a path that is not bytes (no raw_path): the careful path quotes it.
        paths = map(bytes.decode, targets, repeat("latin-1"))
        origins = map(self._origins.__getitem__, zip(schemes, hosts))
        urls = list(map("".join, zip(origins, paths, map(self._queries.__getitem__, queries))))
        if max(map(len, urls)) > MAX_URL:
            urls = [url[:MAX_URL] for url in urls]
        if 0 in statuses:  # no response started
            statuses = tuple(status or 500 for status in statuses)
        addresses: Sequence[Any] = clients
        kinds = set(map(type, clients))
        if kinds == _TUPLE:
            addresses = list(map(_first, clients))
        elif not kinds <= _TEXT_OR_NONE:  # some read from X-Forwarded-For
            addresses = list(map(_address, clients))
        agent_indexes, user_agents = _indexed(agents, self._agents.__getitem__)
        sizes: Sequence[Any] = request_sizes
        if not set(map(type, request_sizes)) <= _INT_OR_NONE:  # Content-Length bytes
            sizes = list(map(self._lengths.__getitem__, request_sizes))
        columns: list[Iterable[Any]] = [
            event_ids(count),
            urls,
            methods,
            statuses,
            durations,
            timestamps,
            agent_indexes if user_agents else agents,
            addresses,
            self._templates_of(routes, mount_roots, root_paths),
            sizes,
            response_sizes,
        ]
        # The last three columns are mostly null, and a row may leave trailing nulls out.
        if not set(map(type, exceptions)) <= _NONE:
            columns.append(map(_exception, exceptions))
        if consumers.count(None) != count:
            if len(columns) < len(ROW_COLUMNS) - 2:
                columns.append(exceptions)
            columns.append(None if c is None else c[0] for c in consumers)
            columns.append(None if c is None else c[1] for c in consumers)
        return list(zip(*columns)), user_agents or None

    def _templates_of(
        self, routes: Sequence[Any], mount_roots: Sequence[str], root_paths: Sequence[Any]
    ) -> list[str | None]:
        """The route template of each request, worked out once per route and prefix
        (``mount_root``, ``root_path``)."""
        ids = list(map(id, routes))
        tables = self._templates
        uniform = len(set(mount_roots)) == 1 and len(set(root_paths)) == 1
        if uniform:  # one prefix for the whole batch (no sub-application mounts)
            prefix = (mount_roots[0], root_paths[0])
            wanted = {(*prefix, ident) for ident in set(ids)}
        else:
            wanted = set(zip(mount_roots, root_paths, ids))
        missing = [key for key in wanted if key[2] not in tables.get(key[:2], _NO_TEMPLATES)]
        if missing:
            if sum(map(len, tables.values())) + len(missing) > _CACHE_SIZE:
                tables.clear()
                self._kept.clear()
                missing = list(wanted)
            by_id = dict(zip(ids, routes))
            for mount_root, root_path, ident in missing:
                route = self._kept[ident] = by_id[ident]
                template = route_template(route, mount_root, root_path)
                tables.setdefault((mount_root, root_path), {})[ident] = template
        if uniform:
            return list(map(tables[prefix].__getitem__, ids))
        return [tables[m, r][ident] for m, r, ident in zip(mount_roots, root_paths, ids)]

    def _template(self, route: Any, mount_root: str, root_path: Any) -> str | None:
        try:
            return self._templates_of((route,), (mount_root,), (root_path,))[0]
        except TypeError:  # a root_path that cannot be a key
            return route_template(route, mount_root, root_path)

    def _each(self, items: Sequence[Queued]) -> tuple[list[Row], int]:
        """Item by item, so that one malformed item (a scope a server filled oddly) is counted
        and the rest written."""
        out: list[Row] = []
        failed = 0
        origins, agents = self._origins, self._agents
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
                origin = origins[scheme, host] if type(host) is bytes else _origin((scheme, host))
                if type(target) is bytes:
                    url = origin + target.decode("latin-1")
                else:
                    url = origin + quote(str(target), safe=_SAFE)
                url += _query(query)
                if len(url) > MAX_URL:
                    url = url[:MAX_URL]
                user_agent = agents[agent]
                template = None if route is None else self._template(route, mount_root, root_path)
                ident, name = consumer if consumer is not None else (None, None)
                out.append(
                    (
                        event_id,
                        url,
                        method,
                        status or 500,
                        duration,
                        timestamp,
                        user_agent,
                        _address(client),
                        template,
                        _request_size(request_size),
                        response_size,
                        _exception(exception),
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


def encode_texts(texts: Sequence[str]) -> bytes:
    """Texts as one JSON array (a batch's ``user_agents``)."""
    return _encode(texts).encode()


def check_row(row: Row) -> bytes:
    """The row's JSON if every value has the type the collector reads, else ``ValueError``: the
    slow path, used only for a batch that :func:`encode_rows` refused (or a per-event size
    limit)."""
    if not len(_REQUIRED) <= len(row) <= len(ROW_COLUMNS):
        raise ValueError(f"a row has {len(row)} values, not {len(_REQUIRED)} to {len(ROW_COLUMNS)}")
    for name, value in zip(ROW_COLUMNS, row):
        if value is None and name not in _REQUIRED:
            continue
        if name in _INTEGERS:
            if type(value) is not int:
                raise ValueError(f"{name} is a {type(value).__name__}, not int")
            if not 0 <= value < _MAX_NS:
                raise ValueError(f"{name} is out of range: {value!r}")
        elif type(value) is not str and not (name == "user_agent" and type(value) is int):
            # (a user_agent may be an index into the batch's user_agents)
            raise ValueError(f"{name} is a {type(value).__name__}, not str")
    return _encode(row).encode()


_INTEGERS = frozenset(
    ("status_code", "duration_ns", "timestamp_ns", "request_size", "response_size")
)
_REQUIRED = frozenset(("id", "url", "method", "status_code", "duration_ns", "timestamp_ns"))
