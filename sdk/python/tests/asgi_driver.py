"""Drive an ASGI app with one request and record every message it sends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Callable


async def call_asgi(
    app: Callable[..., Any],
    method: str = "GET",
    path: str = "/",
    *,
    query: bytes = b"",
    body: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    client: tuple[str, int] | None = ("203.0.113.5", 40000),
    host: bytes | None = b"api.test",
    scope_values: dict[str, Any] | None = None,
) -> list[Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [*([(b"host", host)] if host is not None else []), *headers],
        "client": client,
        "server": ("api.test", 80),
        **(scope_values or {}),
    }
    messages: list[Any] = []
    finished = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished.set()

    try:
        await app(scope, receive, send)
    except Exception as exc:
        messages.append(("raised", type(exc).__name__, str(exc)))
    return messages


def run(app: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
    return asyncio.run(call_asgi(app, *args, **kwargs))
