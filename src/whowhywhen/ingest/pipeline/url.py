"""Split a reported URL into host, path and query parameters, never raising.

SDKs send either a full URL (``https://api.example.com/users/1?x=2``) or just the path and query
(``/users/1?x=2``). The path is kept as sent (no percent-decoding), so the same request always gives
the same path; the query string is decoded by :func:`urllib.parse.parse_qs`.
"""

import re
from typing import NamedTuple
from urllib.parse import unquote_plus

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


class SplitUrl(NamedTuple):
    host: str | None
    path: str
    query: str


def split_url(url: str) -> SplitUrl:
    """Host (lower-case, port kept, user info dropped), path (starts with ``/``), raw query.

    A string starting with ``/`` is always a path, even ``//x`` (a client can request that); a
    string without a scheme is a path that lost its leading slash; anything else is
    ``scheme://authority/path``. The fragment is dropped.
    """
    rest = url.partition("#")[0]
    rest, _, query = rest.partition("?")
    host: str | None = None
    if rest.startswith("/"):
        path = rest
    elif scheme := _SCHEME.match(rest):
        authority, slash, after = rest[scheme.end() :].partition("/")
        host = authority.rpartition("@")[2].lower() or None
        path = slash + after
    else:
        path = "/" + rest
    return SplitUrl(host, path or "/", query)


def parse_query(query: str) -> dict[str, list[str]]:
    """``a=1&a=2&b=&c`` → ``{"a": ["1", "2"], "b": [""], "c": [""]}``.

    The result of ``parse_qs(query, keep_blank_values=True)``, at half its cost: names and values
    are unquoted only when they hold a ``%`` or a ``+``.
    """
    params: dict[str, list[str]] = {}
    if not query:
        return params
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            name = unquote_plus(name)
            value = unquote_plus(value)
        values = params.get(name)
        if values is None:
            params[name] = [value]
        else:
            values.append(value)
    return params
