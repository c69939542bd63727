"""Infer a route template from a path by collapsing id-like segments into ``{id}``.

When the SDK could not tell us the framework's route, ``/users/123`` and ``/users/456`` must still
count as one endpoint, ``/users/{id}``. A segment is id-like when it is (optionally followed by a
short file extension, ``/users/123.json`` → ``/users/{id}.json``):

- an integer: ``123``;
- a UUID: ``550e8400-e29b-41d4-a716-446655440000``;
- a hex string of 8 or more characters with at least one digit: ``5f2b9c1e``, a SHA;
- an ISO date: ``2024-05-01``;
- a long token: 20 or more ``[A-Za-z0-9_-]`` mixing letters and digits (nanoid, base64url, JWT
  parts), but not a lower-case slug of words (``how-to-install-python-3-12`` stays);
- a prefixed id: ``cus_NffrFeUfNV2Hib``, letters, an underscore and 10 or more characters with a
  digit;
- an e-mail address.

Ordinary words (``api``, ``v1``, ``v2``, ``healthz``, ``deadbeef`` without a digit) stay.
"""

import functools
import re

ID_PLACEHOLDER = "{id}"
_REPLACEMENT = "/" + ID_PLACEHOLDER

MAX_ROUTE_LENGTH = 2048
"""Routes are stored (and unique per project and method) with at most this many characters."""

_HEX = "[0-9a-fA-F]"
_ID_SEGMENT = re.compile(
    rf"""
    /
    (?:
        \d+
      | {_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}
      | (?={_HEX}*\d){_HEX}{{8,}}
      | \d{{4}}-\d{{2}}-\d{{2}}
      | (?![a-z]+(?:-[a-z0-9]+)+(?:/|\Z))
        (?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{{20,}}
      | [A-Za-z]{{1,10}}_(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{{10,}}
      | [^/@\s]+@[^/@\s.]+(?:\.[^/@\s.]+)+
    )
    (?=/|\Z|\.[A-Za-z0-9]{{1,5}}(?:/|\Z))
    """,
    re.VERBOSE,
)


def infer_route_template(path: str) -> str:
    """``/orders/550e8400-e29b-41d4-a716-446655440000/items`` → ``/orders/{id}/items``."""
    return _ID_SEGMENT.sub(_REPLACEMENT, path)[:MAX_ROUTE_LENGTH]


class RouteTemplates:
    """:func:`infer_route_template` behind a bounded LRU cache keyed by path.

    Paths longer than ``max_cached_path`` are computed every time so that a flood of huge unique
    paths cannot pin megabytes in the cache.
    """

    __slots__ = ("_cached", "max_cached_path")

    def __init__(self, maxsize: int = 20_000, max_cached_path: int = 512) -> None:
        self._cached = functools.lru_cache(maxsize=maxsize)(infer_route_template)
        self.max_cached_path = max_cached_path

    def template(self, path: str) -> str:
        if len(path) > self.max_cached_path:
            return infer_route_template(path)
        return self._cached(path)

    def cache_info(self) -> functools._CacheInfo:
        return self._cached.cache_info()
