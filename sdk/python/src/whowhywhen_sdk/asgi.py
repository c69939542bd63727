from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, MutableMapping
from functools import partial
from typing import Any, Callable

from ._client import CONSUMER_KEY, EXCEPTION_KEY, SDK_UA_PREFIX, Client, get_client
from ._log import log_limited

perf_counter_ns = time.perf_counter_ns
time_ns = time.time_ns
_SDK_UA = SDK_UA_PREFIX.encode()
#: The request headers the middleware reads.
_WANTED = frozenset(
    (b"user-agent", b"host", b"x-forwarded-for", b"content-length", b"transfer-encoding")
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_request_class: Any = None


def _starlette_request(scope: Scope) -> Any:
    """What ``consumer_callback`` receives: a Starlette ``Request`` when Starlette is installed."""
    global _request_class
    if _request_class is None:
        try:
            from starlette.requests import Request
        except ImportError:
            _request_class = False
        else:
            _request_class = Request
    return _request_class(scope) if _request_class else scope


class _CountingReceive:
    """The ``receive`` of a request without Content-Length: counts the body as the app reads
    it."""

    __slots__ = ("receive", "received")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.received = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
        return message


class WhoWhyWhenMiddleware:
    """Pure ASGI middleware for FastAPI, Starlette and any ASGI app.

    Records every HTTP request after its response has been sent and hands it to a background
    thread; it never touches the response and never raises into your app::

        from fastapi import FastAPI
        from whowhywhen_sdk import WhoWhyWhenMiddleware

        app = FastAPI()
        app.add_middleware(
            WhoWhyWhenMiddleware,
            api_key="www_...",                     # or WHOWHYWHEN_API_KEY
            url="http://whowhywhen.internal:8001",  # or WHOWHYWHEN_URL
        )

    Options (all keyword-only): ``exclude_paths`` (regexes, default
    ``DEFAULT_EXCLUDE_PATHS``), ``exclude_methods`` (default ``("OPTIONS",)``), ``sample_rate``
    (0..1), ``trusted_proxies`` (IPs/CIDRs whose ``X-Forwarded-For`` is believed, ``"*"`` for
    any), ``consumer_callback`` (``request -> id | (id, name) | None``), ``max_queue_size``
    (10,000), ``batch_size`` (500), ``flush_interval`` (2 s), ``shutdown_timeout`` (5 s),
    ``timeout`` (10 s).
    """

    def __init__(
        self,
        app: ASGIApp,
        /,
        api_key: str | None = None,
        url: str | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.client: Client | None = get_client(api_key, url, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.client
        kind = scope["type"]
        if kind != "http" or client is None:
            if kind == "lifespan" and client is not None:
                await self.app(scope, receive, self._lifespan_send(send, client))
            else:
                await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        if not client.should_capture(method, scope["path"]):
            await self.app(scope, receive, send)
            return

        # Only raw pieces are kept on the event loop: the sender thread builds the URL, the route
        # template and the texts (AsgiRecords), once per distinct value where they repeat.
        user_agent = host = forwarded = length = None
        chunked = False
        for name, value in scope["headers"]:
            if name not in _WANTED:  # most headers: one set lookup, not five comparisons
                continue
            if name == b"user-agent":
                user_agent = value
            elif name == b"host":
                host = value
            elif name == b"x-forwarded-for":
                text = value.decode("latin-1")
                forwarded = text if forwarded is None else f"{forwarded},{text}"
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if user_agent is not None and user_agent.startswith(_SDK_UA):
            await self.app(scope, receive, send)
            return

        mount_root: str = scope.get("root_path", "")
        timestamp = time_ns()
        start = perf_counter_ns()
        status = 0
        response_size = 0
        end = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_size, end
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body":
                response_size += len(message.get("body", b""))
                if not message.get("more_body", False):
                    await send(message)
                    end = perf_counter_ns()
                    return
            await send(message)

        wrapped_receive: Any = _CountingReceive(receive) if chunked else receive

        exception: str | None = None
        try:
            await self.app(scope, wrapped_receive, send_wrapper)
        except Exception as exc:
            exception = type(exc).__name__
            raise
        finally:
            try:
                if not end:
                    end = perf_counter_ns()
                target = scope.get("raw_path") or mount_root + scope["path"]
                query = scope.get("query_string")
                address = scope.get("client")
                if forwarded is not None:
                    address = client.client_ip(address[0] if address else None, forwarded)
                client.put(
                    (
                        scope.get("scheme", "http"),
                        host or scope.get("server"),
                        target,
                        query,
                        method,
                        status,
                        end - start,
                        timestamp,
                        user_agent,
                        address,
                        scope.get("route"),
                        mount_root,
                        scope.get("root_path", ""),
                        wrapped_receive.received if chunked else length,
                        response_size,
                        exception if exception is not None else scope.get(EXCEPTION_KEY),
                        client.consumer(scope, partial(_starlette_request, scope))
                        if client.wants_consumer or CONSUMER_KEY in scope
                        else None,
                    ),
                    len(target)
                    + (len(query) if query else 0)
                    + (len(host) if host else 0)
                    + (len(user_agent) if user_agent else 0)
                    + 200,
                )
            except Exception:
                log_limited(
                    "capture",
                    logging.WARNING,
                    "WhoWhyWhen could not record a request",
                    exc_info=True,
                )

    def _lifespan_send(self, send: Send, client: Client) -> Send:
        async def lifespan_send(message: Message) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete":
                client.start()
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await _run_blocking(client.shutdown)
            await send(message)

        return lifespan_send


async def _run_blocking(function: Callable[[], None]) -> None:
    """Run a bounded blocking call off the event loop when there is one (asyncio)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        function()
        return
    await loop.run_in_executor(None, function)
