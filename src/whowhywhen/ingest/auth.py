from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from whowhywhen.api_key.service import KeyPrincipal
from whowhywhen.exceptions import RateLimited, Unauthorized
from whowhywhen.ingest.service import IngestService


def get_ingest_service(request: Request) -> IngestService:
    service: IngestService = request.app.state.ingest
    return service


async def ingest_key(
    request: Request, service: Annotated[IngestService, Depends(get_ingest_service)]
) -> KeyPrincipal:
    """The project an ingest request speaks for, from its X-API-KEY header only (KEY-03)."""
    client = request.client.host if request.client else "unknown"
    if not await service.auth_failures_allowed(client):
        raise RateLimited(
            "too many requests with invalid API keys from this address", retry_after=60
        )
    secret = request.headers.get("x-api-key") or _bearer(request.headers.get("authorization"))
    if not secret:
        if any(name.lower() in ("api_key", "apikey", "key") for name in request.query_params):
            raise Unauthorized("send the API key in the X-API-KEY header, never in the URL")
        raise Unauthorized("missing X-API-KEY header")
    principal = await service.authenticate(secret.strip())
    if principal is None:
        await service.record_auth_failure(client)
        raise Unauthorized("invalid or revoked API key")
    return principal


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:]
    return None


IngestKey = Annotated[KeyPrincipal, Depends(ingest_key)]
