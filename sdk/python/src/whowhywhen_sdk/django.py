from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, Callable, Union

from ._client import EXCEPTION_KEY as _EXCEPTION_KEY
from ._client import (
    Client,
    _request_store,
    get_client,
    is_sdk_request,
    normalise_route,
    record_exception,
    wsgi_host,
)
from ._event import content_length
from ._log import log_limited

GetResponse = Callable[[Any], Union[Any, Awaitable[Any]]]


def _client_from_settings() -> Client | None:
    from django.conf import settings

    options = {str(k).lower(): v for k, v in (getattr(settings, "WHOWHYWHEN", None) or {}).items()}
    return get_client(options.pop("api_key", None), options.pop("url", None), **options)


class _Request:
    __slots__ = ("client", "method", "request", "start", "timestamp", "user_agent")

    def __init__(self, client: Client, request: Any, method: str, user_agent: str | None):
        self.client = client
        self.request = request
        self.method = method
        self.user_agent = user_agent
        self.timestamp = time.time_ns()
        self.start = time.perf_counter_ns()

    def finish(self, response: Any, exc: BaseException | None, size: int | None) -> None:
        try:
            duration = time.perf_counter_ns() - self.start
            request, client = self.request, self.client
            meta = request.META
            try:
                scheme = request.scheme
            except Exception:
                scheme = "http"
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None)
            store = _request_store(request)
            exception = type(exc).__name__ if exc is not None else None
            if exception is None and store is not None:
                exception = store.get(_EXCEPTION_KEY)
            client.capture(
                method=self.method,
                url=f"{scheme}://{wsgi_host(meta, scheme)}{request.get_full_path()}",
                status_code=500 if response is None else int(response.status_code),
                duration_ns=duration,
                timestamp_ns=self.timestamp,
                user_agent=self.user_agent,
                ip_address=client.client_ip(
                    meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR")
                ),
                route=normalise_route(route) if isinstance(route, str) else None,
                request_size=content_length(meta.get("CONTENT_LENGTH")),
                response_size=size,
                exception=exception,
                consumer=client.consumer(store, lambda: request),
            )
        except Exception:
            log_limited(
                "capture", logging.WARNING, "WhoWhyWhen could not record a request", exc_info=True
            )


class WhoWhyWhenDjangoMiddleware:
    """Django middleware (sync and async), configured from ``settings.WHOWHYWHEN``.

    ``settings.py``::

        MIDDLEWARE = [
            "whowhywhen_sdk.WhoWhyWhenDjangoMiddleware",   # first, to time the whole stack
            ...
        ]
        WHOWHYWHEN = {
            "api_key": "www_...",                       # or WHOWHYWHEN_API_KEY
            "url": "http://whowhywhen.internal:8001",   # or WHOWHYWHEN_URL
            # any option of WhoWhyWhenMiddleware, e.g. "sample_rate": 0.5
        }

    The route is ``request.resolver_match.route`` (``users/<int:pk>/`` is reported as
    ``/users/{pk}/``); a view's exception type is recorded with its 500.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._async = False
        try:
            from asgiref.sync import iscoroutinefunction, markcoroutinefunction

            if iscoroutinefunction(get_response):
                self._async = True
                markcoroutinefunction(self)
        except ImportError:  # pragma: no cover - asgiref ships with Django
            pass
        self.client = _client_from_settings()

    def _begin(self, request: Any) -> _Request | None:
        client = self.client
        if client is None:
            return None
        try:
            method = request.method or "GET"
            user_agent = request.META.get("HTTP_USER_AGENT")
            if not client.should_capture(method, request.path_info) or is_sdk_request(user_agent):
                return None
            return _Request(client, request, method, user_agent)
        except Exception:
            log_limited(
                "capture", logging.WARNING, "WhoWhyWhen could not read a request", exc_info=True
            )
            return None

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self.__acall__(request)
        state = self._begin(request)
        if state is None:
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except Exception as exc:
            state.finish(None, exc, None)
            raise
        return self._after(state, response)

    async def __acall__(self, request: Any) -> Any:
        state = self._begin(request)
        if state is None:
            return await self.get_response(request)
        try:
            response = await self.get_response(request)
        except Exception as exc:
            state.finish(None, exc, None)
            raise
        return self._after(state, response)

    def process_exception(self, request: Any, exception: Exception) -> None:
        """Note the exception type; Django then renders its 500 response as usual."""
        try:
            record_exception(request, exception)
        except Exception:
            log_limited("capture", logging.DEBUG, "WhoWhyWhen could not note an exception")

    @staticmethod
    def _after(state: _Request, response: Any) -> Any:
        try:
            if not getattr(response, "streaming", False):
                state.finish(response, None, len(response.content))
            elif getattr(response, "file_to_stream", None) is not None:
                # Served by the server's file wrapper: the size is the declared length.
                state.finish(response, None, content_length(response.get("Content-Length")))
            elif getattr(response, "is_async", False):
                response.streaming_content = _count_async(
                    response.streaming_content, state, response
                )
            else:
                response.streaming_content = _count(response.streaming_content, state, response)
        except Exception:
            log_limited(
                "capture", logging.WARNING, "WhoWhyWhen could not record a response", exc_info=True
            )
        return response


def _count(chunks: Iterator[bytes], state: _Request, response: Any) -> Iterator[bytes]:
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            yield chunk
    finally:
        state.finish(response, None, size)


async def _count_async(
    chunks: AsyncIterator[bytes], state: _Request, response: Any
) -> AsyncIterator[bytes]:
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            yield chunk
    finally:
        state.finish(response, None, size)
