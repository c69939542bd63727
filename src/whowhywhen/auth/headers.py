"""Security headers for dashboard responses and CORS for the dashboard API only (CFG-05/06).

Pure ASGI, so the collector's hot path pays one prefix check and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE
)


def inline_script_hashes(html: str) -> list[str]:
    """CSP hash sources for the inline scripts of the built UI (SvelteKit boots with one)."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
        if body.strip()
    ]


# /docs loads its assets from a CDN; it is a developer page, so it gets its own policy.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    "https://fastapi.tiangolo.com; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DASHBOARD_API = ("/dashapi", "/dashauth")
COLLECTOR = "/api/"


class SecurityHeaders:
    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts: bool,
        cors_origins: list[str],
        script_hashes: list[str] | None = None,
    ) -> None:
        self.app = app
        self.hsts = hsts
        self.csp = CSP.format(scripts="".join(f" {h}" for h in script_hashes or []))
        self.cors: ASGIApp | None = None
        if cors_origins:
            self.cors = CORSMiddleware(
                app,
                allow_origins=cors_origins,
                allow_credentials=True,
                allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
                max_age=600,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(COLLECTOR):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path.startswith(DASHBOARD_API)
        docs = path.startswith(("/docs", "/redoc"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}

                def add(name: str, value: str) -> None:
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))

                add("x-content-type-options", "nosniff")
                add("x-frame-options", "DENY")
                add("referrer-policy", "strict-origin-when-cross-origin")
                add("content-security-policy", DOCS_CSP if docs else self.csp)
                add("cross-origin-opener-policy", "same-origin")
                if api:
                    add("cache-control", "no-store")
                if self.hsts:
                    add("strict-transport-security", "max-age=31536000; includeSubDomains")
                message["headers"] = headers
            await send(message)

        target = self.cors if (api and self.cors is not None) else self.app
        await target(scope, receive, send_with_headers)
