"""Sign-in with Google, or any OpenID Connect provider (OAUTH-01).

Authorization code flow with PKCE (S256), `state` and `nonce` (authlib's helpers), each kept
server-side as a single-use token for at most 10 minutes and bound to the browser by a cookie.
The ID token is checked with pyjwt: RS256 signature from the provider's JWKS, `iss`, `aud`,
`exp`, `nonce`. Accounts are keyed by (issuer, subject); an existing password account is linked
only when the provider says the email is verified and the user then signs in with the password.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2
import jwt
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy.ext.asyncio import AsyncSession

from whowhywhen.auth import repository
from whowhywhen.auth.audit import audit
from whowhywhen.auth.service import AuthService, Client, SignIn, user_service
from whowhywhen.auth.tokens import new_secret, sha256
from whowhywhen.config import GOOGLE_ISSUER, Settings
from whowhywhen.exceptions import BadRequest, ServiceUnavailable, Unauthorized
from whowhywhen.kit.time import utc_now
from whowhywhen.models import OAuthAccount, OneTimeToken, User

STATE = "oidc"
LINK = "link"
STATE_MINUTES = 10
LINK_MINUTES = 10
CACHE_SECONDS = 3600
LEEWAY = 30


def safe_next(value: str | None) -> str:
    """A same-origin relative path, else `/` (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _issuers(issuer: str) -> list[str]:
    if issuer == GOOGLE_ISSUER:
        return [GOOGLE_ISSUER, "accounts.google.com"]
    return [issuer]


@dataclass(frozen=True, slots=True)
class Identity:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str


@dataclass(slots=True)
class OidcResult:
    """A finished or pending sign-in, or an identity waiting to be linked by a password."""

    next_path: str
    sign_in: SignIn | None = None
    link_token: str | None = None


class OidcService:
    def __init__(self, settings: Settings, auth: AuthService) -> None:
        self.settings = settings
        self.auth = auth
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, jwt.PyJWKSet] | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.oidc_enabled

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx2.AsyncClient(timeout=10) as http:
                response = await http.get(url)
                response.raise_for_status()
                data: dict[str, Any] = response.json()
                return data
        except (httpx2.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(f"sign-in provider unreachable: {exc}") from exc

    async def metadata(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._metadata is None or self._metadata[0] < now:
            issuer = self.settings.oidc_issuer.rstrip("/")
            data = await self._get_json(f"{issuer}/.well-known/openid-configuration")
            if data.get("issuer", "").rstrip("/") != issuer:
                raise ServiceUnavailable("the provider's discovery document names another issuer")
            self._metadata = (now + CACHE_SECONDS, data)
        return self._metadata[1]

    async def _keys(self, refresh: bool = False) -> jwt.PyJWKSet:
        now = time.monotonic()
        if refresh or self._jwks is None or self._jwks[0] < now:
            data = await self._get_json((await self.metadata())["jwks_uri"])
            self._jwks = (now + CACHE_SECONDS, jwt.PyJWKSet.from_dict(data))
        return self._jwks[1]

    async def start(self, session: AsyncSession, next_path: str | None) -> tuple[str, str]:
        """The provider's authorization URL and the browser-binding secret for the cookie."""
        if not self.enabled:
            raise BadRequest("Google sign-in is not configured")
        metadata = await self.metadata()
        state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
        binding = new_secret()
        now = utc_now()
        payload = {
            "nonce": nonce,
            "verifier": verifier,
            "next": safe_next(next_path),
            "binding": sha256(binding),
        }
        await repository.add(
            session,
            OneTimeToken(
                token_hash=sha256(state),
                purpose=STATE,
                payload=json.dumps(payload),
                created_at=now,
                expires_at=now + timedelta(minutes=STATE_MINUTES),
            ),
        )
        url = add_params_to_uri(
            metadata["authorization_endpoint"],
            [
                ("response_type", "code"),
                ("client_id", self.settings.google_client_id),
                ("redirect_uri", self.settings.redirect_uri),
                ("scope", "openid email profile"),
                ("state", state),
                ("nonce", nonce),
                ("code_challenge", create_s256_code_challenge(verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
        return url, binding

    async def finish(
        self,
        session: AsyncSession,
        *,
        code: str | None,
        state: str | None,
        binding: str | None,
        client: Client,
        mfa_binding: str | None = None,
    ) -> OidcResult:
        """Check the callback, redeem the code, verify the ID token, and sign the user in.

        `binding` is the cookie set when the sign-in started; `mfa_binding` is the browser's
        pre-auth cookie for a 2FA step, when it already has one.
        """
        if not self.enabled:
            raise BadRequest("Google sign-in is not configured")
        if not state or not code:
            raise BadRequest("state: missing; start the sign-in again")
        pending = await repository.spend_token(session, sha256(state), STATE, utc_now())
        if pending is None:
            raise BadRequest("state: unknown, used or expired; start the sign-in again")
        saved = json.loads(pending.payload)
        if not binding or sha256(binding) != saved["binding"]:
            raise BadRequest("state: started in another browser; start the sign-in again")
        identity = await self._identity(code, saved["verifier"], saved["nonce"])
        return await self._sign_in(session, identity, client, saved["next"], mfa_binding)

    async def _identity(self, code: str, verifier: str, nonce: str) -> Identity:
        metadata = await self.metadata()
        try:
            async with httpx2.AsyncClient(timeout=10) as http:
                response = await http.post(
                    metadata["token_endpoint"],
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": self.settings.redirect_uri,
                        "client_id": self.settings.google_client_id,
                        "client_secret": self.settings.google_client_secret,
                        "code_verifier": verifier,
                    },
                    headers={"Accept": "application/json"},
                )
        except httpx2.HTTPError as exc:
            raise ServiceUnavailable(f"sign-in provider unreachable: {exc}") from exc
        if response.status_code != 200:
            raise Unauthorized("the provider refused the authorization code")
        id_token = response.json().get("id_token")
        if not isinstance(id_token, str):
            raise Unauthorized("the provider sent no ID token")
        claims = await self._verify(id_token)
        if claims.get("nonce") != nonce:
            raise Unauthorized("ID token: nonce mismatch")
        email = claims.get("email")
        return Identity(
            issuer=claims["iss"],
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) else None,
            email_verified=claims.get("email_verified") is True,
            name=str(claims.get("name") or ""),
        )

    async def _verify(self, id_token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("ID token: malformed") from exc
        if header.get("alg") != "RS256":
            raise Unauthorized("ID token: only RS256 is accepted")
        kid = header.get("kid")
        keys = await self._keys()
        key = next((k for k in keys.keys if k.key_id == kid), None)
        if key is None:
            keys = await self._keys(refresh=True)
            key = next((k for k in keys.keys if k.key_id == kid), None)
        if key is None:
            raise Unauthorized("ID token: signed with an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=self.settings.google_client_id,
                issuer=_issuers(self.settings.oidc_issuer.rstrip("/")),
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"ID token: {exc}") from exc
        return claims

    async def _sign_in(
        self,
        session: AsyncSession,
        identity: Identity,
        client: Client,
        next_path: str,
        mfa_binding: str | None,
    ) -> OidcResult:
        account = await repository.oauth_account(session, identity.issuer, identity.subject)
        if account is not None:
            user = await repository.get(session, account.user_id)
            if user is None or not user.is_active:
                raise Unauthorized("account disabled")
            return OidcResult(
                next_path, sign_in=await self.auth.after_oidc(session, user, client, mfa_binding)
            )
        if not identity.email or not identity.email_verified:
            raise BadRequest("the provider did not confirm this email address")
        existing = await user_service.get_by_email(session, identity.email)
        if existing is not None:
            # Linking needs proof of the existing account: a password sign-in next.
            token = await self.auth.issue_token(
                session,
                LINK,
                existing.id,
                timedelta(minutes=LINK_MINUTES),
                {"issuer": identity.issuer, "subject": identity.subject},
            )
            audit("oidc.link_pending", user_id=existing.id, ip=client.ip)
            return OidcResult(next_path, link_token=token)
        user = await user_service.create_without_password(
            session, email=identity.email, name=identity.name
        )
        await _add_account(session, user, identity.issuer, identity.subject, identity.email)
        audit("oidc.signup", user_id=user.id, ip=client.ip)
        return OidcResult(next_path, sign_in=await self.auth.after_oidc(session, user, client))


async def _add_account(
    session: AsyncSession, user: User, issuer: str, subject: str, email: str | None
) -> None:
    assert user.id is not None
    await repository.add(
        session,
        OAuthAccount(
            user_id=user.id, issuer=issuer, subject=subject, email=email, created_at=utc_now()
        ),
    )


async def link_pending_identity(session: AsyncSession, user: User, link_token: str) -> str | None:
    """Attach the OIDC identity waiting for this user's password sign-in (if it is theirs).

    Answers the provider's issuer when a sign-in method was added, so the user can be told.
    """
    pending = await repository.peek_token(session, sha256(link_token), LINK, utc_now())
    if pending is None or pending.user_id != user.id:
        return None
    await repository.spend_token(session, sha256(link_token), LINK, utc_now())
    saved = json.loads(pending.payload)
    if await repository.oauth_account(session, saved["issuer"], saved["subject"]) is not None:
        return None
    await _add_account(session, user, saved["issuer"], saved["subject"], user.email)
    audit("oidc.linked", user_id=user.id)
    return str(saved["issuer"])
