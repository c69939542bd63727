from __future__ import annotations

import httpx2

from tests.factories import PASSWORD

REFRESH_COOKIE = "__Host-wwy_refresh"
CSRF_COOKIE = "__Host-wwy_csrf"


async def sign_in(
    client: httpx2.AsyncClient, email: str, password: str = PASSWORD
) -> httpx2.Response:
    return await client.post("/dashauth/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf(client: httpx2.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies.get(CSRF_COOKIE) or ""}
