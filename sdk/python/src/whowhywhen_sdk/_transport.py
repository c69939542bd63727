from __future__ import annotations

import email.utils
import gzip
import http.client
import time
import urllib.error
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
    """POSTs batches with the standard library; honours HTTPS_PROXY/NO_PROXY, verifies TLS."""

    def __init__(self, endpoint: str, api_key: str) -> None:
        self._endpoint = endpoint
        self._api_key = api_key
        self._opener = urllib.request.build_opener(_NoRedirect())

    def post(self, payload: bytes, *, gzipped: bool, timeout: float) -> Response:
        headers = {
            "Content-Type": "application/json",
            "X-API-KEY": self._api_key,
            "User-Agent": USER_AGENT,
        }
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in _config
            self._endpoint, data=payload, headers=headers, method="POST"
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
