from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Callable
from urllib.parse import quote

from ._client import (
    EXCEPTION_KEY,
    Client,
    get_client,
    is_sdk_request,
    normalise_route,
    wsgi_host,
)
from ._event import content_length
from ._log import log_limited

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_SAFE = "/%:@!$&'()*+,;=~-._"
_flask_hooked = False


def _on_flask_exception(sender: Any, exception: BaseException | None = None, **_: Any) -> None:
    try:
        import flask

        if exception is not None:
            flask.request.environ[EXCEPTION_KEY] = type(exception).__name__
    except Exception:
        log_limited("flask", logging.DEBUG, "WhoWhyWhen could not note a Flask exception")


def _hook_flask() -> None:
    """Flask turns view exceptions into 500 pages; its signal tells us the exception type."""
    global _flask_hooked
    flask = sys.modules.get("flask")
    if flask is None or _flask_hooked:
        return
    _flask_hooked = True
    try:
        flask.got_request_exception.connect(_on_flask_exception, weak=False)
    except Exception:
        log_limited("flask", logging.DEBUG, "WhoWhyWhen could not subscribe to Flask signals")


class _Capture:
    __slots__ = (
        "client",
        "done",
        "environ",
        "exception",
        "length",
        "method",
        "request",
        "size",
        "start",
        "status",
        "timestamp",
        "user_agent",
    )

    def __init__(self, client: Client, environ: Environ, method: str, user_agent: str | None):
        self.client = client
        self.environ = environ
        self.method = method
        self.user_agent = user_agent
        self.timestamp = time.time_ns()
        self.start = time.perf_counter_ns()
        self.status = 0
        self.size = 0
        self.length: int | None = None
        self.exception: str | None = None
        self.request: Any = None
        self.done = False

    def start_response(self, start_response: StartResponse) -> StartResponse:
        def _start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            try:
                # Flask clears environ["werkzeug.request"] before it returns: keep it now.
                self.request = self.environ.get("werkzeug.request")
                self.status = int(status[:3])
                for name, value in headers:
                    if name.lower() == "content-length":
                        self.length = content_length(value)
            except Exception:
                self.status = 0
            write = start_response(status, headers, exc_info)

            def counted_write(data: bytes) -> object:
                self.size += len(data)
                return write(data)

            return counted_write

        return _start_response

    def finish(self, exc: BaseException | None = None, *, size: int | None = None) -> None:
        if self.done:
            return
        self.done = True
        try:
            duration = time.perf_counter_ns() - self.start
            environ = self.environ
            client = self.client
            if exc is not None:
                self.exception = type(exc).__name__
            exception = self.exception or environ.get(EXCEPTION_KEY)
            request = self.request or environ.get("werkzeug.request")
            rule = getattr(getattr(request, "url_rule", None), "rule", None)
            scheme = environ.get("wsgi.url_scheme", "http")
            path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode(
                "latin-1", "replace"
            )
            url = f"{scheme}://{wsgi_host(environ, scheme)}{quote(path, safe=_SAFE)}"
            query = environ.get("QUERY_STRING")
            if query:
                url += "?" + query
            client.capture(
                method=self.method,
                url=url,
                status_code=self.status or 500,
                duration_ns=duration,
                timestamp_ns=self.timestamp,
                user_agent=self.user_agent,
                ip_address=client.client_ip(
                    environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR")
                ),
                route=normalise_route(rule) if isinstance(rule, str) else None,
                request_size=content_length(environ.get("CONTENT_LENGTH")),
                response_size=self.size if size is None else size,
                exception=exception,
                consumer=client.consumer(environ, lambda: request or environ),
            )
        except Exception:
            log_limited(
                "capture", logging.WARNING, "WhoWhyWhen could not record a request", exc_info=True
            )


class _Response:
    """Wraps the app's iterable to count bytes and record when the server closes it."""

    def __init__(self, result: Iterable[bytes], capture: _Capture) -> None:
        self._result = result
        self._capture = capture

    def __iter__(self) -> Iterator[bytes]:
        capture = self._capture
        started = False
        try:
            for chunk in self._result:
                started = True
                capture.size += len(chunk)
                yield chunk
            capture.finish()  # complete; close() may come later, or never from a lax caller
        except Exception as exc:
            capture.exception = type(exc).__name__
            if not started:
                capture.status = 0  # the server answers 500: nothing was sent yet
            raise

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._capture.finish()


class _SizedResponse(_Response):
    """Keeps ``len()`` for servers that set Content-Length on one-chunk responses."""

    def __len__(self) -> int:
        return len(self._result)  # type: ignore[arg-type]


class WhoWhyWhenWSGIMiddleware:
    """WSGI middleware for Flask and any WSGI app (records after the response is sent).

    Flask::

        from flask import Flask
        from whowhywhen_sdk import WhoWhyWhenWSGIMiddleware

        app = Flask(__name__)
        app.wsgi_app = WhoWhyWhenWSGIMiddleware(
            app.wsgi_app, api_key="www_...", url="http://whowhywhen.internal:8001"
        )

    Any WSGI app: ``application = WhoWhyWhenWSGIMiddleware(application)`` with
    ``WHOWHYWHEN_API_KEY`` and ``WHOWHYWHEN_URL`` set. Takes the same options as
    ``WhoWhyWhenMiddleware``. With Flask the route is the matched ``url_rule``
    (``/users/<int:id>`` is reported as ``/users/{id}``) and a view's exception type is recorded.
    """

    def __init__(
        self,
        app: WSGIApp,
        /,
        api_key: str | None = None,
        url: str | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.client: Client | None = get_client(api_key, url, **options)
        _hook_flask()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        client = self.client
        if client is None:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        user_agent = environ.get("HTTP_USER_AGENT")
        if not client.should_capture(method, environ.get("PATH_INFO", "")) or is_sdk_request(
            user_agent
        ):
            return self.app(environ, start_response)
        if not _flask_hooked:
            _hook_flask()
        capture = _Capture(client, environ, method, user_agent)
        try:
            result = self.app(environ, capture.start_response(start_response))
        except Exception as exc:
            capture.status = 0
            capture.finish(exc)
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
            # Keep the server's sendfile path; the size is the declared Content-Length.
            capture.finish(size=capture.length)
            return result
        if hasattr(result, "__len__"):
            return _SizedResponse(result, capture)
        return _Response(result, capture)
