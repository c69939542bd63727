"""API keys: creation (secret shown once), revocation, and cached authentication for ingest."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.api_key import repository
from whowhywhen.auth.audit import audit
from whowhywhen.exceptions import Conflict, NotFound, UnprocessableEntity
from whowhywhen.kit.keys import (
    generate_api_key,
    hash_secret,
    is_well_formed_api_key,
    visible_prefix,
)
from whowhywhen.kit.time import utc_now
from whowhywhen.models import ApiKey

MAX_KEYS_PER_PROJECT = 50
LAST_USED_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """Who an ingest request speaks for: the key's project and its ingest settings."""

    key_id: int
    project_id: int
    prefix: str
    anonymize_ip: bool


class ApiKeyService:
    async def create(
        self,
        session: AsyncSession,
        *,
        project_id: int,
        name: str,
        created_by_id: int | None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        name = name.strip() or "Default"
        if len(name) > 100:
            raise UnprocessableEntity("name: at most 100 characters")
        if expires_at is not None:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            if expires_at <= utc_now():
                raise UnprocessableEntity("expires_at: must be in the future")
        if await repository.count_active(session, project_id) >= MAX_KEYS_PER_PROJECT:
            raise Conflict(f"a project has at most {MAX_KEYS_PER_PROJECT} active keys")
        secret = generate_api_key()
        key = ApiKey(
            project_id=project_id,
            name=name,
            prefix=visible_prefix(secret),
            last4=secret[-4:],
            key_hash=hash_secret(secret),
            created_by_id=created_by_id,
            created_at=utc_now(),
            expires_at=expires_at,
        )
        key = await repository.add(session, key)
        audit("api_key.created", user_id=created_by_id, project_id=project_id, key=key.prefix)
        return key, secret

    async def list_active(
        self, session: AsyncSession, project_id: int
    ) -> list[tuple[ApiKey, str | None]]:
        """The project's active keys with their creator's email, newest first."""
        return await repository.list_active(session, project_id)

    async def revoke(
        self,
        session: AsyncSession,
        *,
        project_id: int,
        key_id: int,
        revoked_by_id: int | None = None,
    ) -> ApiKey:
        key = await repository.get(session, project_id, key_id)
        if key is None:
            raise NotFound("API key not found")
        if key.revoked_at is not None:
            raise NotFound("API key not found")
        key.revoked_at = utc_now()
        await session.flush()
        audit("api_key.revoked", user_id=revoked_by_id, project_id=project_id, key=key.prefix)
        return key


api_key_service = ApiKeyService()


@dataclass(slots=True)
class _Cached:
    principal: KeyPrincipal | None
    expires: float


class KeyAuthenticator:
    """Resolves `X-API-KEY` secrets with a short-TTL cache, so a revoked key stops within TTL.

    Malformed keys (shape or checksum) are refused without touching the database (KEY-06);
    `last_used_at` is written at most once a minute per key (KEY-05).
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._cache: dict[str, _Cached] = {}
        self._last_touch: dict[int, float] = {}

    async def authenticate(self, session: AsyncSession, secret: str) -> KeyPrincipal | None:
        if not is_well_formed_api_key(secret):
            return None
        key_hash = hash_secret(secret)
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached.expires > now:
            return cached.principal
        found = await repository.find_active_by_hash(session, key_hash, utc_now())
        principal = None
        if found is not None:
            key, project = found
            assert key.id is not None
            principal = KeyPrincipal(
                key_id=key.id,
                project_id=key.project_id,
                prefix=key.prefix,
                anonymize_ip=project.anonymize_ip,
            )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_hash] = _Cached(principal, now + self.ttl)
        return principal

    def due_for_touch(self, key_id: int) -> bool:
        """True when `last_used_at` should be written with this request (then marks it)."""
        now = time.monotonic()
        if now - self._last_touch.get(key_id, -LAST_USED_INTERVAL) < LAST_USED_INTERVAL:
            return False
        self._last_touch[key_id] = now
        return True

    async def touch(self, session: AsyncSession, key_id: int) -> None:
        await repository.touch(session, [key_id], utc_now())

    def forget(self, key_hash: str | None = None) -> None:
        """Drop cached answers (one key's, or all) so a revocation applies at once here."""
        if key_hash is None:
            self._cache.clear()
        else:
            self._cache.pop(key_hash, None)
