"""Access tokens (HS256 JWTs) and random single-use secrets (AUTH-06, AUTH-07)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ISSUER = "whowhywhen"
AUDIENCE = "whowhywhen-dashboard"
ALGORITHMS = ["HS256"]
LEEWAY_SECONDS = 30
ACCESS = "access"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    session_id: str
    expires_at: datetime


def new_secret() -> str:
    """256 random bits, URL-safe: refresh tokens, reset tokens, challenges, invitations."""
    return secrets.token_urlsafe(32)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def encode_access(
    secret_key: str, *, user_id: int, session_id: str, now: datetime, ttl: timedelta
) -> str:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "sid": session_id,
        "typ": ACCESS,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"typ": "at+jwt"})


def decode_access(secret_key: str, token: str) -> AccessClaims | None:
    """The claims of a valid access token, or None; `kid`/`jku`/`jwk` headers are ignored."""
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=ALGORITHMS,
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "sid", "typ"]},
        )
    except jwt.InvalidTokenError:
        return None
    if claims.get("typ") != ACCESS or not isinstance(claims.get("sid"), str):
        return None
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        return None
    return AccessClaims(user_id, claims["sid"], datetime.fromtimestamp(claims["exp"], UTC))
