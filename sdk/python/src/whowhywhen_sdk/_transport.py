from __future__ import annotations

import email.utils
import gzip
import http.client
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from ._version import __version__

USER_AGENT = f"whowhywhen-python/{__version__}"
GZIP_MIN_BYTES = 1024


@dataclass
class Response:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


class Transport(Protocol):
    def post(self, payload: bytes, *, gzipped: bool, timeout: float) -> Response:
        """Send one encoded batch; raise OSError (or HTTPException) on network failures."""
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would lose its body: surface the 3xx instead of following it."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> None:
        return None


def encode_body(body: bytes) -> tuple[bytes, bool]:
    """Gzip bodies of 1 KiB or more, fast level (mtime 0: a batch always compresses the same)."""
    if len(body) < GZIP_MIN_BYTES:
        return body, False
    return gzip.compress(body, compresslevel=1, mtime=0), True


class HTTPTransport:
    """POSTs batches with the standard library, on one kept-alive connection; verifies TLS.

    The connection matters beyond latency: each system call of a POST releases the GIL, and
    taking it back from a busy request thread costs that thread a forced switch, so a new
    connection per batch (about a dozen calls) was paid for by the host's requests. When a
    proxy applies to the collector (HTTP_PROXY/HTTPS_PROXY without NO_PROXY), batches go
    through urllib, which speaks to proxies.
    """

    def __init__(self, endpoint: str, api_key: str) -> None:
        self._endpoint = endpoint
        self._api_key = api_key
        parts = urllib.parse.urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._proxied = _proxied(parts.scheme, self._host)
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._connection: http.client.HTTPConnection | None = None
        self._owner = 0
        self._last_used = 0.0

    def _headers(self, gzipped: bool) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "X-API-KEY": self._api_key,
            "User-Agent": USER_AGENT,
        }
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return headers

    def post(self, payload: bytes, *, gzipped: bool, timeout: float) -> Response:
        if self._proxied:
            return self._post_via_urllib(payload, gzipped, timeout)
        headers = self._headers(gzipped)
        connection = self._kept(timeout)
        reused = connection.sock is not None
        try:
            return self._exchange(connection, payload, headers)
        except (ConnectionError, http.client.RemoteDisconnected):
            if not reused:
                raise
            # The collector closed the kept-alive connection as this batch was sent: send it
            # once more on a new connection (were it stored already, its batch id makes the
            # second copy a duplicate).
            return self._exchange(self._kept(timeout), payload, headers)

    def _exchange(
        self, connection: http.client.HTTPConnection, payload: bytes, headers: dict[str, str]
    ) -> Response:
        try:
            connection.request("POST", self._target, body=payload, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
        except BaseException:
            self.close()
            raise
        if answer.will_close:
            self.close()
        self._last_used = time.monotonic()
        return Response(answer.status, dict(answer.getheaders()), body)

    def _kept(self, timeout: float) -> http.client.HTTPConnection:
        """The kept-alive connection, or a new one (after a fork, or idle for 4 s: before a
        server's usual 5 s keep-alive timeout closes it under us)."""
        connection = self._connection
        if connection is not None and (
            self._owner != os.getpid() or time.monotonic() - self._last_used > IDLE_SECONDS
        ):
            self.close()  # closes only a connection of this process
            connection = None
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._connection, self._owner = connection, os.getpid()
        else:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and self._owner == os.getpid():
            connection.close()

    def _post_via_urllib(self, payload: bytes, gzipped: bool, timeout: float) -> Response:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in _config
            self._endpoint, data=payload, headers=self._headers(gzipped), method="POST"
        )
        try:
            with self._opener.open(request, timeout=timeout) as answer:
                return Response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            try:
                content = error.read()
            except (OSError, http.client.HTTPException):
                content = b""
            finally:
                error.close()
            headers = dict(error.headers.items()) if error.headers else {}
            return Response(error.code, headers, content)
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, OSError):
                raise reason from None
            raise OSError(str(reason)) from None


#: Close a kept-alive connection idle this long instead of reusing it.
IDLE_SECONDS = 4.0


def _proxied(scheme: str, host: str) -> bool:
    """Whether the environment routes requests to the collector through a proxy."""
    return scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), else None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
